package chat_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/services/chat"
)

// stream is a Subscribe stream opened at the head, for one test.
func (s *service) stream(t *testing.T) chatv1.ChatService_SubscribeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	stream, _ := subscribe(t, ctx, s.chat, nil)
	return stream
}

// check asserts that err has code and ErrorInfo reason ("" for none, and
// OK for a nil err).
func check(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	got, gotReason := refusal(t, err)
	if err == nil {
		got = codes.OK
	}
	if got != code || gotReason != reason {
		t.Errorf("%s: code %v, reason %q (err %v); want %v, %q", what, got, gotReason, err, code, reason)
	}
}

func TestAdminRefusals(t *testing.T) {
	s := start(t, chat.Config{})
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1)
	const notFound = "ERROR_REASON_ROOM_NOT_FOUND"
	tests := []struct {
		name   string
		call   func(context.Context) error
		code   codes.Code
		reason string
	}{
		{"BanMember unknown room", func(ctx context.Context) error {
			_, err := s.admin.BanMember(ctx, &chatv1.BanMemberRequest{RoomId: 9, UserId: 1})
			return err
		}, codes.NotFound, notFound},
		{"UnbanMember unknown room", func(ctx context.Context) error {
			_, err := s.admin.UnbanMember(ctx, &chatv1.UnbanMemberRequest{RoomId: 9, UserId: 1})
			return err
		}, codes.NotFound, notFound},
		{"KickMember unknown room", func(ctx context.Context) error {
			_, err := s.admin.KickMember(ctx, &chatv1.KickMemberRequest{RoomId: 9, UserId: 1})
			return err
		}, codes.NotFound, notFound},
		{"KickMember non-member", func(ctx context.Context) error {
			_, err := s.admin.KickMember(ctx, &chatv1.KickMemberRequest{RoomId: 1, UserId: 2})
			return err
		}, codes.FailedPrecondition, "ERROR_REASON_NOT_MEMBER"},
		{"DeleteRoom unknown room", func(ctx context.Context) error {
			_, err := s.admin.DeleteRoom(ctx, &chatv1.DeleteRoomRequest{Id: 9})
			return err
		}, codes.NotFound, notFound},
		{"ListRoomMessages unknown room", func(ctx context.Context) error {
			_, err := s.admin.ListRoomMessages(ctx, &chatv1.ListRoomMessagesRequest{RoomId: 9})
			return err
		}, codes.NotFound, notFound},
		{"PostSystemMessage unknown room", func(ctx context.Context) error {
			_, err := s.admin.PostSystemMessage(ctx, &chatv1.PostSystemMessageRequest{RoomId: 9, Content: "hi"})
			return err
		}, codes.NotFound, notFound},
		{"PostSystemMessage empty", func(ctx context.Context) error {
			_, err := s.admin.PostSystemMessage(ctx, &chatv1.PostSystemMessageRequest{RoomId: 1})
			return err
		}, codes.InvalidArgument, "ERROR_REASON_INVALID_MESSAGE"},
		{"PostSystemMessage control character", func(ctx context.Context) error {
			_, err := s.admin.PostSystemMessage(ctx, &chatv1.PostSystemMessageRequest{RoomId: 1, Content: "a\x1bb"})
			return err
		}, codes.InvalidArgument, "ERROR_REASON_INVALID_MESSAGE"},
		{"BlockUser self", func(ctx context.Context) error {
			_, err := s.admin.BlockUser(ctx, &chatv1.BlockUserRequest{UserId: 1, BlockedUserId: 1})
			return err
		}, codes.InvalidArgument, ""},
		{"BlockUser blocked 0", func(ctx context.Context) error {
			_, err := s.admin.BlockUser(ctx, &chatv1.BlockUserRequest{UserId: 1})
			return err
		}, codes.InvalidArgument, ""},
		{"BlockUser user -1", func(ctx context.Context) error {
			_, err := s.admin.BlockUser(ctx, &chatv1.BlockUserRequest{UserId: -1, BlockedUserId: 2})
			return err
		}, codes.InvalidArgument, ""},
		{"UnblockUser blocked 0", func(ctx context.Context) error {
			_, err := s.admin.UnblockUser(ctx, &chatv1.UnblockUserRequest{UserId: 1})
			return err
		}, codes.InvalidArgument, ""},
		{"ListBlocks user 0", func(ctx context.Context) error {
			_, err := s.chat.ListBlocks(ctx, &chatv1.ListBlocksRequest{})
			return err
		}, codes.InvalidArgument, ""},
		{"ListRooms negative limit", func(ctx context.Context) error {
			_, err := s.admin.ListRooms(ctx, &chatv1.ListRoomsRequest{Limit: -1})
			return err
		}, codes.InvalidArgument, ""},
		{"ListRoomMessages negative before_id", func(ctx context.Context) error {
			_, err := s.admin.ListRoomMessages(ctx, &chatv1.ListRoomMessagesRequest{RoomId: 1, BeforeId: -1})
			return err
		}, codes.InvalidArgument, ""},
		{"CreateRoom negative retention", func(ctx context.Context) error {
			_, err := s.admin.CreateRoom(ctx, &chatv1.CreateRoomRequest{Id: 5, RetentionSeconds: -1})
			return err
		}, codes.InvalidArgument, ""},
		{"BanMember user 0", func(ctx context.Context) error {
			_, err := s.admin.BanMember(ctx, &chatv1.BanMemberRequest{RoomId: 1})
			return err
		}, codes.InvalidArgument, ""},
		{"DeleteRoom id 0", func(ctx context.Context) error {
			_, err := s.admin.DeleteRoom(ctx, &chatv1.DeleteRoomRequest{})
			return err
		}, codes.InvalidArgument, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.name, tt.call(callCtx(t)), tt.code, tt.reason)
		})
	}
}

func TestBanUnban(t *testing.T) {
	s := start(t, chat.Config{})
	s.createRoom(t, 1, 0, false)
	s.createRoom(t, 2, 1, true) // invite-only, full once user 1 joins
	s.join(t, 1, 1)
	s.join(t, 1, 2)
	if _, err := s.admin.InviteMember(callCtx(t), &chatv1.InviteMemberRequest{RoomId: 2, UserId: 1}); err != nil {
		t.Fatal(err)
	}
	s.join(t, 2, 1)
	stream := s.stream(t)
	ctx := callCtx(t)

	if _, err := s.admin.BanMember(ctx, &chatv1.BanMemberRequest{RoomId: 1, UserId: 2}); err != nil {
		t.Fatalf("BanMember(1, 2) = %v", err)
	}
	ev := collect(t, stream, nil, 1)[0]
	if l := ev.GetMemberLeft(); l == nil || ev.RoomId != 1 || l.UserId != 2 || l.Nickname != "user2" || l.MemberCount != 1 ||
		l.Reason != chatv1.LeaveReason_LEAVE_REASON_BANNED || l.Origin != nil {
		t.Errorf("event after BanMember = %v; want MemberLeft of user2 in room 1, count 1, reason BANNED, no origin", ev)
	}
	if rooms, err := s.chat.ListUserRooms(ctx, &chatv1.ListUserRoomsRequest{UserId: 2}); err != nil || len(rooms.RoomIds) != 0 {
		t.Errorf("ListUserRooms(2) after the ban = %v, %v; want none", rooms.GetRoomIds(), err)
	}
	if room, err := s.admin.GetRoom(ctx, &chatv1.GetRoomRequest{Id: 1}); err != nil || room.Room.MemberCount != 1 {
		t.Errorf("GetRoom(1) after the ban = %v, %v; want 1 member", room, err)
	}
	_, err := s.chat.JoinRoom(ctx, &chatv1.JoinRoomRequest{RoomId: 1, UserId: 2})
	check(t, "JoinRoom(1, 2) when banned", err, codes.PermissionDenied, "ERROR_REASON_USER_BANNED")
	_, err = s.chat.SendMessage(ctx, &chatv1.SendMessageRequest{RoomId: 1, UserId: 2, Content: "hi", MessageType: chatv1.MessageType_MESSAGE_TYPE_TEXT})
	check(t, "SendMessage(1, 2) when banned", err, codes.PermissionDenied, "ERROR_REASON_NOT_MEMBER")
	// Banned beats uninvited and full.
	if _, err := s.admin.BanMember(ctx, &chatv1.BanMemberRequest{RoomId: 2, UserId: 3}); err != nil {
		t.Fatal(err)
	}
	_, err = s.chat.JoinRoom(ctx, &chatv1.JoinRoomRequest{RoomId: 2, UserId: 3})
	check(t, "JoinRoom of a banned, uninvited user to a full room", err, codes.PermissionDenied, "ERROR_REASON_USER_BANNED")

	if _, err := s.admin.UnbanMember(ctx, &chatv1.UnbanMemberRequest{RoomId: 1, UserId: 2}); err != nil {
		t.Fatalf("UnbanMember(1, 2) = %v", err)
	}
	if res := s.join(t, 1, 2); !res.Joined {
		t.Errorf("JoinRoom(1, 2) after the unban = %v, want joined", res)
	}
	if j := collect(t, stream, nil, 1)[0].GetMemberJoined(); j.GetUserId() != 2 {
		t.Errorf("event after the rejoin = %v, want MemberJoined of user 2", j)
	}
}

func TestKickAndLeaveReasons(t *testing.T) {
	s := start(t, chat.Config{})
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1)
	s.join(t, 1, 2)
	stream := s.stream(t)
	ctx := callCtx(t)
	if _, err := s.admin.KickMember(ctx, &chatv1.KickMemberRequest{RoomId: 1, UserId: 2}); err != nil {
		t.Fatalf("KickMember(1, 2) = %v", err)
	}
	if _, err := s.chat.LeaveRoom(ctx, &chatv1.LeaveRoomRequest{RoomId: 1, UserId: 1, Origin: origin(1)}); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, stream, nil, 2)
	if l := evs[0].GetMemberLeft(); l.GetUserId() != 2 || l.GetReason() != chatv1.LeaveReason_LEAVE_REASON_KICKED || l.GetOrigin() != nil || l.GetMemberCount() != 1 {
		t.Errorf("event after KickMember = %v; want MemberLeft of user 2, reason KICKED, no origin, count 1", evs[0])
	}
	if l := evs[1].GetMemberLeft(); l.GetUserId() != 1 || l.GetReason() != chatv1.LeaveReason_LEAVE_REASON_LEFT || l.GetOrigin().GetSessionId() != "session-1" {
		t.Errorf("event after LeaveRoom = %v; want MemberLeft of user 1, reason LEFT, origin session-1", evs[1])
	}
	_, err := s.admin.KickMember(ctx, &chatv1.KickMemberRequest{RoomId: 1, UserId: 2})
	check(t, "KickMember of a kicked user", err, codes.FailedPrecondition, "ERROR_REASON_NOT_MEMBER")
	if res := s.join(t, 1, 2); !res.Joined {
		t.Errorf("JoinRoom after a kick = %v, want joined", res)
	}
}

func TestListAndDeleteRooms(t *testing.T) {
	s := start(t, chat.Config{})
	for id := range int64(5) {
		s.createRoom(t, id+1, 0, id == 0) // room 1 invite-only
	}
	ctx := callCtx(t)
	list := func(after int64, limit int32) string {
		t.Helper()
		res, err := s.admin.ListRooms(ctx, &chatv1.ListRoomsRequest{AfterId: after, Limit: limit})
		if err != nil {
			t.Fatalf("ListRooms(after %d, limit %d) = %v", after, limit, err)
		}
		ids := make([]int64, len(res.Rooms))
		for i, r := range res.Rooms {
			ids[i] = r.Id
		}
		return fmt.Sprint(ids, res.HasMore)
	}
	for _, tt := range []struct {
		after int64
		limit int32
		want  string
	}{{0, 0, "[1 2 3 4 5] false"}, {0, 2, "[1 2] true"}, {2, 2, "[3 4] true"}, {4, 2, "[5] false"}, {0, 5000, "[1 2 3 4 5] false"}} {
		if got := list(tt.after, tt.limit); got != tt.want {
			t.Errorf("ListRooms(after %d, limit %d) = %s, want %s", tt.after, tt.limit, got, tt.want)
		}
	}

	if _, err := s.admin.InviteMember(ctx, &chatv1.InviteMemberRequest{RoomId: 1, UserId: 1}); err != nil {
		t.Fatal(err)
	}
	s.join(t, 1, 1)
	if _, err := s.admin.InviteMember(ctx, &chatv1.InviteMemberRequest{RoomId: 1, UserId: 2}); err != nil {
		t.Fatal(err)
	}
	s.join(t, 1, 2)
	s.join(t, 2, 2)
	if _, err := s.admin.InviteMember(ctx, &chatv1.InviteMemberRequest{RoomId: 1, UserId: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.admin.BanMember(ctx, &chatv1.BanMemberRequest{RoomId: 1, UserId: 4}); err != nil {
		t.Fatal(err)
	}
	s.send(t, 1, 1, "gone soon")
	stream := s.stream(t)

	if _, err := s.admin.DeleteRoom(ctx, &chatv1.DeleteRoomRequest{Id: 1}); err != nil {
		t.Fatalf("DeleteRoom(1) = %v", err)
	}
	ev := collect(t, stream, nil, 1)[0]
	if d := ev.GetRoomDeleted(); d == nil || ev.RoomId != 1 || fmt.Sprint(d.MemberIds) != "[1 2]" {
		t.Errorf("event after DeleteRoom = %v, want RoomDeleted of room 1 with members [1 2]", ev)
	}
	_, err := s.admin.GetRoom(ctx, &chatv1.GetRoomRequest{Id: 1})
	check(t, "GetRoom of a deleted room", err, codes.NotFound, "ERROR_REASON_ROOM_NOT_FOUND")
	_, err = s.admin.ListRoomMessages(ctx, &chatv1.ListRoomMessagesRequest{RoomId: 1})
	check(t, "ListRoomMessages of a deleted room", err, codes.NotFound, "ERROR_REASON_ROOM_NOT_FOUND")
	_, err = s.admin.DeleteRoom(ctx, &chatv1.DeleteRoomRequest{Id: 1})
	check(t, "DeleteRoom again", err, codes.NotFound, "ERROR_REASON_ROOM_NOT_FOUND")
	for user, want := range map[int64]string{1: "[]", 2: "[2]"} {
		res, err := s.chat.ListUserRooms(ctx, &chatv1.ListUserRoomsRequest{UserId: user})
		if err != nil || fmt.Sprint(res.GetRoomIds()) != want {
			t.Errorf("ListUserRooms(%d) after DeleteRoom(1) = %v, %v; want %s", user, res.GetRoomIds(), err, want)
		}
	}
	if got := list(0, 0); got != "[2 3 4 5] false" {
		t.Errorf("ListRooms after DeleteRoom(1) = %s, want [2 3 4 5] false", got)
	}

	// A new room with the same id starts empty: no history, invitations or bans.
	s.createRoom(t, 1, 0, true)
	_, err = s.chat.JoinRoom(ctx, &chatv1.JoinRoomRequest{RoomId: 1, UserId: 3})
	check(t, "JoinRoom(1, 3) invited to the deleted room", err, codes.PermissionDenied, "ERROR_REASON_NOT_INVITED")
	if _, err := s.admin.InviteMember(ctx, &chatv1.InviteMemberRequest{RoomId: 1, UserId: 4}); err != nil {
		t.Fatal(err)
	}
	if res := s.join(t, 1, 4); !res.Joined || res.Room.MemberCount != 1 {
		t.Errorf("JoinRoom(1, 4) banned from the deleted room = %v, want joined, 1 member", res)
	}
	if h, err := s.admin.ListRoomMessages(ctx, &chatv1.ListRoomMessagesRequest{RoomId: 1}); err != nil || len(h.Messages) != 0 {
		t.Errorf("ListRoomMessages of the new room 1 = %v, %v; want none", h.GetMessages(), err)
	}
	if m := s.send(t, 1, 4, "new room"); m.Id != 2 {
		t.Errorf("first message of the new room 1 has id %d, want 2 (ids are never reused)", m.Id)
	}
}

func TestBlocks(t *testing.T) {
	s := start(t, chat.Config{})
	s.createRoom(t, 1, 0, false)
	for u := range int64(3) {
		s.join(t, 1, u+1)
	}
	for _, u := range []int64{2, 3, 2, 1, 3} {
		s.send(t, 1, u, fmt.Sprint("from ", u))
	} // ids 1..5
	stream := s.stream(t)
	ctx := callCtx(t)
	block := func(user, blocked int64) {
		t.Helper()
		if _, err := s.admin.BlockUser(ctx, &chatv1.BlockUserRequest{UserId: user, BlockedUserId: blocked}); err != nil {
			t.Fatalf("BlockUser(%d, %d) = %v", user, blocked, err)
		}
	}
	unblock := func(user, blocked int64) {
		t.Helper()
		if _, err := s.admin.UnblockUser(ctx, &chatv1.UnblockUserRequest{UserId: user, BlockedUserId: blocked}); err != nil {
			t.Fatalf("UnblockUser(%d, %d) = %v", user, blocked, err)
		}
	}
	page := func(user int64) string {
		t.Helper()
		res, err := s.chat.ListMessages(ctx, &chatv1.ListMessagesRequest{RoomId: 1, UserId: user})
		if err != nil {
			t.Fatalf("ListMessages(1, user %d) = %v", user, err)
		}
		ids := make([]int64, len(res.Messages))
		for i, m := range res.Messages {
			ids[i] = m.Id
		}
		return fmt.Sprint(ids)
	}
	blocks := func(user int64) string {
		t.Helper()
		res, err := s.chat.ListBlocks(ctx, &chatv1.ListBlocksRequest{UserId: user})
		if err != nil {
			t.Fatalf("ListBlocks(%d) = %v", user, err)
		}
		return fmt.Sprint(res.BlockedUserIds)
	}

	block(1, 2)
	block(1, 2) // idempotent: no event
	block(1, 3)
	if got := blocks(1); got != "[2 3]" {
		t.Errorf("ListBlocks(1) = %s, want [2 3]", got)
	}
	if got := page(1); got != "[4]" {
		t.Errorf("ListMessages for user 1 blocking 2 and 3 = %s, want [4]", got)
	}
	if got := page(2); got != "[1 2 3 4 5]" {
		t.Errorf("ListMessages for user 2 = %s, want everything (blocks are one-way)", got)
	}
	unblock(1, 3)
	unblock(1, 3) // idempotent: no event
	if got := page(1); got != "[2 4 5]" {
		t.Errorf("ListMessages for user 1 blocking 2 = %s, want [2 4 5]", got)
	}
	if got := blocks(1); got != "[2]" {
		t.Errorf("ListBlocks(1) after unblocking 3 = %s, want [2]", got)
	}
	evs := collect(t, stream, nil, 3)
	if b := evs[0].GetUserBlocked(); b.GetUserId() != 1 || b.GetBlockedUserId() != 2 || evs[0].RoomId != 0 {
		t.Errorf("event 1 = %v, want UserBlocked 1→2 in room 0", evs[0])
	}
	if b := evs[1].GetUserBlocked(); b.GetUserId() != 1 || b.GetBlockedUserId() != 3 {
		t.Errorf("event 2 = %v, want UserBlocked 1→3 (the repeated block published nothing)", evs[1])
	}
	if u := evs[2].GetUserUnblocked(); u.GetUserId() != 1 || u.GetBlockedUserId() != 3 || evs[2].RoomId != 0 {
		t.Errorf("event 3 = %v, want UserUnblocked 1→3 in room 0", evs[2])
	}
	// The repeated unblock published nothing either: the next event is this message.
	s.send(t, 1, 1, "marker")
	if m := collect(t, stream, nil, 1)[0].GetMessagePosted(); m.GetMessage().GetContent() != "marker" {
		t.Errorf("event after the repeated unblock = %v, want the marker message", m)
	}
}

func TestRoomHistoryAndSystemMessages(t *testing.T) {
	s := start(t, chat.Config{MaxContentChars: 10, BannedPatterns: []string{`forbidden`}})
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1)
	for i := range 150 {
		s.send(t, 1, 1, fmt.Sprint(i+1))
	}
	stream := s.stream(t)
	ctx := callCtx(t)
	sys, err := s.admin.PostSystemMessage(ctx, &chatv1.PostSystemMessageRequest{RoomId: 1, Content: "notice"})
	if err != nil {
		t.Fatalf("PostSystemMessage = %v", err)
	}
	if m := sys.Message; m.Id != 151 || m.UserId != 0 || m.Nickname != "system" || m.MessageType != chatv1.MessageType_MESSAGE_TYPE_SYSTEM || m.Content != "notice" || m.CreatedAt == nil {
		t.Errorf("PostSystemMessage = %v; want id 151, user 0, nickname system, type SYSTEM", m)
	}
	if m := collect(t, stream, nil, 1)[0].GetMessagePosted(); m.GetMessage().GetId() != 151 || m.GetMessage().GetMessageType() != chatv1.MessageType_MESSAGE_TYPE_SYSTEM || m.GetOrigin() != nil {
		t.Errorf("event after PostSystemMessage = %v, want MessagePosted of the system message without origin", m)
	}
	for _, tt := range []struct {
		content string
		reason  string
	}{
		{"much too long", "ERROR_REASON_INVALID_MESSAGE"},
		{"forbidden", "ERROR_REASON_INVALID_MESSAGE"},
	} {
		_, err := s.admin.PostSystemMessage(ctx, &chatv1.PostSystemMessageRequest{RoomId: 1, Content: tt.content})
		check(t, fmt.Sprintf("PostSystemMessage(%q)", tt.content), err, codes.InvalidArgument, tt.reason)
	}

	// ListRoomMessages needs no membership and pages like ListMessages.
	for _, tt := range []struct {
		after, before int64
		limit         int32
		first, last   int64
		more          bool
	}{
		{0, 0, 0, 52, 151, true},
		{0, 52, 0, 1, 51, false},
		{0, 0, 500, 52, 151, true},
		{140, 0, 5, 141, 145, true},
		{145, 0, 0, 146, 151, false},
	} {
		req := &chatv1.ListRoomMessagesRequest{RoomId: 1, BeforeId: tt.before, Limit: tt.limit}
		if tt.after != 0 {
			req.AfterId = proto.Int64(tt.after)
		}
		res, err := s.admin.ListRoomMessages(ctx, req)
		if err != nil {
			t.Fatalf("ListRoomMessages(%v) = %v", req, err)
		}
		n := len(res.Messages)
		if n == 0 || res.Messages[0].Id != tt.first || res.Messages[n-1].Id != tt.last || int64(n) != tt.last-tt.first+1 || res.HasMore != tt.more {
			t.Errorf("ListRoomMessages(%v) = %d messages, has_more %v; want %d..%d, has_more %v", req, n, res.HasMore, tt.first, tt.last, tt.more)
		}
	}
	// after_id set to 0 reads forward from the first message kept.
	res, err := s.admin.ListRoomMessages(ctx, &chatv1.ListRoomMessagesRequest{RoomId: 1, AfterId: proto.Int64(0), Limit: 10})
	if err != nil || len(res.Messages) != 10 || res.Messages[0].Id != 1 || res.Messages[9].Id != 10 || !res.HasMore {
		t.Errorf("ListRoomMessages(after_id 0, limit 10) = %v, %v; want messages 1..10 and has_more", res, err)
	}
}

func TestSendMessageBatch(t *testing.T) {
	s := start(t, chat.Config{MaxContentChars: 10})
	s.createRoom(t, 1, 0, false)
	s.createRoom(t, 2, 0, false)
	s.join(t, 1, 1)
	s.join(t, 2, 1)
	s.send(t, 1, 1, "first") // id 1
	stream := s.stream(t)
	ctx := callCtx(t)
	text := chatv1.MessageType_MESSAGE_TYPE_TEXT
	item := func(room, user int64, content string) *chatv1.SendMessageRequest {
		return &chatv1.SendMessageRequest{RoomId: room, UserId: user, Content: content, MessageType: text, Origin: origin(user)}
	}
	items := []*chatv1.SendMessageRequest{
		item(1, 1, "a"),
		item(1, 2, "not member"),
		item(1, 1, ""),
		item(2, 1, "b"),
		item(9, 1, "no room"),
		{RoomId: 1, UserId: 1, Content: "sys", MessageType: chatv1.MessageType_MESSAGE_TYPE_SYSTEM},
		item(1, 1, "c"),
		item(1, 1, "much too long"),
		item(1, 1, "d"),
	}
	res, err := s.chat.SendMessageBatch(ctx, &chatv1.SendMessageBatchRequest{Items: items})
	if err != nil {
		t.Fatalf("SendMessageBatch = %v", err)
	}
	const invalid = "ERROR_REASON_INVALID_MESSAGE"
	want := []struct {
		id     int64
		reason string
	}{
		{2, ""}, {0, "ERROR_REASON_NOT_MEMBER"}, {0, invalid}, {1, ""}, {0, "ERROR_REASON_ROOM_NOT_FOUND"},
		{0, invalid}, {3, ""}, {0, invalid}, {4, ""},
	}
	if len(res.Results) != len(items) {
		t.Fatalf("SendMessageBatch of %d items = %d results", len(items), len(res.Results))
	}
	for i, w := range want {
		r := res.Results[i]
		reason := ""
		if r.ErrorReason != chatv1.ErrorReason_ERROR_REASON_UNSPECIFIED {
			reason = r.ErrorReason.String()
		}
		if r.GetMessage().GetId() != w.id || reason != w.reason || (w.reason != "") != (r.ErrorMessage != "") {
			t.Errorf("result %d (%q) = %v; want id %d, reason %q with a message", i, items[i].Content, r, w.id, w.reason)
		}
		if strings.Contains(r.ErrorMessage, "store") || strings.Contains(r.ErrorMessage, "room 9") {
			t.Errorf("result %d error_message %q leaks internals", i, r.ErrorMessage)
		}
	}
	// The accepted items' events are consecutive, in item order.
	evs := collect(t, stream, nil, 4)
	var got []string
	for _, e := range evs {
		m := e.GetMessagePosted()
		got = append(got, fmt.Sprint(e.RoomId, ":", m.GetMessage().GetContent(), "@", m.GetOrigin().GetSessionId()))
	}
	if fmt.Sprint(got) != "[1:a@session-1 2:b@session-1 1:c@session-1 1:d@session-1]" {
		t.Errorf("batch events = %v, want a, b, c, d in order with their origins", got)
	}

	many := make([]*chatv1.SendMessageRequest, 101)
	for i := range many {
		many[i] = item(1, 1, "x")
	}
	for _, tt := range []struct {
		name  string
		items []*chatv1.SendMessageRequest
		code  codes.Code
	}{
		{"empty", nil, codes.InvalidArgument},
		{"101 items", many, codes.InvalidArgument},
		{"100 items", many[:100], codes.OK},
		{"an item with room 0", []*chatv1.SendMessageRequest{item(1, 1, "ok"), item(0, 1, "x")}, codes.InvalidArgument},
	} {
		res, err := s.chat.SendMessageBatch(ctx, &chatv1.SendMessageBatchRequest{Items: tt.items})
		check(t, "SendMessageBatch "+tt.name, err, tt.code, "")
		if tt.code == codes.OK && len(res.GetResults()) != len(tt.items) {
			t.Errorf("SendMessageBatch %s = %d results", tt.name, len(res.GetResults()))
		}
	}
	// Nothing of the refused requests was stored: 4 + 100 after "first".
	h, err := s.admin.ListRoomMessages(ctx, &chatv1.ListRoomMessagesRequest{RoomId: 1, Limit: 1})
	if err != nil || h.Messages[0].Id != 104 {
		t.Errorf("newest message of room 1 = %v, %v; want id 104", h.GetMessages(), err)
	}
}

// TestSendMessages stores batches sent on one stream without waiting,
// answers each by its id with per-item results, refuses a malformed
// batch as a whole, and publishes the stored messages in commit order.
func TestSendMessages(t *testing.T) {
	s := start(t, chat.Config{MaxContentChars: 10})
	s.createRoom(t, 1, 0, false)
	s.createRoom(t, 2, 0, false)
	s.join(t, 1, 1)
	s.join(t, 2, 2)
	events := s.stream(t)
	ctx := callCtx(t)
	text := chatv1.MessageType_MESSAGE_TYPE_TEXT
	item := func(room, user int64, content string) *chatv1.SendMessageRequest {
		return &chatv1.SendMessageRequest{RoomId: room, UserId: user, Content: content, MessageType: text, Origin: origin(user)}
	}
	stream, err := s.chat.SendMessages(ctx)
	if err != nil {
		t.Fatalf("SendMessages = %v", err)
	}
	many := make([]*chatv1.SendMessageRequest, chat.MaxStreamBatch+1)
	for i := range many {
		many[i] = item(2, 2, fmt.Sprint(i))
	}
	batches := map[uint64][]*chatv1.SendMessageRequest{
		1: {item(1, 1, "a"), item(1, 2, "not member"), item(2, 2, "b")},
		2: {item(1, 1, "much too long")},
		3: {item(1, 1, "c"), item(0, 1, "room 0")},
		4: nil,
		5: many,
		6: many[:chat.MaxStreamBatch],
	}
	for id := uint64(1); id <= 6; id++ {
		if err := stream.Send(&chatv1.SendMessagesRequest{Id: id, Items: batches[id]}); err != nil {
			t.Fatalf("Send(batch %d) = %v", id, err)
		}
	}
	got := map[uint64]*chatv1.SendMessagesResponse{}
	for range 6 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv = %v", err)
		}
		if got[resp.GetId()] != nil {
			t.Errorf("batch %d answered twice", resp.GetId())
		}
		got[resp.GetId()] = resp
	}
	results := func(id uint64) string {
		var out []string
		for _, r := range got[id].GetResults() {
			if m := r.GetMessage(); m != nil {
				out = append(out, fmt.Sprintf("%d:%d:%s", m.GetRoomId(), m.GetId(), m.GetContent()))
			} else {
				out = append(out, r.GetErrorReason().String())
			}
		}
		return fmt.Sprint(out)
	}
	if r := results(1); r != "[1:1:a ERROR_REASON_NOT_MEMBER 2:1:b]" {
		t.Errorf("batch 1 results = %s", r)
	}
	if r := results(2); r != "[ERROR_REASON_INVALID_MESSAGE]" {
		t.Errorf("batch 2 results = %s", r)
	}
	for _, id := range []uint64{3, 4, 5} {
		if r := got[id]; codes.Code(r.GetCode()) != codes.InvalidArgument || len(r.GetResults()) != 0 || r.GetMessage() == "" {
			t.Errorf("batch %d (malformed) = %v, want INVALID_ARGUMENT, a message and no results", id, r)
		}
	}
	if r := got[6]; r.GetCode() != 0 || len(r.GetResults()) != chat.MaxStreamBatch || r.GetResults()[chat.MaxStreamBatch-1].GetMessage() == nil {
		t.Errorf("batch 6 (%d items) = code %d, %d results; want every item stored", chat.MaxStreamBatch, r.GetCode(), len(r.GetResults()))
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after CloseSend = %v, want EOF", err)
	}
	// Published: a, b, then the 1000 of batch 6, each once.
	evs := collect(t, events, nil, 2+chat.MaxStreamBatch)
	seen := map[string]int{}
	for _, e := range evs {
		m := e.GetMessagePosted().GetMessage()
		seen[fmt.Sprint(m.GetRoomId(), ":", m.GetContent())]++
	}
	if seen["1:a"] != 1 || seen["2:b"] != 1 || seen["2:999"] != 1 || len(seen) != 2+chat.MaxStreamBatch {
		t.Errorf("published %d distinct messages (a: %d, b: %d), want a, b and the 1000 of batch 6 once each", len(seen), seen["1:a"], seen["2:b"])
	}
}

// fakeClock is the service's clock in tests, moved by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRateLimit(t *testing.T) {
	clock := newFakeClock()
	s := start(t, chat.Config{RateLimit: 2, RateBurst: 3, Now: clock.now})
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1)
	s.join(t, 1, 2)
	ctx := callCtx(t)
	text := chatv1.MessageType_MESSAGE_TYPE_TEXT
	sendAs := func(user int64, content string) error {
		_, err := s.chat.SendMessage(ctx, &chatv1.SendMessageRequest{RoomId: 1, UserId: user, Content: content, MessageType: text})
		return err
	}
	const limited = "ERROR_REASON_RATE_LIMITED"

	// An invalid message costs no token.
	check(t, "SendMessage empty", sendAs(1, ""), codes.InvalidArgument, "ERROR_REASON_INVALID_MESSAGE")
	for i := range 3 {
		check(t, fmt.Sprintf("SendMessage #%d of the burst", i+1), sendAs(1, "m"), codes.OK, "")
	}
	check(t, "SendMessage beyond the burst", sendAs(1, "m"), codes.ResourceExhausted, limited)
	check(t, "another user's SendMessage", sendAs(2, "m"), codes.OK, "")
	// System messages are not limited.
	if _, err := s.admin.PostSystemMessage(ctx, &chatv1.PostSystemMessageRequest{RoomId: 1, Content: "sys"}); err != nil {
		t.Errorf("PostSystemMessage while user 1 is limited = %v", err)
	}

	clock.advance(time.Second) // 2 tokens at 2/s
	items := make([]*chatv1.SendMessageRequest, 4)
	for i := range items {
		items[i] = &chatv1.SendMessageRequest{RoomId: 1, UserId: 1, Content: fmt.Sprint("b", i), MessageType: text}
	}
	res, err := s.chat.SendMessageBatch(ctx, &chatv1.SendMessageBatchRequest{Items: items})
	if err != nil {
		t.Fatalf("SendMessageBatch = %v", err)
	}
	var reasons []string
	for _, r := range res.Results {
		reasons = append(reasons, r.ErrorReason.String())
	}
	if want := "[ERROR_REASON_UNSPECIFIED ERROR_REASON_UNSPECIFIED ERROR_REASON_RATE_LIMITED ERROR_REASON_RATE_LIMITED]"; fmt.Sprint(reasons) != want {
		t.Errorf("batch of 4 with 2 tokens: reasons %v, want %s", reasons, want)
	}
	if res.Results[1].GetMessage().GetContent() != "b1" || res.Results[2].GetErrorMessage() == "" {
		t.Errorf("batch results = %v; want b0, b1 stored and the rest refused with a message", res.Results)
	}
	check(t, "SendMessage after the batch took the tokens", sendAs(1, "m"), codes.ResourceExhausted, limited)

	clock.advance(time.Hour) // full again: the burst, not more
	for i := range 3 {
		check(t, fmt.Sprintf("SendMessage #%d after an hour", i+1), sendAs(1, "m"), codes.OK, "")
	}
	check(t, "SendMessage beyond the burst after an hour", sendAs(1, "m"), codes.ResourceExhausted, limited)
}

func TestBannedPatterns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "banned.txt")
	if err := os.WriteFile(file, []byte("# spam\n\n(?i)buy\\s+cheap  \n  \\bscam\\b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, chat.Config{BannedPatterns: []string{`bad[0-9]+`}, BannedPatternsFile: file})
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1)
	for _, tt := range []struct {
		content string
		ok      bool
	}{
		{"hello", true},
		{"this is bad42", false},
		{"bad news", true},
		{"BUY   cheap watches", false},
		{"a scam!", false},
		{"scampi", true},
		{"# spam", true}, // comments are not patterns
	} {
		_, err := s.chat.SendMessage(callCtx(t), &chatv1.SendMessageRequest{RoomId: 1, UserId: 1, Content: tt.content, MessageType: chatv1.MessageType_MESSAGE_TYPE_TEXT})
		if tt.ok {
			check(t, fmt.Sprintf("SendMessage(%q)", tt.content), err, codes.OK, "")
		} else {
			check(t, fmt.Sprintf("SendMessage(%q)", tt.content), err, codes.InvalidArgument, "ERROR_REASON_INVALID_MESSAGE")
		}
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(badFile, []byte("ok\n(unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  chat.Config
	}{
		{"bad pattern", chat.Config{BannedPatterns: []string{"a(b"}}},
		{"bad pattern in the file", chat.Config{BannedPatternsFile: badFile}},
		{"missing patterns file", chat.Config{BannedPatternsFile: filepath.Join(dir, "none.txt")}},
		{"negative rate", chat.Config{RateLimit: -1}},
		{"negative burst", chat.Config{RateBurst: -1}},
		{"negative retention", chat.Config{RetentionMessages: -1}},
		{"negative retention age", chat.Config{RetentionAge: -time.Second}},
		{"negative dedup window", chat.Config{DedupWindow: -time.Second}},
	} {
		tt.cfg.DataDir = dir
		tt.cfg.Addr = "127.0.0.1:0"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := chat.Run(ctx, tt.cfg)
		served := ctx.Err() != nil // Run returned only when the timeout ended it
		cancel()
		if err == nil || served {
			t.Errorf("Run with a %s = %v, want a config error", tt.name, err)
		}
	}
}

// TestRetention runs the periodic compaction with the service's clock:
// rooms keep their own count or the service's, and lose what is too old.
func TestRetention(t *testing.T) {
	clock := newFakeClock()
	s := start(t, chat.Config{Now: clock.now, RetentionMessages: 4, RetentionAge: time.Hour, CompactInterval: 10 * time.Millisecond})
	ctx := callCtx(t)
	for _, req := range []*chatv1.CreateRoomRequest{
		{Id: 1, Name: "defaults"},
		{Id: 2, Name: "own count", RetentionMessages: 2},
		{Id: 3, Name: "own age", RetentionSeconds: 7200, RetentionMessages: 100},
	} {
		res, err := s.admin.CreateRoom(ctx, req)
		if err != nil || res.Room.RetentionMessages != req.RetentionMessages || res.Room.RetentionSeconds != req.RetentionSeconds {
			t.Fatalf("CreateRoom(%v) = %v, %v; want its retention stored", req, res, err)
		}
		s.join(t, req.Id, 1)
		for i := range 6 {
			s.send(t, req.Id, 1, fmt.Sprint(i+1))
		}
	}
	if got, err := s.admin.GetRoom(ctx, &chatv1.GetRoomRequest{Id: 2}); err != nil || got.Room.RetentionMessages != 2 {
		t.Errorf("GetRoom(2) = %v, %v; want retention_messages 2", got, err)
	}
	kept := func(room int64) string {
		res, err := s.admin.ListRoomMessages(ctx, &chatv1.ListRoomMessagesRequest{RoomId: room})
		if err != nil {
			t.Fatalf("ListRoomMessages(%d) = %v", room, err)
		}
		ids := make([]int64, len(res.Messages))
		for i, m := range res.Messages {
			ids[i] = m.Id
		}
		return fmt.Sprint(ids)
	}
	// waitFor polls: the compaction runs on a real 10 ms ticker.
	waitFor := func(want map[int64]string) {
		t.Helper()
		for i := 0; ; i++ {
			ok := true
			for room, w := range want {
				ok = ok && kept(room) == w
			}
			if ok {
				return
			}
			if i == 500 {
				for room, w := range want {
					t.Errorf("room %d keeps %s, want %s", room, kept(room), w)
				}
				t.FailNow()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(map[int64]string{1: "[3 4 5 6]", 2: "[5 6]", 3: "[1 2 3 4 5 6]"})
	clock.advance(90 * time.Minute) // older than the default hour, not room 3's two
	s.send(t, 3, 1, "7")
	waitFor(map[int64]string{1: "[]", 2: "[]", 3: "[1 2 3 4 5 6 7]"})
	if m := s.send(t, 1, 1, "next"); m.Id != 7 {
		t.Errorf("message after compaction has id %d, want 7 (ids are never reused)", m.Id)
	}
	clock.advance(time.Hour) // 150 min: room 3's first six are older than 2 h
	waitFor(map[int64]string{1: "[7]", 3: "[7]"})
}

func TestListRoomPeers(t *testing.T) {
	s := start(t, chat.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.createRoom(t, 1, 0, false)
	s.createRoom(t, 2, 0, false)
	s.createRoom(t, 3, 0, false)
	for _, m := range [][2]int64{{1, 10}, {1, 11}, {1, 12}, {2, 10}, {2, 12}, {2, 13}, {3, 14}} {
		s.join(t, m[0], m[1])
	}
	for _, tt := range []struct {
		user int64
		want []int64
	}{
		{10, []int64{11, 12, 13}}, // 12 shares two rooms: listed once
		{14, nil},                 // alone in room 3
		{99, nil},                 // in no room
	} {
		res, err := s.chat.ListRoomPeers(ctx, &chatv1.ListRoomPeersRequest{UserId: tt.user})
		if err != nil || !slices.Equal(res.GetUserIds(), tt.want) {
			t.Errorf("ListRoomPeers(%d) = %v, %v; want %v", tt.user, res.GetUserIds(), err, tt.want)
		}
	}
	if _, err := s.chat.ListRoomPeers(ctx, &chatv1.ListRoomPeersRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListRoomPeers(user 0) = %v, want InvalidArgument", err)
	}
}
