package hub

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Conn is what a session writes to: a net.Conn in production, a discarding
// fake in benchmarks.
type Conn interface {
	io.Writer
	Close() error
	SetWriteDeadline(t time.Time) error
}

// Limits bound every session's outbound queue and writes.
type Limits struct {
	// QueueMessages is the most envelopes a session may have waiting.
	QueueMessages int
	// QueueBytes is the most bytes a session may have waiting.
	QueueBytes int
	// WriteTimeout bounds each write; a session whose write times out is closed.
	WriteTimeout time.Duration
}

// maxIdleQueueCap is the queue capacity a session keeps once drained;
// bigger backing arrays from a burst are released.
const maxIdleQueueCap = 16

// Session is one client connection's outbound side and its place in the
// hub's indexes. Envelopes are queued without blocking; a flusher goroutine
// exists only while the queue is non-empty and writes everything queued in
// one writev. A session whose queue overflows is closed (slow consumer) so
// that it never stalls delivery to the others.
type Session struct {
	id   string
	conn Conn
	hub  *Hub

	// userID is set once by Register, before any other goroutine can reach
	// the session; registered and rooms are guarded by hub.mu.
	userID     int64
	registered bool
	rooms      []int64

	flushFn func() // s.flush, bound once so that starting a flusher does not allocate

	mu       sync.Mutex
	queue    [][]byte
	spare    [][]byte
	queued   int  // bytes in queue
	flushing bool // a flusher goroutine runs
	closing  bool // close once the queue is drained
	closed   bool
	done     chan struct{}

	bufs net.Buffers // the flusher's batch, a field so that WriteTo does not allocate
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// Done is closed when the session is closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Send queues b (a complete envelope line, never modified afterwards, shared
// between sessions) and reports whether it was queued. It never blocks on
// the network. A send that overflows the queue closes the session.
func (s *Session) Send(b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(b)
}

func (s *Session) sendLocked(b []byte) bool {
	if s.closed || s.closing {
		return false
	}
	lim := &s.hub.limits
	if len(s.queue) >= lim.QueueMessages || s.queued+len(b) > lim.QueueBytes {
		s.hub.log.Warn("slow consumer: closing session", "session", s.id, "user_id", s.userID,
			"queued_messages", len(s.queue), "queued_bytes", s.queued)
		s.closeLocked()
		return false
	}
	s.queue = append(s.queue, b)
	s.queued += len(b)
	if !s.flushing {
		s.flushing = true
		go s.flushFn()
	}
	return true
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
	clear(s.queue)
	s.queue, s.spare, s.queued = nil, nil, 0
	s.conn.Close() // unblocks the reader and a blocked flusher
	close(s.done)
}

func (s *Session) flush() {
	timeout := s.hub.limits.WriteTimeout
	for {
		s.mu.Lock()
		if s.closed {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		if len(s.queue) == 0 {
			s.flushing = false
			if cap(s.queue) > maxIdleQueueCap {
				s.queue = nil
			}
			if cap(s.spare) > maxIdleQueueCap {
				s.spare = nil
			}
			if s.closing {
				s.closeLocked()
			}
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue, s.spare = s.spare[:0], nil
		s.queued = 0
		s.mu.Unlock()

		s.conn.SetWriteDeadline(time.Now().Add(timeout))
		s.bufs = batch
		_, err := s.bufs.WriteTo(s.conn)
		s.bufs = nil
		clear(batch)

		s.mu.Lock()
		if s.spare == nil {
			s.spare = batch[:0]
		}
		if err != nil {
			if !s.closed {
				s.hub.log.Info("session write failed: closing", "session", s.id, "user_id", s.userID,
					"timeout", isTimeout(err), "err", err)
			}
			s.flushing = false
			s.closeLocked()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
