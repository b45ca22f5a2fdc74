// Package eventstream fans a service's committed, sequenced events out to
// resumable server streams: chat's events, auth's revocations and
// presence's events all reach edges this way.
//
// A stream registers with the broker before it reads the stored log, so
// that every event committed afterwards reaches it live: it replays the log
// from disk, then continues with the live events it has not sent yet. The
// writer publishes without ever blocking; a stream whose buffer overflows is
// cut and resumes from disk when its edge reconnects.
package eventstream

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Event is a committed event with its position in the log (a generated
// protobuf message with a seq field has this method).
type Event interface {
	GetSeq() uint64
}

// Batch is one response of a stream: consecutive events and the head of
// the log when it was sent.
type Batch[E Event] struct {
	// Events are consecutive in seq order; the first batch may have none.
	Events []E
	// Head is the newest committed seq known when the batch was made.
	Head uint64
	// Truncated is set on the first batch when events after the requested
	// seq had already been trimmed from the log.
	Truncated bool
}

// Defaults and bounds.
const (
	// DefaultBuffer is the number of live events a stream may have pending.
	DefaultBuffer = 8192
	// MaxEventsPerResponse bounds the events coalesced into one response.
	MaxEventsPerResponse = 512
)

var (
	// ErrSlow ends a stream that fell behind: its buffer overflowed, or the
	// log was trimmed past it while it replayed. Its edge resumes with the
	// last seq it saw.
	ErrSlow = errors.New("subscriber fell behind")
	// ErrClosed ends the streams of a broker that is shutting down.
	ErrClosed = errors.New("broker closed")
)

// Log is the stored event log a stream replays.
type Log[E Event] interface {
	// EventsAfter returns at most limit events with seq above after, in seq
	// order, with the newest committed seq and the oldest retained seq
	// (head+1 when the log is empty).
	EventsAfter(ctx context.Context, after uint64, limit int) (events []E, head, oldest uint64, err error)
}

// Broker is the fanout. Its methods are safe for concurrent use.
type Broker[E Event] struct {
	buffer int

	mu     sync.Mutex
	subs   map[*sub[E]]struct{}
	head   uint64
	closed bool
}

// New returns a broker whose streams may each have buffer live events
// pending (0 means DefaultBuffer).
func New[E Event](buffer int) *Broker[E] {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Broker[E]{buffer: buffer, subs: make(map[*sub[E]]struct{})}
}

// sub is one registered stream.
type sub[E Event] struct {
	notify chan struct{} // capacity 1: events are pending
	done   chan struct{} // closed when the stream is cut or the broker closes

	mu      sync.Mutex
	pending []E
	reason  error
}

// Publish hands committed events, in seq order, to every stream. It never
// blocks: a stream without room for them is cut.
func (b *Broker[E]) Publish(events []E) {
	if len(events) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.head = events[len(events)-1].GetSeq()
	for s := range b.subs {
		s.mu.Lock()
		if len(s.pending)+len(events) > b.buffer {
			s.pending = nil
			s.reason = ErrSlow
			close(s.done)
			delete(b.subs, s)
		} else {
			s.pending = append(s.pending, events...)
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
		s.mu.Unlock()
	}
}

// Close ends every stream with ErrClosed and refuses new ones.
func (b *Broker[E]) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		s.mu.Lock()
		s.reason = ErrClosed
		close(s.done)
		s.mu.Unlock()
		delete(b.subs, s)
	}
}

func (b *Broker[E]) register() (*sub[E], error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	s := &sub[E]{notify: make(chan struct{}, 1), done: make(chan struct{})}
	b.subs[s] = struct{}{}
	return s, nil
}

func (b *Broker[E]) unregister(s *sub[E]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, s)
}

func (b *Broker[E]) publishedHead() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.head
}

// Stream sends log events with seq above *after, then live events, to
// send until ctx ends, the stream falls behind (ErrSlow), the broker closes
// (ErrClosed), or send fails (its error). A nil after starts at the head.
// Responses carry consecutive events, at most MaxEventsPerResponse each;
// the first is sent at once with the head seq and, when events after
// *after were trimmed from the log, truncated set.
//
// Stream returns as soon as the stream is cut, even while send is blocked
// on a client that does not read; that blocked send then fails when the
// RPC ends.
func (b *Broker[E]) Stream(ctx context.Context, log Log[E], after *uint64, send func(Batch[E]) error) error {
	s, err := b.register()
	if err != nil {
		return err
	}
	defer b.unregister(s)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- b.pump(ctx, s, log, after, send) }()
	select {
	case err := <-errc:
		return err
	case <-s.done:
		return s.err()
	}
}

// err is why the stream was cut.
func (s *sub[E]) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// pump replays the log, then forwards live events.
func (b *Broker[E]) pump(ctx context.Context, s *sub[E], log Log[E], after *uint64, send func(Batch[E]) error) error {
	// Replay. The first page also yields the head; no after, or one beyond
	// the head (a log that was reset), starts at the head.
	var afterSeq uint64
	if after != nil {
		afterSeq = *after
	}
	events, head, oldest, err := log.EventsAfter(ctx, afterSeq, MaxEventsPerResponse)
	if err != nil {
		return err
	}
	last := afterSeq
	if after == nil || afterSeq > head {
		last, events = head, nil
	}
	first := Batch[E]{Events: events, Head: head, Truncated: last+1 < oldest}
	if len(events) > 0 {
		last = events[len(events)-1].GetSeq()
	}
	if err := send(first); err != nil {
		return err
	}
	for len(events) == MaxEventsPerResponse {
		events, head, oldest, err = log.EventsAfter(ctx, last, MaxEventsPerResponse)
		if err != nil {
			return err
		}
		if last+1 < oldest {
			return ErrSlow // trimmed while we replayed
		}
		if len(events) == 0 {
			break
		}
		last = events[len(events)-1].GetSeq()
		if err := send(Batch[E]{Events: events, Head: max(head, last)}); err != nil {
			return err
		}
		s.dropUpTo(last)
	}

	// Live.
	for {
		select {
		case <-s.notify:
		case <-s.done:
			return s.err()
		case <-ctx.Done():
			return ctx.Err()
		}
		for {
			events := s.take(last, MaxEventsPerResponse)
			if len(events) == 0 {
				break
			}
			if events[0].GetSeq() != last+1 {
				return ErrSlow // cannot happen: registration precedes the replay
			}
			last = events[len(events)-1].GetSeq()
			if err := send(Batch[E]{Events: events, Head: max(b.publishedHead(), last)}); err != nil {
				return err
			}
		}
	}
}

// take removes and returns up to n pending events, skipping those with seq
// at most last (already replayed from disk).
func (s *sub[E]) take(last uint64, n int) []E {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.pending) && s.pending[i].GetSeq() <= last {
		i++
	}
	s.pending = s.pending[i:]
	n = min(n, len(s.pending))
	out := make([]E, n)
	copy(out, s.pending)
	s.pending = s.pending[n:]
	if len(s.pending) == 0 {
		s.pending = nil // let the backing array go
	}
	return out
}

// dropUpTo discards pending events already replayed, so that a long replay
// does not overflow the buffer with duplicates.
func (s *sub[E]) dropUpTo(last uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.pending) && s.pending[i].GetSeq() <= last {
		i++
	}
	s.pending = s.pending[i:]
}

// Status maps the two ways Stream cuts a stream to the gRPC status a server
// returns for them: ErrSlow is RESOURCE_EXHAUSTED and ErrClosed UNAVAILABLE,
// both telling the client to resume after the last seq it received. For any
// other error it returns nil and false.
func Status(err error) (error, bool) {
	switch {
	case errors.Is(err, ErrSlow):
		return status.Error(codes.ResourceExhausted, "stream fell behind; resume after the last seq received"), true
	case errors.Is(err, ErrClosed):
		return status.Error(codes.Unavailable, "service shutting down; resume after the last seq received"), true
	}
	return nil, false
}

// StreamError is what a streaming handler returns after Broker.Stream
// ended with err: nil for a clean end, the status of Status for the
// broker's own ends, the stream's status when Send failed, and other(err)
// for the rest (the context's end included), which maps the service's
// errors to a status.
func StreamError(ctx context.Context, err error, other func(error) error) error {
	if st, ok := Status(err); ok {
		return st
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return other(ctx.Err())
	}
	if _, ok := status.FromError(err); ok {
		return err // from Send
	}
	return other(err)
}
