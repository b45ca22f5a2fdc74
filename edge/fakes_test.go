package edge_test

import (
	"context"
	"fmt"
	"net"
	"slices"
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
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
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
// for user <id>, optionally followed by ".<anything>"; the token itself is
// its jti and it was issued now. It accepts the tokens added with add as
// they were added, refuses "expired" and "revoked" with their reasons, and
// everything else as an invalid token. Its revocations are an event log
// served by WatchRevocations.
type fakeAuth struct {
	authv1.UnimplementedAuthServiceServer
	revocations *eventLog[*authv1.Revocation]

	mu     sync.Mutex
	tokens map[string]*authv1.VerifyTokenResponse
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{revocations: newEventLog[*authv1.Revocation](), tokens: make(map[string]*authv1.VerifyTokenResponse)}
}

// add makes VerifyToken(tok) return id.
func (f *fakeAuth) add(tok string, id *authv1.VerifyTokenResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[tok] = id
}

func (f *fakeAuth) VerifyToken(_ context.Context, req *authv1.VerifyTokenRequest) (*authv1.VerifyTokenResponse, error) {
	tok := req.GetToken()
	f.mu.Lock()
	id := f.tokens[tok]
	f.mu.Unlock()
	switch {
	case id != nil:
		return id, nil
	case tok == "expired":
		return nil, refusal(codes.Unauthenticated, authv1.ErrorReason_ERROR_REASON_TOKEN_EXPIRED.String())
	case tok == "revoked":
		return nil, refusal(codes.Unauthenticated, authv1.ErrorReason_ERROR_REASON_TOKEN_REVOKED.String())
	}
	base, _, _ := strings.Cut(tok, ".")
	for prefix, ttl := range map[string]time.Duration{"tok-": time.Hour, "short-": 500 * time.Millisecond} {
		if id, err := strconv.ParseInt(strings.TrimPrefix(base, prefix), 10, 64); strings.HasPrefix(base, prefix) && err == nil {
			return &authv1.VerifyTokenResponse{
				UserId:    id,
				Nickname:  fmt.Sprintf("nick%d", id),
				ExpiresAt: timestamppb.New(time.Now().Add(ttl)),
				TokenId:   tok,
				IssuedAt:  timestamppb.Now(),
			}, nil
		}
	}
	return nil, refusal(codes.Unauthenticated, authv1.ErrorReason_ERROR_REASON_INVALID_TOKEN.String())
}

// revokeToken publishes the revocation of the token whose jti is id.
func (f *fakeAuth) revokeToken(id string) {
	f.revocations.publish(func(seq uint64) *authv1.Revocation {
		return &authv1.Revocation{Seq: seq, Target: &authv1.Revocation_TokenId{TokenId: id}}
	})
}

// revokeUser publishes the revocation of userID's tokens issued before
// before (every token when before is zero).
func (f *fakeAuth) revokeUser(userID int64, before time.Time) {
	f.revocations.publish(func(seq uint64) *authv1.Revocation {
		r := &authv1.Revocation{Seq: seq, Target: &authv1.Revocation_UserId{UserId: userID}}
		if !before.IsZero() {
			r.IssuedBefore = timestamppb.New(before)
		}
		return r
	})
}

func (f *fakeAuth) WatchRevocations(req *authv1.WatchRevocationsRequest, stream grpc.ServerStreamingServer[authv1.WatchRevocationsResponse]) error {
	return f.revocations.serve(stream.Context(), req.AfterSeq, func(evs []*authv1.Revocation, head uint64) error {
		return stream.Send(&authv1.WatchRevocationsResponse{Revocations: evs, HeadSeq: head})
	})
}

// fakePresence records the edge's reports and answers GetPresence from
// its online set; its events are an event log served by Subscribe.
type fakePresence struct {
	presencev1.UnimplementedPresenceServiceServer
	events *eventLog[*presencev1.Event]

	mu       sync.Mutex
	reports  []string   // "open <session> <user>", "close <session>"
	syncs    [][]string // each SyncSessions' "<session> <user>", sorted
	online   map[int64]bool
	getCalls [][]int64 // each GetPresence's user_ids
	getFails bool      // GetPresence answers UNAVAILABLE
}

func newFakePresence() *fakePresence {
	return &fakePresence{events: newEventLog[*presencev1.Event](), online: make(map[int64]bool)}
}

func (f *fakePresence) SessionOpened(_ context.Context, req *presencev1.SessionOpenedRequest) (*presencev1.SessionOpenedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, fmt.Sprintf("open %s %d", req.GetSession().GetSessionId(), req.GetSession().GetUserId()))
	return &presencev1.SessionOpenedResponse{}, nil
}

func (f *fakePresence) SessionClosed(_ context.Context, req *presencev1.SessionClosedRequest) (*presencev1.SessionClosedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, "close "+req.GetSessionId())
	return &presencev1.SessionClosedResponse{}, nil
}

func (f *fakePresence) SyncSessions(_ context.Context, req *presencev1.SyncSessionsRequest) (*presencev1.SyncSessionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := []string{}
	for _, s := range req.GetSessions() {
		list = append(list, fmt.Sprintf("%s %d", s.GetSessionId(), s.GetUserId()))
	}
	slices.Sort(list)
	f.syncs = append(f.syncs, list)
	return &presencev1.SyncSessionsResponse{}, nil
}

func (f *fakePresence) GetPresence(_ context.Context, req *presencev1.GetPresenceRequest) (*presencev1.GetPresenceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getCalls = append(f.getCalls, req.GetUserIds())
	if f.getFails {
		return nil, status.Error(codes.Unavailable, "presence down for the test")
	}
	if len(req.GetUserIds()) > 1000 {
		return nil, status.Error(codes.InvalidArgument, "at most 1000 users")
	}
	resp := &presencev1.GetPresenceResponse{}
	for _, id := range req.GetUserIds() {
		resp.Users = append(resp.Users, &presencev1.UserPresence{UserId: id, Online: f.online[id]})
	}
	return resp, nil
}

func (f *fakePresence) Subscribe(req *presencev1.SubscribeRequest, stream grpc.ServerStreamingServer[presencev1.SubscribeResponse]) error {
	return f.events.serve(stream.Context(), req.AfterSeq, func(evs []*presencev1.Event, head uint64) error {
		return stream.Send(&presencev1.SubscribeResponse{Events: evs, HeadSeq: head})
	})
}

// publish publishes a presence event for userIDs (none: every session).
func (f *fakePresence) publish(userIDs []int64, ev *presencev1.Event) {
	f.events.publish(func(seq uint64) *presencev1.Event {
		ev.Seq, ev.UserIds = seq, userIDs
		return ev
	})
}

func (f *fakePresence) state() (reports []string, syncs [][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reports), slices.Clone(f.syncs)
}

// eventLog is a fake service's event log served on resumable streams with
// the contract of chat's Subscribe: a first response with the head at once,
// then the events after after_seq (or after the head when it is unset).
type eventLog[E any] struct {
	mu     sync.Mutex
	events []E
	notify chan struct{} // closed and replaced on every publish
	brk    chan struct{} // closed and replaced to break the open streams
	afters []*uint64     // the after_seq of every stream (nil: unset)
	open   int           // open streams
}

func newEventLog[E any]() *eventLog[E] {
	return &eventLog[E]{notify: make(chan struct{}), brk: make(chan struct{})}
}

// publish appends the event mk makes for the next sequence number.
func (l *eventLog[E]) publish(mk func(seq uint64) E) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, mk(uint64(len(l.events)+1)))
	close(l.notify)
	l.notify = make(chan struct{})
}

func (l *eventLog[E]) breakStreams() {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.brk)
	l.brk = make(chan struct{})
}

func (l *eventLog[E]) head() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.events))
}

// subscriptions returns every stream's after_seq ("unset" or the number)
// and the number of open streams.
func (l *eventLog[E]) subscriptions() ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var afters []string
	for _, a := range l.afters {
		if a == nil {
			afters = append(afters, "unset")
		} else {
			afters = append(afters, strconv.FormatUint(*a, 10))
		}
	}
	return afters, l.open
}

// serve serves one stream with send until ctx ends or the test breaks it.
func (l *eventLog[E]) serve(ctx context.Context, after *uint64, send func(evs []E, head uint64) error) error {
	l.mu.Lock()
	l.afters = append(l.afters, after)
	l.open++
	head := uint64(len(l.events))
	next := head
	if after != nil && *after < head {
		next = *after
	}
	brk := l.brk
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.open--
		l.mu.Unlock()
	}()
	if err := send(nil, head); err != nil {
		return err
	}
	for {
		l.mu.Lock()
		evs := slices.Clone(l.events[next:])
		head := uint64(len(l.events))
		notify := l.notify
		l.mu.Unlock()
		if len(evs) > 0 {
			if err := send(evs, head); err != nil {
				return err
			}
			next = head
		}
		select {
		case <-notify:
		case <-brk:
			return status.Error(codes.Unavailable, "stream broken by the test")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type fakeRoom struct {
	inviteOnly bool
	max        int
	members    map[int64]string
	banned     map[int64]bool
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
	blocks    map[int64]map[int64]bool
	batches   [][]*chatv1.SendMessageRequest // every SendMessages batch's items
}

func newFakeChat() *fakeChat {
	return &fakeChat{rooms: make(map[int64]*fakeRoom), notify: make(chan struct{}), brk: make(chan struct{}),
		blocks: make(map[int64]map[int64]bool)}
}

func (f *fakeChat) addRoom(id int64, inviteOnly bool, max int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms[id] = &fakeRoom{inviteOnly: inviteOnly, max: max, members: make(map[int64]string), banned: make(map[int64]bool)}
}

// addMessages stores n messages "old 1".."old n" of user 9 in room id (the
// user need not be connected).
func (f *fakeChat) addMessages(id int64, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[id]
	r.members[9] = "nick9"
	for i := range n {
		f.appendMessageLocked(r, id, 9, "nick9", fmt.Sprintf("old %d", i+1), chatv1.MessageType_MESSAGE_TYPE_TEXT)
	}
}

// remove ends userID's membership of room as an operator would (kick or
// ban), publishing MemberLeft with reason.
func (f *fakeChat) remove(room, userID int64, reason chatv1.LeaveReason) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[room]
	nick := r.members[userID]
	delete(r.members, userID)
	if reason == chatv1.LeaveReason_LEAVE_REASON_BANNED {
		r.banned[userID] = true
	}
	f.publishLocked(&chatv1.Event{RoomId: room, Payload: &chatv1.Event_MemberLeft{MemberLeft: &chatv1.MemberLeft{
		UserId: userID, Nickname: nick, MemberCount: int32(len(r.members)), Reason: reason,
	}}})
}

// deleteRoom deletes a room and publishes RoomDeleted.
func (f *fakeChat) deleteRoom(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []int64
	for uid := range f.rooms[id].members {
		ids = append(ids, uid)
	}
	delete(f.rooms, id)
	f.publishLocked(&chatv1.Event{RoomId: id, Payload: &chatv1.Event_RoomDeleted{RoomDeleted: &chatv1.RoomDeleted{MemberIds: ids}}})
}

// setBlock makes userID block (or unblock) other, publishing the event.
func (f *fakeChat) setBlock(userID, other int64, blocked bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocks[userID] == nil {
		f.blocks[userID] = make(map[int64]bool)
	}
	if blocked {
		f.blocks[userID][other] = true
		f.publishLocked(&chatv1.Event{Payload: &chatv1.Event_UserBlocked{UserBlocked: &chatv1.UserBlocked{UserId: userID, BlockedUserId: other}}})
	} else {
		delete(f.blocks[userID], other)
		f.publishLocked(&chatv1.Event{Payload: &chatv1.Event_UserUnblocked{UserUnblocked: &chatv1.UserUnblocked{UserId: userID, BlockedUserId: other}}})
	}
}

// postSystem stores and publishes a system message (user 0) in room.
func (f *fakeChat) postSystem(room int64, content string) *chatv1.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.appendMessageLocked(f.rooms[room], room, 0, "system", content, chatv1.MessageType_MESSAGE_TYPE_SYSTEM)
	f.publishLocked(&chatv1.Event{RoomId: room, Payload: &chatv1.Event_MessagePosted{MessagePosted: &chatv1.MessagePosted{Message: m}}})
	return m
}

// publishAll publishes evs at once, so that they reach the edge in one
// stream response, back to back.
func (f *fakeChat) publishAll(evs ...*chatv1.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range evs {
		f.publishLocked(ev)
	}
}

func (f *fakeChat) batchCalls() [][]*chatv1.SendMessageRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batches)
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
	case r.banned[req.GetUserId()]:
		return nil, refusal(codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_USER_BANNED.String())
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
		Reason: chatv1.LeaveReason_LEAVE_REASON_LEFT,
	}}})
	return &chatv1.LeaveRoomResponse{Left: true, MemberCount: int32(len(r.members))}, nil
}

// SendMessage refuses content "rate" (RESOURCE_EXHAUSTED without a reason)
// and "internal" (an INTERNAL status) besides the real refusals.
func (f *fakeChat) SendMessage(_ context.Context, req *chatv1.SendMessageRequest) (*chatv1.SendMessageResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch req.GetContent() {
	case "rate":
		return nil, status.Error(codes.ResourceExhausted, "secret internal detail")
	case "internal":
		return nil, status.Error(codes.Internal, "secret internal detail")
	}
	m, c, reason := f.sendLocked(req)
	if m == nil {
		return nil, refusal(c, reason.String())
	}
	return &chatv1.SendMessageResponse{Message: m}, nil
}

// sendLocked stores and publishes one message, or says why not. Content
// "slow down" is refused as over the rate limit.
func (f *fakeChat) sendLocked(req *chatv1.SendMessageRequest) (*chatv1.Message, codes.Code, chatv1.ErrorReason) {
	r := f.rooms[req.GetRoomId()]
	if r == nil {
		return nil, codes.NotFound, chatv1.ErrorReason_ERROR_REASON_ROOM_NOT_FOUND
	}
	_, member := r.members[req.GetUserId()]
	switch {
	case !member:
		return nil, codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER
	case req.GetMessageType() == chatv1.MessageType_MESSAGE_TYPE_SYSTEM || req.GetContent() == "":
		return nil, codes.InvalidArgument, chatv1.ErrorReason_ERROR_REASON_INVALID_MESSAGE
	case req.GetContent() == "slow down":
		return nil, codes.ResourceExhausted, chatv1.ErrorReason_ERROR_REASON_RATE_LIMITED
	}
	m := f.appendMessageLocked(r, req.GetRoomId(), req.GetUserId(), req.GetNickname(), req.GetContent(), req.GetMessageType())
	f.publishLocked(&chatv1.Event{RoomId: req.GetRoomId(), Payload: &chatv1.Event_MessagePosted{MessagePosted: &chatv1.MessagePosted{
		Message: m, Origin: req.GetOrigin(),
	}}})
	return m, codes.OK, chatv1.ErrorReason_ERROR_REASON_UNSPECIFIED
}

// SendMessages answers each batch in order. A batch with an item of
// content "rate" or "internal" fails as a whole, like SendMessage.
func (f *fakeChat) SendMessages(stream chatv1.ChatService_SendMessagesServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		if err := stream.Send(f.sendBatch(req)); err != nil {
			return err
		}
	}
}

func (f *fakeChat) sendBatch(req *chatv1.SendMessagesRequest) *chatv1.SendMessagesResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, req.GetItems())
	resp := &chatv1.SendMessagesResponse{Id: req.GetId()}
	for _, it := range req.GetItems() {
		switch it.GetContent() {
		case "rate":
			resp.Code, resp.Message = int32(codes.ResourceExhausted), "secret internal detail"
			return resp
		case "internal":
			resp.Code, resp.Message = int32(codes.Internal), "secret internal detail"
			return resp
		}
	}
	for _, it := range req.GetItems() {
		m, _, reason := f.sendLocked(it)
		resp.Results = append(resp.Results, &chatv1.SendMessageResult{Message: m, ErrorReason: reason,
			ErrorMessage: map[bool]string{true: "refused"}[m == nil]})
	}
	return resp
}

func (f *fakeChat) ListBlocks(_ context.Context, req *chatv1.ListBlocksRequest) (*chatv1.ListBlocksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &chatv1.ListBlocksResponse{}
	for id := range f.blocks[req.GetUserId()] {
		resp.BlockedUserIds = append(resp.BlockedUserIds, id)
	}
	return resp, nil
}

func (f *fakeChat) appendMessageLocked(r *fakeRoom, roomID, userID int64, nick, content string, t chatv1.MessageType) *chatv1.Message {
	m := &chatv1.Message{
		Id: int64(len(r.messages) + 1), RoomId: roomID, UserId: userID, Nickname: nick,
		Content: content, MessageType: t, CreatedAt: timestamppb.Now(),
	}
	r.messages = append(r.messages, m)
	return m
}

// ListMessages pages like the real service: after_id set → the oldest
// above it, before_id → the newest below it, neither → the newest; oldest first,
// the reader's blocked users left out.
func (f *fakeChat) ListMessages(_ context.Context, req *chatv1.ListMessagesRequest) (*chatv1.ListMessagesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.room(req.GetRoomId())
	if err != nil {
		return nil, err
	}
	if _, member := r.members[req.GetUserId()]; !member {
		return nil, refusal(codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER.String())
	}
	limit := int(req.GetLimit())
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	var visible []*chatv1.Message
	for _, m := range r.messages {
		if !f.blocks[req.GetUserId()][m.GetUserId()] {
			visible = append(visible, m)
		}
	}
	resp := &chatv1.ListMessagesResponse{}
	if req.AfterId != nil {
		for _, m := range visible {
			if m.GetId() <= req.GetAfterId() {
				continue
			}
			if len(resp.Messages) == limit {
				resp.HasMore = true
				break
			}
			resp.Messages = append(resp.Messages, m)
		}
		return resp, nil
	}
	end := len(visible)
	if b := req.GetBeforeId(); b > 0 {
		end = 0
		for end < len(visible) && visible[end].GetId() < b {
			end++
		}
	}
	start := max(0, end-limit)
	resp.Messages, resp.HasMore = visible[start:end], start > 0
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
