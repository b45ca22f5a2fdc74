// Package store persists the presence service's event log and the last
// known presence of every user (online or not, last seen) in one bbolt
// file.
//
// Every write goes through a single writer goroutine that applies whatever
// is queued in one transaction (group commit): a write is fsync'd before
// its caller returns, and concurrent writers share the fsync. After a
// commit the writer hands the batch's events, in sequence order, to the
// Publish hook, then answers the callers. The same transaction trims the
// oldest events beyond the retention.
package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/platform/eventlog"
	"switchboard.dev/platform/groupcommit"
)

// ErrClosed means the store is closed.
var ErrClosed = groupcommit.ErrClosed

// Defaults and bounds.
const (
	// DefaultEventRetention is how many of the newest events the log keeps.
	DefaultEventRetention = 10000
	// MaxBatch bounds the writes applied in one transaction; it is below
	// eventlog.DefaultTrimChunk, so each commit's trim keeps up.
	MaxBatch = 256
)

// Bucket names, declared once.
var (
	bucketEvents = []byte("events") // seq → Event
	bucketUsers  = []byte("users")  // user id → last seen (unix ns, big-endian), online (1 byte)
	bucketOnline = []byte("online") // user id → empty: the users last known online
)

// User is the durable presence of a user.
type User struct {
	// ID is the user.
	ID int64
	// Online is whether the user's peers were last told they are online.
	Online bool
	// LastSeen is when the user was last seen online; zero when never.
	LastSeen time.Time
}

// Write is one write: user records to put and, when Event is set, an event
// to append to the log (Apply gives it its seq).
type Write struct {
	Users []User
	Event *presencev1.Event
}

// Options configure a Store.
type Options struct {
	// EventRetention is how many of the newest events the log keeps;
	// 0 means DefaultEventRetention.
	EventRetention int
	// Publish receives each committed batch's events in sequence order,
	// from the writer goroutine, before the writers are answered. It must
	// not block.
	Publish func([]*presencev1.Event)
	// Logger receives commit errors; nil discards them.
	Logger *slog.Logger
}

// Store is the presence service's bbolt store. Its methods are safe for
// concurrent use.
type Store struct {
	db      *bolt.DB
	events  *eventlog.Log[*presencev1.Event] // its writer side is the writer goroutine's
	publish func([]*presencev1.Event)
	log     *slog.Logger

	writes    *groupcommit.Queue[Write]
	closeOnce sync.Once
}

// op is one queued write.
type op = groupcommit.Op[Write]

// Open opens (creating when needed) the store at path, creates its
// buckets, trims the log to the retention and starts the writer.
func Open(path string, opts Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{
		db:      db,
		publish: opts.Publish,
		log:     opts.Logger,
		writes:  groupcommit.New[Write](MaxBatch),
	}
	retention := opts.EventRetention
	if retention <= 0 {
		retention = DefaultEventRetention
	}
	if s.publish == nil {
		s.publish = func([]*presencev1.Event) {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketUsers, bucketOnline} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err == nil {
		s.events, err = eventlog.Open(db, eventlog.Config[*presencev1.Event]{
			Bucket:    bucketEvents,
			Retention: retention,
			New:       func() *presencev1.Event { return &presencev1.Event{} },
			SetSeq:    func(ev *presencev1.Event, seq uint64) { ev.Seq = seq },
		})
	}
	if err == nil {
		// A retention lowered since the last run: trim in chunks now, so
		// that commits only ever have a small trim to do.
		err = s.events.TrimBacklog()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	go s.writes.Serve(s.commit)
	return s, nil
}

// Close stops the writer, failing writes still queued with ErrClosed, and
// closes the file. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.writes.Close()
		if e := s.db.Close(); e != nil {
			err = fmt.Errorf("close store: %w", e)
		}
	})
	return err
}

// Apply commits w durably; its event, if any, has been published when
// Apply returns nil.
func (s *Store) Apply(ctx context.Context, w Write) error {
	return s.writes.Submit(ctx, w)
}

// commit applies batch in one transaction, publishes its events, then
// answers each op.
func (s *Store) commit(batch []*op) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, o := range batch {
			for _, u := range o.Value.Users {
				if err := putUser(tx, u); err != nil {
					return err
				}
			}
			if o.Value.Event != nil {
				// A copy: the caller's event stays as it was.
				if err := s.events.Append(tx, proto.CloneOf(o.Value.Event)); err != nil {
					return err
				}
			}
		}
		return s.events.Trim(tx)
	})
	if err != nil {
		s.events.Abort()
		s.log.Error("commit batch", "ops", len(batch), "err", err)
		for _, o := range batch {
			o.Err = fmt.Errorf("commit: %w", err)
			o.Finish()
		}
		return
	}
	if events := s.events.Commit(); len(events) > 0 {
		s.publish(events)
	}
	for _, o := range batch {
		o.Finish()
	}
}

// EventsAfter returns at most limit events with seq above after, in seq
// order, with the newest committed seq and the oldest retained seq (head+1
// when the log is empty) as seen by the same read.
func (s *Store) EventsAfter(ctx context.Context, after uint64, limit int) (events []*presencev1.Event, head, oldest uint64, err error) {
	return s.events.EventsAfter(ctx, after, limit)
}

// Users returns the records of the users in ids that have one.
func (s *Store) Users(ctx context.Context, ids []int64) (map[int64]User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[int64]User)
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		for _, id := range ids {
			if v := b.Get(key(uint64(id))); v != nil {
				u, err := decodeUser(id, v)
				if err != nil {
					return err
				}
				out[id] = u
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get users: %w", err)
	}
	return out, nil
}

// OnlineUsers returns the records of the users last known online.
func (s *Store) OnlineUsers(ctx context.Context) ([]User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []User
	err := s.db.View(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		return tx.Bucket(bucketOnline).ForEach(func(k, _ []byte) error {
			id := int64(binary.BigEndian.Uint64(k))
			u, err := decodeUser(id, users.Get(k))
			if err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("online users: %w", err)
	}
	return out, nil
}

// putUser writes u's record and its membership of the online bucket.
func putUser(tx *bolt.Tx, u User) error {
	k := key(uint64(u.ID))
	v := make([]byte, 9)
	if !u.LastSeen.IsZero() {
		binary.BigEndian.PutUint64(v, uint64(u.LastSeen.UnixNano()))
	}
	online := tx.Bucket(bucketOnline)
	var err error
	if u.Online {
		v[8] = 1
		err = online.Put(k, nil)
	} else {
		err = online.Delete(k)
	}
	if err == nil {
		err = tx.Bucket(bucketUsers).Put(k, v)
	}
	if err != nil {
		return fmt.Errorf("put user %d: %w", u.ID, err)
	}
	return nil
}

func decodeUser(id int64, v []byte) (User, error) {
	if len(v) != 9 {
		return User{}, fmt.Errorf("user %d: record of %d bytes, want 9", id, len(v))
	}
	u := User{ID: id, Online: v[8] == 1}
	if ns := int64(binary.BigEndian.Uint64(v)); ns != 0 {
		u.LastSeen = time.Unix(0, ns)
	}
	return u, nil
}

func key(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}
