// Package feed consumes the services' resumable event streams (chat's,
// presence's and signaling's events and auth's revocations, at the edges;
// auth's revocations at the bridge) with one loop: it subscribes, hands
// every event to its consumer in sequence order, and after a break
// resubscribes with backoff after the last sequence number it saw, so that
// no committed event is lost or handled twice.
package feed

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Default backoff of the resubscription.
const (
	DefaultMinBackoff = 50 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
)

// Response is one response of a stream: the first of every stream is sent at
// once and tells the log's head.
type Response interface {
	GetHeadSeq() uint64
	GetTruncated() bool
}

// Event is an event of a log, numbered from 1.
type Event interface {
	GetSeq() uint64
}

// Stream is the receiving side of an open server stream.
type Stream[R Response] interface {
	Recv() (R, error)
}

// Feed describes one resumable stream. Name, Log, Open, Events and Handle
// must be set.
type Feed[R Response, E Event] struct {
	// Name names the stream in logs.
	Name string
	// Log receives the consumer's logs.
	Log *slog.Logger
	// Open opens a stream that resumes after *after, or starts at the head
	// when after is nil. The stream ends with ctx.
	Open func(ctx context.Context, after *uint64) (Stream[R], error)
	// Events returns the events of a response.
	Events func(R) []E
	// Handle handles one event; events come in sequence order, each once.
	Handle func(E)
	// Opened, when set, is called after every stream's first response.
	Opened func()
	// Lost, when set, is called when a stream that Opened was called for
	// breaks.
	Lost func()
	// MinBackoff and MaxBackoff bound the wait before resubscribing; zero
	// takes the defaults.
	MinBackoff, MaxBackoff time.Duration
}

// errLogWentBack ends a stream whose log's head is behind the consumer.
var errLogWentBack = errors.New("the log's head is behind the last event handled")

// cursor is the consumer's position in the log.
type cursor struct {
	seq   uint64 // the last event handled
	known bool   // false until a first stream has told the head
}

// Run consumes the stream until ctx is done.
func (f Feed[R, E]) Run(ctx context.Context) {
	if f.MinBackoff <= 0 {
		f.MinBackoff = DefaultMinBackoff
	}
	if f.MaxBackoff < f.MinBackoff {
		f.MaxBackoff = max(DefaultMaxBackoff, f.MinBackoff)
	}
	var pos cursor
	backoff := f.MinBackoff
	for {
		err := f.consume(ctx, &pos, &backoff)
		if ctx.Err() != nil {
			return
		}
		f.Log.Warn(f.Name+" stream lost; resubscribing", "after_seq", pos.seq, "backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, f.MaxBackoff)
	}
}

// consume reads one stream until it breaks.
func (f Feed[R, E]) consume(ctx context.Context, pos *cursor, backoff *time.Duration) error {
	// The stream lives as long as the edge: no deadline, unlike unary calls.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var after *uint64
	if pos.known {
		seq := pos.seq
		after = &seq
	}
	stream, err := f.Open(ctx, after)
	if err != nil {
		return err
	}
	first := true
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if first {
			first = false
			*backoff = f.MinBackoff
			if pos.known && resp.GetHeadSeq() < pos.seq {
				// The service's log is behind what this edge handled: its
				// store was restored from a backup (or lost). Follow the
				// log from its head again, resubscribing after it, or
				// every event up to the old position would be skipped.
				f.Log.Warn(f.Name+" log went back (store restored?); following it from its head",
					"after_seq", pos.seq, "head_seq", resp.GetHeadSeq())
				pos.seq = resp.GetHeadSeq()
				return errLogWentBack
			}
			if !pos.known {
				pos.seq, pos.known = resp.GetHeadSeq(), true
			}
			if resp.GetTruncated() {
				f.Log.Error(f.Name+" stream truncated: events were lost", "after_seq", pos.seq)
			}
			f.Log.Info(f.Name+" stream open", "head_seq", resp.GetHeadSeq(), "after_seq", pos.seq)
			if f.Opened != nil {
				f.Opened()
			}
			if f.Lost != nil {
				defer f.Lost()
			}
		}
		for _, ev := range f.Events(resp) {
			if ev.GetSeq() <= pos.seq {
				continue // already handled before a reconnect
			}
			f.Handle(ev)
			pos.seq = ev.GetSeq()
		}
	}
}
