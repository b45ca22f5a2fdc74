package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// The values returned by the write methods are shared with the published
// events: callers treat them as read-only.

// NewRoom describes a room to create.
type NewRoom struct {
	ID         int64
	Name       string
	MaxMembers int32
	InviteOnly bool
	// RetentionMessages and RetentionSeconds override the store's
	// retention when positive.
	RetentionMessages int64
	RetentionSeconds  int64
}

// CreateRoom stores a new room with member_count 0 and created_at now. It
// returns ErrRoomExists when the id is taken.
func (s *Store) CreateRoom(ctx context.Context, in NewRoom) (*chatv1.Room, error) {
	var room *chatv1.Room
	err := s.do(ctx, func(w *txWriter) error {
		rooms := w.tx.Bucket(bucketRooms)
		if rooms.Get(id64(in.ID)) != nil {
			return ErrRoomExists
		}
		r := &chatv1.Room{
			Id:                in.ID,
			Name:              in.Name,
			MaxMembers:        in.MaxMembers,
			InviteOnly:        in.InviteOnly,
			CreatedAt:         timestamppb.New(w.now),
			RetentionMessages: in.RetentionMessages,
			RetentionSeconds:  in.RetentionSeconds,
		}
		if err := putProto(rooms, id64(in.ID), r); err != nil {
			return fmt.Errorf("put room %d: %w", in.ID, err)
		}
		// The bucket may exist, empty, from a deleted room of that id: its
		// sequence goes on, so message ids are never reused.
		if _, err := w.tx.Bucket(bucketMessages).CreateBucketIfNotExists(id64(in.ID)); err != nil {
			return fmt.Errorf("create message bucket of room %d: %w", in.ID, err)
		}
		room = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create room %d: %w", in.ID, err)
	}
	return room, nil
}

// DeleteRoom deletes room id with its memberships, invitations, bans and
// messages, and appends a RoomDeleted event naming its members. It returns
// ErrRoomNotFound.
func (s *Store) DeleteRoom(ctx context.Context, id int64) error {
	err := s.do(ctx, func(w *txWriter) error {
		rooms := w.tx.Bucket(bucketRooms)
		if rooms.Get(id64(id)) == nil {
			return ErrRoomNotFound
		}
		prefix := id64(id)
		memberKeys := prefixKeys(w.tx.Bucket(bucketMembers), prefix)
		userRooms := w.tx.Bucket(bucketUserRooms)
		ids := make([]int64, len(memberKeys))
		for i, k := range memberKeys {
			ids[i] = int64(binary.BigEndian.Uint64(k[8:]))
			if err := userRooms.Delete(pair(ids[i], id)); err != nil {
				return fmt.Errorf("delete user room: %w", err)
			}
		}
		for _, name := range [][]byte{bucketMembers, bucketInvites, bucketBans} {
			if err := deleteKeys(w.tx.Bucket(name), prefixKeys(w.tx.Bucket(name), prefix)); err != nil {
				return fmt.Errorf("delete %s: %w", name, err)
			}
		}
		// The messages go with their bucket; an empty one keeps the
		// sequence, should the id be created again.
		if all := w.tx.Bucket(bucketMessages); all.Bucket(prefix) != nil {
			seq := all.Bucket(prefix).Sequence()
			if err := all.DeleteBucket(prefix); err != nil {
				return fmt.Errorf("delete message bucket: %w", err)
			}
			b, err := all.CreateBucket(prefix)
			if err != nil {
				return fmt.Errorf("recreate message bucket: %w", err)
			}
			if err := b.SetSequence(seq); err != nil {
				return fmt.Errorf("keep message sequence: %w", err)
			}
		}
		if err := rooms.Delete(prefix); err != nil {
			return fmt.Errorf("delete room: %w", err)
		}
		return w.appendEvent(&chatv1.Event{
			RoomId:  id,
			Payload: &chatv1.Event_RoomDeleted{RoomDeleted: &chatv1.RoomDeleted{MemberIds: ids}},
		})
	})
	if err != nil {
		return fmt.Errorf("delete room %d: %w", id, err)
	}
	return nil
}

// Invite lets userID join the invite-only room roomID. Inviting twice is
// not an error.
func (s *Store) Invite(ctx context.Context, roomID, userID int64) error {
	err := s.do(ctx, func(w *txWriter) error {
		if w.tx.Bucket(bucketRooms).Get(id64(roomID)) == nil {
			return ErrRoomNotFound
		}
		if err := w.tx.Bucket(bucketInvites).Put(pair(roomID, userID), nil); err != nil {
			return fmt.Errorf("put invite: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("invite user %d to room %d: %w", userID, roomID, err)
	}
	return nil
}

// JoinResult is the outcome of Join.
type JoinResult struct {
	// Room is the room after the join.
	Room *chatv1.Room
	// Joined is false when the user already was a member.
	Joined bool
}

// Join makes userID a member of roomID and appends a MemberJoined event.
// Joining again changes nothing and appends nothing. It returns
// ErrRoomNotFound, ErrBanned, ErrNotInvited or ErrRoomFull, checked in
// that order.
func (s *Store) Join(ctx context.Context, roomID, userID int64, nickname string, origin *chatv1.Origin) (JoinResult, error) {
	var res JoinResult
	err := s.do(ctx, func(w *txWriter) error {
		rooms := w.tx.Bucket(bucketRooms)
		room := &chatv1.Room{}
		if ok, err := getProto(rooms, id64(roomID), room); err != nil {
			return err
		} else if !ok {
			return ErrRoomNotFound
		}
		members := w.tx.Bucket(bucketMembers)
		mk := pair(roomID, userID)
		if members.Get(mk) != nil {
			res = JoinResult{Room: room}
			return nil
		}
		if w.tx.Bucket(bucketBans).Get(mk) != nil {
			return ErrBanned
		}
		if room.InviteOnly && w.tx.Bucket(bucketInvites).Get(mk) == nil {
			return ErrNotInvited
		}
		limit := int(room.MaxMembers)
		if limit <= 0 {
			limit = s.maxMembers
		}
		if int(room.MemberCount) >= limit {
			return ErrRoomFull
		}
		m := &chatv1.Member{UserId: userID, Nickname: nickname, JoinedAt: timestamppb.New(w.now)}
		if err := putProto(members, mk, m); err != nil {
			return fmt.Errorf("put member: %w", err)
		}
		if err := w.tx.Bucket(bucketUserRooms).Put(pair(userID, roomID), nil); err != nil {
			return fmt.Errorf("put user room: %w", err)
		}
		room.MemberCount++
		if err := putProto(rooms, id64(roomID), room); err != nil {
			return fmt.Errorf("put room: %w", err)
		}
		res = JoinResult{Room: room, Joined: true}
		return w.appendEvent(&chatv1.Event{
			RoomId: roomID,
			Payload: &chatv1.Event_MemberJoined{MemberJoined: &chatv1.MemberJoined{
				UserId: userID, Nickname: nickname, MemberCount: room.MemberCount, Origin: origin,
			}},
		})
	})
	if err != nil {
		return JoinResult{}, fmt.Errorf("join user %d to room %d: %w", userID, roomID, err)
	}
	return res, nil
}

// LeaveResult is the outcome of Leave.
type LeaveResult struct {
	// Left is false when the user was not a member.
	Left bool
	// MemberCount is the number of members after the leave.
	MemberCount int32
}

// Leave ends userID's membership of roomID and appends a MemberLeft event
// with reason LEFT. Leaving without being a member changes nothing and
// appends nothing. It returns ErrRoomNotFound.
func (s *Store) Leave(ctx context.Context, roomID, userID int64, origin *chatv1.Origin) (LeaveResult, error) {
	var res LeaveResult
	err := s.do(ctx, func(w *txWriter) error {
		var err error
		res, err = w.removeMember(roomID, userID, chatv1.LeaveReason_LEAVE_REASON_LEFT, origin)
		return err
	})
	if err != nil {
		return LeaveResult{}, fmt.Errorf("leave room %d by user %d: %w", roomID, userID, err)
	}
	return res, nil
}

// Kick ends userID's membership of roomID and appends a MemberLeft event
// with reason KICKED. It returns ErrRoomNotFound or ErrNotMember.
func (s *Store) Kick(ctx context.Context, roomID, userID int64) error {
	err := s.do(ctx, func(w *txWriter) error {
		if w.tx.Bucket(bucketRooms).Get(id64(roomID)) != nil && w.tx.Bucket(bucketMembers).Get(pair(roomID, userID)) == nil {
			return ErrNotMember // checked first: a refusal writes nothing
		}
		_, err := w.removeMember(roomID, userID, chatv1.LeaveReason_LEAVE_REASON_KICKED, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("kick user %d from room %d: %w", userID, roomID, err)
	}
	return nil
}

// Ban bars userID from roomID: a member is removed in the same transaction
// with a MemberLeft event with reason BANNED, and later joins are refused
// with ErrBanned. Banning twice is not an error. It returns ErrRoomNotFound.
func (s *Store) Ban(ctx context.Context, roomID, userID int64) error {
	err := s.do(ctx, func(w *txWriter) error {
		if w.tx.Bucket(bucketRooms).Get(id64(roomID)) == nil {
			return ErrRoomNotFound
		}
		if err := w.tx.Bucket(bucketBans).Put(pair(roomID, userID), nil); err != nil {
			return fmt.Errorf("put ban: %w", err)
		}
		_, err := w.removeMember(roomID, userID, chatv1.LeaveReason_LEAVE_REASON_BANNED, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("ban user %d from room %d: %w", userID, roomID, err)
	}
	return nil
}

// Unban lifts userID's ban from roomID. Lifting a ban that does not exist
// is not an error. It returns ErrRoomNotFound.
func (s *Store) Unban(ctx context.Context, roomID, userID int64) error {
	err := s.do(ctx, func(w *txWriter) error {
		if w.tx.Bucket(bucketRooms).Get(id64(roomID)) == nil {
			return ErrRoomNotFound
		}
		if err := w.tx.Bucket(bucketBans).Delete(pair(roomID, userID)); err != nil {
			return fmt.Errorf("delete ban: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unban user %d from room %d: %w", userID, roomID, err)
	}
	return nil
}

// removeMember ends userID's membership of roomID, when there is one, and
// appends a MemberLeft event with reason and origin. It returns
// ErrRoomNotFound before writing anything.
func (w *txWriter) removeMember(roomID, userID int64, reason chatv1.LeaveReason, origin *chatv1.Origin) (LeaveResult, error) {
	rooms := w.tx.Bucket(bucketRooms)
	room := &chatv1.Room{}
	if ok, err := getProto(rooms, id64(roomID), room); err != nil {
		return LeaveResult{}, err
	} else if !ok {
		return LeaveResult{}, ErrRoomNotFound
	}
	members := w.tx.Bucket(bucketMembers)
	mk := pair(roomID, userID)
	m := &chatv1.Member{}
	if ok, err := getProto(members, mk, m); err != nil {
		return LeaveResult{}, err
	} else if !ok {
		return LeaveResult{MemberCount: room.MemberCount}, nil
	}
	if err := members.Delete(mk); err != nil {
		return LeaveResult{}, fmt.Errorf("delete member: %w", err)
	}
	if err := w.tx.Bucket(bucketUserRooms).Delete(pair(userID, roomID)); err != nil {
		return LeaveResult{}, fmt.Errorf("delete user room: %w", err)
	}
	room.MemberCount--
	if err := putProto(rooms, id64(roomID), room); err != nil {
		return LeaveResult{}, fmt.Errorf("put room: %w", err)
	}
	err := w.appendEvent(&chatv1.Event{
		RoomId: roomID,
		Payload: &chatv1.Event_MemberLeft{MemberLeft: &chatv1.MemberLeft{
			UserId: userID, Nickname: m.Nickname, MemberCount: room.MemberCount, Origin: origin, Reason: reason,
		}},
	})
	if err != nil {
		return LeaveResult{}, err
	}
	return LeaveResult{Left: true, MemberCount: room.MemberCount}, nil
}

// Block makes userID block blockedID and appends a UserBlocked event (room
// 0). It reports whether anything changed: blocking again appends nothing.
func (s *Store) Block(ctx context.Context, userID, blockedID int64) (bool, error) {
	changed, err := s.setBlock(ctx, userID, blockedID, true)
	if err != nil {
		return false, fmt.Errorf("block user %d by user %d: %w", blockedID, userID, err)
	}
	return changed, nil
}

// Unblock lifts userID's block of blockedID and appends a UserUnblocked
// event (room 0). It reports whether anything changed: unblocking a user
// who is not blocked appends nothing.
func (s *Store) Unblock(ctx context.Context, userID, blockedID int64) (bool, error) {
	changed, err := s.setBlock(ctx, userID, blockedID, false)
	if err != nil {
		return false, fmt.Errorf("unblock user %d by user %d: %w", blockedID, userID, err)
	}
	return changed, nil
}

func (s *Store) setBlock(ctx context.Context, userID, blockedID int64, block bool) (bool, error) {
	var changed bool
	err := s.do(ctx, func(w *txWriter) error {
		changed = false
		b := w.tx.Bucket(bucketBlocked)
		k := pair(userID, blockedID)
		if (b.Get(k) != nil) == block {
			return nil
		}
		ev := &chatv1.Event{}
		if block {
			if err := b.Put(k, nil); err != nil {
				return fmt.Errorf("put block: %w", err)
			}
			ev.Payload = &chatv1.Event_UserBlocked{UserBlocked: &chatv1.UserBlocked{UserId: userID, BlockedUserId: blockedID}}
		} else {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("delete block: %w", err)
			}
			ev.Payload = &chatv1.Event_UserUnblocked{UserUnblocked: &chatv1.UserUnblocked{UserId: userID, BlockedUserId: blockedID}}
		}
		changed = true
		return w.appendEvent(ev)
	})
	return changed, err
}

// NewMessage is a message to store.
type NewMessage struct {
	RoomID int64
	// UserID is the sender; it is ignored (stored as 0) for MESSAGE_TYPE_SYSTEM.
	UserID int64
	// Nickname is the sender's nickname; empty means the one they joined
	// with. It is ignored (stored as "system") for MESSAGE_TYPE_SYSTEM.
	Nickname string
	Content  string
	Type     chatv1.MessageType
	Origin   *chatv1.Origin
	// ClientMsgID, when set, is the sender's id of the message: the same
	// room, sender and ClientMsgID again within the dedup window is a
	// duplicate, not stored again.
	ClientMsgID string
}

// SystemNickname is the nickname of MESSAGE_TYPE_SYSTEM messages.
const SystemNickname = "system"

// Send stores a message with the room's next id and appends a
// MessagePosted event. It returns ErrRoomNotFound or ErrNotMember; a
// MESSAGE_TYPE_SYSTEM message needs no membership. The caller validates the
// content and decides who may send SYSTEM messages. A duplicate (see
// NewMessage.ClientMsgID) returns the message stored the first time.
func (s *Store) Send(ctx context.Context, in NewMessage) (*chatv1.Message, error) {
	var msg *chatv1.Message
	err := s.do(ctx, func(w *txWriter) error {
		var err error
		msg, _, err = w.send(in)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("send to room %d by user %d: %w", in.RoomID, in.UserID, err)
	}
	return msg, nil
}

// SendResult is the outcome of one message of SendBatch: Message, or a
// refusal in Err.
type SendResult struct {
	Message *chatv1.Message
	// Duplicate says that Message was stored before, under the same
	// client_msg_id, and no event was appended this time.
	Duplicate bool
	Err       error
}

// SendBatch stores messages in order, each as Send would, in one
// transaction: accepted messages get increasing ids in their order. A
// refused message (ErrRoomNotFound, ErrNotMember) does not stop the others.
// The error is for the whole batch (the store closed, the commit failed).
func (s *Store) SendBatch(ctx context.Context, in []NewMessage) ([]SendResult, error) {
	res := make([]SendResult, len(in))
	err := s.do(ctx, func(w *txWriter) error {
		for i, m := range in {
			msg, dup, err := w.send(m)
			switch {
			case err == nil:
				res[i] = SendResult{Message: msg, Duplicate: dup}
			case isRefusal(err):
				res[i] = SendResult{Err: fmt.Errorf("send to room %d by user %d: %w", m.RoomID, m.UserID, err)}
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("send batch of %d: %w", len(in), err)
	}
	return res, nil
}

// send stores in with the room's next id and appends its event, or
// returns the message stored before under in's client_msg_id (dup). A
// refusal is returned before anything is written.
func (w *txWriter) send(in NewMessage) (msg *chatv1.Message, dup bool, err error) {
	userID, nickname := in.UserID, in.Nickname
	if in.Type == chatv1.MessageType_MESSAGE_TYPE_SYSTEM {
		userID, nickname = 0, SystemNickname
		if w.tx.Bucket(bucketRooms).Get(id64(in.RoomID)) == nil {
			return nil, false, ErrRoomNotFound
		}
	} else {
		m := &chatv1.Member{}
		if ok, err := getProto(w.tx.Bucket(bucketMembers), pair(in.RoomID, in.UserID), m); err != nil {
			return nil, false, err
		} else if !ok {
			if w.tx.Bucket(bucketRooms).Get(id64(in.RoomID)) == nil {
				return nil, false, ErrRoomNotFound
			}
			return nil, false, ErrNotMember
		}
		if nickname == "" {
			nickname = m.Nickname
		}
	}
	if in.ClientMsgID != "" {
		// A duplicate is a member's retry: the membership is checked first.
		if msg, dup, err := w.duplicate(in, userID); err != nil || dup {
			return msg, dup, err
		}
	}
	msgs := w.tx.Bucket(bucketMessages).Bucket(id64(in.RoomID))
	if msgs == nil {
		return nil, false, fmt.Errorf("room %d has no message bucket", in.RoomID)
	}
	next, err := msgs.NextSequence()
	if err != nil {
		return nil, false, fmt.Errorf("next message id: %w", err)
	}
	msg = &chatv1.Message{
		Id:          int64(next),
		RoomId:      in.RoomID,
		UserId:      userID,
		Nickname:    nickname,
		Content:     in.Content,
		MessageType: in.Type,
		CreatedAt:   timestamppb.New(w.now),
		ClientMsgId: in.ClientMsgID,
	}
	if err := putProto(msgs, key(next), msg); err != nil {
		return nil, false, fmt.Errorf("put message %d: %w", next, err)
	}
	if in.ClientMsgID != "" {
		if err := w.remember(msg); err != nil {
			return nil, false, err
		}
	}
	err = w.appendEvent(&chatv1.Event{
		RoomId:  in.RoomID,
		Payload: &chatv1.Event_MessagePosted{MessagePosted: &chatv1.MessagePosted{Message: msg, Origin: in.Origin}},
	})
	if err != nil {
		return nil, false, err
	}
	return msg, false, nil
}

// prefixKeys returns copies of the keys of b that start with prefix.
func prefixKeys(b *bolt.Bucket, prefix []byte) [][]byte {
	var out [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, bytes.Clone(k))
	}
	return out
}

// deleteKeys deletes keys from b; keys are collected first because deleting
// under a moving cursor skips entries.
func deleteKeys(b *bolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
