package server

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge/internal/hub"
)

// discardConn is a client connection that drops what is written.
type discardConn struct{}

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// roundWriter stands for the epoll connections' writer: its connections
// hand it their sessions (ScheduleFlush, from Deliver or a batch's timer),
// and write writes each once, as a round of pollServer.write does, into a
// discarding writev.
type roundWriter struct {
	mu           sync.Mutex
	dirty, round []*hub.Session
}

// scheduledConn is a connection of a roundWriter.
type scheduledConn struct{ w *roundWriter }

func (c scheduledConn) Close() error { return nil }

func (c scheduledConn) ScheduleFlush(s *hub.Session) {
	c.w.mu.Lock()
	c.w.dirty = append(c.w.dirty, s)
	c.w.mu.Unlock()
}

func discardWritev(bufs [][]byte) (int, bool, error) {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n, false, nil
}

// write writes every scheduled session once.
func (w *roundWriter) write() {
	w.mu.Lock()
	w.round, w.dirty = w.dirty, w.round[:0]
	w.mu.Unlock()
	for i, s := range w.round {
		s.FlushStep(discardWritev)
		w.round[i] = nil
	}
}

// newDeliverServer returns a server with n sessions of distinct users in
// room 1, on discarding blocking connections (a flusher goroutine each
// when they have something queued), or on w's scheduled connections when
// w is set. With mixed, one session in ten asked for gzip, another one in
// ten for batches, and one user in ten blocks someone (not the sender).
func newDeliverServer(n int, mixed bool, w *roundWriter) *Server {
	srv := New(Options{EdgeID: "e1", Logger: slog.New(slog.DiscardHandler), QueueMessages: 4096, QueueBytes: 64 << 20,
		WriteTimeout: time.Second, CompressThreshold: 4096, BatchWindow: 10 * time.Millisecond, BatchMax: 64})
	for i := range n {
		reg := hub.Registration{UserID: int64(i + 1), Rooms: []int64{1}}
		if mixed {
			reg.Gzip = i%10 == 3
			reg.Batch = i%10 == 5
			if i%10 == 7 {
				reg.Blocked = []int64{int64(n + 1)}
			}
		}
		var conn hub.Conn = discardConn{}
		if w != nil {
			conn = scheduledConn{w}
		}
		srv.hub.Register(srv.hub.NewSession(fmt.Sprint(i), conn), reg, nil)
	}
	return srv
}

func messageEvent(content string) *chatv1.Event {
	return &chatv1.Event{Seq: 1, RoomId: 1, Payload: &chatv1.Event_MessagePosted{MessagePosted: &chatv1.MessagePosted{
		Message: &chatv1.Message{Id: 1, RoomId: 1, UserId: 1, Nickname: "alice", Content: content,
			MessageType: chatv1.MessageType_MESSAGE_TYPE_TEXT, CreatedAt: timestamppb.Now()},
		Origin: &chatv1.Origin{EdgeId: "e1", SessionId: "0"},
	}}}
}

const (
	smallContent = "hello, how are you doing today?"
	largeContent = "hello, how are you doing today? " // repeated past the compression threshold
)

// TestDeliverAllocs checks that a delivered event is encoded once per edge,
// not once per recipient, with plain sessions and with a mix of gzip,
// batching and blocking ones, for small and large (compressed) messages.
func TestDeliverAllocs(t *testing.T) {
	const n = 200
	for _, tc := range []struct {
		name    string
		mixed   bool
		content string
	}{
		{"plain", false, smallContent},
		{"mixed small", true, smallContent},
		{"mixed large", true, strings.Repeat(largeContent, 200)},
	} {
		srv := newDeliverServer(n, tc.mixed, nil)
		ev := messageEvent(tc.content)
		allocs := testing.AllocsPerRun(100, func() { srv.Deliver(ev) })
		t.Logf("%s: Deliver to %d sessions: %.1f allocs per event, %.3f per delivery", tc.name, n, allocs, allocs/n)
		if allocs/n > 1 {
			t.Errorf("%s: Deliver allocates %.2f times per delivery, want well under 1", tc.name, allocs/n)
		}
		// On epoll no goroutine starts per session: what is left is the
		// envelope (and its compression), the batches of the batching
		// sessions, and the queues' growth.
		w := &roundWriter{}
		srv = newDeliverServer(n, tc.mixed, w)
		allocs = testing.AllocsPerRun(100, func() { srv.Deliver(ev); w.write() })
		t.Logf("%s, epoll: Deliver to %d sessions and write them: %.1f allocs per event, %.3f per delivery", tc.name, n, allocs, allocs/n)
		if allocs/n > 0.2 {
			t.Errorf("%s, epoll: Deliver and write allocate %.2f times per delivery, want under 0.2", tc.name, allocs/n)
		}
	}
}

func benchmarkDeliver(b *testing.B, n int, mixed bool, content string, w *roundWriter) {
	srv := newDeliverServer(n, mixed, w)
	ev := messageEvent(content)
	b.ReportAllocs()
	for b.Loop() {
		srv.Deliver(ev)
		if w != nil {
			w.write()
		}
	}
	b.ReportMetric(float64(b.N*(n-1))/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkDeliver encodes one NEW_MESSAGE and fans it out to 100 and 1000
// local sessions (the origin skipped): all plain, or mixed (10% gzip, 10%
// batching, 10% blocking someone), with a small message and one large
// enough to be compressed for the gzip sessions; on blocking connections
// (a flusher goroutine started per session whose queue was empty), and on
// epoll's scheduled ones, each event followed by the writer's round.
func BenchmarkDeliver(b *testing.B) {
	large := strings.Repeat(largeContent, 200)
	for _, n := range []int{100, 1000} {
		for _, epoll := range []bool{false, true} {
			prefix := "blocking"
			var w *roundWriter
			if epoll {
				prefix, w = "epoll", &roundWriter{}
			}
			b.Run(fmt.Sprintf("%s/plain/%d", prefix, n), func(b *testing.B) { benchmarkDeliver(b, n, false, smallContent, w) })
			b.Run(fmt.Sprintf("%s/mixed/%d", prefix, n), func(b *testing.B) { benchmarkDeliver(b, n, true, smallContent, w) })
			b.Run(fmt.Sprintf("%s/mixed-large/%d", prefix, n), func(b *testing.B) { benchmarkDeliver(b, n, true, large, w) })
		}
	}
}
