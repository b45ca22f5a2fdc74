// Package servicetest runs in-memory fakes of the chat admin, auth admin,
// presence and signaling admin services on real loopback gRPC listeners,
// the bare fanout server, and the real auth and chat services with an
// edge, for the tests of the commands.
package servicetest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/platform/grpcserver"
)

// Serve serves register's services on 127.0.0.1:0 until the test ends and
// returns the address.
func Serve(t testing.TB, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- grpcserver.Serve(ctx, lis, grpcserver.Options{}, register) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fake grpc server: %v", err)
		}
	})
	return lis.Addr().String()
}

// ChatAdmin is a fake ChatAdminService keeping rooms, members, bans, blocks
// and messages in memory. It records every request and refuses as the chat
// service does (statuses with an ErrorInfo reason); FailWith makes a method
// return a chosen error instead.
type ChatAdmin struct {
	chatv1.UnimplementedChatAdminServiceServer

	mu       sync.Mutex
	rooms    map[int64]*chatv1.Room
	invites  map[int64][]int64
	members  map[int64]map[int64]bool
	bans     map[int64]map[int64]bool
	blocks   map[int64]map[int64]bool
	messages map[int64][]*chatv1.Message
	creates  int

	recorder
}

var _ chatv1.ChatAdminServiceServer = (*ChatAdmin)(nil)

// Page limits of the contract.
const (
	maxRoomPage    = 1000
	maxMessagePage = 100
	defaultPage    = 100
)

// Domain is the ErrorInfo domain of the fake's refusals, the chat service's.
const Domain = "chat.switchboard.dev"

// Refusal returns a status with code (not OK) and msg carrying an ErrorInfo
// whose reason is the name of reason, as the chat service refuses.
func Refusal(code codes.Code, reason chatv1.ErrorReason, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: Domain})
	if err != nil {
		panic(fmt.Sprintf("servicetest: attach ErrorInfo: %v", err))
	}
	return st.Err()
}

func roomNotFound() error {
	return Refusal(codes.NotFound, chatv1.ErrorReason_ERROR_REASON_ROOM_NOT_FOUND, "room not found")
}

// NewChatAdmin returns an empty fake.
func NewChatAdmin() *ChatAdmin {
	return &ChatAdmin{
		rooms:    map[int64]*chatv1.Room{},
		invites:  map[int64][]int64{},
		members:  map[int64]map[int64]bool{},
		bans:     map[int64]map[int64]bool{},
		blocks:   map[int64]map[int64]bool{},
		messages: map[int64][]*chatv1.Message{},
	}
}

// Start serves the fake on loopback until the test ends and returns its address.
func (c *ChatAdmin) Start(t testing.TB) string {
	return Serve(t, func(s *grpc.Server) { chatv1.RegisterChatAdminServiceServer(s, c) })
}

// roomCopy returns a copy of a stored room with its member count; the
// caller holds mu.
func (c *ChatAdmin) roomCopy(r *chatv1.Room) *chatv1.Room {
	out := proto.Clone(r).(*chatv1.Room)
	out.MemberCount = int32(len(c.members[r.GetId()]))
	return out
}

// CreateRoom stores a room; ALREADY_EXISTS when the id is taken.
func (c *ChatAdmin) CreateRoom(ctx context.Context, req *chatv1.CreateRoomRequest) (*chatv1.CreateRoomResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "CreateRoom", req); err != nil {
		return nil, err
	}
	if req.GetId() <= 0 || req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "id must be positive and name set")
	}
	if req.GetRetentionMessages() < 0 || req.GetRetentionSeconds() < 0 {
		return nil, status.Error(codes.InvalidArgument, "retention must not be negative")
	}
	c.creates++
	if _, ok := c.rooms[req.GetId()]; ok {
		return nil, Refusal(codes.AlreadyExists, chatv1.ErrorReason_ERROR_REASON_ROOM_EXISTS, "a room with that id exists")
	}
	r := &chatv1.Room{
		Id:                req.GetId(),
		Name:              req.GetName(),
		MaxMembers:        req.GetMaxMembers(),
		InviteOnly:        req.GetInviteOnly(),
		CreatedAt:         timestamppb.Now(),
		RetentionMessages: req.GetRetentionMessages(),
		RetentionSeconds:  req.GetRetentionSeconds(),
	}
	c.rooms[r.Id] = r
	return &chatv1.CreateRoomResponse{Room: c.roomCopy(r)}, nil
}

// GetRoom returns a room; NOT_FOUND when there is none.
func (c *ChatAdmin) GetRoom(ctx context.Context, req *chatv1.GetRoomRequest) (*chatv1.GetRoomResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "GetRoom", req); err != nil {
		return nil, err
	}
	r, ok := c.rooms[req.GetId()]
	if !ok {
		return nil, roomNotFound()
	}
	return &chatv1.GetRoomResponse{Room: c.roomCopy(r)}, nil
}

// InviteMember records an invitation; NOT_FOUND for an unknown room.
func (c *ChatAdmin) InviteMember(ctx context.Context, req *chatv1.InviteMemberRequest) (*chatv1.InviteMemberResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "InviteMember", req); err != nil {
		return nil, err
	}
	if _, ok := c.rooms[req.GetRoomId()]; !ok {
		return nil, roomNotFound()
	}
	c.invites[req.GetRoomId()] = append(c.invites[req.GetRoomId()], req.GetUserId())
	return &chatv1.InviteMemberResponse{}, nil
}

// ListRooms pages through the rooms in id order.
func (c *ChatAdmin) ListRooms(ctx context.Context, req *chatv1.ListRoomsRequest) (*chatv1.ListRoomsResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "ListRooms", req); err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	if req.GetAfterId() < 0 || limit < 0 || limit > maxRoomPage {
		return nil, status.Errorf(codes.InvalidArgument, "after_id must not be negative and limit at most %d", maxRoomPage)
	}
	if limit == 0 {
		limit = defaultPage
	}
	var ids []int64
	for id := range c.rooms {
		if id > req.GetAfterId() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	resp := &chatv1.ListRoomsResponse{HasMore: len(ids) > limit}
	for _, id := range ids[:min(limit, len(ids))] {
		resp.Rooms = append(resp.Rooms, c.roomCopy(c.rooms[id]))
	}
	return resp, nil
}

// DeleteRoom deletes a room with everything in it; NOT_FOUND when there is none.
func (c *ChatAdmin) DeleteRoom(ctx context.Context, req *chatv1.DeleteRoomRequest) (*chatv1.DeleteRoomResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "DeleteRoom", req); err != nil {
		return nil, err
	}
	id := req.GetId()
	if _, ok := c.rooms[id]; !ok {
		return nil, roomNotFound()
	}
	delete(c.rooms, id)
	delete(c.invites, id)
	delete(c.members, id)
	delete(c.bans, id)
	delete(c.messages, id)
	return &chatv1.DeleteRoomResponse{}, nil
}

// BanMember bans a user from a room, ending their membership.
func (c *ChatAdmin) BanMember(ctx context.Context, req *chatv1.BanMemberRequest) (*chatv1.BanMemberResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "BanMember", req); err != nil {
		return nil, err
	}
	if _, ok := c.rooms[req.GetRoomId()]; !ok {
		return nil, roomNotFound()
	}
	set(c.bans, req.GetRoomId(), req.GetUserId(), true)
	set(c.members, req.GetRoomId(), req.GetUserId(), false)
	return &chatv1.BanMemberResponse{}, nil
}

// UnbanMember lifts a ban.
func (c *ChatAdmin) UnbanMember(ctx context.Context, req *chatv1.UnbanMemberRequest) (*chatv1.UnbanMemberResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "UnbanMember", req); err != nil {
		return nil, err
	}
	if _, ok := c.rooms[req.GetRoomId()]; !ok {
		return nil, roomNotFound()
	}
	set(c.bans, req.GetRoomId(), req.GetUserId(), false)
	return &chatv1.UnbanMemberResponse{}, nil
}

// KickMember ends a membership; FAILED_PRECONDITION with NOT_MEMBER when
// the user is not a member.
func (c *ChatAdmin) KickMember(ctx context.Context, req *chatv1.KickMemberRequest) (*chatv1.KickMemberResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "KickMember", req); err != nil {
		return nil, err
	}
	if _, ok := c.rooms[req.GetRoomId()]; !ok {
		return nil, roomNotFound()
	}
	if !c.members[req.GetRoomId()][req.GetUserId()] {
		return nil, Refusal(codes.FailedPrecondition, chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER, "not a member of the room")
	}
	set(c.members, req.GetRoomId(), req.GetUserId(), false)
	return &chatv1.KickMemberResponse{}, nil
}

// BlockUser records a block; INVALID_ARGUMENT for a block of oneself.
func (c *ChatAdmin) BlockUser(ctx context.Context, req *chatv1.BlockUserRequest) (*chatv1.BlockUserResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "BlockUser", req); err != nil {
		return nil, err
	}
	if req.GetUserId() <= 0 || req.GetBlockedUserId() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "user_id and blocked_user_id must be positive")
	}
	if req.GetUserId() == req.GetBlockedUserId() {
		return nil, status.Error(codes.InvalidArgument, "blocked_user_id must differ from user_id")
	}
	set(c.blocks, req.GetUserId(), req.GetBlockedUserId(), true)
	return &chatv1.BlockUserResponse{}, nil
}

// UnblockUser lifts a block.
func (c *ChatAdmin) UnblockUser(ctx context.Context, req *chatv1.UnblockUserRequest) (*chatv1.UnblockUserResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "UnblockUser", req); err != nil {
		return nil, err
	}
	set(c.blocks, req.GetUserId(), req.GetBlockedUserId(), false)
	return &chatv1.UnblockUserResponse{}, nil
}

// ListRoomMessages pages through a room's messages as the contract says:
// with after_id set (0 included) the oldest above it, else the newest (below
// before_id when positive).
func (c *ChatAdmin) ListRoomMessages(ctx context.Context, req *chatv1.ListRoomMessagesRequest) (*chatv1.ListRoomMessagesResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "ListRoomMessages", req); err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	if req.GetAfterId() < 0 || req.GetBeforeId() < 0 || limit < 0 || limit > maxMessagePage {
		return nil, status.Errorf(codes.InvalidArgument, "after_id, before_id must not be negative and limit at most %d", maxMessagePage)
	}
	if _, ok := c.rooms[req.GetRoomId()]; !ok {
		return nil, roomNotFound()
	}
	if limit == 0 {
		limit = defaultPage
	}
	var sel []*chatv1.Message
	for _, m := range c.messages[req.GetRoomId()] {
		if m.GetId() > req.GetAfterId() && (req.GetBeforeId() == 0 || m.GetId() < req.GetBeforeId()) {
			sel = append(sel, m)
		}
	}
	resp := &chatv1.ListRoomMessagesResponse{HasMore: len(sel) > limit}
	if req.AfterId != nil {
		sel = sel[:min(limit, len(sel))]
	} else {
		sel = sel[max(0, len(sel)-limit):]
	}
	for _, m := range sel {
		resp.Messages = append(resp.Messages, proto.Clone(m).(*chatv1.Message))
	}
	return resp, nil
}

// PostSystemMessage stores a system message (user 0, nickname "system",
// as the chat service does) in a room.
func (c *ChatAdmin) PostSystemMessage(ctx context.Context, req *chatv1.PostSystemMessageRequest) (*chatv1.PostSystemMessageResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.record(ctx, "PostSystemMessage", req); err != nil {
		return nil, err
	}
	if _, ok := c.rooms[req.GetRoomId()]; !ok {
		return nil, roomNotFound()
	}
	if req.GetContent() == "" {
		return nil, Refusal(codes.InvalidArgument, chatv1.ErrorReason_ERROR_REASON_INVALID_MESSAGE, "content is empty")
	}
	return &chatv1.PostSystemMessageResponse{Message: c.addMessage(req.GetRoomId(), req.GetContent())}, nil
}

// addMessage stores a system message and returns a copy; the caller holds mu.
func (c *ChatAdmin) addMessage(room int64, content string) *chatv1.Message {
	m := &chatv1.Message{
		Id:          int64(len(c.messages[room]) + 1),
		RoomId:      room,
		Nickname:    "system",
		Content:     content,
		MessageType: chatv1.MessageType_MESSAGE_TYPE_SYSTEM,
		CreatedAt:   timestamppb.Now(),
	}
	c.messages[room] = append(c.messages[room], m)
	return proto.Clone(m).(*chatv1.Message)
}

// set adds or removes b from the set of a.
func set(m map[int64]map[int64]bool, a, b int64, on bool) {
	if !on {
		delete(m[a], b)
		return
	}
	if m[a] == nil {
		m[a] = map[int64]bool{}
	}
	m[a][b] = true
}

// sortedKeys returns the members of a set in increasing order.
func sortedKeys(s map[int64]bool) []int64 {
	out := make([]int64, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Room returns a copy of a stored room, nil when there is none.
func (c *ChatAdmin) Room(id int64) *chatv1.Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.rooms[id]; ok {
		return c.roomCopy(r)
	}
	return nil
}

// PutRoom stores r as if it had been created earlier.
func (c *ChatAdmin) PutRoom(r *chatv1.Room) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rooms[r.GetId()] = proto.Clone(r).(*chatv1.Room)
}

// AddMember makes user a member of room, as if they had joined.
func (c *ChatAdmin) AddMember(room, user int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set(c.members, room, user, true)
}

// AddBan bans user from room, as if an operator had.
func (c *ChatAdmin) AddBan(room, user int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set(c.bans, room, user, true)
}

// AddBlock makes user block blocked, as if an operator had.
func (c *ChatAdmin) AddBlock(user, blocked int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set(c.blocks, user, blocked, true)
}

// AddMessage stores a system message in room, as if it had been posted,
// and returns it.
func (c *ChatAdmin) AddMessage(room int64, content string) *chatv1.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addMessage(room, content)
}

// Members returns the members of a room in increasing order.
func (c *ChatAdmin) Members(room int64) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedKeys(c.members[room])
}

// Banned returns the users banned from a room in increasing order.
func (c *ChatAdmin) Banned(room int64) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedKeys(c.bans[room])
}

// Blocks returns the users user blocks in increasing order.
func (c *ChatAdmin) Blocks(user int64) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedKeys(c.blocks[user])
}

// Invites returns the users invited to a room, in order.
func (c *ChatAdmin) Invites(room int64) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.invites[room]...)
}

// Creates counts the CreateRoom calls that reached the store (past
// validation and configured failures).
func (c *ChatAdmin) Creates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creates
}

// AuthAdmin is a fake AuthAdminService keeping users, revocations and API
// keys in memory. It records every request; FailWith makes a method return
// a chosen error instead.
type AuthAdmin struct {
	authv1.UnimplementedAuthAdminServiceServer

	mu          sync.Mutex
	users       map[int64]string
	revoked     map[string]*timestamppb.Timestamp
	userRevoked map[int64]time.Time
	apiKeys     []*authv1.APIKey // creation order
	now         func() time.Time

	recorder
}

var _ authv1.AuthAdminServiceServer = (*AuthAdmin)(nil)

// NewAuthAdmin returns an empty fake whose clock is the system's.
func NewAuthAdmin() *AuthAdmin {
	return &AuthAdmin{
		users:       map[int64]string{},
		revoked:     map[string]*timestamppb.Timestamp{},
		userRevoked: map[int64]time.Time{},
		now:         time.Now,
	}
}

// Start serves the fake on loopback until the test ends and returns its address.
func (a *AuthAdmin) Start(t testing.TB) string {
	return Serve(t, func(s *grpc.Server) { authv1.RegisterAuthAdminServiceServer(s, a) })
}

// SetNow fixes the time RevokeUser revokes before, and API keys are
// created and revoked at, so the answers are known.
func (a *AuthAdmin) SetNow(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = func() time.Time { return now }
}

// PutUser stores a user.
func (a *AuthAdmin) PutUser(ctx context.Context, req *authv1.PutUserRequest) (*authv1.PutUserResponse, error) {
	if err := a.record(ctx, "PutUser", req); err != nil {
		return nil, err
	}
	if req.GetUser().GetUserId() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "user_id must be positive")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users[req.GetUser().GetUserId()] = req.GetUser().GetNickname()
	return &authv1.PutUserResponse{}, nil
}

// GetUser returns a user; NOT_FOUND when there is none.
func (a *AuthAdmin) GetUser(ctx context.Context, req *authv1.GetUserRequest) (*authv1.GetUserResponse, error) {
	if err := a.record(ctx, "GetUser", req); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.users[req.GetUserId()]
	if !ok {
		return nil, status.Error(codes.NotFound, fmt.Sprintf("user %d", req.GetUserId()))
	}
	return &authv1.GetUserResponse{User: &authv1.User{UserId: req.GetUserId(), Nickname: n}}, nil
}

// RevokeToken records a revocation.
func (a *AuthAdmin) RevokeToken(ctx context.Context, req *authv1.RevokeTokenRequest) (*authv1.RevokeTokenResponse, error) {
	if err := a.record(ctx, "RevokeToken", req); err != nil {
		return nil, err
	}
	if req.GetTokenId() == "" {
		return nil, status.Error(codes.InvalidArgument, "token_id is empty")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked[req.GetTokenId()] = req.GetExpiresAt()
	return &authv1.RevokeTokenResponse{}, nil
}

// RevokeUser records that the user's tokens issued before now are refused
// and answers with that time.
func (a *AuthAdmin) RevokeUser(ctx context.Context, req *authv1.RevokeUserRequest) (*authv1.RevokeUserResponse, error) {
	if err := a.record(ctx, "RevokeUser", req); err != nil {
		return nil, err
	}
	if req.GetUserId() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "user_id must be positive")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	before := a.now()
	a.userRevoked[req.GetUserId()] = before
	return &authv1.RevokeUserResponse{IssuedBefore: timestamppb.New(before)}, nil
}

// CreateAPIKey makes the fake's next key: the nth has id key_ and n in 12
// digits, and key sk_<ENV>_ and n in 32 digits, so tests know both. It
// refuses an env or a name as the auth service does.
func (a *AuthAdmin) CreateAPIKey(ctx context.Context, req *authv1.CreateAPIKeyRequest) (*authv1.CreateAPIKeyResponse, error) {
	if err := a.record(ctx, "CreateAPIKey", req); err != nil {
		return nil, err
	}
	env := req.GetEnv()
	if env == "" || len(env) > 16 || strings.Trim(env, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		return nil, status.Error(codes.InvalidArgument, "env must be 1 to 16 characters of A-Z and 0-9")
	}
	if utf8.RuneCountInString(req.GetName()) > 100 {
		return nil, status.Error(codes.InvalidArgument, "name is longer than 100 characters")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.apiKeys) + 1
	k := &authv1.APIKey{Id: fmt.Sprintf("key_%012d", n), Env: env, Name: req.GetName(), CreatedAt: timestamppb.New(a.now())}
	a.apiKeys = append(a.apiKeys, k)
	return &authv1.CreateAPIKeyResponse{ApiKey: proto.CloneOf(k), Key: fmt.Sprintf("sk_%s_%032d", env, n)}, nil
}

// ListAPIKeys returns every key, oldest first.
func (a *AuthAdmin) ListAPIKeys(ctx context.Context, req *authv1.ListAPIKeysRequest) (*authv1.ListAPIKeysResponse, error) {
	if err := a.record(ctx, "ListAPIKeys", req); err != nil {
		return nil, err
	}
	return &authv1.ListAPIKeysResponse{ApiKeys: a.APIKeys()}, nil
}

// RevokeAPIKey marks a key revoked; again changes nothing. NOT_FOUND when
// no key has the id.
func (a *AuthAdmin) RevokeAPIKey(ctx context.Context, req *authv1.RevokeAPIKeyRequest) (*authv1.RevokeAPIKeyResponse, error) {
	if err := a.record(ctx, "RevokeAPIKey", req); err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id must not be empty")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range a.apiKeys {
		if k.GetId() == req.GetId() {
			if k.RevokedAt == nil {
				k.RevokedAt = timestamppb.New(a.now())
			}
			return &authv1.RevokeAPIKeyResponse{}, nil
		}
	}
	return nil, status.Error(codes.NotFound, "API key not found")
}

// APIKeys returns copies of the keys, oldest first.
func (a *AuthAdmin) APIKeys() []*authv1.APIKey {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*authv1.APIKey, len(a.apiKeys))
	for i, k := range a.apiKeys {
		out[i] = proto.CloneOf(k)
	}
	return out
}

// User returns a stored nickname and whether the user exists.
func (a *AuthAdmin) User(id int64) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.users[id]
	return n, ok
}

// Revoked reports whether a jti was revoked, and the expiry sent with it.
func (a *AuthAdmin) Revoked(jti string) (*timestamppb.Timestamp, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.revoked[jti]
	return exp, ok
}

// UserRevoked reports whether the tokens of a user were revoked, and the
// time before which they are refused.
func (a *AuthAdmin) UserRevoked(id int64) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	before, ok := a.userRevoked[id]
	return before, ok
}
