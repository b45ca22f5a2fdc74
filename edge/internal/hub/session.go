package hub

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"switchboard.dev/edge/internal/protocol"
)

// Conn is what a session writes to: a net.Conn in production, a discarding
// fake in benchmarks.
type Conn interface {
	io.Writer
	Close() error
	SetWriteDeadline(t time.Time) error
}

// maxIdleQueueCap is the queue capacity a session keeps once drained;
// bigger backing arrays from a burst are released.
const maxIdleQueueCap = 16

// Session is one client connection's outbound side and its place in the
// hub's indexes. Envelopes are queued without blocking; a flusher goroutine
// exists only while the queue is non-empty and writes everything queued in
// one writev. A session whose queue overflows is closed (slow consumer) so
// that it never stalls delivery to the others. A batching session holds
// broadcast messages in an open batch for at most the batch window; any
// other envelope closes the batch first, so that order is kept.
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

	flushFn func() // s.flush, bound once so that starting a flusher does not allocate
	batchFn func() // s.batchTimeUp, bound once for the batch timer

	mu       sync.Mutex
	queue    [][]byte
	spare    [][]byte
	queued   int  // bytes in queue
	flushing bool // a flusher goroutine runs
	closing  bool // close once the queue is drained
	closed   bool
	done     chan struct{}

	// The open batch of a batching session: Message objects shared with
	// every other recipient, assembled into one envelope when it closes.
	pending       [][]byte
	pendingBytes  int
	batchDeadline time.Time
	batchTimer    *time.Timer

	bufs net.Buffers // the flusher's batch, a field so that WriteTo does not allocate
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
	clear(s.queue)
	s.queue, s.spare, s.queued = nil, nil, 0
	s.pending, s.pendingBytes = nil, 0
	if s.batchTimer != nil {
		s.batchTimer.Stop()
	}
	s.conn.Close() // unblocks the reader and a blocked flusher
	close(s.done)
}

func (s *Session) flush() {
	timeout := s.hub.opts.WriteTimeout
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
