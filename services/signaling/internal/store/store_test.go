package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/services/signaling/internal/store"
)

func open(t *testing.T, path string, opts store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// closedEvent is an event naming a room.
func closedEvent(room int64) *signalingv1.Event {
	return &signalingv1.Event{ChatroomId: 1, Payload: &signalingv1.Event_RoomClosed{RoomClosed: &signalingv1.VideoRoomClosed{VideoRoomId: room}}}
}

// appendEvent is an op that only appends ev.
func appendEvent(ev *signalingv1.Event) store.Op {
	return func(*store.View) (store.Change, error) { return store.Change{Events: []*signalingv1.Event{ev}}, nil }
}

func seqs(events []*signalingv1.Event) []uint64 {
	var out []uint64
	for _, e := range events {
		out = append(out, e.GetSeq())
	}
	return out
}

// TestEventLogRetention appends beyond the retention: the oldest events
// go, sequence numbers go on, and a reopen with a lower retention trims
// at once.
func TestEventLogRetention(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "signaling.db")
	var (
		mu        sync.Mutex
		published []uint64
	)
	st := open(t, path, store.Options{EventRetention: 5, Publish: func(evs []*signalingv1.Event) {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, seqs(evs)...)
	}})
	for i := range 8 {
		if err := st.Apply(ctx, appendEvent(closedEvent(int64(i+1)))); err != nil {
			t.Fatalf("Apply(event %d) = %v", i, err)
		}
	}
	events, head, oldest, err := st.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatalf("EventsAfter(0) = %v", err)
	}
	if got, want := seqs(events), []uint64{4, 5, 6, 7, 8}; !slices.Equal(got, want) || head != 8 || oldest != 4 {
		t.Errorf("EventsAfter(0) = seqs %v, head %d, oldest %d; want %v, 8, 4", got, head, oldest, want)
	}
	if got := events[0].GetRoomClosed().GetVideoRoomId(); got != 4 {
		t.Errorf("event 4 names room %d, want 4", got)
	}
	mu.Lock()
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(published, want) {
		t.Errorf("published seqs %v, want %v", published, want)
	}
	mu.Unlock()
	if events, _, _, _ := st.EventsAfter(ctx, 6, 1); !slices.Equal(seqs(events), []uint64{7}) {
		t.Errorf("EventsAfter(6, limit 1) = %v, want [7]", seqs(events))
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := st.Apply(ctx, appendEvent(closedEvent(98))); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}

	st = open(t, path, store.Options{EventRetention: 2})
	events, head, oldest, err = st.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatalf("EventsAfter(0) after reopen = %v", err)
	}
	if got, want := seqs(events), []uint64{7, 8}; !slices.Equal(got, want) || head != 8 || oldest != 7 {
		t.Errorf("after reopen with retention 2: seqs %v, head %d, oldest %d; want %v, 8, 7", got, head, oldest, want)
	}
	if err := st.Apply(ctx, appendEvent(closedEvent(99))); err != nil {
		t.Fatalf("Apply after reopen = %v", err)
	}
	if events, head, _, _ := st.EventsAfter(ctx, 0, 100); !slices.Equal(seqs(events), []uint64{8, 9}) || head != 9 {
		t.Errorf("after one more event: seqs %v, head %d; want [8 9], 9", seqs(events), head)
	}
}

// room is a stored room whose participants are users 1, 2, ... in the
// sessions given as edge, session pairs.
func room(id int64, sessions ...string) store.Room {
	r := store.Room{Room: &signalingv1.VideoRoom{VideoRoomId: id, ChatroomId: 7, Name: fmt.Sprint("n ", id), MaxParticipants: 8}}
	for i := 0; i < len(sessions); i += 2 {
		r.Room.Participants = append(r.Room.Participants, &signalingv1.Participant{UserId: int64(i/2 + 1), Nickname: fmt.Sprint("u", i/2+1)})
		r.Sessions = append(r.Sessions, &signalingv1.SessionRef{EdgeId: sessions[i], SessionId: sessions[i+1]})
	}
	return r
}

// view runs read in an op that changes nothing.
func view(t *testing.T, st *store.Store, read func(v *store.View) error) {
	t.Helper()
	if err := st.Apply(context.Background(), func(v *store.View) (store.Change, error) { return store.Change{}, read(v) }); err != nil {
		t.Fatalf("read through a View: %v", err)
	}
}

func seatStrings(seats []store.Seat) []string {
	var out []string
	for _, s := range seats {
		out = append(out, fmt.Sprintf("%s|%s|%d|%d", s.EdgeID, s.SessionID, s.RoomID, s.UserID))
	}
	slices.Sort(out)
	return out
}

// TestRoomsAndSeats puts, replaces and deletes rooms: reads inside and
// outside the writer, and the seats by edge and by session (ids that
// would run together stay apart), follow, across a reopen. A refused op
// changes nothing; a change that cannot be written fails its batch.
func TestRoomsAndSeats(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "signaling.db")
	st := open(t, path, store.Options{})
	put := func(rooms ...store.Room) {
		t.Helper()
		if err := st.Apply(ctx, func(*store.View) (store.Change, error) { return store.Change{Put: rooms}, nil }); err != nil {
			t.Fatalf("Apply(put %d rooms) = %v", len(rooms), err)
		}
	}
	put(room(1, "a", "bc", "ab", "c"), room(2, "a", "bc"), room(3))
	expectSeats := func(edge, session string, want ...string) {
		t.Helper()
		view(t, st, func(v *store.View) error {
			var got []store.Seat
			var err error
			if session == "" {
				got, err = v.EdgeSeats(edge)
			} else {
				got, err = v.SessionSeats(edge, session)
			}
			if err != nil {
				return err
			}
			slices.Sort(want)
			if !slices.Equal(seatStrings(got), want) {
				t.Errorf("seats of %q/%q = %v, want %v", edge, session, seatStrings(got), want)
			}
			return nil
		})
	}
	expectSeats("a", "", "a|bc|1|1", "a|bc|2|1")
	expectSeats("ab", "", "ab|c|1|2")
	expectSeats("a", "bc", "a|bc|1|1", "a|bc|2|1")
	expectSeats("a", "b")
	expectSeats("abc", "")

	// Replacing a room moves its seats; deleting it drops them.
	put(room(1, "ab", "c", "x", "y"))
	if err := st.Apply(ctx, func(*store.View) (store.Change, error) { return store.Change{Delete: []int64{2}}, nil }); err != nil {
		t.Fatalf("Apply(delete r2) = %v", err)
	}
	expectSeats("a", "")
	expectSeats("ab", "", "ab|c|1|1")
	expectSeats("x", "y", "x|y|1|2")

	refused := errors.New("refused")
	err := st.Apply(ctx, func(v *store.View) (store.Change, error) {
		if _, err := v.Room(1); err != nil {
			return store.Change{}, err
		}
		return store.Change{Delete: []int64{1}}, refused
	})
	if !errors.Is(err, refused) {
		t.Errorf("Apply(refusing op) = %v, want the refusal", err)
	}
	bad := room(4, "e", "s")
	bad.Sessions = nil
	if err := st.Apply(ctx, func(*store.View) (store.Change, error) { return store.Change{Put: []store.Room{bad}}, nil }); err == nil {
		t.Errorf("Apply(put a room with 1 participant and no session) = nil, want an error")
	}

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, path, store.Options{})
	rooms, err := st.Rooms(ctx)
	if err != nil {
		t.Fatalf("Rooms after reopen = %v", err)
	}
	var ids []int64
	for _, r := range rooms {
		ids = append(ids, r.Room.GetVideoRoomId())
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []int64{1, 3}) {
		t.Errorf("Rooms after reopen = %v, want 1 and 3", ids)
	}
	got, err := st.Room(ctx, 1)
	if want := room(1, "ab", "c", "x", "y"); err != nil || !proto.Equal(got.Room, want.Room) || len(got.Sessions) != 2 ||
		!proto.Equal(got.Sessions[1], want.Sessions[1]) {
		t.Errorf("Room(1) after reopen = %v, %v; want %v", got, err, want)
	}
	if _, err := st.Room(ctx, 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Room(2) after its delete = %v, want ErrNotFound", err)
	}
	expectSeats("x", "", "x|y|1|2")
}

// TestBatchSeesEarlierOps submits ops concurrently: each reads the
// counter room the ones before it (in its batch or not) wrote, so none
// is lost.
func TestBatchSeesEarlierOps(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "signaling.db"), store.Options{})
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err := st.Apply(ctx, func(v *store.View) (store.Change, error) {
				r, err := v.Room(100)
				if errors.Is(err, store.ErrNotFound) {
					r, err = room(100), nil
				}
				if err != nil {
					return store.Change{}, err
				}
				r.Room.MaxParticipants++
				return store.Change{Put: []store.Room{r}, Events: []*signalingv1.Event{closedEvent(100)}}, nil
			})
			if err != nil {
				t.Errorf("Apply(increment) = %v", err)
			}
		})
	}
	wg.Wait()
	r, err := st.Room(ctx, 100)
	if err != nil || r.Room.GetMaxParticipants() != 8+n {
		t.Errorf("Room(100) after %d increments = %v, %v; want max %d", n, r.Room, err, 8+n)
	}
	if _, head, _, err := st.EventsAfter(ctx, 0, 1); err != nil || head != n {
		t.Errorf("EventsAfter: head %d, %v; want %d", head, err, n)
	}
}

// TestNewRoomID gives the committed rooms ids in increasing order, never
// twice, across a reopen.
func TestNewRoomID(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "signaling.db")
	st := open(t, path, store.Options{})
	newID := func(refuse error) int64 {
		t.Helper()
		var id int64
		err := st.Apply(ctx, func(v *store.View) (store.Change, error) {
			var err error
			if id, err = v.NewRoomID(); err != nil {
				return store.Change{}, err
			}
			if refuse != nil {
				return store.Change{}, refuse
			}
			return store.Change{Put: []store.Room{room(id)}}, nil
		})
		if !errors.Is(err, refuse) {
			t.Fatalf("Apply(new room) = %v, want %v", err, refuse)
		}
		return id
	}
	refused := errors.New("refused")
	got := []int64{newID(nil), newID(nil)}
	newID(refused) // rolled back with its op: nobody saw its id
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, path, store.Options{})
	got = append(got, newID(nil))
	if want := []int64{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("NewRoomID of the committed rooms across a refused op and a reopen = %v, want %v", got, want)
	}
}

// TestOpenDropsStringIDRooms opens a file written by a release whose room
// ids were strings: those rooms and their seats go, the rest stays.
func TestOpenDropsStringIDRooms(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "signaling.db")
	st := open(t, path, store.Options{})
	if err := st.Apply(ctx, func(*store.View) (store.Change, error) {
		return store.Change{Put: []store.Room{room(1, "a", "s1")}}, nil
	}); err != nil {
		t.Fatalf("Apply(put room 1) = %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		old := []byte("vr_0123456789abcdef0123456789abcdef")
		if err := tx.Bucket([]byte("rooms")).Put(old, []byte{}); err != nil {
			return err
		}
		seat := append([]byte{1, 'a', 2, 's', '2'}, old...)
		return tx.Bucket([]byte("seats")).Put(seat, make([]byte, 8))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("write an old room: %v", err)
	}

	st = open(t, path, store.Options{})
	rooms, err := st.Rooms(ctx)
	if err != nil || len(rooms) != 1 || rooms[0].Room.GetVideoRoomId() != 1 {
		t.Errorf("Rooms after opening a file with an old room = %v, %v; want room 1 alone", rooms, err)
	}
	view(t, st, func(v *store.View) error {
		seats, err := v.EdgeSeats("a")
		if err == nil && !slices.Equal(seatStrings(seats), []string{"a|s1|1|1"}) {
			t.Errorf("seats of edge a = %v, want a|s1|1|1 alone", seatStrings(seats))
		}
		return err
	})
}
