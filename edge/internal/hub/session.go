package hub

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"switchboard.dev/edge/internal/protocol"
)

// Conn is what a session writes to: a BlockingConn, written by a flusher
// goroutine of the session's own, or a ScheduledConn, written without
// blocking by a writer of the connection's.
type Conn interface {
	// Close closes the connection; the session is done with it.
	Close() error
}

// BlockingConn is a connection written with blocking writes under the
// write timeout: a net.Conn (a TLS connection, or any connection where
// epoll is not used), or a fake in tests.
type BlockingConn interface {
	Conn
	io.Writer
	SetWriteDeadline(t time.Time) error
}

// ScheduledConn is a connection whose writer writes without blocking:
// when the session has something to write and is not being written,
// ScheduleFlush hands it to that writer, which calls FlushStep.
type ScheduledConn interface {
	Conn
	// ScheduleFlush hands s to the connection's writer. It must not block
	// nor call s.
	ScheduleFlush(s *Session)
}

// FlushResult is what FlushStep leaves to do.
type FlushResult int

// The results of FlushStep.
const (
	// FlushDone: everything queued is written (or the session closed);
	// the session is no longer scheduled, a later Send schedules it again.
	FlushDone FlushResult = iota
	// FlushMore: more was queued while writing; call FlushStep again
	// (after the other sessions, for fairness).
	FlushMore
	// FlushBlocked: the connection is full; call FlushStep again once it
	// can take more.
	FlushBlocked
)

// maxIdleQueueCap is the queue capacity a session keeps once drained;
// bigger backing arrays from a burst are released.
const maxIdleQueueCap = 16

// Session is one client connection's outbound side and its place in the
// hub's indexes. Envelopes are queued without blocking and written in
// batches of everything queued, one writev each: by a flusher goroutine
// that exists only while the queue is non-empty (BlockingConn), or by the
// connection's writer (ScheduledConn). A session whose queue overflows is
// closed (slow consumer) so that it never stalls delivery to the others. A
// batching session holds broadcast messages in an open batch for at most
// the batch window; any other envelope closes the batch first, so that
// order is kept.
type Session struct {
	id   string
	conn Conn
	hub  *Hub

	// userID, user, gzip, batch and batchFn are set once by Register,
	// before any other goroutine can reach the session; registered, rooms
	// and token are guarded by hub.mu.
	userID     int64
	user       *user
	gzip       bool // compress envelopes above the threshold
	batch      bool // coalesce broadcast messages
	registered bool
	rooms      []int64
	token      Token

	batchFn func() // s.batchTimeUp, bound once for the batch timer

	mu sync.Mutex
	// queue holds what waits to be written; writing, what the flush under
	// way writes: writing[wi:] is left (writing[wi] may be partly written
	// already, and then re-sliced), and only that flush touches them while
	// unlocked. queued counts the bytes of both.
	queue        [][]byte
	writing      [][]byte
	wi           int
	spare        [][]byte
	queued       int
	flushing     bool // a flush is scheduled or under way
	closing      bool // close once the queue is drained
	closed       bool
	blockedSince time.Time // a ScheduledConn full since then; zero otherwise
	done         chan struct{}
	// room is closed, and cleared, when the queue is back to half its
	// bounds; made by a waiting AwaitRoom.
	room chan struct{}

	// The open batch of a batching session: Message objects shared with
	// every other recipient, assembled into one envelope when it closes.
	pending       [][]byte
	pendingBytes  int
	batchDeadline time.Time
	batchTimer    *time.Timer

	bufs net.Buffers // the blocking flusher's writev, a field so that WriteTo does not allocate
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// Done is closed when the session is closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Ending reports whether the session is closed or closing (revoked,
// expired, too slow): a request read after that is not served.
func (s *Session) Ending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing || s.closed
}

// Send queues b (a complete envelope line, never modified afterwards) for
// this session alone and reports whether it was queued. A session that
// asked for gzip gets it compressed when its data exceeds the threshold. It
// never blocks on the network. A send that overflows the queue closes the
// session.
func (s *Session) Send(b []byte) bool {
	if s.gzip {
		if c, ok := s.hub.compress(b); ok {
			b = c
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(b)
}

// deliver queues a broadcast: into the open batch for a batching session
// and a message, else the shared line (compressed once per event for the
// gzip sessions).
func (s *Session) deliver(b *Broadcast) bool {
	if s.batch && b.Message != nil {
		return s.coalesce(b.Message)
	}
	line := b.Line
	if s.gzip {
		line = b.compressedLine(s.hub)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(line)
}

// sendLocked queues b after the open batch, so that order is preserved.
func (s *Session) sendLocked(b []byte) bool {
	if len(s.pending) > 0 {
		s.flushBatchLocked()
	}
	return s.enqueueLocked(b)
}

func (s *Session) enqueueLocked(b []byte) bool {
	if s.closed || s.closing {
		return false
	}
	lim := &s.hub.opts
	if waiting := len(s.queue) + len(s.writing) - s.wi; waiting >= lim.QueueMessages || s.queued+len(b) > lim.QueueBytes {
		s.hub.log.Warn("slow consumer: closing session", "session", s.id, "user_id", s.userID,
			"queued_messages", waiting, "queued_bytes", s.queued)
		s.closeLocked()
		return false
	}
	s.queue = append(s.queue, b)
	s.queued += len(b)
	if !s.flushing {
		s.flushing = true
		if sc, ok := s.conn.(ScheduledConn); ok {
			sc.ScheduleFlush(s)
		} else {
			go s.flush()
		}
	}
	return true
}

// coalesce adds msg to the open batch, opening one (and its window) when
// none is, and closes the batch when it is full.
func (s *Session) coalesce(msg []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.closing {
		return false
	}
	s.pending = append(s.pending, msg)
	s.pendingBytes += len(msg)
	if len(s.pending) >= s.hub.opts.BatchMax {
		s.flushBatchLocked()
		return !s.closed
	}
	if len(s.pending) == 1 {
		window := s.hub.opts.BatchWindow
		s.batchDeadline = time.Now().Add(window)
		if s.batchTimer == nil {
			s.batchTimer = time.AfterFunc(window, s.batchFn)
		} else {
			s.batchTimer.Reset(window)
		}
	}
	return true
}

// batchTimeUp closes the open batch when its window is over. A timer of
// an earlier batch (closed early, by size or by another envelope) may fire
// late: the deadline tells.
func (s *Session) batchTimeUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 || time.Now().Before(s.batchDeadline) {
		return
	}
	s.flushBatchLocked()
}

// flushBatchLocked queues the open batch as one BATCH_MESSAGES envelope,
// assembled from the shared Message objects in one buffer.
func (s *Session) flushBatchLocked() {
	b := protocol.AppendCoalesced(make([]byte, 0, s.pendingBytes+len(s.pending)+224), s.hub.header(), s.pending)
	clear(s.pending)
	s.pending, s.pendingBytes = s.pending[:0], 0
	if s.gzip {
		if c, ok := s.hub.compress(b); ok {
			b = c
		}
	}
	s.enqueueLocked(b)
}

// SendAndClose queues b, when b is not nil, then closes the session once
// everything queued is written (or the write fails or times out).
func (s *Session) SendAndClose(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b != nil {
		s.sendLocked(b)
	}
	s.closeAfterFlushLocked()
}

// CloseAfterFlush closes the session once everything queued is written.
func (s *Session) CloseAfterFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeAfterFlushLocked()
}

func (s *Session) closeAfterFlushLocked() {
	if s.closed {
		return
	}
	if len(s.pending) > 0 {
		s.flushBatchLocked()
	}
	s.closing = true
	if !s.flushing {
		s.closeLocked()
	}
}

// Close closes the session now, dropping what is queued.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *Session) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	// s.writing belongs to the flush under way, if any: it drops it.
	clear(s.queue)
	s.queue, s.spare, s.queued = nil, nil, 0
	s.pending, s.pendingBytes = nil, 0
	if s.batchTimer != nil {
		s.batchTimer.Stop()
	}
	s.conn.Close() // unblocks the reader and a blocked flusher
	close(s.done)
}

// flush writes a BlockingConn's queue until it is empty, each batch with
// one writev under the write timeout; a failed write closes the session.
func (s *Session) flush() {
	conn := s.conn.(BlockingConn)
	timeout := s.hub.opts.WriteTimeout
	write := func(bufs [][]byte) (int, bool, error) {
		conn.SetWriteDeadline(time.Now().Add(timeout))
		s.bufs = append(s.bufs[:0], bufs...) // WriteTo consumes its slice
		n, err := s.bufs.WriteTo(conn)
		clear(s.bufs[:cap(s.bufs)])
		s.bufs = s.bufs[:0]
		return int(n), false, err
	}
	for s.FlushStep(write) == FlushMore {
	}
}

// FlushStep writes, with one call of write, everything queued (the rest
// of what the last step could not write first) and says what is left to
// do. write writes bufs in order and returns the bytes written; a
// non-blocking write reports with wouldBlock that the connection took no
// more. Any other error closes the session. Only the session's scheduled
// flush calls FlushStep, one call at a time.
func (s *Session) FlushStep(write func(bufs [][]byte) (n int, wouldBlock bool, err error)) FlushResult {
	s.mu.Lock()
	if s.closed {
		s.endFlushLocked()
		s.mu.Unlock()
		return FlushDone
	}
	if s.wi == len(s.writing) {
		if len(s.queue) == 0 {
			s.endFlushLocked()
			if s.closing {
				s.closeLocked()
			}
			s.mu.Unlock()
			return FlushDone
		}
		s.writing, s.wi, s.queue, s.spare = s.queue, 0, s.spare[:0], nil
	}
	bufs := s.writing[s.wi:]
	s.mu.Unlock()

	n, wouldBlock, err := write(bufs)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued -= n
	for s.wi < len(s.writing) && n >= len(s.writing[s.wi]) {
		n -= len(s.writing[s.wi])
		s.writing[s.wi] = nil
		s.wi++
	}
	if s.wi < len(s.writing) && n > 0 {
		s.writing[s.wi] = s.writing[s.wi][n:]
	}
	if s.room != nil && !s.backloggedLocked() {
		close(s.room)
		s.room = nil
	}
	left := s.wi < len(s.writing)
	switch {
	case s.closed:
		s.endFlushLocked()
		return FlushDone
	case err != nil:
		s.hub.log.Info("session write failed: closing", "session", s.id, "user_id", s.userID,
			"timeout", isTimeout(err), "err", err)
		s.endFlushLocked()
		s.closeLocked()
		return FlushDone
	case left && wouldBlock:
		if s.blockedSince.IsZero() {
			s.blockedSince = time.Now()
		}
		return FlushBlocked
	case left:
		return FlushMore // a short write that did not block: go on
	}
	s.blockedSince = time.Time{}
	if s.spare == nil {
		s.spare = s.writing[:0]
	}
	s.writing, s.wi = nil, 0
	if len(s.queue) > 0 {
		return FlushMore
	}
	s.endFlushLocked()
	if s.closing {
		s.closeLocked()
	}
	return FlushDone
}

// endFlushLocked ends the flush: the session is no longer scheduled, and
// drops what it could not write when closed, and big backing arrays.
func (s *Session) endFlushLocked() {
	s.flushing = false
	if s.closed {
		clear(s.writing)
		s.writing, s.wi, s.blockedSince = nil, 0, time.Time{}
	}
	if cap(s.queue) > maxIdleQueueCap {
		s.queue = nil
	}
	if cap(s.spare) > maxIdleQueueCap {
		s.spare = nil
	}
}

// AwaitRoom waits while the session's queue holds more than half its
// bounds (in envelopes or bytes), until the client has read enough or the
// session is closed. The request loop calls it before each request: a
// client that pipelines requests faster than it reads the answers is
// served at the pace it reads (its requests wait in its socket, and TCP
// slows it down), instead of being closed as a slow consumer.
func (s *Session) AwaitRoom() {
	s.mu.Lock()
	for s.backloggedLocked() && !s.closed {
		if s.room == nil {
			s.room = make(chan struct{})
		}
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
		case <-s.done:
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
}

// backloggedLocked reports whether the queue holds more than half its
// bounds.
func (s *Session) backloggedLocked() bool {
	lim := &s.hub.opts
	waiting := len(s.queue) + len(s.writing) - s.wi
	return 2*waiting > lim.QueueMessages || 2*s.queued > lim.QueueBytes
}

// BlockedSince returns since when the session's ScheduledConn has been
// full; zero when it is not. The connection's writer closes a session
// blocked longer than the write timeout.
func (s *Session) BlockedSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blockedSince
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
