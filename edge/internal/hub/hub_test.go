package hub

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// discardConn is a Conn that drops what is written.
type discardConn struct{}

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// recordConn records what is written and can block writes until released.
type recordConn struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	writes  int
	closed  bool
	release chan struct{} // when non-nil, Write waits for it
}

func (c *recordConn) Write(p []byte) (int, error) {
	if c.release != nil {
		<-c.release
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

func (c *recordConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *recordConn) SetWriteDeadline(time.Time) error { return nil }

func (c *recordConn) state() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String(), c.closed
}

var testLimits = Options{QueueMessages: 4, QueueBytes: 1 << 20, WriteTimeout: time.Second, CompressThreshold: 4096, BatchWindow: time.Hour, BatchMax: 64}

func waitDone(t *testing.T, s *Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("session %s not closed within 5s", s.ID())
	}
}

func TestRoomIndex(t *testing.T) {
	h := New(testLimits)
	conns := map[string]*recordConn{}
	sessions := map[string]*Session{}
	for _, id := range []string{"a1", "a2", "b1", "c1"} {
		conns[id] = &recordConn{}
		sessions[id] = h.NewSession(id, conns[id])
	}
	h.Register(sessions["a1"], Registration{UserID: 1, Rooms: []int64{10}}, []byte("hello-a1\n"))
	h.Register(sessions["a2"], Registration{UserID: 1, Rooms: []int64{10, 20}}, nil)
	h.Register(sessions["b1"], Registration{UserID: 2}, nil)
	h.Register(sessions["c1"], Registration{UserID: 3, Rooms: []int64{20}}, nil)
	h.JoinUser(2, 10) // b1 joins 10

	if n := h.SendRoom(10, "a2", &Broadcast{Line: []byte("m1\n")}); n != 2 {
		t.Errorf("SendRoom(10, skip a2) = %d sessions, want 2 (a1, b1)", n)
	}
	h.LeaveUser(1, 10)
	if n := h.SendRoom(10, "", &Broadcast{Line: []byte("m2\n")}); n != 1 {
		t.Errorf("SendRoom(10) after user 1 left = %d, want 1 (b1)", n)
	}
	h.Unregister(sessions["c1"])
	if n := h.SendRoom(20, "", &Broadcast{Line: []byte("m3\n")}); n != 1 {
		t.Errorf("SendRoom(20) after c1 unregistered = %d, want 1 (a2)", n)
	}
	if !h.Online(1) || h.Online(3) || h.Online(4) {
		t.Errorf("Online(1,3,4) = %v,%v,%v, want true,false,false", h.Online(1), h.Online(3), h.Online(4))
	}
	for _, s := range sessions {
		s.CloseAfterFlush()
		waitDone(t, s)
	}
	for id, want := range map[string]string{"a1": "hello-a1\nm1\n", "a2": "m3\n", "b1": "m1\nm2\n", "c1": ""} {
		if got, closed := conns[id].state(); got != want || !closed {
			t.Errorf("session %s got %q closed=%v, want %q closed", id, got, closed, want)
		}
	}
	if len(h.rooms) != 2 || len(h.rooms[20]) != 1 || len(h.users) != 2 {
		t.Errorf("indexes after unregistering c1: %d rooms, %d users; want rooms 10 and 20 (a2 alone), users 1 and 2", len(h.rooms), len(h.users))
	}
}

func TestCoalescedWrites(t *testing.T) {
	h := New(Options{QueueMessages: 100, QueueBytes: 1 << 20, WriteTimeout: time.Second, CompressThreshold: 4096, BatchWindow: time.Hour, BatchMax: 64})
	c := &recordConn{release: make(chan struct{})}
	s := h.NewSession("s", c)
	s.Send([]byte("first\n")) // the flusher takes it and blocks in Write
	time.Sleep(20 * time.Millisecond)
	for i := range 10 {
		s.Send(fmt.Appendf(nil, "m%d\n", i))
	}
	close(c.release)
	s.CloseAfterFlush()
	waitDone(t, s)
	got, _ := c.state()
	if want := "first\nm0\nm1\nm2\nm3\nm4\nm5\nm6\nm7\nm8\nm9\n"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}
	// recordConn is not a net.Conn, so net.Buffers writes each buffer; the
	// point is one flusher pass for the ten queued while it was blocked.
	if s.flushing {
		t.Errorf("flusher still marked running after close")
	}
}

func TestSlowConsumerClosed(t *testing.T) {
	h := New(testLimits) // 4 messages
	stuck := &recordConn{release: make(chan struct{})}
	defer close(stuck.release)
	ok := &recordConn{}
	s1, s2 := h.NewSession("stuck", stuck), h.NewSession("ok", ok)
	h.Register(s1, Registration{UserID: 1, Rooms: []int64{1}}, nil)
	h.Register(s2, Registration{UserID: 2, Rooms: []int64{1}}, nil)
	want := ""
	// The blocked write and the queue hold 4 messages between them: the
	// 5th overflows.
	for i := range 10 {
		h.SendRoom(1, "", &Broadcast{Line: fmt.Appendf(nil, "m%d\n", i)})
		want += fmt.Sprintf("m%d\n", i)
		for range 500 { // the healthy session keeps up
			if got, _ := ok.state(); got == want {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitDone(t, s1)
	if s1.Send([]byte("late\n")) {
		t.Errorf("Send on a closed session = true, want false")
	}
	s2.CloseAfterFlush()
	waitDone(t, s2)
	if got, _ := ok.state(); got != want {
		t.Errorf("healthy session got %q, want all ten messages", got)
	}
}

// TestQueueBytesLimit counts the bytes of a write under way as waiting:
// they are not with the client yet.
func TestQueueBytesLimit(t *testing.T) {
	h := New(Options{QueueMessages: 100, QueueBytes: 16, WriteTimeout: time.Second, CompressThreshold: 4096, BatchWindow: time.Hour, BatchMax: 64})
	c := &recordConn{release: make(chan struct{})}
	defer close(c.release)
	s := h.NewSession("s", c)
	s.Send([]byte("in flight\n"))
	time.Sleep(20 * time.Millisecond)
	if !s.Send([]byte("12345\n")) {
		t.Fatalf("Send of 6 bytes behind 10 being written, limit 16 = false")
	}
	if s.Send([]byte("1\n")) {
		t.Errorf("Send past the 16-byte limit = true, want the session closed")
	}
	waitDone(t, s)
}

func TestWriteTimeoutClosesSession(t *testing.T) {
	h := New(Options{QueueMessages: 1 << 20, QueueBytes: 1 << 30, WriteTimeout: 100 * time.Millisecond, CompressThreshold: 4096, BatchWindow: time.Hour, BatchMax: 64})
	server, client := net.Pipe() // synchronous: a write blocks until read
	defer client.Close()
	s := h.NewSession("s", server)
	s.Send([]byte("never read\n"))
	waitDone(t, s)
}

// newFanout returns a hub with n sessions writing to discardConns, all in
// room 1.
func newFanout(tb testing.TB, n int) *Hub {
	tb.Helper()
	h := New(Options{QueueMessages: 4096, QueueBytes: 8 << 20, WriteTimeout: time.Second, CompressThreshold: 4096, BatchWindow: time.Hour, BatchMax: 64})
	for i := range n {
		h.Register(h.NewSession(fmt.Sprint(i), discardConn{}), Registration{UserID: int64(i + 1), Rooms: []int64{1}}, nil)
	}
	return h
}

var envelope = []byte(`{"action":"NEW_MESSAGE","data":{"message_id":1,"chatroom_id":1,"user_id":1,"nickname":"a","content":"hello","message_type":"text","created_at":"2024-01-01T12:00:00.000Z"},"timestamp":"2024-01-01T12:00:00.000Z","seq_id":"s-e-1"}` + "\n")

// TestFanoutAllocs reports the allocations per delivery of one shared
// envelope; the bound is loose because starting a flusher goroutine may
// allocate, but a per-recipient copy or encoding would exceed it.
func TestFanoutAllocs(t *testing.T) {
	const n = 100
	h := newFanout(t, n)
	allocs := testing.AllocsPerRun(200, func() { h.SendRoom(1, "", &Broadcast{Line: envelope}) })
	t.Logf("fanout to %d sessions: %.1f allocs per event, %.3f per delivery", n, allocs, allocs/n)
	if allocs/n > 1 {
		t.Errorf("fanout allocates %.2f times per delivery, want at most 1", allocs/n)
	}
}

func benchmarkFanout(b *testing.B, n int) {
	h := newFanout(b, n)
	b.ReportAllocs()
	for b.Loop() {
		h.SendRoom(1, "", &Broadcast{Line: envelope})
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
}

func BenchmarkFanout100(b *testing.B)  { benchmarkFanout(b, 100) }
func BenchmarkFanout1000(b *testing.B) { benchmarkFanout(b, 1000) }

// scheduledConn is a ScheduledConn that counts the flushes scheduled.
type scheduledConn struct {
	mu        sync.Mutex
	scheduled int
	closed    bool
}

func (c *scheduledConn) ScheduleFlush(*Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scheduled++
}

func (c *scheduledConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *scheduledConn) state() (scheduled int, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scheduled, c.closed
}

// TestFlushStep drives a session on a ScheduledConn by hand: one schedule
// per idle-to-busy change, partial writes kept in order, FlushBlocked while
// the connection is full and the time since, FlushMore for what came
// meanwhile, the close once drained, and the slow-consumer bound counting
// what is being written.
func TestFlushStep(t *testing.T) {
	h := New(Options{QueueMessages: 4, QueueBytes: 1 << 20, WriteTimeout: time.Second, CompressThreshold: 4096, BatchWindow: time.Hour, BatchMax: 64})
	c := &scheduledConn{}
	s := h.NewSession("s", c)
	var out []byte
	room := 0 // bytes the connection takes before it is full
	write := func(bufs [][]byte) (int, bool, error) {
		n := 0
		for _, b := range bufs {
			k := min(len(b), room-n)
			out = append(out, b[:k]...)
			n += k
			if k < len(b) {
				return n, true, nil
			}
		}
		return n, false, nil
	}
	s.Send([]byte("aaaa\n"))
	s.Send([]byte("bbbb\n"))
	if n, _ := c.state(); n != 1 {
		t.Fatalf("scheduled %d flushes for two sends, want 1", n)
	}
	room = 7
	if r := s.FlushStep(write); r != FlushBlocked || string(out) != "aaaa\nbb" || s.BlockedSince().IsZero() {
		t.Fatalf("FlushStep with room for 7 bytes = %v, wrote %q, blocked since %v; want FlushBlocked after aaaa\\nbb", r, out, s.BlockedSince())
	}
	for _, m := range []string{"cccc\n", "dddd\n", "eeee\n"} { // with bbbb, partly written: 4 waiting
		if !s.Send([]byte(m)) {
			t.Fatalf("Send(%q) with fewer than 4 waiting = false", m)
		}
	}
	if s.Send([]byte("ffff\n")) {
		t.Fatalf("a 5th message waiting with a bound of 4 was accepted")
	}
	if _, closed := c.state(); !closed {
		t.Fatalf("the session over its bound was not closed")
	}
	if r := s.FlushStep(write); r != FlushDone {
		t.Errorf("FlushStep of a closed session = %v, want FlushDone", r)
	}

	c = &scheduledConn{}
	s = h.NewSession("t", c)
	out, room = nil, 1<<20
	s.Send([]byte("one\n"))
	write2 := func(bufs [][]byte) (int, bool, error) {
		s.Send([]byte("two\n")) // arrives while writing
		return write(bufs)
	}
	if r := s.FlushStep(write2); r != FlushMore || !s.BlockedSince().IsZero() {
		t.Fatalf("FlushStep with a message queued meanwhile = %v, want FlushMore, not blocked", r)
	}
	s.CloseAfterFlush()
	if r := s.FlushStep(write); r != FlushDone || string(out) != "one\ntwo\n" {
		t.Fatalf("last FlushStep = %v, wrote %q; want FlushDone after one, two", r, out)
	}
	if n, closed := c.state(); n != 1 || !closed {
		t.Errorf("scheduled %d, closed %v; want 1 schedule and the close once drained", n, closed)
	}
}
