// Package store persists the signaling service's video rooms, the session
// of each participant and the event log in one bbolt file.
//
// Every change goes through a single writer goroutine as an Op: a function
// that reads the current state through a View and returns the Change to
// make (rooms to put or delete, events to append), or refuses with an
// error. The writer runs the ops queued at that moment one after the other
// in one transaction, each seeing the changes of those before it, commits
// (fsync) once, hands the batch's events to the Publish hook in sequence
// order, then answers the callers (group commit). A refused op changes
// nothing; a batch that changes nothing is rolled back, not committed. The
// same transaction trims the oldest events beyond the retention.
package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/platform/eventlog"
	"switchboard.dev/platform/groupcommit"
)

var (
	// ErrClosed means the store is closed.
	ErrClosed = groupcommit.ErrClosed
	// ErrNotFound means no open video room has the id.
	ErrNotFound = errors.New("video room not found")
)

// Defaults and bounds.
const (
	// DefaultEventRetention is how many of the newest events the log keeps.
	DefaultEventRetention = 10000
	// MaxBatch bounds the ops applied in one transaction; it is below
	// eventlog.DefaultTrimChunk, so each commit's trim usually keeps up.
	MaxBatch = 256
)

// Bucket names, declared once.
var (
	bucketEvents = []byte("events") // seq → Event
	bucketRooms  = []byte("rooms")  // roomKey(video room id) → room record (see encodeRoom); its sequence gives the ids
	bucketSeats  = []byte("seats")  // seatKey(edge, session, room) → user id: the participants by session
)

// Room is a video room as stored: the contract's VideoRoom, its
// participants in order of joining, and the session of each.
type Room struct {
	// Room is the video room with its participants.
	Room *signalingv1.VideoRoom
	// Sessions[i] is the session of Room.Participants[i].
	Sessions []*signalingv1.SessionRef
}

// Seat is one participant's place, found by its session.
type Seat struct {
	// EdgeID and SessionID name the participant's session.
	EdgeID, SessionID string
	// RoomID is the video room.
	RoomID int64
	// UserID is the participant.
	UserID int64
}

// Change is what an op does: rooms put (created or replaced), rooms
// deleted, and events appended to the log (the store gives them their
// seq). Puts are applied before deletes.
type Change struct {
	Put    []Room
	Delete []int64
	Events []*signalingv1.Event
}

// Merge appends o's puts, deletes and events to c's.
func (c *Change) Merge(o Change) {
	c.Put = append(c.Put, o.Put...)
	c.Delete = append(c.Delete, o.Delete...)
	c.Events = append(c.Events, o.Events...)
}

func (c Change) empty() bool {
	return len(c.Put) == 0 && len(c.Delete) == 0 && len(c.Events) == 0
}

// Op reads the state through v and returns the change to make, or an
// error that refuses it (and changes nothing). It runs once, on the
// writer goroutine, and must not keep v.
type Op func(v *View) (Change, error)

// Options configure a Store.
type Options struct {
	// EventRetention is how many of the newest events the log keeps;
	// 0 means DefaultEventRetention.
	EventRetention int
	// Publish receives each committed batch's events in sequence order,
	// from the writer goroutine, before the writers are answered. It must
	// not block.
	Publish func([]*signalingv1.Event)
	// Logger receives commit errors; nil discards them.
	Logger *slog.Logger
}

// Store is the signaling service's bbolt store. Its methods are safe for
// concurrent use.
type Store struct {
	db      *bolt.DB
	events  *eventlog.Log[*signalingv1.Event] // its writer side is the writer goroutine's
	publish func([]*signalingv1.Event)
	log     *slog.Logger

	writes    *groupcommit.Queue[Op]
	closeOnce sync.Once
}

// op is one queued write.
type op = groupcommit.Op[Op]

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
		writes:  groupcommit.New[Op](MaxBatch),
	}
	retention := opts.EventRetention
	if retention <= 0 {
		retention = DefaultEventRetention
	}
	if s.publish == nil {
		s.publish = func([]*signalingv1.Event) {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRooms, bucketSeats} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return s.dropStringIDRooms(tx)
	})
	if err == nil {
		s.events, err = eventlog.Open(db, eventlog.Config[*signalingv1.Event]{
			Bucket:    bucketEvents,
			Retention: retention,
			New:       func() *signalingv1.Event { return &signalingv1.Event{} },
			SetSeq:    func(ev *signalingv1.Event, seq uint64) { ev.Seq = seq },
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

// Close stops the writer, failing ops still queued with ErrClosed, and
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

// Apply runs o on the writer and commits its change durably; when it
// returns nil the change's events have been published. It returns o's
// refusal as is. An Apply that returns ctx's error may still have been
// applied.
func (s *Store) Apply(ctx context.Context, o Op) error {
	return s.writes.Submit(ctx, o)
}

// commit runs batch's ops in one transaction, commits it when any op
// changed something, publishes the events, then answers each op.
func (s *Store) commit(batch []*op) {
	if err := s.runOps(batch); err != nil {
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

// runOps runs the ops, setting the refusals, and commits what they
// changed, the log's appends and trim included.
func (s *Store) runOps(batch []*op) error {
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	dirty := false
	v := &View{tx: tx}
	for _, o := range batch {
		ch, err := o.Value(v)
		if err != nil {
			o.Err = err
			continue
		}
		if ch.empty() {
			continue
		}
		dirty = true
		if err := s.write(tx, ch); err != nil {
			tx.Rollback()
			return err
		}
	}
	if !dirty {
		return tx.Rollback()
	}
	if err := s.events.Trim(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// write applies ch in tx, appending its events to the log.
func (s *Store) write(tx *bolt.Tx, ch Change) error {
	rooms, seats := tx.Bucket(bucketRooms), tx.Bucket(bucketSeats)
	for _, r := range ch.Put {
		id := r.Room.GetVideoRoomId()
		if err := unseat(rooms, seats, id); err != nil {
			return err
		}
		v, err := encodeRoom(r)
		if err != nil {
			return fmt.Errorf("put room %d: %w", id, err)
		}
		if err := rooms.Put(roomKey(id), v); err != nil {
			return fmt.Errorf("put room %d: %w", id, err)
		}
		for i, ss := range r.Sessions {
			user := binary.BigEndian.AppendUint64(nil, uint64(r.Room.GetParticipants()[i].GetUserId()))
			if err := seats.Put(seatKey(ss.GetEdgeId(), ss.GetSessionId(), id), user); err != nil {
				return fmt.Errorf("put seat in room %d: %w", id, err)
			}
		}
	}
	for _, id := range ch.Delete {
		if err := unseat(rooms, seats, id); err != nil {
			return err
		}
		if err := rooms.Delete(roomKey(id)); err != nil {
			return fmt.Errorf("delete room %d: %w", id, err)
		}
	}
	for _, ev := range ch.Events {
		if err := s.events.Append(tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// dropStringIDRooms deletes the rooms, and their seats, of the releases
// whose video room ids were strings: their ids cannot be told to clients
// that expect integers. Calls open across that upgrade end; the events of
// the log are kept (edges deliver nothing for a room id they cannot read).
func (s *Store) dropStringIDRooms(tx *bolt.Tx) error {
	rooms, err := deleteKeys(tx.Bucket(bucketRooms), func(k []byte) bool { return len(k) != roomKeyLen })
	if err != nil {
		return fmt.Errorf("drop the rooms of string ids: %w", err)
	}
	if _, err := deleteKeys(tx.Bucket(bucketSeats), func(k []byte) bool {
		_, err := parseSeat(k, make([]byte, 8))
		return err != nil
	}); err != nil {
		return fmt.Errorf("drop the seats of string ids: %w", err)
	}
	if rooms > 0 {
		s.log.Warn("dropped the video rooms of string ids (an upgrade ends the calls open across it)", "rooms", rooms)
	}
	return nil
}

// deleteKeys deletes the keys of b that stale selects and returns how
// many it deleted.
func deleteKeys(b *bolt.Bucket, stale func(k []byte) bool) (int, error) {
	var keys [][]byte
	err := b.ForEach(func(k, _ []byte) error {
		if stale(k) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// roomKeyLen is the length of a room key: the id, big-endian.
const roomKeyLen = 8

func roomKey(id int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, roomKeyLen), uint64(id))
}

// unseat deletes the seats of the stored room id, if any.
func unseat(rooms, seats *bolt.Bucket, id int64) error {
	v := rooms.Get(roomKey(id))
	if v == nil {
		return nil
	}
	old, err := decodeRoom(v)
	if err != nil {
		return fmt.Errorf("room %d: %w", id, err)
	}
	for _, ss := range old.Sessions {
		if err := seats.Delete(seatKey(ss.GetEdgeId(), ss.GetSessionId(), id)); err != nil {
			return fmt.Errorf("delete seat in room %d: %w", id, err)
		}
	}
	return nil
}

// View reads the state inside the writer's transaction, the changes of
// the batch's earlier ops included.
type View struct {
	tx *bolt.Tx
}

// Room returns the room id; ErrNotFound when there is none.
func (v *View) Room(id int64) (Room, error) {
	return getRoom(v.tx, id)
}

// NewRoomID returns a new video room id: the next of the store's
// sequence, which commits with the op's change. A committed room's id is
// never given again; the id of an op refused, or of a batch that commits
// nothing, returns to the sequence unseen.
func (v *View) NewRoomID() (int64, error) {
	n, err := v.tx.Bucket(bucketRooms).NextSequence()
	if err != nil {
		return 0, fmt.Errorf("new video room id: %w", err)
	}
	return int64(n), nil
}

// EdgeSeats returns the seats of every session of the edge.
func (v *View) EdgeSeats(edgeID string) ([]Seat, error) {
	return seatsWithPrefix(v.tx, edgePrefix(edgeID))
}

// SessionSeats returns the seats of one session.
func (v *View) SessionSeats(edgeID, sessionID string) ([]Seat, error) {
	return seatsWithPrefix(v.tx, sessionPrefix(edgeID, sessionID))
}

// Room returns the room id; ErrNotFound when there is none.
func (s *Store) Room(ctx context.Context, id int64) (Room, error) {
	if err := ctx.Err(); err != nil {
		return Room{}, err
	}
	var r Room
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		r, err = getRoom(tx, id)
		return err
	})
	return r, err
}

// Rooms returns every room, in no particular order.
func (s *Store) Rooms(ctx context.Context) ([]Room, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Room
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRooms).ForEach(func(k, v []byte) error {
			r, err := decodeRoom(v)
			if err != nil {
				return fmt.Errorf("room %x: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	return out, nil
}

// EventsAfter returns at most limit events with seq above after, in seq
// order, with the newest committed seq and the oldest retained seq (head+1
// when the log is empty) as seen by the same read.
func (s *Store) EventsAfter(ctx context.Context, after uint64, limit int) (events []*signalingv1.Event, head, oldest uint64, err error) {
	return s.events.EventsAfter(ctx, after, limit)
}

func getRoom(tx *bolt.Tx, id int64) (Room, error) {
	v := tx.Bucket(bucketRooms).Get(roomKey(id))
	if v == nil {
		return Room{}, fmt.Errorf("room %d: %w", id, ErrNotFound)
	}
	r, err := decodeRoom(v)
	if err != nil {
		return Room{}, fmt.Errorf("room %d: %w", id, err)
	}
	return r, nil
}

func seatsWithPrefix(tx *bolt.Tx, prefix []byte) ([]Seat, error) {
	var out []Seat
	c := tx.Bucket(bucketSeats).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		seat, err := parseSeat(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, seat)
	}
	return out, nil
}

// Seat keys are the edge id and the session id, each after its length as
// a uvarint, then the room key: a prefix selects an edge's seats or a
// session's, whatever bytes the ids hold.
func edgePrefix(edgeID string) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(edgeID))), edgeID...)
}

func sessionPrefix(edgeID, sessionID string) []byte {
	b := binary.AppendUvarint(edgePrefix(edgeID), uint64(len(sessionID)))
	return append(b, sessionID...)
}

func seatKey(edgeID, sessionID string, roomID int64) []byte {
	return append(sessionPrefix(edgeID, sessionID), roomKey(roomID)...)
}

func parseSeat(k, v []byte) (Seat, error) {
	var parts [2]string
	rest := k
	for i := range parts {
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return Seat{}, fmt.Errorf("malformed seat key %x", k)
		}
		parts[i] = string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
	}
	if len(rest) != roomKeyLen {
		return Seat{}, fmt.Errorf("seat %x: room key of %d bytes, want %d", k, len(rest), roomKeyLen)
	}
	if len(v) != 8 {
		return Seat{}, fmt.Errorf("seat %x: value of %d bytes, want 8", k, len(v))
	}
	return Seat{EdgeID: parts[0], SessionID: parts[1], RoomID: int64(binary.BigEndian.Uint64(rest)), UserID: int64(binary.BigEndian.Uint64(v))}, nil
}

// A room record is the protobuf encoding of a message with the VideoRoom
// as field 1 and the participants' SessionRefs as repeated field 2.
const (
	fieldRoom    protowire.Number = 1
	fieldSession protowire.Number = 2
)

func encodeRoom(r Room) ([]byte, error) {
	if len(r.Sessions) != len(r.Room.GetParticipants()) {
		return nil, fmt.Errorf("%d sessions for %d participants", len(r.Sessions), len(r.Room.GetParticipants()))
	}
	room, err := proto.Marshal(r.Room)
	if err != nil {
		return nil, fmt.Errorf("marshal room: %w", err)
	}
	b := protowire.AppendTag(nil, fieldRoom, protowire.BytesType)
	b = protowire.AppendBytes(b, room)
	for _, ss := range r.Sessions {
		v, err := proto.Marshal(ss)
		if err != nil {
			return nil, fmt.Errorf("marshal session: %w", err)
		}
		b = protowire.AppendTag(b, fieldSession, protowire.BytesType)
		b = protowire.AppendBytes(b, v)
	}
	return b, nil
}

func decodeRoom(b []byte) (Room, error) {
	r := Room{Room: &signalingv1.VideoRoom{}}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return Room{}, fmt.Errorf("malformed room record")
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return Room{}, fmt.Errorf("malformed room record")
		}
		b = b[n:]
		switch num {
		case fieldRoom:
			if err := proto.Unmarshal(v, r.Room); err != nil {
				return Room{}, fmt.Errorf("unmarshal room: %w", err)
			}
		case fieldSession:
			ss := &signalingv1.SessionRef{}
			if err := proto.Unmarshal(v, ss); err != nil {
				return Room{}, fmt.Errorf("unmarshal session: %w", err)
			}
			r.Sessions = append(r.Sessions, ss)
		}
	}
	if len(r.Sessions) != len(r.Room.GetParticipants()) {
		return Room{}, fmt.Errorf("record has %d sessions for %d participants", len(r.Sessions), len(r.Room.GetParticipants()))
	}
	return r, nil
}
