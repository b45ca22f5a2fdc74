package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// Reads run in short bbolt read transactions, never through the writer.

// GetRoom returns the room id, or ErrRoomNotFound.
func (s *Store) GetRoom(ctx context.Context, id int64) (*chatv1.Room, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	room := &chatv1.Room{}
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getProto(tx.Bucket(bucketRooms), id64(id), room)
		if err != nil {
			return err
		}
		if !ok {
			return ErrRoomNotFound
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get room %d: %w", id, err)
	}
	return room, nil
}

// Members returns the members of room id in user id order, or ErrRoomNotFound.
func (s *Store) Members(ctx context.Context, id int64) ([]*chatv1.Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*chatv1.Member
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRooms).Get(id64(id)) == nil {
			return ErrRoomNotFound
		}
		prefix := id64(id)
		c := tx.Bucket(bucketMembers).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			m := &chatv1.Member{}
			if err := proto.Unmarshal(v, m); err != nil {
				return fmt.Errorf("unmarshal member %x: %w", k, err)
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("members of room %d: %w", id, err)
	}
	return out, nil
}

// UserRooms returns the ids of the rooms userID is a member of, ascending.
func (s *Store) UserRooms(ctx context.Context, userID int64) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []int64
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := id64(userID)
		c := tx.Bucket(bucketUserRooms).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, int64(binary.BigEndian.Uint64(k[8:])))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rooms of user %d: %w", userID, err)
	}
	return out, nil
}

// RoomPeers returns the users who share at least one room with userID,
// distinct and ascending, userID excluded.
func (s *Store) RoomPeers(ctx context.Context, userID int64) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []int64
	err := s.db.View(func(tx *bolt.Tx) error {
		uc := tx.Bucket(bucketUserRooms).Cursor()
		mc := tx.Bucket(bucketMembers).Cursor()
		prefix := id64(userID)
		for k, _ := uc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = uc.Next() {
			room := k[8:16]
			for m, _ := mc.Seek(room); m != nil && bytes.HasPrefix(m, room); m, _ = mc.Next() {
				if peer := int64(binary.BigEndian.Uint64(m[8:])); peer != userID {
					out = append(out, peer)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("room peers of user %d: %w", userID, err)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ListRooms returns at most limit rooms with ids above afterID, in id
// order, and whether rooms with higher ids exist.
func (s *Store) ListRooms(ctx context.Context, afterID int64, limit int) (rooms []*chatv1.Room, hasMore bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRooms).Cursor()
		for k, v := c.Seek(id64(max(afterID, 0) + 1)); k != nil; k, v = c.Next() {
			if len(rooms) == limit {
				hasMore = true
				break
			}
			r := &chatv1.Room{}
			if err := proto.Unmarshal(v, r); err != nil {
				return fmt.Errorf("unmarshal room %x: %w", k, err)
			}
			rooms = append(rooms, r)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("list rooms after %d: %w", afterID, err)
	}
	return rooms, hasMore, nil
}

// Blocks returns the ids of the users userID blocks, ascending.
func (s *Store) Blocks(ctx context.Context, userID int64) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []int64
	err := s.db.View(func(tx *bolt.Tx) error {
		out = blockedBy(tx, userID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blocks of user %d: %w", userID, err)
	}
	return out, nil
}

// blockedBy returns the users userID blocks, ascending.
func blockedBy(tx *bolt.Tx, userID int64) []int64 {
	var out []int64
	prefix := id64(userID)
	c := tx.Bucket(bucketBlocked).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, int64(binary.BigEndian.Uint64(k[8:])))
	}
	return out
}

// MessageQuery selects a page of a room's history.
type MessageQuery struct {
	RoomID int64
	// UserID is the reader, who must be a member; the messages of the
	// users they block are left out. 0 reads for the backend: no
	// membership needed, nothing left out.
	UserID int64
	// AfterID, when positive, reads the oldest messages above it.
	AfterID int64
	// Forward reads the oldest messages above AfterID even when AfterID is
	// 0: a page from the first message kept.
	Forward bool
	// BeforeID, when positive, bounds the page below it; without AfterID it
	// reads the newest messages below it.
	BeforeID int64
	// Limit bounds the page; it must be positive.
	Limit int
}

// ListMessages returns a page of history in increasing id order and whether
// more messages lie beyond it in the direction read. It returns
// ErrRoomNotFound or ErrNotMember.
//
// The messages of users the reader blocks are skipped while the page is
// filled, so a page holds up to Limit visible messages. hasMore describes
// the unfiltered history: it is true when any message, visible or not, lies
// beyond the last one examined, so the next page may come back empty (with
// hasMore false) when only blocked users' messages remained.
func (s *Store) ListMessages(ctx context.Context, q MessageQuery) (msgs []*chatv1.Message, hasMore bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if q.UserID == 0 {
			if tx.Bucket(bucketRooms).Get(id64(q.RoomID)) == nil {
				return ErrRoomNotFound
			}
		} else if tx.Bucket(bucketMembers).Get(pair(q.RoomID, q.UserID)) == nil {
			if tx.Bucket(bucketRooms).Get(id64(q.RoomID)) == nil {
				return ErrRoomNotFound
			}
			return ErrNotMember
		}
		var hidden map[int64]bool
		if q.UserID != 0 {
			if ids := blockedBy(tx, q.UserID); len(ids) > 0 {
				hidden = make(map[int64]bool, len(ids))
				for _, id := range ids {
					hidden[id] = true
				}
			}
		}
		b := tx.Bucket(bucketMessages).Bucket(id64(q.RoomID))
		if b == nil {
			return fmt.Errorf("room %d has no message bucket", q.RoomID)
		}
		c := b.Cursor()
		inRange := func(k []byte) bool {
			if k == nil {
				return false
			}
			n := int64(binary.BigEndian.Uint64(k))
			return (q.AfterID <= 0 || n > q.AfterID) && (q.BeforeID <= 0 || n < q.BeforeID)
		}
		forward := q.Forward || q.AfterID > 0
		var k, v []byte
		var next func() ([]byte, []byte)
		if forward {
			k, v = c.Seek(id64(q.AfterID + 1))
			next = c.Next
		} else {
			if q.BeforeID > 0 {
				k, v = c.Seek(id64(q.BeforeID))
				if k == nil {
					k, v = c.Last()
				} else {
					k, v = c.Prev()
				}
			} else {
				k, v = c.Last()
			}
			next = c.Prev
		}
		for ; inRange(k); k, v = next() {
			if len(msgs) == q.Limit {
				hasMore = true
				break
			}
			m := &chatv1.Message{}
			if err := proto.Unmarshal(v, m); err != nil {
				return fmt.Errorf("unmarshal message %x: %w", k, err)
			}
			if !hidden[m.UserId] {
				msgs = append(msgs, m)
			}
		}
		if !forward {
			slices.Reverse(msgs)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("list messages of room %d for user %d: %w", q.RoomID, q.UserID, err)
	}
	return msgs, hasMore, nil
}

// EventsAfter returns at most limit events with seq above after, in seq
// order, with the newest committed seq and the oldest retained seq (head+1
// when the log is empty) as seen by the same read.
func (s *Store) EventsAfter(ctx context.Context, after uint64, limit int) (events []*chatv1.Event, head, oldest uint64, err error) {
	return s.events.EventsAfter(ctx, after, limit)
}
