// Package server implements the chat service's gRPC API over the store and
// the broker. It validates requests and maps store and broker errors to
// gRPC statuses, in one place.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/services/chat/internal/broker"
	"switchboard.dev/services/chat/internal/store"
)

// Domain is the google.rpc.ErrorInfo domain of the service's refusals.
const Domain = "chat.switchboard.dev"

// Defaults of Options.
const (
	DefaultMaxContentChars = 4000
	// MaxPage is the largest (and the default) ListMessages page.
	MaxPage = 100
)

// Options configure a Server.
type Options struct {
	// MaxContentChars bounds a message's content in characters (runes);
	// 0 means DefaultMaxContentChars.
	MaxContentChars int
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
}

// Server implements ChatService and ChatAdminService.
type Server struct {
	chatv1.UnimplementedChatServiceServer
	chatv1.UnimplementedChatAdminServiceServer

	store      *store.Store
	broker     *broker.Broker
	maxContent int
	log        *slog.Logger
}

var (
	_ chatv1.ChatServiceServer      = (*Server)(nil)
	_ chatv1.ChatAdminServiceServer = (*Server)(nil)
)

// New returns a Server over st whose Subscribe streams come from b.
func New(st *store.Store, b *broker.Broker, opts Options) *Server {
	s := &Server{store: st, broker: b, maxContent: opts.MaxContentChars, log: opts.Logger}
	if s.maxContent <= 0 {
		s.maxContent = DefaultMaxContentChars
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// JoinRoom implements ChatService.
func (s *Server) JoinRoom(ctx context.Context, req *chatv1.JoinRoomRequest) (*chatv1.JoinRoomResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	res, err := s.store.Join(ctx, req.GetRoomId(), req.GetUserId(), req.GetNickname(), req.GetOrigin())
	if err != nil {
		return nil, s.toStatus(ctx, "JoinRoom", err)
	}
	// The member list is a snapshot read after the commit: it includes the
	// joiner unless they left in the meantime.
	members, err := s.store.Members(ctx, req.GetRoomId())
	if err != nil {
		return nil, s.toStatus(ctx, "JoinRoom", err)
	}
	return &chatv1.JoinRoomResponse{Room: res.Room, Joined: res.Joined, Members: members}, nil
}

// LeaveRoom implements ChatService.
func (s *Server) LeaveRoom(ctx context.Context, req *chatv1.LeaveRoomRequest) (*chatv1.LeaveRoomResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	res, err := s.store.Leave(ctx, req.GetRoomId(), req.GetUserId(), req.GetOrigin())
	if err != nil {
		return nil, s.toStatus(ctx, "LeaveRoom", err)
	}
	return &chatv1.LeaveRoomResponse{Left: res.Left, MemberCount: res.MemberCount}, nil
}

// SendMessage implements ChatService.
func (s *Server) SendMessage(ctx context.Context, req *chatv1.SendMessageRequest) (*chatv1.SendMessageResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	if err := ValidateContent(req.GetContent(), req.GetMessageType(), s.maxContent); err != nil {
		return nil, refusal(codes.InvalidArgument, chatv1.ErrorReason_ERROR_REASON_INVALID_MESSAGE, err.Error())
	}
	msg, err := s.store.Send(ctx, store.NewMessage{
		RoomID:   req.GetRoomId(),
		UserID:   req.GetUserId(),
		Nickname: req.GetNickname(),
		Content:  req.GetContent(),
		Type:     req.GetMessageType(),
		Origin:   req.GetOrigin(),
	})
	if err != nil {
		return nil, s.toStatus(ctx, "SendMessage", err)
	}
	return &chatv1.SendMessageResponse{Message: msg}, nil
}

// ListMessages implements ChatService.
func (s *Server) ListMessages(ctx context.Context, req *chatv1.ListMessagesRequest) (*chatv1.ListMessagesResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	if req.GetAfterId() < 0 || req.GetBeforeId() < 0 || req.GetLimit() < 0 {
		return nil, status.Error(codes.InvalidArgument, "after_id, before_id and limit must not be negative")
	}
	limit := int(req.GetLimit())
	if limit == 0 || limit > MaxPage {
		limit = MaxPage
	}
	msgs, more, err := s.store.ListMessages(ctx, store.MessageQuery{
		RoomID:   req.GetRoomId(),
		UserID:   req.GetUserId(),
		AfterID:  req.GetAfterId(),
		BeforeID: req.GetBeforeId(),
		Limit:    limit,
	})
	if err != nil {
		return nil, s.toStatus(ctx, "ListMessages", err)
	}
	return &chatv1.ListMessagesResponse{Messages: msgs, HasMore: more}, nil
}

// ListUserRooms implements ChatService.
func (s *Server) ListUserRooms(ctx context.Context, req *chatv1.ListUserRoomsRequest) (*chatv1.ListUserRoomsResponse, error) {
	if err := positive("user_id", req.GetUserId()); err != nil {
		return nil, err
	}
	ids, err := s.store.UserRooms(ctx, req.GetUserId())
	if err != nil {
		return nil, s.toStatus(ctx, "ListUserRooms", err)
	}
	return &chatv1.ListUserRoomsResponse{RoomIds: ids}, nil
}

// Subscribe implements ChatService.
func (s *Server) Subscribe(req *chatv1.SubscribeRequest, stream chatv1.ChatService_SubscribeServer) error {
	ctx := stream.Context()
	s.log.Info("subscribe", "edge_id", req.GetEdgeId(), "after_seq", req.GetAfterSeq())
	err := s.broker.Stream(ctx, s.store, req.AfterSeq, stream.Send)
	s.log.Info("subscribe ended", "edge_id", req.GetEdgeId(), "reason", err)
	switch {
	case errors.Is(err, broker.ErrSlow):
		return status.Error(codes.ResourceExhausted, "subscriber fell behind; resume after the last seq received")
	case errors.Is(err, broker.ErrClosed):
		return status.Error(codes.Unavailable, "service shutting down; resume after the last seq received")
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return s.toStatus(ctx, "Subscribe", ctx.Err())
	}
	if _, ok := status.FromError(err); ok {
		return err // from stream.Send
	}
	return s.toStatus(ctx, "Subscribe", err)
}

// CreateRoom implements ChatAdminService.
func (s *Server) CreateRoom(ctx context.Context, req *chatv1.CreateRoomRequest) (*chatv1.CreateRoomResponse, error) {
	if err := positive("id", req.GetId()); err != nil {
		return nil, err
	}
	if req.GetMaxMembers() < 0 {
		return nil, status.Error(codes.InvalidArgument, "max_members must not be negative")
	}
	room, err := s.store.CreateRoom(ctx, req.GetId(), req.GetName(), req.GetMaxMembers(), req.GetInviteOnly())
	if err != nil {
		return nil, s.toStatus(ctx, "CreateRoom", err)
	}
	return &chatv1.CreateRoomResponse{Room: room}, nil
}

// GetRoom implements ChatAdminService.
func (s *Server) GetRoom(ctx context.Context, req *chatv1.GetRoomRequest) (*chatv1.GetRoomResponse, error) {
	if err := positive("id", req.GetId()); err != nil {
		return nil, err
	}
	room, err := s.store.GetRoom(ctx, req.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, "GetRoom", err)
	}
	return &chatv1.GetRoomResponse{Room: room}, nil
}

// InviteMember implements ChatAdminService.
func (s *Server) InviteMember(ctx context.Context, req *chatv1.InviteMemberRequest) (*chatv1.InviteMemberResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	if err := s.store.Invite(ctx, req.GetRoomId(), req.GetUserId()); err != nil {
		return nil, s.toStatus(ctx, "InviteMember", err)
	}
	return &chatv1.InviteMemberResponse{}, nil
}

// ValidateContent reports why content of type t is not acceptable through
// ChatService, or nil: it must be non-empty valid UTF-8 of at most max
// runes without control characters other than newline and tab, of a type
// other than UNSPECIFIED and SYSTEM; images and files are https URLs.
func ValidateContent(content string, t chatv1.MessageType, max int) error {
	switch t {
	case chatv1.MessageType_MESSAGE_TYPE_TEXT, chatv1.MessageType_MESSAGE_TYPE_EMOJI,
		chatv1.MessageType_MESSAGE_TYPE_IMAGE, chatv1.MessageType_MESSAGE_TYPE_FILE:
	default:
		return fmt.Errorf("message_type %v is not accepted", t)
	}
	if content == "" {
		return errors.New("content is empty")
	}
	if !utf8.ValidString(content) {
		return errors.New("content is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(content); n > max {
		return fmt.Errorf("content has %d characters, more than %d", n, max)
	}
	for _, r := range content {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return errors.New("content has control characters")
		}
	}
	if t == chatv1.MessageType_MESSAGE_TYPE_IMAGE || t == chatv1.MessageType_MESSAGE_TYPE_FILE {
		u, err := url.Parse(content)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return errors.New("content is not an https URL")
		}
	}
	return nil
}

// positive refuses an id that is not positive.
func positive(name string, id int64) error {
	if id <= 0 {
		return status.Errorf(codes.InvalidArgument, "%s must be positive", name)
	}
	return nil
}

// toStatus maps a store error to the RPC's status. Refusals carry an
// ErrorInfo; anything else is logged and answered as Internal without its
// text.
func (s *Server) toStatus(ctx context.Context, rpc string, err error) error {
	switch {
	case errors.Is(err, store.ErrRoomNotFound):
		return refusal(codes.NotFound, chatv1.ErrorReason_ERROR_REASON_ROOM_NOT_FOUND, "room not found")
	case errors.Is(err, store.ErrNotMember):
		return refusal(codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER, "not a member of the room")
	case errors.Is(err, store.ErrNotInvited):
		return refusal(codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_INVITED, "the room is invite-only")
	case errors.Is(err, store.ErrRoomFull):
		return refusal(codes.ResourceExhausted, chatv1.ErrorReason_ERROR_REASON_ROOM_FULL, "the room is full")
	case errors.Is(err, store.ErrRoomExists):
		return refusal(codes.AlreadyExists, chatv1.ErrorReason_ERROR_REASON_ROOM_EXISTS, "a room with that id exists")
	case errors.Is(err, store.ErrClosed):
		return status.Error(codes.Unavailable, "service shutting down")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	s.log.ErrorContext(ctx, "internal error", "rpc", rpc, "err", err)
	return status.Error(codes.Internal, "internal error")
}

// refusal is a status with an ErrorInfo whose reason is the ErrorReason name.
func refusal(code codes.Code, reason chatv1.ErrorReason, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: Domain})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}
