package server

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// discardConn is a client connection that drops what is written.
type discardConn struct{}

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// newDeliverServer returns a server with n sessions of distinct users in
// room 1.
func newDeliverServer(n int) *Server {
	srv := New(Options{EdgeID: "e1", Logger: slog.New(slog.DiscardHandler), QueueMessages: 4096, QueueBytes: 8 << 20, WriteTimeout: time.Second})
	for i := range n {
		srv.hub.Register(srv.hub.NewSession(fmt.Sprint(i), discardConn{}), int64(i+1), []int64{1}, nil)
	}
	return srv
}

func messageEvent() *chatv1.Event {
	return &chatv1.Event{Seq: 1, RoomId: 1, Payload: &chatv1.Event_MessagePosted{MessagePosted: &chatv1.MessagePosted{
		Message: &chatv1.Message{Id: 1, RoomId: 1, UserId: 1, Nickname: "alice", Content: "hello, how are you doing today?",
			MessageType: chatv1.MessageType_MESSAGE_TYPE_TEXT, CreatedAt: timestamppb.Now()},
		Origin: &chatv1.Origin{EdgeId: "e1", SessionId: "0"},
	}}}
}

// TestDeliverAllocs checks that a delivered event is encoded once per edge,
// not once per recipient.
func TestDeliverAllocs(t *testing.T) {
	const n = 200
	srv := newDeliverServer(n)
	ev := messageEvent()
	allocs := testing.AllocsPerRun(100, func() { srv.Deliver(ev) })
	t.Logf("Deliver to %d sessions: %.1f allocs per event, %.3f per delivery", n, allocs, allocs/n)
	if allocs/n > 1 {
		t.Errorf("Deliver allocates %.2f times per delivery, want well under 1", allocs/n)
	}
}

func benchmarkDeliver(b *testing.B, n int) {
	srv := newDeliverServer(n)
	ev := messageEvent()
	b.ReportAllocs()
	for b.Loop() {
		srv.Deliver(ev)
	}
	b.ReportMetric(float64(b.N*(n-1))/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkDeliver100 and BenchmarkDeliver1000 encode one NEW_MESSAGE and
// fan it out to 100 and 1000 local sessions (the origin skipped).
func BenchmarkDeliver100(b *testing.B)  { benchmarkDeliver(b, 100) }
func BenchmarkDeliver1000(b *testing.B) { benchmarkDeliver(b, 1000) }
