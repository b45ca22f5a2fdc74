package eventstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// event is a test event.
type event struct{ seq uint64 }

func (e *event) GetSeq() uint64 { return e.seq }

// memLog is an in-memory event log that publishes what it appends, like a
// service's store after its commit.
type memLog struct {
	b *Broker[*event]

	mu     sync.Mutex
	events []*event // events[i].seq == oldest+i
	oldest uint64
	head   uint64
}

func newLog(b *Broker[*event]) *memLog { return &memLog{b: b, oldest: 1} }

func (l *memLog) append(n int) {
	l.mu.Lock()
	batch := make([]*event, n)
	for i := range batch {
		l.head++
		batch[i] = &event{seq: l.head}
	}
	l.events = append(l.events, batch...)
	l.b.Publish(batch) // under the lock: publication in seq order
	l.mu.Unlock()
}

func (l *memLog) trim(keep int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if drop := len(l.events) - keep; drop > 0 {
		l.events = l.events[drop:]
		l.oldest += uint64(drop)
	}
}

func (l *memLog) EventsAfter(_ context.Context, after uint64, limit int) ([]*event, uint64, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*event
	for _, e := range l.events {
		if e.seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, l.head, l.oldest, nil
}

func ptr(v uint64) *uint64 { return &v }

// collect streams until the last event it receives has seq last.
func collect(t *testing.T, b *Broker[*event], l *memLog, after *uint64, last uint64) (first Batch[*event], seqs []uint64, batches int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := false
	err := b.Stream(ctx, l, after, func(r Batch[*event]) error {
		mu.Lock()
		defer mu.Unlock()
		if !got {
			first, got = r, true
		}
		batches++
		if len(r.Events) > MaxEventsPerResponse {
			t.Errorf("batch of %d events, want at most %d", len(r.Events), MaxEventsPerResponse)
		}
		for _, e := range r.Events {
			seqs = append(seqs, e.seq)
		}
		if len(seqs) > 0 && seqs[len(seqs)-1] == last || last == 0 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream = %v, want context.Canceled after seq %d (got %d events)", err, last, len(seqs))
	}
	return first, seqs, batches
}

func consecutive(t *testing.T, seqs []uint64, from uint64) {
	t.Helper()
	for i, s := range seqs {
		if s != from+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d: a gap or a duplicate", i, s, from+uint64(i))
		}
	}
}

// TestReplayThenLive resumes after seq 3 of a log longer than one page
// while appends continue: every later event comes once, in order,
// coalesced into batches of at most MaxEventsPerResponse.
func TestReplayThenLive(t *testing.T) {
	b := New[*event](0)
	l := newLog(b)
	l.append(1200)
	const total = 1200 + 300
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			<-start
			for range 100 {
				l.append(1)
			}
		})
	}
	close(start)
	_, seqs, batches := collect(t, b, l, ptr(3), total)
	wg.Wait()
	if len(seqs) != total-3 {
		t.Fatalf("stream carried %d events, want %d", len(seqs), total-3)
	}
	consecutive(t, seqs, 4)
	if batches >= len(seqs) {
		t.Errorf("%d events took %d batches, want coalescing", len(seqs), batches)
	}
}

func TestStartingPoints(t *testing.T) {
	b := New[*event](0)
	l := newLog(b)
	l.append(20)
	l.trim(5) // keeps 16..20
	tests := []struct {
		name      string
		after     *uint64
		atHead    bool // only events appended after the stream starts
		truncated bool
		firstSeq  uint64
	}{
		{"unset starts at the head", nil, true, false, 0},
		{"set 0 replays from the oldest kept", ptr(0), false, true, 16},
		{"before the oldest kept", ptr(10), false, true, 16},
		{"just before the oldest kept", ptr(15), false, false, 16},
		{"inside the log", ptr(18), false, false, 19},
		{"beyond the head (a reset log)", ptr(99), true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l.mu.Lock()
			head := l.head
			l.mu.Unlock()
			want, last := tt.firstSeq, head
			if tt.atHead {
				want, last = head+1, head+1
				go func() { time.Sleep(50 * time.Millisecond); l.append(1) }()
			}
			first, seqs, _ := collect(t, b, l, tt.after, last)
			if first.Head != head || first.Truncated != tt.truncated || len(seqs) == 0 || seqs[0] != want {
				t.Errorf("Stream(after %v): first batch head %d truncated %v, seqs %v; want head %d, truncated %v, first seq %d",
					tt.after, first.Head, first.Truncated, seqs, head, tt.truncated, want)
			}
			consecutive(t, seqs, want)
		})
	}
}

// TestSlowSubscriberCut blocks a stream's send: appends never block, and
// the stream ends with ErrSlow once its buffer overflows.
func TestSlowSubscriberCut(t *testing.T) {
	b := New[*event](4)
	l := newLog(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		n := 0
		done <- b.Stream(ctx, l, nil, func(Batch[*event]) error {
			if n++; n == 1 {
				close(first)
				return nil
			}
			<-unblock // a client that stopped reading
			return errors.New("stream gone")
		})
	}()
	<-first
	for range 20 {
		l.append(1) // must not block on the stuck stream
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrSlow) {
			t.Errorf("Stream of a stuck subscriber = %v, want ErrSlow", err)
		}
	case <-ctx.Done():
		t.Fatal("stuck subscriber was not cut")
	}
	close(unblock)
}

func TestCloseEndsStreams(t *testing.T) {
	b := New[*event](0)
	l := newLog(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- b.Stream(ctx, l, nil, func(Batch[*event]) error {
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
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Stream after Close = %v, want ErrClosed", err)
	}
	if err := b.Stream(ctx, l, nil, func(Batch[*event]) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Stream on a closed broker = %v, want ErrClosed", err)
	}
}

func TestStatus(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code codes.Code
		ok   bool
	}{
		{ErrSlow, codes.ResourceExhausted, true},
		{fmt.Errorf("stream: %w", ErrClosed), codes.Unavailable, true},
		{errors.New("other"), codes.OK, false},
		{nil, codes.OK, false},
	} {
		st, ok := Status(tt.err)
		if ok != tt.ok || status.Code(st) != tt.code {
			t.Errorf("Status(%v) = %v, %v; want code %v, %v", tt.err, st, ok, tt.code, tt.ok)
		}
	}
}

func TestStreamError(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	other := func(err error) error { return status.Error(codes.Internal, "other: "+err.Error()) }
	sendErr := status.Error(codes.Unavailable, "transport closing")
	plain := errors.New("store failed")
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want codes.Code
		msg  string
	}{
		{"clean end", live, nil, codes.OK, ""},
		{"slow", live, ErrSlow, codes.ResourceExhausted, ""},
		{"closed", live, ErrClosed, codes.Unavailable, "service shutting down"},
		{"send failed", live, sendErr, codes.Unavailable, "transport closing"},
		{"context ended", cancelled, plain, codes.Internal, "other: context canceled"},
		{"other error", live, plain, codes.Internal, "other: store failed"},
	} {
		got := StreamError(tc.ctx, tc.err, other)
		st, _ := status.FromError(got)
		if st.Code() != tc.want || !strings.Contains(st.Message(), tc.msg) {
			t.Errorf("%s: StreamError(%v) = %v, want code %v with %q", tc.name, tc.err, got, tc.want, tc.msg)
		}
	}
}
