package store

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// The values returned by the write methods are shared with the published
// events: callers treat them as read-only.

// CreateRoom stores a new room with member_count 0 and created_at now. It
// returns ErrRoomExists when the id is taken.
func (s *Store) CreateRoom(ctx context.Context, id int64, name string, maxMembers int32, inviteOnly bool) (*chatv1.Room, error) {
	var room *chatv1.Room
	err := s.do(ctx, func(w *txWriter) error {
		rooms := w.tx.Bucket(bucketRooms)
		if rooms.Get(id64(id)) != nil {
			return ErrRoomExists
		}
		r := &chatv1.Room{
			Id:         id,
			Name:       name,
			MaxMembers: maxMembers,
			InviteOnly: inviteOnly,
			CreatedAt:  timestamppb.New(w.now),
		}
		if err := putProto(rooms, id64(id), r); err != nil {
			return fmt.Errorf("put room %d: %w", id, err)
		}
		if _, err := w.tx.Bucket(bucketMessages).CreateBucket(id64(id)); err != nil {
			return fmt.Errorf("create message bucket of room %d: %w", id, err)
		}
		room = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create room %d: %w", id, err)
	}
	return room, nil
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
// ErrRoomNotFound, ErrNotInvited or ErrRoomFull.
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

// Leave ends userID's membership of roomID and appends a MemberLeft event.
// Leaving without being a member changes nothing and appends nothing. It
// returns ErrRoomNotFound.
func (s *Store) Leave(ctx context.Context, roomID, userID int64, origin *chatv1.Origin) (LeaveResult, error) {
	var res LeaveResult
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
		m := &chatv1.Member{}
		if ok, err := getProto(members, mk, m); err != nil {
			return err
		} else if !ok {
			res = LeaveResult{MemberCount: room.MemberCount}
			return nil
		}
		if err := members.Delete(mk); err != nil {
			return fmt.Errorf("delete member: %w", err)
		}
		if err := w.tx.Bucket(bucketUserRooms).Delete(pair(userID, roomID)); err != nil {
			return fmt.Errorf("delete user room: %w", err)
		}
		room.MemberCount--
		if err := putProto(rooms, id64(roomID), room); err != nil {
			return fmt.Errorf("put room: %w", err)
		}
		res = LeaveResult{Left: true, MemberCount: room.MemberCount}
		return w.appendEvent(&chatv1.Event{
			RoomId: roomID,
			Payload: &chatv1.Event_MemberLeft{MemberLeft: &chatv1.MemberLeft{
				UserId: userID, Nickname: m.Nickname, MemberCount: room.MemberCount, Origin: origin,
			}},
		})
	})
	if err != nil {
		return LeaveResult{}, fmt.Errorf("leave room %d by user %d: %w", roomID, userID, err)
	}
	return res, nil
}

// NewMessage is a message to store.
type NewMessage struct {
	RoomID int64
	UserID int64
	// Nickname is the sender's nickname; empty means the one they joined with.
	Nickname string
	Content  string
	Type     chatv1.MessageType
	Origin   *chatv1.Origin
}

// Send stores a message with the room's next id and appends a
// MessagePosted event. It returns ErrRoomNotFound or ErrNotMember. The
// caller validates the content.
func (s *Store) Send(ctx context.Context, in NewMessage) (*chatv1.Message, error) {
	var msg *chatv1.Message
	err := s.do(ctx, func(w *txWriter) error { return s.sendApply(w, in, &msg) })
	if err != nil {
		return nil, fmt.Errorf("send to room %d by user %d: %w", in.RoomID, in.UserID, err)
	}
	return msg, nil
}

// sendApply is Send's op: it stores in and sets *out.
func (s *Store) sendApply(w *txWriter, in NewMessage, out **chatv1.Message) error {
	m := &chatv1.Member{}
	if ok, err := getProto(w.tx.Bucket(bucketMembers), pair(in.RoomID, in.UserID), m); err != nil {
		return err
	} else if !ok {
		if w.tx.Bucket(bucketRooms).Get(id64(in.RoomID)) == nil {
			return ErrRoomNotFound
		}
		return ErrNotMember
	}
	msgs := w.tx.Bucket(bucketMessages).Bucket(id64(in.RoomID))
	if msgs == nil {
		return fmt.Errorf("room %d has no message bucket", in.RoomID)
	}
	next, err := msgs.NextSequence()
	if err != nil {
		return fmt.Errorf("next message id: %w", err)
	}
	nickname := in.Nickname
	if nickname == "" {
		nickname = m.Nickname
	}
	msg := &chatv1.Message{
		Id:          int64(next),
		RoomId:      in.RoomID,
		UserId:      in.UserID,
		Nickname:    nickname,
		Content:     in.Content,
		MessageType: in.Type,
		CreatedAt:   timestamppb.New(w.now),
	}
	if err := putProto(msgs, key(next), msg); err != nil {
		return fmt.Errorf("put message %d: %w", next, err)
	}
	err = w.appendEvent(&chatv1.Event{
		RoomId:  in.RoomID,
		Payload: &chatv1.Event_MessagePosted{MessagePosted: &chatv1.MessagePosted{Message: msg, Origin: in.Origin}},
	})
	if err != nil {
		return err
	}
	*out = msg
	return nil
}
