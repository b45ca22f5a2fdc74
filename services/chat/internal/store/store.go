// Package store persists rooms, memberships, invitations, bans, blocks,
// messages and the event log of the chat service in one bbolt file.
//
// Every write goes through a single writer goroutine that applies whatever
// is queued in one transaction (group commit): an acknowledged write is
// fsync'd before its caller returns, and concurrent writers share the fsync.
// After a commit the writer hands the batch's events, in sequence order, to
// the Publish hook, then answers the callers. Housekeeping (trimming the
// event log, compacting message history) runs on the same goroutine in
// small transactions of its own, when no write is queued.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/platform/eventlog"
	"switchboard.dev/platform/groupcommit"
)

// Refusals: a write or read that is refused returns one of these, wrapped.
var (
	// ErrRoomNotFound means no room has the id.
	ErrRoomNotFound = errors.New("room not found")
	// ErrRoomExists means a room with the id already exists.
	ErrRoomExists = errors.New("room exists")
	// ErrNotMember means the user is not a member of the room.
	ErrNotMember = errors.New("not a member")
	// ErrNotInvited means the room is invite-only and the user was not invited.
	ErrNotInvited = errors.New("not invited")
	// ErrRoomFull means the room is at its member limit.
	ErrRoomFull = errors.New("room full")
	// ErrBanned means the user is banned from the room.
	ErrBanned = errors.New("banned")
	// ErrClosed means the store is closed.
	ErrClosed = groupcommit.ErrClosed
)

// Defaults of Options.
const (
	DefaultMaxMembers     = 10000
	DefaultEventRetention = 100000
	// MaxBatch bounds the writes applied in one transaction.
	MaxBatch = 256
	// compactChunk bounds the messages deleted in one compaction
	// transaction, and compactRooms the rooms it visits.
	compactChunk = 1000
	compactRooms = 1000
	// starveLimit is how many consecutive batches may pass while
	// housekeeping is due before one housekeeping step runs anyway, so that
	// a sustained write load does not postpone it forever.
	starveLimit = 64
)

// Bucket names, declared once.
var (
	bucketRooms     = []byte("rooms")      // room id → Room
	bucketMembers   = []byte("members")    // room id|user id → Member
	bucketUserRooms = []byte("user_rooms") // user id|room id → empty
	bucketInvites   = []byte("invites")    // room id|user id → empty
	bucketBans      = []byte("bans")       // room id|user id → empty
	bucketBlocked   = []byte("blocked")    // user id|blocked user id → empty
	bucketMessages  = []byte("messages")   // room id → bucket: message id → Message
	bucketEvents    = []byte("events")     // seq → Event
)

// Options configure a Store.
type Options struct {
	// DefaultMaxMembers is the limit of rooms whose max_members is 0;
	// 0 means DefaultMaxMembers.
	DefaultMaxMembers int
	// EventRetention is how many of the newest events the log keeps;
	// 0 means DefaultEventRetention.
	EventRetention int
	// Publish receives each committed batch's events in sequence order,
	// from the writer goroutine, before the writers are answered. It must
	// not block.
	Publish func([]*chatv1.Event)
	// Logger receives background errors; nil discards them.
	Logger *slog.Logger
	// Now returns the time stamped on rooms, members and messages, and
	// the time compaction measures ages against; nil means time.Now.
	Now func() time.Time
	// RetentionMessages is how many of its newest messages a room whose
	// retention_messages is 0 keeps; 0 keeps all.
	RetentionMessages int64
	// RetentionAge is how old the messages of a room whose
	// retention_seconds is 0 may grow; 0 keeps them forever.
	RetentionAge time.Duration
	// CompactInterval is the period of the background compaction; 0 means
	// none (Compact only).
	CompactInterval time.Duration
	// DedupWindow is how long a message's client_msg_id is remembered;
	// 0 means DefaultDedupWindow.
	DedupWindow time.Duration
}

// Store is the chat service's bbolt store. Its methods are safe for
// concurrent use.
type Store struct {
	db         *bolt.DB
	maxMembers int
	events     *eventlog.Log[*chatv1.Event] // its writer side is the writer goroutine's
	publish    func([]*chatv1.Event)
	log        *slog.Logger
	now        func() time.Time
	keepCount  int64
	keepAge    time.Duration
	interval   time.Duration
	dedup      time.Duration

	writes    *groupcommit.Queue[applyFunc]
	compacts  chan chan error // Compact's requests to the writer
	closeOnce sync.Once
	commits   atomic.Uint64

	// Owned by the writer goroutine (set in Open before it starts).
	trimFailed bool
	busy       int          // consecutive batches while housekeeping was due
	pass       *compactPass // the compaction under way, or nil
	nextPass   []chan error // Compact callers waiting for the next pass
}

// applyFunc is one queued write. It runs inside the batch transaction; it
// checks its preconditions before writing anything and returns a refusal to
// leave the transaction untouched. Any other error aborts the whole batch.
type applyFunc func(w *txWriter) error

// op is a queued write with its answer.
type op = groupcommit.Op[applyFunc]

// txWriter is what an op sees of the batch transaction.
type txWriter struct {
	tx     *bolt.Tx
	now    time.Time
	events *eventlog.Log[*chatv1.Event]
	dedup  time.Duration // the store's DedupWindow
}

// Open opens (creating when needed) the store at path, creates its buckets
// and starts its writer.
func Open(path string, opts Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{
		db:         db,
		maxMembers: opts.DefaultMaxMembers,
		publish:    opts.Publish,
		log:        opts.Logger,
		now:        opts.Now,
		keepCount:  opts.RetentionMessages,
		keepAge:    opts.RetentionAge,
		interval:   opts.CompactInterval,
		dedup:      opts.DedupWindow,
		writes:     groupcommit.New[applyFunc](MaxBatch),
		compacts:   make(chan chan error),
	}
	if s.maxMembers <= 0 {
		s.maxMembers = DefaultMaxMembers
	}
	retention := opts.EventRetention
	if retention <= 0 {
		retention = DefaultEventRetention
	}
	if s.publish == nil {
		s.publish = func([]*chatv1.Event) {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.dedup <= 0 {
		s.dedup = DefaultDedupWindow
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRooms, bucketMembers, bucketUserRooms, bucketInvites, bucketBans, bucketBlocked, bucketMessages, bucketDedup, bucketDedupExpiry} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err == nil {
		// A retention lowered since the last run is trimmed by the
		// writer's housekeeping, not here: Open does not wait for it.
		s.events, err = eventlog.Open(db, eventlog.Config[*chatv1.Event]{
			Bucket:    bucketEvents,
			Retention: retention,
			New:       func() *chatv1.Event { return &chatv1.Event{} },
			SetSeq:    func(ev *chatv1.Event, seq uint64) { ev.Seq = seq },
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	go s.run()
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

// Commits returns how many write transactions the store has committed
// since Open; with group commit it grows slower than the number of writes.
func (s *Store) Commits() uint64 { return s.commits.Load() }

// do queues apply for the writer and waits for its answer.
func (s *Store) do(ctx context.Context, apply func(w *txWriter) error) error {
	return s.writes.Submit(ctx, apply)
}

// run is the writer goroutine: it commits batches until Close, and does
// housekeeping (event trim, compaction) when no write is queued.
func (s *Store) run() {
	defer s.writes.Stopped()
	var tick <-chan time.Time
	if s.interval > 0 {
		t := time.NewTicker(s.interval)
		defer t.Stop()
		tick = t.C
	}
	batch := make([]*op, 0, MaxBatch)
	for {
		var first *op
		if s.housekeepingDue() {
			// Writes first, unless they have kept housekeeping waiting for
			// starveLimit batches; compaction requests and ticks wait for
			// the housekeeping in hand.
			if s.busy < starveLimit {
				select {
				case first = <-s.writes.Ops():
				case <-s.writes.Closing():
					s.failCompactions()
					return
				default:
				}
			}
			if first == nil {
				s.busy = 0
				s.housekeep()
				continue
			}
		} else {
			select {
			case first = <-s.writes.Ops():
			case done := <-s.compacts:
				s.requestPass(done)
				continue
			case <-tick:
				s.requestPass(nil)
				continue
			case <-s.writes.Closing():
				s.failCompactions()
				return
			}
		}
		batch = s.writes.Fill(append(batch[:0], first))
		s.commit(batch)
		clear(batch)
		if s.housekeepingDue() {
			s.busy++
		}
	}
}

// housekeepingDue reports whether the event log needs a trim or a
// compaction is under way.
func (s *Store) housekeepingDue() bool {
	return (s.events.Backlog() > 0 && !s.trimFailed) || s.pass != nil
}

// housekeep runs one small housekeeping transaction: a trim of the event
// log first, else a compaction chunk.
func (s *Store) housekeep() {
	if s.events.Backlog() > 0 && !s.trimFailed {
		s.trim()
		return
	}
	if s.pass != nil {
		s.compactStep()
	}
}

// failCompactions answers the Compact callers waiting when the writer stops
// (the queue answers the queued writes).
func (s *Store) failCompactions() {
	if s.pass != nil {
		for _, done := range s.pass.waiters {
			done <- ErrClosed
		}
		s.pass = nil
	}
	for _, done := range s.nextPass {
		done <- ErrClosed
	}
	s.nextPass = nil
}

// commit applies batch in one transaction, publishes its events, then
// answers each op.
func (s *Store) commit(batch []*op) {
	w := &txWriter{now: s.now(), events: s.events, dedup: s.dedup}
	err := s.db.Update(func(tx *bolt.Tx) error {
		w.tx = tx
		for _, o := range batch {
			o.Err = nil
			if err := o.Value(w); err != nil {
				if !isRefusal(err) {
					return err
				}
				o.Err = err // refused before it wrote anything
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
	s.commits.Add(1)
	s.trimFailed = false
	if events := s.events.Commit(); len(events) > 0 {
		s.publish(events)
	}
	for _, o := range batch {
		o.Finish()
	}
}

// trim deletes one chunk of the oldest events beyond the retention.
func (s *Store) trim() {
	if err := s.db.Update(s.events.Trim); err != nil {
		s.events.Abort()
		s.log.Error("trim event log", "err", err)
		s.trimFailed = true // retried after the next successful batch
		return
	}
	s.commits.Add(1)
	s.events.Commit()
}

func isRefusal(err error) bool {
	for _, r := range []error{ErrRoomNotFound, ErrRoomExists, ErrNotMember, ErrNotInvited, ErrRoomFull, ErrBanned} {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// appendEvent gives ev the next seq and stores it; the batch publishes it
// after its commit.
func (w *txWriter) appendEvent(ev *chatv1.Event) error {
	return w.events.Append(w.tx, ev)
}

func key(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

func id64(n int64) []byte { return key(uint64(n)) }

func pair(a, b int64) []byte {
	k := make([]byte, 0, 16)
	k = binary.BigEndian.AppendUint64(k, uint64(a))
	return binary.BigEndian.AppendUint64(k, uint64(b))
}

func putProto(b *bolt.Bucket, k []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	return b.Put(k, v)
}

// getProto unmarshals the value at k into m; it reports false when k is absent.
// proto.Unmarshal copies what it keeps, so m outlives the transaction.
func getProto(b *bolt.Bucket, k []byte, m proto.Message) (bool, error) {
	v := b.Get(k)
	if v == nil {
		return false, nil
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return true, fmt.Errorf("unmarshal %x: %w", k, err)
	}
	return true, nil
}
