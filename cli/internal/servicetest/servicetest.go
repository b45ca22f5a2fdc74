// Package servicetest runs in-memory fakes of the chat and auth admin
// services on real loopback gRPC listeners, for the tests of the commands.
package servicetest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

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

// ChatAdmin is a fake ChatAdminService keeping rooms in memory.
type ChatAdmin struct {
	chatv1.UnimplementedChatAdminServiceServer

	mu      sync.Mutex
	rooms   map[int64]*chatv1.Room
	invites map[int64][]int64
	creates int
}

var _ chatv1.ChatAdminServiceServer = (*ChatAdmin)(nil)

// NewChatAdmin returns an empty fake.
func NewChatAdmin() *ChatAdmin {
	return &ChatAdmin{rooms: map[int64]*chatv1.Room{}, invites: map[int64][]int64{}}
}

// Start serves the fake on loopback until the test ends and returns its address.
func (c *ChatAdmin) Start(t testing.TB) string {
	return Serve(t, func(s *grpc.Server) { chatv1.RegisterChatAdminServiceServer(s, c) })
}

// CreateRoom stores a room; ALREADY_EXISTS when the id is taken.
func (c *ChatAdmin) CreateRoom(_ context.Context, req *chatv1.CreateRoomRequest) (*chatv1.CreateRoomResponse, error) {
	if req.GetId() <= 0 || req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "id must be positive and name set")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.creates++
	if _, ok := c.rooms[req.GetId()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "room %d exists", req.GetId())
	}
	r := &chatv1.Room{
		Id:         req.GetId(),
		Name:       req.GetName(),
		MaxMembers: req.GetMaxMembers(),
		InviteOnly: req.GetInviteOnly(),
		CreatedAt:  timestamppb.Now(),
	}
	c.rooms[r.Id] = r
	return &chatv1.CreateRoomResponse{Room: proto.Clone(r).(*chatv1.Room)}, nil
}

// GetRoom returns a room; NOT_FOUND when there is none.
func (c *ChatAdmin) GetRoom(_ context.Context, req *chatv1.GetRoomRequest) (*chatv1.GetRoomResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rooms[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "room %d", req.GetId())
	}
	return &chatv1.GetRoomResponse{Room: proto.Clone(r).(*chatv1.Room)}, nil
}

// InviteMember records an invitation; NOT_FOUND for an unknown room.
func (c *ChatAdmin) InviteMember(_ context.Context, req *chatv1.InviteMemberRequest) (*chatv1.InviteMemberResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.rooms[req.GetRoomId()]; !ok {
		return nil, status.Errorf(codes.NotFound, "room %d", req.GetRoomId())
	}
	c.invites[req.GetRoomId()] = append(c.invites[req.GetRoomId()], req.GetUserId())
	return &chatv1.InviteMemberResponse{}, nil
}

// Room returns a copy of a stored room, nil when there is none.
func (c *ChatAdmin) Room(id int64) *chatv1.Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.rooms[id]; ok {
		return proto.Clone(r).(*chatv1.Room)
	}
	return nil
}

// PutRoom stores r as if it had been created earlier.
func (c *ChatAdmin) PutRoom(r *chatv1.Room) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rooms[r.GetId()] = proto.Clone(r).(*chatv1.Room)
}

// Invites returns the users invited to a room, in order.
func (c *ChatAdmin) Invites(room int64) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.invites[room]...)
}

// Creates counts the CreateRoom calls received.
func (c *ChatAdmin) Creates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creates
}

// AuthAdmin is a fake AuthAdminService keeping users and revocations in memory.
type AuthAdmin struct {
	authv1.UnimplementedAuthAdminServiceServer

	mu      sync.Mutex
	users   map[int64]string
	revoked map[string]*timestamppb.Timestamp
}

var _ authv1.AuthAdminServiceServer = (*AuthAdmin)(nil)

// NewAuthAdmin returns an empty fake.
func NewAuthAdmin() *AuthAdmin {
	return &AuthAdmin{users: map[int64]string{}, revoked: map[string]*timestamppb.Timestamp{}}
}

// Start serves the fake on loopback until the test ends and returns its address.
func (a *AuthAdmin) Start(t testing.TB) string {
	return Serve(t, func(s *grpc.Server) { authv1.RegisterAuthAdminServiceServer(s, a) })
}

// PutUser stores a user.
func (a *AuthAdmin) PutUser(_ context.Context, req *authv1.PutUserRequest) (*authv1.PutUserResponse, error) {
	if req.GetUser().GetUserId() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "user_id must be positive")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users[req.GetUser().GetUserId()] = req.GetUser().GetNickname()
	return &authv1.PutUserResponse{}, nil
}

// GetUser returns a user; NOT_FOUND when there is none.
func (a *AuthAdmin) GetUser(_ context.Context, req *authv1.GetUserRequest) (*authv1.GetUserResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.users[req.GetUserId()]
	if !ok {
		return nil, status.Error(codes.NotFound, fmt.Sprintf("user %d", req.GetUserId()))
	}
	return &authv1.GetUserResponse{User: &authv1.User{UserId: req.GetUserId(), Nickname: n}}, nil
}

// RevokeToken records a revocation.
func (a *AuthAdmin) RevokeToken(_ context.Context, req *authv1.RevokeTokenRequest) (*authv1.RevokeTokenResponse, error) {
	if req.GetTokenId() == "" {
		return nil, status.Error(codes.InvalidArgument, "token_id is empty")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked[req.GetTokenId()] = req.GetExpiresAt()
	return &authv1.RevokeTokenResponse{}, nil
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
