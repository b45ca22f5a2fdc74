// Package groupcommit hands a store's writes to its one writer goroutine,
// which takes every write queued at that moment as one batch (one
// transaction, one fsync), and lets each caller wait for its own answer.
// A writer that only commits runs Serve; one that does other work between
// batches (such as housekeeping) runs its own loop with what the queue
// gives every such loop (Ops, Fill, Closing, Stopped).
package groupcommit

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed answers writes made after Close, or still queued when the
// writer stopped.
var ErrClosed = errors.New("store closed")

// Op is one queued write: its value for the writer, and the answer the
// writer gives with Finish.
type Op[T any] struct {
	// Value is what the caller asked for.
	Value T
	// Err is the answer: set by the writer before Finish.
	Err error

	done chan struct{}
}

// Finish answers the caller waiting in Submit with Err.
func (o *Op[T]) Finish() { close(o.done) }

// Queue is the way from the callers to the writer. Its methods are safe for
// concurrent use.
type Queue[T any] struct {
	max     int
	ops     chan *Op[T]
	closing chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// New returns a queue whose batches hold at most max writes.
func New[T any](max int) *Queue[T] {
	return &Queue[T]{
		max:     max,
		ops:     make(chan *Op[T], max),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

// Submit queues v and waits for the writer's answer, ctx's end, or the
// writer's stop.
func (q *Queue[T]) Submit(ctx context.Context, v T) error {
	o := &Op[T]{Value: v, done: make(chan struct{})}
	select {
	case q.ops <- o:
	case <-q.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-o.done:
		return o.Err
	case <-ctx.Done():
		return ctx.Err()
	case <-q.stopped:
		select {
		case <-o.done:
			return o.Err
		default:
			return ErrClosed
		}
	}
}

// Ops is where the writer receives the first write of a batch, in a select
// with its other work.
func (q *Queue[T]) Ops() <-chan *Op[T] { return q.ops }

// Len is how many writes are queued and not yet taken by the writer.
func (q *Queue[T]) Len() int { return len(q.ops) }

// Closing is closed when Close is called: the writer returns, calling
// Stopped.
func (q *Queue[T]) Closing() <-chan struct{} { return q.closing }

// Fill appends to batch (which holds the first write) every write queued
// now, up to the queue's maximum, without waiting.
func (q *Queue[T]) Fill(batch []*Op[T]) []*Op[T] {
	for len(batch) < q.max {
		select {
		case o := <-q.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// Serve is the loop of a writer that does nothing but commit: it hands
// commit every batch (each op answered by commit with Finish) until Close,
// then calls Stopped. A store starts it as its writer goroutine.
func (q *Queue[T]) Serve(commit func(batch []*Op[T])) {
	defer q.Stopped()
	batch := make([]*Op[T], 0, q.max)
	for {
		select {
		case o := <-q.ops:
			commit(q.Fill(append(batch[:0], o)))
			clear(batch)
		case <-q.closing:
			return
		}
	}
}

// Stopped is what the writer calls when it returns: writes still queued
// are answered ErrClosed, and Close may go on.
func (q *Queue[T]) Stopped() {
	for {
		select {
		case o := <-q.ops:
			o.Err = ErrClosed
			o.Finish()
		default:
			close(q.stopped)
			return
		}
	}
}

// Close asks the writer to stop and waits until it has. It is safe to call
// more than once.
func (q *Queue[T]) Close() {
	q.once.Do(func() { close(q.closing) })
	<-q.stopped
}
