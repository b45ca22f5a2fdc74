package store

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

func TestClientMsgIDDedup(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	var mu sync.Mutex
	var posted []*chatv1.Message
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{
		Now:         clk.now,
		DedupWindow: time.Minute,
		Publish: func(evs []*chatv1.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range evs {
				if p := ev.GetMessagePosted(); p != nil {
					posted = append(posted, p.GetMessage())
				}
			}
		},
	})
	roomWith(t, s, 1, 10, 11)
	roomWith(t, s, 2, 10)
	msg := func(room, user int64, content, id string) NewMessage {
		return NewMessage{RoomID: room, UserID: user, Content: content, Type: chatv1.MessageType_MESSAGE_TYPE_TEXT, ClientMsgID: id}
	}
	ctx := ctxT(t)

	first, err := s.SendBatch(ctx, []NewMessage{msg(1, 10, "hello", "c1")})
	if err != nil || first[0].Err != nil || first[0].Duplicate || first[0].Message.GetClientMsgId() != "c1" {
		t.Fatalf("first send = %+v, %v; want stored with client_msg_id c1", first, err)
	}
	// The retry, its content changed or not, is the first message; in the
	// same batch as a new one, and once more within that batch.
	res, err := s.SendBatch(ctx, []NewMessage{msg(1, 10, "hello again", "c1"), msg(1, 10, "next", "c2"), msg(1, 10, "next", "c2")})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Duplicate || res[0].Message.GetId() != first[0].Message.GetId() || res[0].Message.GetContent() != "hello" {
		t.Errorf("retry of c1 = %+v; want the first message (id %d), duplicate", res[0], first[0].Message.GetId())
	}
	if res[1].Duplicate || res[1].Message.GetId() != 2 || !res[2].Duplicate || res[2].Message.GetId() != 2 {
		t.Errorf("c2 twice in one batch = %+v, %+v; want id 2 stored, then its duplicate", res[1], res[2])
	}
	// The same id from another sender, or to another room, is another message.
	other, err := s.SendBatch(ctx, []NewMessage{msg(1, 11, "mine", "c1"), msg(2, 10, "there", "c1")})
	if err != nil || other[0].Duplicate || other[1].Duplicate || other[0].Message.GetId() != 3 || other[1].Message.GetId() != 1 {
		t.Errorf("c1 by another user and in another room = %+v, %v; want two new messages", other, err)
	}
	// A non-member's retry is refused, not answered with the message.
	if res, err := s.SendBatch(ctx, []NewMessage{msg(2, 11, "x", "c1")}); err != nil || res[0].Err == nil {
		t.Errorf("non-member's send = %+v, %v; want a refusal", res, err)
	}
	mu.Lock()
	if len(posted) != 4 {
		t.Errorf("%d MessagePosted events, want 4 (no event for a duplicate)", len(posted))
	}
	mu.Unlock()

	// After the window the id is free again.
	clk.advance(time.Minute + time.Second)
	late, err := s.SendBatch(ctx, []NewMessage{msg(1, 10, "hello", "c1")})
	if err != nil || late[0].Duplicate || late[0].Message.GetId() != 4 {
		t.Errorf("c1 after the window = %+v, %v; want a new message 4", late, err)
	}
	// Each id remembered prunes two expired ones: the four of the first
	// minute are gone after two more sends, leaving c1 (renewed), ma, mb
	// and mc.
	for i := range 3 {
		if _, err := s.SendBatch(ctx, []NewMessage{msg(2, 10, "more", "m"+string(rune('a'+i)))}); err != nil {
			t.Fatal(err)
		}
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketDedup).Stats().KeyN; n != 4 {
			t.Errorf("%d dedup entries, want 4", n)
		}
		if n := tx.Bucket(bucketDedupExpiry).Stats().KeyN; n != 4 {
			t.Errorf("%d dedup expiry entries, want 4", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestClientMsgIDSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	roomWith(t, s, 1, 10)
	m := NewMessage{RoomID: 1, UserID: 10, Content: "once", Type: chatv1.MessageType_MESSAGE_TYPE_TEXT, ClientMsgID: "k"}
	first, err := s.Send(ctxT(t), m)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, Options{})
	again, err := s.Send(ctxT(t), m)
	if err != nil || again.GetId() != first.GetId() {
		t.Errorf("resend after a restart = %v, %v; want message %d", again, err, first.GetId())
	}
}

func TestClientMsgIDOfTrimmedMessage(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{RetentionMessages: 1})
	roomWith(t, s, 1, 10)
	ctx := ctxT(t)
	m := NewMessage{RoomID: 1, UserID: 10, Content: "gone soon", Type: chatv1.MessageType_MESSAGE_TYPE_TEXT, ClientMsgID: "k"}
	if _, err := s.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	send(t, s, 1, 10, "newer")
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.SendBatch(ctx, []NewMessage{m})
	if err != nil || !res[0].Duplicate || res[0].Message.GetId() != 1 || res[0].Message.GetClientMsgId() != "k" || res[0].Message.GetContent() != "" {
		t.Errorf("resend of a trimmed message = %+v, %v; want a duplicate naming id 1 without content", res, err)
	}
}
