package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// A message sent with a client_msg_id is remembered for the dedup window:
// the same room, sender and client_msg_id again within it is a duplicate
// (a client retrying a send whose acknowledgement it missed), answered
// with the message stored the first time. This is the duplicate window of
// NATS JetStream's message ids.
var (
	// room id|user id|client_msg_id → message id|expiry (unix ns)
	bucketDedup = []byte("dedup")
	// expiry (unix ns)|room id|user id|client_msg_id → empty, oldest
	// first, for pruning
	bucketDedupExpiry = []byte("dedup_expiry")
)

// DefaultDedupWindow is how long a client_msg_id is remembered unless
// Options.DedupWindow says otherwise: long enough for a phone that lost
// its connection mid-send to come back and retry.
const DefaultDedupWindow = 10 * time.Minute

// MaxClientMsgIDBytes bounds a client_msg_id.
const MaxClientMsgIDBytes = 64

// pruneEach is how many expired entries each remembered message prunes:
// more than one, so the table shrinks back after a burst.
const pruneEach = 2

func dedupKey(room, user int64, clientID string) []byte {
	k := make([]byte, 16+len(clientID))
	binary.BigEndian.PutUint64(k, uint64(room))
	binary.BigEndian.PutUint64(k[8:], uint64(user))
	copy(k[16:], clientID)
	return k
}

// duplicate returns the message stored under in's client_msg_id within
// the window, if any. A message since removed by retention is returned
// with its id, room, sender and client_msg_id only.
func (w *txWriter) duplicate(in NewMessage, userID int64) (*chatv1.Message, bool, error) {
	v := w.tx.Bucket(bucketDedup).Get(dedupKey(in.RoomID, userID, in.ClientMsgID))
	if len(v) != 16 || int64(binary.BigEndian.Uint64(v[8:])) <= w.now.UnixNano() {
		return nil, false, nil
	}
	id := binary.BigEndian.Uint64(v)
	m := &chatv1.Message{}
	if msgs := w.tx.Bucket(bucketMessages).Bucket(id64(in.RoomID)); msgs != nil {
		if ok, err := getProto(msgs, key(id), m); err != nil {
			return nil, false, err
		} else if ok {
			return m, true, nil
		}
	}
	return &chatv1.Message{Id: int64(id), RoomId: in.RoomID, UserId: userID, ClientMsgId: in.ClientMsgID}, true, nil
}

// remember records msg under its client_msg_id until the dedup window
// ends, and
// prunes a few entries whose window has ended.
func (w *txWriter) remember(msg *chatv1.Message) error {
	k := dedupKey(msg.GetRoomId(), msg.GetUserId(), msg.GetClientMsgId())
	expiry := w.now.Add(w.dedup).UnixNano()
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(msg.GetId()))
	binary.BigEndian.PutUint64(v[8:], uint64(expiry))
	dedup, byExpiry := w.tx.Bucket(bucketDedup), w.tx.Bucket(bucketDedupExpiry)
	if err := w.prune(dedup, byExpiry, pruneEach); err != nil {
		return err
	}
	if err := dedup.Put(k, v); err != nil {
		return fmt.Errorf("put dedup entry: %w", err)
	}
	ek := make([]byte, 8+len(k))
	binary.BigEndian.PutUint64(ek, uint64(expiry))
	copy(ek[8:], k)
	if err := byExpiry.Put(ek, nil); err != nil {
		return fmt.Errorf("put dedup expiry: %w", err)
	}
	return nil
}

// prune deletes at most n entries whose window has ended, oldest first.
// An entry renewed since (a later expiry in the table) is kept.
func (w *txWriter) prune(dedup, byExpiry *bolt.Bucket, n int) error {
	now := uint64(w.now.UnixNano())
	var expired [][]byte
	c := byExpiry.Cursor()
	for k, _ := c.First(); k != nil && len(expired) < n && binary.BigEndian.Uint64(k) <= now; k, _ = c.Next() {
		expired = append(expired, bytes.Clone(k))
	}
	for _, ek := range expired {
		if err := byExpiry.Delete(ek); err != nil {
			return fmt.Errorf("delete dedup expiry: %w", err)
		}
		k := ek[8:]
		if v := dedup.Get(k); len(v) == 16 && bytes.Equal(v[8:], ek[:8]) {
			if err := dedup.Delete(k); err != nil {
				return fmt.Errorf("delete dedup entry: %w", err)
			}
		}
	}
	return nil
}
