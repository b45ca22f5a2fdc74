package broker_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/services/presence/internal/broker"
	"switchboard.dev/services/presence/internal/store"
)

func setup(t *testing.T, buffer int) (*broker.Broker, *store.Store) {
	t.Helper()
	b := broker.New(buffer)
	st, err := store.Open(filepath.Join(t.TempDir(), "presence.db"), store.Options{Publish: b.Publish})
	if err != nil {
		t.Fatalf("store.Open = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	sendN(t, st, 1) // seq 1, like the chat room setup
	return b, st
}

// sendN appends n announcements, from a few writers at once so that they
// share commits.
func sendN(t *testing.T, st *store.Store, n int) {
	t.Helper()
	const writers = 16
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				ev := &presencev1.Event{Payload: &presencev1.Event_Announcement{Announcement: &presencev1.Announcement{Title: "t", Message: "m"}}}
				if err := st.Apply(context.Background(), store.Write{Event: ev}); err != nil {
					t.Errorf("Apply = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestReplayThenLive resumes after seq 3 of a log longer than one page
// while sends continue: the stream carries every later event once, in
// order, coalesced into responses of at most MaxEventsPerResponse.
func TestReplayThenLive(t *testing.T) {
	b, st := setup(t, 0)
	sendN(t, st, 1200) // seq 2..1201
	const total = 1201 + 300

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		mu        sync.Mutex
		seqs      []uint64
		responses int
	)
	done := make(chan error, 1)
	go func() {
		done <- b.Stream(ctx, st, proto.Uint64(3), func(r *presencev1.SubscribeResponse) error {
			mu.Lock()
			defer mu.Unlock()
			responses++
			if len(r.Events) > broker.MaxEventsPerResponse {
				t.Errorf("response with %d events, want at most %d", len(r.Events), broker.MaxEventsPerResponse)
			}
			for _, e := range r.Events {
				seqs = append(seqs, e.Seq)
			}
			if len(seqs) > 0 && seqs[len(seqs)-1] == total {
				cancel()
			}
			return nil
		})
	}()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { sendN(t, st, 100) })
	}
	wg.Wait()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Stream = %v, want context.Canceled after the last event", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seqs) != total-3 {
		t.Fatalf("stream carried %d events, want %d (seq 4..%d)", len(seqs), total-3, total)
	}
	for i, s := range seqs {
		if s != uint64(i)+4 {
			t.Fatalf("event %d has seq %d, want %d", i, s, i+4)
		}
	}
	if responses >= len(seqs) {
		t.Errorf("%d events took %d responses, want coalescing", len(seqs), responses)
	}
}

// TestSlowSubscriberCut blocks a stream's send: the writer keeps
// committing, and the stream ends with ErrSlow once its buffer overflows.
func TestSlowSubscriberCut(t *testing.T) {
	b, st := setup(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		n := 0
		done <- b.Stream(ctx, st, nil, func(*presencev1.SubscribeResponse) error {
			if n++; n == 1 {
				close(first)
				return nil
			}
			<-unblock // a client that stopped reading
			return errors.New("stream gone")
		})
	}()
	<-first
	sendN(t, st, 20) // must not block on the stuck stream
	select {
	case err := <-done:
		if !errors.Is(err, broker.ErrSlow) {
			t.Errorf("Stream of a stuck subscriber = %v, want ErrSlow", err)
		}
	case <-ctx.Done():
		t.Fatal("stuck subscriber was not cut")
	}
	close(unblock)
}

func TestCloseEndsStreams(t *testing.T) {
	b, st := setup(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- b.Stream(ctx, st, nil, func(*presencev1.SubscribeResponse) error {
			select {
			case <-first:
			default:
				close(first)
			}
			return nil
		})
	}()
	<-first
	b.Close()
	if err := <-done; !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Stream after Close = %v, want ErrClosed", err)
	}
	if err := b.Stream(ctx, st, nil, func(*presencev1.SubscribeResponse) error { return nil }); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Stream on a closed broker = %v, want ErrClosed", err)
	}
}
