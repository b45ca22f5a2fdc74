// Package eventlog keeps a service's durable event log in one bucket of its
// bbolt file: the log that platform/eventstream replays to resuming streams.
//
// Keys are the big-endian seq the bucket's NextSequence gives, values the
// events' protobuf encoding. The bucket's sequence outlives every deleted
// event, so seqs never go back or repeat, even across restarts and when the
// log empties. Only the newest Retention events are kept: the oldest are
// deleted in chunks of at most TrimChunk per transaction, so the log is
// always the contiguous seqs from oldest to head.
//
// The store's single writer goroutine owns the Log's writer side. It appends
// events and trims the log inside its own write transaction (group commit),
// then tells the Log how the transaction ended:
//
//	err := db.Update(func(tx *bolt.Tx) error {
//		// ... the batch's other writes ...
//		if err := l.Append(tx, ev); err != nil {
//			return err
//		}
//		return l.Trim(tx)
//	})
//	if err != nil {
//		l.Abort()
//		return err
//	}
//	publish(l.Commit()) // the transaction's events, with their seqs
//
// The bounds the writer tracks (head, oldest) change only in Commit, so a
// failed transaction leaves them as they were. Readers (EventsAfter) read the
// bounds and the events from one read transaction and never touch the
// writer's state, so they are safe to call from any goroutine.
package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// DefaultTrimChunk is the most old events one transaction deletes when
// Config.TrimChunk is 0. It exceeds the events a typical batch appends, so
// the trim inside each commit keeps up with the appends.
const DefaultTrimChunk = 1000

// Event is what a log holds: a generated protobuf message with a seq field
// (it satisfies platform/eventstream's Event).
type Event interface {
	proto.Message
	GetSeq() uint64
}

// Config describes a log.
type Config[E Event] struct {
	// Bucket is the name of the log's bucket; Open creates it when needed.
	Bucket []byte
	// Retention is how many of the newest events the log keeps; it must be
	// positive.
	Retention int
	// TrimChunk bounds the old events deleted in one transaction; 0 means
	// DefaultTrimChunk.
	TrimChunk int
	// New returns an empty event to decode into.
	New func() E
	// SetSeq sets ev's seq field.
	SetSeq func(ev E, seq uint64)
}

// Log is one service's event log. Open, TrimBacklog, Append, Trim, Commit,
// Abort, Bounds and Backlog belong to the store's writer: call them from one
// goroutine at a time (Open's caller, then the writer goroutine).
// EventsAfter is safe for concurrent use.
type Log[E Event] struct {
	db        *bolt.DB
	bucket    []byte
	retention uint64
	chunk     uint64
	newEvent  func() E
	setSeq    func(E, uint64)

	// The committed bounds, owned by the writer.
	head   uint64 // newest seq; 0 before the first event
	oldest uint64 // oldest retained seq; head+1 when the log is empty

	// The transaction under way: what Commit adds to the bounds.
	pending []E    // appended, in seq order
	trimmed uint64 // deleted from oldest on
}

// Open returns the log kept in db's bucket cfg.Bucket, creating the bucket
// when needed and reading the bounds. It does not trim: a retention lowered
// since the last run leaves a Backlog, which TrimBacklog (at start-up) or
// the commits' Trim (over time) delete.
func Open[E Event](db *bolt.DB, cfg Config[E]) (*Log[E], error) {
	switch {
	case len(cfg.Bucket) == 0:
		return nil, errors.New("open event log: no bucket name")
	case cfg.Retention <= 0:
		return nil, fmt.Errorf("open event log %s: retention %d, want a positive count", cfg.Bucket, cfg.Retention)
	case cfg.TrimChunk < 0:
		return nil, fmt.Errorf("open event log %s: trim chunk %d, want 0 or more", cfg.Bucket, cfg.TrimChunk)
	case cfg.New == nil || cfg.SetSeq == nil:
		return nil, fmt.Errorf("open event log %s: New and SetSeq are required", cfg.Bucket)
	}
	l := &Log[E]{
		db:        db,
		bucket:    cfg.Bucket,
		retention: uint64(cfg.Retention),
		chunk:     uint64(cfg.TrimChunk),
		newEvent:  cfg.New,
		setSeq:    cfg.SetSeq,
	}
	if l.chunk == 0 {
		l.chunk = DefaultTrimChunk
	}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(l.bucket)
		if err != nil {
			return fmt.Errorf("create bucket: %w", err)
		}
		l.head, l.oldest = bounds(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", l.bucket, err)
	}
	return l, nil
}

// TrimBacklog deletes the events beyond the retention (left by a retention
// lowered since the last run) in transactions of at most TrimChunk deletes
// each, so that the commits' Trim only ever has a small trim to do. Call it
// before the writer starts, or from the writer between transactions.
func (l *Log[E]) TrimBacklog() error {
	for l.Backlog() > 0 {
		if err := l.db.Update(l.Trim); err != nil {
			l.Abort()
			return fmt.Errorf("trim event log %s: %w", l.bucket, err)
		}
		l.Commit()
	}
	return nil
}

// Append gives ev the log's next seq (setting its seq field) and stores it
// in tx, the writer's transaction. The caller must not change ev afterwards:
// Commit returns it for publishing.
func (l *Log[E]) Append(tx *bolt.Tx, ev E) error {
	b := tx.Bucket(l.bucket)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("append to event log %s: next seq: %w", l.bucket, err)
	}
	l.setSeq(ev, seq)
	v, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("append event %d to %s: %w", seq, l.bucket, err)
	}
	if err := b.Put(key(seq), v); err != nil {
		return fmt.Errorf("append event %d to %s: %w", seq, l.bucket, err)
	}
	l.pending = append(l.pending, ev)
	return nil
}

// Trim deletes in tx up to TrimChunk of the oldest events, so that at most
// the retention remain once tx's appends so far are counted. Call it after
// the transaction's appends. Keys are contiguous from oldest, so it needs
// no cursor.
func (l *Log[E]) Trim(tx *bolt.Tx) error {
	from := l.oldest + l.trimmed
	n := l.head + uint64(len(l.pending)) + 1 - from
	if n <= l.retention {
		return nil
	}
	n = min(n-l.retention, l.chunk)
	b := tx.Bucket(l.bucket)
	for seq := from; seq < from+n; seq++ {
		if err := b.Delete(key(seq)); err != nil {
			return fmt.Errorf("trim event %d from %s: %w", seq, l.bucket, err)
		}
	}
	l.trimmed += n
	return nil
}

// Commit records that the transaction holding the Appends and Trims since
// the last Commit or Abort has committed: it moves the bounds and returns
// the appended events in seq order (nil for none), for the store to
// publish.
func (l *Log[E]) Commit() []E {
	events := l.pending
	l.head += uint64(len(events))
	l.oldest += l.trimmed
	l.pending, l.trimmed = nil, 0
	return events
}

// Abort records that the transaction holding the Appends and Trims since
// the last Commit or Abort was rolled back or failed to commit: the bounds
// stay as they were.
func (l *Log[E]) Abort() {
	l.pending, l.trimmed = nil, 0
}

// Bounds returns the committed bounds: the newest seq (0 before the first
// event) and the oldest retained one (head+1 when the log is empty).
func (l *Log[E]) Bounds() (head, oldest uint64) {
	return l.head, l.oldest
}

// Backlog is how many committed events exceed the retention.
func (l *Log[E]) Backlog() uint64 {
	n := l.head + 1 - l.oldest
	if n <= l.retention {
		return 0
	}
	return n - l.retention
}

// EventsAfter returns at most limit events with seq above after, in seq
// order, with the newest committed seq and the oldest retained seq (head+1
// when the log is empty) as seen by the same read transaction; it is
// platform/eventstream's Log. A limit of 0 reads only the bounds.
func (l *Log[E]) EventsAfter(ctx context.Context, after uint64, limit int) (events []E, head, oldest uint64, err error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, 0, err
	}
	err = l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(l.bucket)
		head, oldest = bounds(b)
		if after == math.MaxUint64 {
			return nil // no seq above; after+1 would wrap to the start
		}
		c := b.Cursor()
		for k, v := c.Seek(key(after + 1)); k != nil && len(events) < limit; k, v = c.Next() {
			ev := l.newEvent()
			// Unmarshal copies out of the transaction's memory.
			if err := proto.Unmarshal(v, ev); err != nil {
				return fmt.Errorf("unmarshal event %x: %w", k, err)
			}
			events = append(events, ev)
		}
		return nil
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("events after %d in %s: %w", after, l.bucket, err)
	}
	return events, head, oldest, nil
}

// bounds returns the newest seq and the oldest retained one (head+1 when
// the log is empty) as b holds them.
func bounds(b *bolt.Bucket) (head, oldest uint64) {
	head = b.Sequence()
	k, _ := b.Cursor().First()
	if k == nil {
		return head, head + 1
	}
	return head, binary.BigEndian.Uint64(k)
}

func key(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}
