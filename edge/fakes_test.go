package edge_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// refusal is a status carrying an ErrorInfo reason, like the real services.
func refusal(c codes.Code, reason string) error {
	st, err := status.New(c, "secret internal detail").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "test"})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// fakeAuth accepts "tok-<id>" (valid 1 h) and "short-<id>" (valid 500 ms)
// for user <id>, refuses "expired" and "revoked" with their reasons, and
// everything else as an invalid token.
type fakeAuth struct {
	authv1.UnimplementedAuthServiceServer
}

func (fakeAuth) VerifyToken(_ context.Context, req *authv1.VerifyTokenRequest) (*authv1.VerifyTokenResponse, error) {
	tok := req.GetToken()
	switch {
	case tok == "expired":
		return nil, refusal(codes.Unauthenticated, authv1.ErrorReason_ERROR_REASON_TOKEN_EXPIRED.String())
	case tok == "revoked":
		return nil, refusal(codes.Unauthenticated, authv1.ErrorReason_ERROR_REASON_TOKEN_REVOKED.String())
	}
	for prefix, ttl := range map[string]time.Duration{"tok-": time.Hour, "short-": 500 * time.Millisecond} {
		if id, err := strconv.ParseInt(strings.TrimPrefix(tok, prefix), 10, 64); strings.HasPrefix(tok, prefix) && err == nil {
			return &authv1.VerifyTokenResponse{
				UserId:    id,
				Nickname:  fmt.Sprintf("nick%d", id),
				ExpiresAt: timestamppb.New(time.Now().Add(ttl)),
			}, nil
		}
	}
	return nil, refusal(codes.Unauthenticated, authv1.ErrorReason_ERROR_REASON_INVALID_TOKEN.String())
}

type fakeRoom struct {
	inviteOnly bool
	max        int
	members    map[int64]string
	messages   []*chatv1.Message
}

// fakeChat is an in-memory chat service with an event log, like the real one
// but without persistence.
type fakeChat struct {
	chatv1.UnimplementedChatServiceServer

	mu        sync.Mutex
	rooms     map[int64]*fakeRoom
	log       []*chatv1.Event
	notify    chan struct{} // closed and replaced on every publish
	brk       chan struct{} // closed and replaced to break the open streams
	afterSeqs []uint64      // the after_seq of every Subscribe
	afterSet  []bool        // whether each Subscribe set after_seq
	streams   int           // open streams
}

func newFakeChat() *fakeChat {
	return &fakeChat{rooms: make(map[int64]*fakeRoom), notify: make(chan struct{}), brk: make(chan struct{})}
}

func (f *fakeChat) addRoom(id int64, inviteOnly bool, max int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms[id] = &fakeRoom{inviteOnly: inviteOnly, max: max, members: make(map[int64]string)}
}

// publish appends ev to the log and wakes the streams; f.mu is held.
func (f *fakeChat) publishLocked(ev *chatv1.Event) {
	ev.Seq = uint64(len(f.log) + 1)
	f.log = append(f.log, ev)
	close(f.notify)
	f.notify = make(chan struct{})
}

func (f *fakeChat) publish(ev *chatv1.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publishLocked(ev)
}

func (f *fakeChat) breakStreams() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.brk)
	f.brk = make(chan struct{})
}

func (f *fakeChat) subscriptions() ([]uint64, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.afterSeqs...), f.streams
}

func (f *fakeChat) head() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(len(f.log))
}

func (f *fakeChat) room(id int64) (*fakeRoom, error) {
	r := f.rooms[id]
	if r == nil {
		return nil, refusal(codes.NotFound, chatv1.ErrorReason_ERROR_REASON_ROOM_NOT_FOUND.String())
	}
	return r, nil
}

func (f *fakeChat) JoinRoom(_ context.Context, req *chatv1.JoinRoomRequest) (*chatv1.JoinRoomResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.room(req.GetRoomId())
	if err != nil {
		return nil, err
	}
	_, member := r.members[req.GetUserId()]
	switch {
	case member:
	case r.inviteOnly:
		return nil, refusal(codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_INVITED.String())
	case r.max > 0 && len(r.members) >= r.max:
		return nil, refusal(codes.FailedPrecondition, chatv1.ErrorReason_ERROR_REASON_ROOM_FULL.String())
	default:
		r.members[req.GetUserId()] = req.GetNickname()
		f.publishLocked(&chatv1.Event{RoomId: req.GetRoomId(), Payload: &chatv1.Event_MemberJoined{MemberJoined: &chatv1.MemberJoined{
			UserId: req.GetUserId(), Nickname: req.GetNickname(), MemberCount: int32(len(r.members)), Origin: req.GetOrigin(),
		}}})
	}
	resp := &chatv1.JoinRoomResponse{Room: &chatv1.Room{Id: req.GetRoomId(), MemberCount: int32(len(r.members))}, Joined: !member}
	for id, nick := range r.members {
		resp.Members = append(resp.Members, &chatv1.Member{UserId: id, Nickname: nick})
	}
	return resp, nil
}

func (f *fakeChat) LeaveRoom(_ context.Context, req *chatv1.LeaveRoomRequest) (*chatv1.LeaveRoomResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.room(req.GetRoomId())
	if err != nil {
		return nil, err
	}
	nick, member := r.members[req.GetUserId()]
	if !member {
		return &chatv1.LeaveRoomResponse{MemberCount: int32(len(r.members))}, nil
	}
	delete(r.members, req.GetUserId())
	f.publishLocked(&chatv1.Event{RoomId: req.GetRoomId(), Payload: &chatv1.Event_MemberLeft{MemberLeft: &chatv1.MemberLeft{
		UserId: req.GetUserId(), Nickname: nick, MemberCount: int32(len(r.members)), Origin: req.GetOrigin(),
	}}})
	return &chatv1.LeaveRoomResponse{Left: true, MemberCount: int32(len(r.members))}, nil
}

// SendMessage refuses content "rate" (RESOURCE_EXHAUSTED without a reason)
// and "internal" (an INTERNAL status) besides the real refusals.
func (f *fakeChat) SendMessage(_ context.Context, req *chatv1.SendMessageRequest) (*chatv1.SendMessageResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.room(req.GetRoomId())
	if err != nil {
		return nil, err
	}
	_, member := r.members[req.GetUserId()]
	switch {
	case !member:
		return nil, refusal(codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER.String())
	case req.GetMessageType() == chatv1.MessageType_MESSAGE_TYPE_SYSTEM || req.GetContent() == "":
		return nil, refusal(codes.InvalidArgument, chatv1.ErrorReason_ERROR_REASON_INVALID_MESSAGE.String())
	case req.GetContent() == "rate":
		return nil, status.Error(codes.ResourceExhausted, "secret internal detail")
	case req.GetContent() == "internal":
		return nil, status.Error(codes.Internal, "secret internal detail")
	}
	m := f.appendMessageLocked(r, req.GetRoomId(), req.GetUserId(), req.GetNickname(), req.GetContent(), req.GetMessageType())
	f.publishLocked(&chatv1.Event{RoomId: req.GetRoomId(), Payload: &chatv1.Event_MessagePosted{MessagePosted: &chatv1.MessagePosted{
		Message: m, Origin: req.GetOrigin(),
	}}})
	return &chatv1.SendMessageResponse{Message: m}, nil
}

func (f *fakeChat) appendMessageLocked(r *fakeRoom, roomID, userID int64, nick, content string, t chatv1.MessageType) *chatv1.Message {
	m := &chatv1.Message{
		Id: int64(len(r.messages) + 1), RoomId: roomID, UserId: userID, Nickname: nick,
		Content: content, MessageType: t, CreatedAt: timestamppb.Now(),
	}
	r.messages = append(r.messages, m)
	return m
}

func (f *fakeChat) ListMessages(_ context.Context, req *chatv1.ListMessagesRequest) (*chatv1.ListMessagesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.room(req.GetRoomId())
	if err != nil {
		return nil, err
	}
	resp := &chatv1.ListMessagesResponse{}
	for _, m := range r.messages {
		if m.GetId() <= req.GetAfterId() {
			continue
		}
		if len(resp.Messages) == int(req.GetLimit()) {
			resp.HasMore = true
			break
		}
		resp.Messages = append(resp.Messages, m)
	}
	return resp, nil
}

func (f *fakeChat) ListUserRooms(_ context.Context, req *chatv1.ListUserRoomsRequest) (*chatv1.ListUserRoomsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &chatv1.ListUserRoomsResponse{}
	for id, r := range f.rooms {
		if _, ok := r.members[req.GetUserId()]; ok {
			resp.RoomIds = append(resp.RoomIds, id)
		}
	}
	return resp, nil
}

func (f *fakeChat) Subscribe(req *chatv1.SubscribeRequest, stream grpc.ServerStreamingServer[chatv1.SubscribeResponse]) error {
	f.mu.Lock()
	f.afterSeqs = append(f.afterSeqs, req.GetAfterSeq())
	f.afterSet = append(f.afterSet, req.AfterSeq != nil)
	f.streams++
	next := req.GetAfterSeq()
	head := uint64(len(f.log))
	if req.AfterSeq == nil || next > head {
		next = head
	}
	brk := f.brk
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.streams--
		f.mu.Unlock()
	}()
	if err := stream.Send(&chatv1.SubscribeResponse{HeadSeq: head}); err != nil {
		return err
	}
	for {
		f.mu.Lock()
		evs := f.log[next:]
		head := uint64(len(f.log))
		notify := f.notify
		f.mu.Unlock()
		if len(evs) > 0 {
			if err := stream.Send(&chatv1.SubscribeResponse{Events: evs, HeadSeq: head}); err != nil {
				return err
			}
			next = head
		}
		select {
		case <-notify:
		case <-brk:
			return status.Error(codes.Unavailable, "stream broken by the test")
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// serveGRPC serves register on lis until the test ends or the returned
// server is stopped.
func serveGRPC(t testing.TB, lis net.Listener, register func(*grpc.Server)) *grpc.Server {
	t.Helper()
	srv := grpc.NewServer()
	register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return srv
}
