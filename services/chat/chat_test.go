package chat_test

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/protobuf/proto"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/services/chat"
)

// service is one Run of the chat service on a loopback listener.
type service struct {
	chat   chatv1.ChatServiceClient
	admin  chatv1.ChatAdminServiceClient
	cancel context.CancelFunc
	done   chan error
}

// start runs the service with cfg (DataDir defaults to a fresh temp dir)
// and stops it at the end of the test.
func start(t *testing.T, cfg chat.Config, dialOpts ...grpc.DialOption) *service {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg.Listener = lis
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- chat.Run(ctx, cfg) }()
	conn, err := grpc.NewClient(lis.Addr().String(), append(dialOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	s.chat = chatv1.NewChatServiceClient(conn)
	s.admin = chatv1.NewChatAdminServiceClient(conn)
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels Run and checks that it returns nil. It is idempotent.
func (s *service) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("Run did not return 15 s after cancel")
	}
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (s *service) createRoom(t *testing.T, id int64, maxMembers int32, inviteOnly bool) {
	t.Helper()
	if _, err := s.admin.CreateRoom(callCtx(t), &chatv1.CreateRoomRequest{Id: id, Name: fmt.Sprint("room ", id), MaxMembers: maxMembers, InviteOnly: inviteOnly}); err != nil {
		t.Fatalf("CreateRoom(%d) = %v", id, err)
	}
}

func (s *service) join(t *testing.T, room, user int64) *chatv1.JoinRoomResponse {
	t.Helper()
	res, err := s.chat.JoinRoom(callCtx(t), &chatv1.JoinRoomRequest{RoomId: room, UserId: user, Nickname: fmt.Sprint("user", user), Origin: origin(user)})
	if err != nil {
		t.Fatalf("JoinRoom(room %d, user %d) = %v", room, user, err)
	}
	return res
}

func (s *service) send(t *testing.T, room, user int64, content string) *chatv1.Message {
	t.Helper()
	res, err := s.chat.SendMessage(callCtx(t), &chatv1.SendMessageRequest{RoomId: room, UserId: user, Content: content, MessageType: chatv1.MessageType_MESSAGE_TYPE_TEXT, Origin: origin(user)})
	if err != nil {
		t.Fatalf("SendMessage(room %d, user %d, %q) = %v", room, user, content, err)
	}
	return res.Message
}

func origin(user int64) *chatv1.Origin {
	return &chatv1.Origin{EdgeId: "edge-a", SessionId: fmt.Sprint("session-", user)}
}

// refusal returns the status code and ErrorInfo reason of err.
func refusal(t *testing.T, err error) (codes.Code, string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		return codes.Unknown, ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.Domain != "chat.switchboard.dev" {
				t.Errorf("ErrorInfo domain = %q, want chat.switchboard.dev", info.Domain)
			}
			return st.Code(), info.Reason
		}
	}
	return st.Code(), ""
}

func TestRefusals(t *testing.T) {
	s := start(t, chat.Config{DefaultMaxMembers: 2, MaxContentChars: 10})
	s.createRoom(t, 1, 0, false) // default limit 2
	s.createRoom(t, 2, 0, true)  // invite-only
	s.createRoom(t, 3, 1, false) // own limit 1
	s.join(t, 1, 1)
	s.join(t, 1, 2)
	s.join(t, 3, 1)

	text := chatv1.MessageType_MESSAGE_TYPE_TEXT
	sendReq := func(room, user int64, content string, typ chatv1.MessageType) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := s.chat.SendMessage(ctx, &chatv1.SendMessageRequest{RoomId: room, UserId: user, Content: content, MessageType: typ})
			return err
		}
	}
	joinReq := func(room, user int64) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := s.chat.JoinRoom(ctx, &chatv1.JoinRoomRequest{RoomId: room, UserId: user})
			return err
		}
	}
	listReq := func(req *chatv1.ListMessagesRequest) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := s.chat.ListMessages(ctx, req)
			return err
		}
	}
	const (
		notFound   = "ERROR_REASON_ROOM_NOT_FOUND"
		notMember  = "ERROR_REASON_NOT_MEMBER"
		notInvited = "ERROR_REASON_NOT_INVITED"
		full       = "ERROR_REASON_ROOM_FULL"
		exists     = "ERROR_REASON_ROOM_EXISTS"
		invalid    = "ERROR_REASON_INVALID_MESSAGE"
	)
	tests := []struct {
		name   string
		call   func(context.Context) error
		code   codes.Code
		reason string
	}{
		{"JoinRoom unknown room", joinReq(9, 1), codes.NotFound, notFound},
		{"LeaveRoom unknown room", func(ctx context.Context) error {
			_, err := s.chat.LeaveRoom(ctx, &chatv1.LeaveRoomRequest{RoomId: 9, UserId: 1})
			return err
		}, codes.NotFound, notFound},
		{"SendMessage unknown room", sendReq(9, 1, "hi", text), codes.NotFound, notFound},
		{"ListMessages unknown room", listReq(&chatv1.ListMessagesRequest{RoomId: 9, UserId: 1}), codes.NotFound, notFound},
		{"GetRoom unknown room", func(ctx context.Context) error {
			_, err := s.admin.GetRoom(ctx, &chatv1.GetRoomRequest{Id: 9})
			return err
		}, codes.NotFound, notFound},
		{"InviteMember unknown room", func(ctx context.Context) error {
			_, err := s.admin.InviteMember(ctx, &chatv1.InviteMemberRequest{RoomId: 9, UserId: 1})
			return err
		}, codes.NotFound, notFound},
		{"JoinRoom invite-only uninvited", joinReq(2, 1), codes.PermissionDenied, notInvited},
		{"JoinRoom at default limit", joinReq(1, 3), codes.ResourceExhausted, full},
		{"JoinRoom at own limit", joinReq(3, 2), codes.ResourceExhausted, full},
		{"JoinRoom full room as member", joinReq(1, 2), codes.OK, ""},
		{"SendMessage non-member", sendReq(1, 3, "hi", text), codes.PermissionDenied, notMember},
		{"ListMessages non-member", listReq(&chatv1.ListMessagesRequest{RoomId: 1, UserId: 3}), codes.PermissionDenied, notMember},
		{"CreateRoom taken id", func(ctx context.Context) error {
			_, err := s.admin.CreateRoom(ctx, &chatv1.CreateRoomRequest{Id: 1, Name: "again"})
			return err
		}, codes.AlreadyExists, exists},
		{"SendMessage empty", sendReq(1, 1, "", text), codes.InvalidArgument, invalid},
		{"SendMessage at MaxContentChars runes", sendReq(1, 1, strings.Repeat("é", 10), text), codes.OK, ""},
		{"SendMessage over MaxContentChars runes", sendReq(1, 1, strings.Repeat("é", 11), text), codes.InvalidArgument, invalid},
		{"SendMessage control character", sendReq(1, 1, "a\x07b", text), codes.InvalidArgument, invalid},
		{"SendMessage newline and tab", sendReq(1, 1, "a\n\tb", text), codes.OK, ""},
		{"SendMessage type unspecified", sendReq(1, 1, "hi", chatv1.MessageType_MESSAGE_TYPE_UNSPECIFIED), codes.InvalidArgument, invalid},
		{"SendMessage type system", sendReq(1, 1, "hi", chatv1.MessageType_MESSAGE_TYPE_SYSTEM), codes.InvalidArgument, invalid},
		{"SendMessage type unknown", sendReq(1, 1, "hi", chatv1.MessageType(42)), codes.InvalidArgument, invalid},
		{"SendMessage image not https", sendReq(1, 1, "http://x/a", chatv1.MessageType_MESSAGE_TYPE_IMAGE), codes.InvalidArgument, invalid},
		{"SendMessage image https", sendReq(1, 1, "https://x/", chatv1.MessageType_MESSAGE_TYPE_IMAGE), codes.OK, ""},
		{"SendMessage emoji", sendReq(1, 1, "🙂", chatv1.MessageType_MESSAGE_TYPE_EMOJI), codes.OK, ""},
		{"SendMessage room 0", sendReq(0, 1, "hi", text), codes.InvalidArgument, ""},
		{"SendMessage user -1", sendReq(1, -1, "hi", text), codes.InvalidArgument, ""},
		{"JoinRoom user 0", joinReq(1, 0), codes.InvalidArgument, ""},
		{"ListMessages negative limit", listReq(&chatv1.ListMessagesRequest{RoomId: 1, UserId: 1, Limit: -1}), codes.InvalidArgument, ""},
		{"ListMessages negative after_id", listReq(&chatv1.ListMessagesRequest{RoomId: 1, UserId: 1, AfterId: proto.Int64(-1)}), codes.InvalidArgument, ""},
		{"ListUserRooms user 0", func(ctx context.Context) error {
			_, err := s.chat.ListUserRooms(ctx, &chatv1.ListUserRoomsRequest{})
			return err
		}, codes.InvalidArgument, ""},
		{"CreateRoom id 0", func(ctx context.Context) error {
			_, err := s.admin.CreateRoom(ctx, &chatv1.CreateRoomRequest{Name: "zero"})
			return err
		}, codes.InvalidArgument, ""},
		{"CreateRoom negative max_members", func(ctx context.Context) error {
			_, err := s.admin.CreateRoom(ctx, &chatv1.CreateRoomRequest{Id: 5, MaxMembers: -1})
			return err
		}, codes.InvalidArgument, ""},
		{"GetRoom id 0", func(ctx context.Context) error {
			_, err := s.admin.GetRoom(ctx, &chatv1.GetRoomRequest{})
			return err
		}, codes.InvalidArgument, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(callCtx(t))
			code, reason := refusal(t, err)
			if err == nil {
				code = codes.OK
			}
			if code != tt.code || reason != tt.reason {
				t.Errorf("%s: code %v, reason %q (err %v); want %v, %q", tt.name, code, reason, err, tt.code, tt.reason)
			}
			if st, _ := status.FromError(err); tt.code == codes.InvalidArgument && strings.Contains(st.Message(), "store") {
				t.Errorf("%s: status message %q leaks internals", tt.name, st.Message())
			}
		})
	}
}

// subscribe opens a stream after *after (nil: at the head) and returns it
// with its first response.
func subscribe(t *testing.T, ctx context.Context, c chatv1.ChatServiceClient, after *uint64) (chatv1.ChatService_SubscribeClient, *chatv1.SubscribeResponse) {
	t.Helper()
	stream, err := c.Subscribe(ctx, &chatv1.SubscribeRequest{EdgeId: "edge-a", AfterSeq: after})
	if err != nil {
		t.Fatalf("Subscribe(after %v) = %v", after, err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("Subscribe(after %v): first Recv = %v", after, err)
	}
	return stream, first
}

// collect receives until it holds n events (those in have counts), checking
// that seqs are consecutive.
func collect(t *testing.T, stream chatv1.ChatService_SubscribeClient, have []*chatv1.Event, n int) []*chatv1.Event {
	t.Helper()
	for i := 0; len(have) < n; i++ {
		if i == n+10 {
			t.Fatalf("collect: %d responses gave %d of %d events", i, len(have), n)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatalf("collect: Recv after %d of %d events = %v", len(have), n, err)
		}
		have = append(have, res.Events...)
	}
	for i := 1; i < len(have); i++ {
		if have[i].Seq != have[i-1].Seq+1 {
			t.Fatalf("event %d has seq %d after %d, want consecutive", i, have[i].Seq, have[i-1].Seq)
		}
	}
	if len(have) != n {
		t.Fatalf("collect: got %d events, want %d", len(have), n)
	}
	return have
}

func TestJoinLeaveEvents(t *testing.T) {
	s := start(t, chat.Config{})
	s.createRoom(t, 1, 0, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, first := subscribe(t, ctx, s.chat, nil)
	if first.HeadSeq != 0 || len(first.Events) != 0 || first.Truncated {
		t.Fatalf("first response on an empty log = %v, want head 0, no events", first)
	}

	s.join(t, 1, 1)
	res := s.join(t, 1, 2)
	if !res.Joined || res.Room.GetMemberCount() != 2 || len(res.Members) != 2 || res.Members[1].Nickname != "user2" || res.Members[1].JoinedAt == nil {
		t.Errorf("JoinRoom(1, 2) = %v; want joined, 2 members with user2's nickname and join time", res)
	}
	if again := s.join(t, 1, 2); again.Joined || len(again.Members) != 2 {
		t.Errorf("JoinRoom(1, 2) again = %v; want joined=false, 2 members", again)
	}
	leave := func(user int64) *chatv1.LeaveRoomResponse {
		res, err := s.chat.LeaveRoom(callCtx(t), &chatv1.LeaveRoomRequest{RoomId: 1, UserId: user, Origin: origin(user)})
		if err != nil {
			t.Fatalf("LeaveRoom(1, %d) = %v", user, err)
		}
		return res
	}
	if res := leave(2); !res.Left || res.MemberCount != 1 {
		t.Errorf("LeaveRoom(1, 2) = %v; want left, 1 member", res)
	}
	if res := leave(2); res.Left || res.MemberCount != 1 {
		t.Errorf("LeaveRoom(1, 2) again = %v; want left=false, 1 member", res)
	}
	s.send(t, 1, 1, "after")

	// Joins of 1 and 2, the leave of 2, the message: the second join and
	// the second leave published nothing.
	evs := collect(t, stream, nil, 4)
	if j := evs[1].GetMemberJoined(); j == nil || j.UserId != 2 || j.Nickname != "user2" || j.MemberCount != 2 || j.Origin.GetSessionId() != "session-2" {
		t.Errorf("event 2 = %v, want MemberJoined of user 2, count 2, origin session-2", evs[1])
	}
	if l := evs[2].GetMemberLeft(); l == nil || l.UserId != 2 || l.Nickname != "user2" || l.MemberCount != 1 || l.Origin.GetSessionId() != "session-2" {
		t.Errorf("event 3 = %v, want MemberLeft of user 2, count 1, origin session-2", evs[2])
	}
	if m := evs[3].GetMessagePosted(); m == nil || m.Message.GetContent() != "after" || evs[3].RoomId != 1 {
		t.Errorf("event 4 = %v, want the message", evs[3])
	}

	room, err := s.admin.GetRoom(callCtx(t), &chatv1.GetRoomRequest{Id: 1})
	if err != nil || room.Room.MemberCount != 1 || room.Room.Name != "room 1" || room.Room.CreatedAt == nil {
		t.Errorf("GetRoom(1) = %v, %v; want room 1 with 1 member", room, err)
	}
}

func TestInviteOnly(t *testing.T) {
	s := start(t, chat.Config{})
	s.createRoom(t, 1, 0, true)
	ctx := callCtx(t)
	if _, err := s.chat.JoinRoom(ctx, &chatv1.JoinRoomRequest{RoomId: 1, UserId: 5}); err == nil {
		t.Fatal("JoinRoom before the invite succeeded")
	}
	if _, err := s.admin.InviteMember(ctx, &chatv1.InviteMemberRequest{RoomId: 1, UserId: 5}); err != nil {
		t.Fatalf("InviteMember(1, 5) = %v", err)
	}
	if res := s.join(t, 1, 5); !res.Joined {
		t.Errorf("JoinRoom after the invite = %v, want joined", res)
	}
	if _, err := s.chat.JoinRoom(ctx, &chatv1.JoinRoomRequest{RoomId: 1, UserId: 6}); err == nil {
		t.Error("JoinRoom of another uninvited user succeeded")
	}
}

func TestListMessagesAndUserRooms(t *testing.T) {
	s := start(t, chat.Config{})
	s.createRoom(t, 1, 0, false)
	s.createRoom(t, 2, 0, false)
	s.createRoom(t, 3, 0, false)
	s.join(t, 1, 1)
	s.join(t, 3, 1)
	s.join(t, 2, 2)
	for i := range 250 {
		s.send(t, 1, 1, fmt.Sprint(i+1))
	}
	tests := []struct {
		after, before int64
		limit         int32
		first, last   int64
		more          bool
	}{
		{0, 0, 0, 151, 250, true},   // newest, default limit 100
		{0, 0, 500, 151, 250, true}, // limit capped at 100
		{0, 151, 0, 51, 150, true},  // older page
		{0, 51, 0, 1, 50, false},    // oldest page
		{0, 0, 10, 241, 250, true},  // newest 10
		{100, 0, 0, 101, 200, true}, // forward
		{200, 0, 0, 201, 250, false},
		{0, 0, 250, 151, 250, true},
	}
	for _, tt := range tests {
		req := &chatv1.ListMessagesRequest{RoomId: 1, UserId: 1, BeforeId: tt.before, Limit: tt.limit}
		if tt.after != 0 {
			req.AfterId = proto.Int64(tt.after)
		}
		res, err := s.chat.ListMessages(callCtx(t), req)
		if err != nil {
			t.Fatalf("ListMessages(%v) = %v", req, err)
		}
		n := len(res.Messages)
		if n == 0 || res.Messages[0].Id != tt.first || res.Messages[n-1].Id != tt.last || int64(n) != tt.last-tt.first+1 || res.HasMore != tt.more {
			t.Errorf("ListMessages(%v) = %d messages, has_more %v; want %d..%d, has_more %v", req, n, res.HasMore, tt.first, tt.last, tt.more)
		}
	}

	for user, want := range map[int64]string{1: "[1 3]", 2: "[2]", 3: "[]"} {
		res, err := s.chat.ListUserRooms(callCtx(t), &chatv1.ListUserRoomsRequest{UserId: user})
		if err != nil || fmt.Sprint(res.GetRoomIds()) != want {
			t.Errorf("ListUserRooms(%d) = %v, %v; want %s", user, res.GetRoomIds(), err, want)
		}
	}
}

// TestSubscribeResume reads events with their origins, cancels the stream,
// misses some events, and resumes with the last seq it saw.
func TestSubscribeResume(t *testing.T) {
	s := start(t, chat.Config{})
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1) // seq 1

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	stream, first := subscribe(t, ctx, s.chat, nil)
	if first.HeadSeq != 1 || len(first.Events) != 0 {
		t.Fatalf("first response = %v, want head 1 and no events (start at the head)", first)
	}
	for i := range 5 {
		s.send(t, 1, 1, fmt.Sprint("live ", i))
	}
	evs := collect(t, stream, nil, 5)
	for i, e := range evs {
		m := e.GetMessagePosted()
		if e.Seq != uint64(i)+2 || m.GetMessage().GetContent() != fmt.Sprint("live ", i) || m.GetOrigin().GetEdgeId() != "edge-a" || m.GetOrigin().GetSessionId() != "session-1" {
			t.Errorf("live event %d = %v, want seq %d, content %q, origin edge-a/session-1", i, e, i+2, fmt.Sprint("live ", i))
		}
	}
	cancel()
	last := evs[len(evs)-1].Seq

	for i := range 7 {
		s.send(t, 1, 1, fmt.Sprint("missed ", i))
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, first = subscribe(t, ctx, s.chat, &last)
	if first.HeadSeq != last+7 || first.Truncated {
		t.Errorf("resume first response: head %d, truncated %v; want %d, false", first.HeadSeq, first.Truncated, last+7)
	}
	evs = collect(t, stream, first.Events, 7)
	for i, e := range evs {
		if e.Seq != last+uint64(i)+1 || e.GetMessagePosted().GetMessage().GetContent() != fmt.Sprint("missed ", i) {
			t.Errorf("resumed event %d = %v, want seq %d, %q", i, e, last+uint64(i)+1, fmt.Sprint("missed ", i))
		}
	}
	s.send(t, 1, 1, "then live")
	evs = collect(t, stream, nil, 1)
	if evs[0].Seq != last+8 {
		t.Errorf("live event after resume has seq %d, want %d", evs[0].Seq, last+8)
	}
}

// TestRestartResume restarts the whole service on the same data dir: an
// edge resuming with its last seq gets every acknowledged message.
func TestRestartResume(t *testing.T) {
	dir := t.TempDir()
	s := start(t, chat.Config{DataDir: dir})
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, _ := subscribe(t, ctx, s.chat, nil)
	s.send(t, 1, 1, "seen")
	last := collect(t, stream, nil, 1)[0].Seq

	var acked []string
	for i := range 10 {
		acked = append(acked, s.send(t, 1, 1, fmt.Sprint("acked ", i)).Content)
	}
	s.stop(t)
	// The stream ends with the shutdown.
	for i := 0; ; i++ {
		if _, err := stream.Recv(); err != nil {
			if code := status.Code(err); code != codes.Unavailable {
				t.Errorf("stream at shutdown ended with %v, want Unavailable", err)
			}
			break
		}
		if i == 20 {
			t.Fatal("stream still open after shutdown")
		}
	}

	s = start(t, chat.Config{DataDir: dir})
	acked = append(acked, s.send(t, 1, 1, "after restart").Content)
	stream, first := subscribe(t, ctx, s.chat, &last)
	evs := collect(t, stream, first.Events, len(acked))
	for i, e := range evs {
		if got := e.GetMessagePosted().GetMessage().GetContent(); got != acked[i] {
			t.Errorf("resumed event %d (seq %d) = %q, want %q", i, e.Seq, got, acked[i])
		}
	}
	if m := evs[len(evs)-1].GetMessagePosted().GetMessage(); m.GetId() != 12 {
		t.Errorf("message id after restart = %d, want 12 (ids continue)", m.GetId())
	}
}

func TestSubscribeTruncated(t *testing.T) {
	s := start(t, chat.Config{EventRetention: 5})
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1)
	for i := range 19 {
		s.send(t, 1, 1, fmt.Sprint(i))
	}
	// head 20; the log keeps 16..20.
	tests := []struct {
		after     uint64
		truncated bool
		firstSeq  uint64
	}{
		{0, true, 16}, // set and 0: from the oldest retained
		{1, true, 16},
		{14, true, 16},
		{15, false, 16},
		{18, false, 19},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stream, first := subscribe(t, ctx, s.chat, &tt.after)
		evs := collect(t, stream, first.Events, int(21-tt.firstSeq))
		if first.HeadSeq != 20 || first.Truncated != tt.truncated || evs[0].Seq != tt.firstSeq {
			t.Errorf("Subscribe(after %d): head %d, truncated %v, first seq %d; want 20, %v, %d", tt.after, first.HeadSeq, first.Truncated, evs[0].Seq, tt.truncated, tt.firstSeq)
		}
		cancel()
	}
}

// TestSlowSubscriberCut subscribes with a client that stops reading: sends
// go on, and the stream ends with ResourceExhausted.
func TestSlowSubscriberCut(t *testing.T) {
	// A fixed 64 KiB window (no BDP growth) so that the server's sends block soon.
	s := start(t, chat.Config{SubscriberBuffer: 16}, grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, _ := subscribe(t, ctx, s.chat, nil)

	big := strings.Repeat("x", 4000)
	for range 200 { // ~800 KB: far more than the window and the buffer
		s.send(t, 1, 1, big)
	}
	var got int
	for i := 0; ; i++ {
		res, err := stream.Recv()
		if err != nil {
			if code := status.Code(err); code != codes.ResourceExhausted {
				t.Errorf("slow stream ended with %v, want ResourceExhausted", err)
			}
			break
		}
		got += len(res.Events)
		if i == 500 {
			t.Fatal("slow stream was not cut")
		}
	}
	if got >= 200 {
		t.Errorf("slow stream delivered all %d events, want it cut before", got)
	}
	// The service is fine and the edge can resume.
	s.send(t, 1, 1, "after")
}

func TestRunNeedsDataDir(t *testing.T) {
	err := chat.Run(context.Background(), chat.Config{})
	if err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Run without DataDir = %v, want an error", err)
	}
}

// TestClientMsgID sends a message again under its client_msg_id, through
// every send RPC: it is stored and published once, and each retry is
// answered with it, marked duplicate.
func TestClientMsgID(t *testing.T) {
	s := start(t, chat.Config{})
	s.createRoom(t, 1, 0, false)
	s.join(t, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, _ := subscribe(t, ctx, s.chat, nil)

	req := func(content, id string) *chatv1.SendMessageRequest {
		return &chatv1.SendMessageRequest{RoomId: 1, UserId: 1, Content: content, MessageType: chatv1.MessageType_MESSAGE_TYPE_TEXT, Origin: origin(1), ClientMsgId: id}
	}
	first, err := s.chat.SendMessage(callCtx(t), req("once", "c-1"))
	if err != nil || first.GetDuplicate() || first.GetMessage().GetClientMsgId() != "c-1" {
		t.Fatalf("SendMessage = %v, %v; want stored with client_msg_id c-1", first, err)
	}
	again, err := s.chat.SendMessage(callCtx(t), req("once more", "c-1"))
	if err != nil || !again.GetDuplicate() || again.GetMessage().GetId() != first.GetMessage().GetId() || again.GetMessage().GetContent() != "once" {
		t.Errorf("SendMessage again = %v, %v; want the first message, duplicate", again, err)
	}
	batch, err := s.chat.SendMessageBatch(callCtx(t), &chatv1.SendMessageBatchRequest{Items: []*chatv1.SendMessageRequest{req("x", "c-1"), req("two", "c-2")}})
	if err != nil || !batch.GetResults()[0].GetDuplicate() || batch.GetResults()[1].GetDuplicate() || batch.GetResults()[1].GetMessage().GetId() != 2 {
		t.Errorf("SendMessageBatch = %v, %v; want c-1 a duplicate, c-2 stored as 2", batch, err)
	}
	sm, err := s.chat.SendMessages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Send(&chatv1.SendMessagesRequest{Id: 1, Items: []*chatv1.SendMessageRequest{req("y", "c-2"), req("three", "c-3")}}); err != nil {
		t.Fatal(err)
	}
	resp, err := sm.Recv()
	if err != nil || !resp.GetResults()[0].GetDuplicate() || resp.GetResults()[0].GetMessage().GetId() != 2 || resp.GetResults()[1].GetMessage().GetId() != 3 {
		t.Errorf("SendMessages = %v, %v; want c-2 a duplicate of 2, c-3 stored as 3", resp, err)
	}
	sm.CloseSend()
	// Three messages, three events: none for the duplicates.
	evs := collect(t, stream, nil, 3)
	for i, e := range evs {
		if got := e.GetMessagePosted().GetMessage().GetClientMsgId(); got != fmt.Sprint("c-", i+1) {
			t.Errorf("event %d is of client_msg_id %q, want c-%d", i, got, i+1)
		}
	}
	s.send(t, 1, 1, "plain")
	if evs := collect(t, stream, nil, 1); evs[0].GetMessagePosted().GetMessage().GetId() != 4 {
		t.Errorf("next event = %v, want message 4 (no event between)", evs[0])
	}

	_, err = s.chat.SendMessage(callCtx(t), req("long id", strings.Repeat("x", 65)))
	if code, reason := refusal(t, err); code != codes.InvalidArgument || reason != "ERROR_REASON_INVALID_MESSAGE" {
		t.Errorf("client_msg_id of 65 bytes: %v (%v, %q); want InvalidArgument, ERROR_REASON_INVALID_MESSAGE", err, code, reason)
	}
}
