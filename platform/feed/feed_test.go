package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// script is one scripted Open: an error, or responses then a break.
type script struct {
	openErr error
	resps   []*chatv1.SubscribeResponse
}

type scriptedStream struct {
	resps []*chatv1.SubscribeResponse
}

func (s *scriptedStream) Recv() (*chatv1.SubscribeResponse, error) {
	if len(s.resps) == 0 {
		return nil, errors.New("stream broken by the test")
	}
	r := s.resps[0]
	s.resps = s.resps[1:]
	return r, nil
}

func events(seqs ...uint64) []*chatv1.Event {
	var evs []*chatv1.Event
	for _, s := range seqs {
		evs = append(evs, &chatv1.Event{Seq: s})
	}
	return evs
}

func TestRunResumes(t *testing.T) {
	scripts := []script{
		{resps: []*chatv1.SubscribeResponse{{HeadSeq: 5}, {Events: events(6, 7), HeadSeq: 7}}},
		{openErr: errors.New("unavailable")},
		// The resumed stream repeats 7: it must not be handled twice.
		{resps: []*chatv1.SubscribeResponse{{HeadSeq: 9, Truncated: true}, {Events: events(7, 8, 9), HeadSeq: 9}}},
		{resps: []*chatv1.SubscribeResponse{{HeadSeq: 9}}},
		// The service's store was restored from an older backup: its log
		// went back to 4. The feed follows it from there, or 5 and 6 would
		// be skipped as handled.
		{resps: []*chatv1.SubscribeResponse{{HeadSeq: 4}}},
		{resps: []*chatv1.SubscribeResponse{{HeadSeq: 6}, {Events: events(5, 6), HeadSeq: 6}}},
	}
	var (
		mu      sync.Mutex
		afters  []string
		handled []uint64
		opened  int
		lost    int
	)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := Feed[*chatv1.SubscribeResponse, *chatv1.Event]{
		Name: "test",
		Log:  slog.New(slog.DiscardHandler),
		Open: func(ctx context.Context, after *uint64) (Stream[*chatv1.SubscribeResponse], error) {
			mu.Lock()
			defer mu.Unlock()
			if after == nil {
				afters = append(afters, "unset")
			} else {
				afters = append(afters, fmt.Sprint(*after))
			}
			if len(scripts) == 0 {
				close(done)
				<-ctx.Done()
				return nil, ctx.Err()
			}
			s := scripts[0]
			scripts = scripts[1:]
			if s.openErr != nil {
				return nil, s.openErr
			}
			return &scriptedStream{resps: s.resps}, nil
		},
		Events: func(r *chatv1.SubscribeResponse) []*chatv1.Event { return r.GetEvents() },
		Handle: func(e *chatv1.Event) {
			mu.Lock()
			defer mu.Unlock()
			handled = append(handled, e.GetSeq())
		},
		Opened: func() {
			mu.Lock()
			defer mu.Unlock()
			opened++
		},
		Lost: func() {
			mu.Lock()
			defer mu.Unlock()
			lost++
		},
		MinBackoff: time.Millisecond,
		MaxBackoff: 4 * time.Millisecond,
	}
	stopped := make(chan struct{})
	go func() { f.Run(ctx); close(stopped) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the feed did not go through its scripted streams within 5s")
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"unset", "7", "7", "9", "9", "4", "6"}; !slices.Equal(afters, want) {
		t.Errorf("Open after values = %v, want %v", afters, want)
	}
	if want := []uint64{6, 7, 8, 9, 5, 6}; !slices.Equal(handled, want) {
		t.Errorf("handled seqs = %v, want %v (each once, in order, then the restored log's)", handled, want)
	}
	if opened != 4 {
		t.Errorf("Opened called %d times, want 4 (once per stream that answered and was followed)", opened)
	}
	if lost != opened {
		t.Errorf("Lost called %d times, want %d (once per opened stream that broke)", lost, opened)
	}
}
