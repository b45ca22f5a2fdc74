// Package server implements the signaling service's gRPC API over the
// room manager, the store and the broker. It validates requests, asks chat
// whether callers are members of the chat rooms, and maps errors to gRPC
// statuses with google.rpc.ErrorInfo reasons, in one place.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/platform/eventstream"
	"switchboard.dev/services/signaling/internal/rooms"
	"switchboard.dev/services/signaling/internal/store"
)

// Domain is the google.rpc.ErrorInfo domain of the service's refusals.
const Domain = "signaling.switchboard.dev"

// Defaults of Options.
const (
	// DefaultMaxParticipants is the ceiling of max_participants.
	DefaultMaxParticipants = 16
	// DefaultMaxSignalBytes bounds a relayed payload.
	DefaultMaxSignalBytes = 64 << 10
)

// Bounds of requests.
const (
	// MaxIDBytes bounds an edge id and a session id.
	MaxIDBytes = 256
	// MaxSeqIDBytes bounds a caller's seq_id, as the edge bounds it.
	MaxSeqIDBytes = 64
	// MaxNameChars bounds a video room's name, in characters (runes).
	MaxNameChars = 100
	// MaxNicknameBytes bounds a caller's nickname, as auth bounds it.
	MaxNicknameBytes = 256
	// minParticipants is the smallest max_participants: a call needs two.
	minParticipants = 2
)

// UserRooms returns the chat rooms a user is a member of. It bounds its
// own duration.
type UserRooms func(ctx context.Context, userID int64) ([]int64, error)

// Options configure a Server.
type Options struct {
	// MaxParticipants is the ceiling of a room's max_participants, and
	// what 0 takes; 0 means DefaultMaxParticipants.
	MaxParticipants int
	// MaxSignalBytes bounds a relayed payload; 0 means
	// DefaultMaxSignalBytes.
	MaxSignalBytes int
	// UserRooms asks chat for a caller's chat rooms. Required.
	UserRooms UserRooms
	// ICE is what CreateVideoRoom and JoinVideoRoom hand out.
	ICE ICE
	// Now is the clock of the TURN credentials; nil means time.Now.
	Now func() time.Time
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
}

// Server implements SignalingService and SignalingAdminService.
type Server struct {
	signalingv1.UnimplementedSignalingServiceServer
	signalingv1.UnimplementedSignalingAdminServiceServer

	rooms     *rooms.Manager
	store     *store.Store
	broker    *eventstream.Broker[*signalingv1.Event]
	userRooms UserRooms
	maxPart   int
	maxSignal int
	ice       ICE
	now       func() time.Time
	log       *slog.Logger
}

var (
	_ signalingv1.SignalingServiceServer      = (*Server)(nil)
	_ signalingv1.SignalingAdminServiceServer = (*Server)(nil)
)

// New returns a Server over m. Subscribe streams come from b and replay
// st's log.
func New(m *rooms.Manager, st *store.Store, b *eventstream.Broker[*signalingv1.Event], opts Options) *Server {
	s := &Server{rooms: m, store: st, broker: b, userRooms: opts.UserRooms, maxPart: opts.MaxParticipants,
		maxSignal: opts.MaxSignalBytes, ice: opts.ICE, now: opts.Now, log: opts.Logger}
	if s.maxPart <= 0 {
		s.maxPart = DefaultMaxParticipants
	}
	if s.maxSignal <= 0 {
		s.maxSignal = DefaultMaxSignalBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Subscribe implements SignalingService. The stream is the edge's lease.
func (s *Server) Subscribe(req *signalingv1.SubscribeRequest, stream signalingv1.SignalingService_SubscribeServer) error {
	ctx := stream.Context()
	if err := checkID("edge_id", req.GetEdgeId()); err != nil {
		return err
	}
	s.log.Info("subscribe", "edge_id", req.GetEdgeId(), "resume", req.AfterSeq != nil, "after_seq", req.GetAfterSeq())
	s.rooms.Subscribed(req.GetEdgeId())
	defer s.rooms.Unsubscribed(req.GetEdgeId())
	err := s.broker.Stream(ctx, s.store, req.AfterSeq, func(b eventstream.Batch[*signalingv1.Event]) error {
		return stream.Send(&signalingv1.SubscribeResponse{Events: b.Events, HeadSeq: b.Head, Truncated: b.Truncated})
	})
	s.log.Info("subscribe ended", "edge_id", req.GetEdgeId(), "reason", err)
	return eventstream.StreamError(ctx, err, func(err error) error { return s.toStatus(ctx, "Subscribe", err) })
}

// SyncSessions implements SignalingService.
func (s *Server) SyncSessions(ctx context.Context, req *signalingv1.SyncSessionsRequest) (*signalingv1.SyncSessionsResponse, error) {
	if err := checkID("edge_id", req.GetEdgeId()); err != nil {
		return nil, err
	}
	sessions := make(map[string]bool, len(req.GetSessionIds()))
	for _, id := range req.GetSessionIds() {
		if err := checkID("session_ids", id); err != nil {
			return nil, err
		}
		sessions[id] = true
	}
	if err := s.rooms.Sync(ctx, req.GetEdgeId(), sessions); err != nil {
		return nil, s.toStatus(ctx, "SyncSessions", err)
	}
	return &signalingv1.SyncSessionsResponse{}, nil
}

// SessionClosed implements SignalingService.
func (s *Server) SessionClosed(ctx context.Context, req *signalingv1.SessionClosedRequest) (*signalingv1.SessionClosedResponse, error) {
	ss := req.GetSession()
	if ss == nil {
		return nil, status.Error(codes.InvalidArgument, "session is required")
	}
	if err := checkID("session.edge_id", ss.GetEdgeId()); err != nil {
		return nil, err
	}
	if err := checkID("session.session_id", ss.GetSessionId()); err != nil {
		return nil, err
	}
	if err := s.rooms.SessionClosed(ctx, ss.GetEdgeId(), ss.GetSessionId()); err != nil {
		return nil, s.toStatus(ctx, "SessionClosed", err)
	}
	return &signalingv1.SessionClosedResponse{}, nil
}

// CreateVideoRoom implements SignalingService.
func (s *Server) CreateVideoRoom(ctx context.Context, req *signalingv1.CreateVideoRoomRequest) (*signalingv1.CreateVideoRoomResponse, error) {
	c, err := caller(req.GetCaller())
	if err != nil {
		return nil, err
	}
	if err := positive("chatroom_id", req.GetChatroomId()); err != nil {
		return nil, err
	}
	name := req.GetName()
	switch n := utf8.RuneCountInString(name); {
	case strings.TrimSpace(name) == "":
		return nil, status.Error(codes.InvalidArgument, "name is required")
	case n > MaxNameChars:
		return nil, status.Errorf(codes.InvalidArgument, "name has %d characters, at most %d allowed", n, MaxNameChars)
	}
	max := req.GetMaxParticipants()
	if max == 0 {
		max = int32(s.maxPart)
	}
	if max < minParticipants || int(max) > s.maxPart {
		return nil, status.Errorf(codes.InvalidArgument, "max_participants must be 0 or from %d to %d, got %d", minParticipants, s.maxPart, req.GetMaxParticipants())
	}
	if err := s.checkMember(ctx, c.UserID, req.GetChatroomId()); err != nil {
		return nil, s.toStatus(ctx, "CreateVideoRoom", err)
	}
	media := req.GetMediaStatus()
	if media == nil {
		media = &signalingv1.MediaStatus{AudioEnabled: true, VideoEnabled: true}
	}
	room, err := s.rooms.Create(ctx, rooms.NewRoom{ChatroomID: req.GetChatroomId(), Name: name, MaxParticipants: max, Host: c, Media: media})
	if err != nil {
		return nil, s.toStatus(ctx, "CreateVideoRoom", err)
	}
	return &signalingv1.CreateVideoRoomResponse{Room: room, IceServers: s.ice.servers(c.UserID, s.now())}, nil
}

// JoinVideoRoom implements SignalingService.
func (s *Server) JoinVideoRoom(ctx context.Context, req *signalingv1.JoinVideoRoomRequest) (*signalingv1.JoinVideoRoomResponse, error) {
	c, err := callerIn(req.GetCaller(), req.GetVideoRoomId())
	if err != nil {
		return nil, err
	}
	room, err := s.rooms.Room(ctx, req.GetVideoRoomId())
	if err != nil {
		return nil, s.toStatus(ctx, "JoinVideoRoom", err)
	}
	if err := s.checkMember(ctx, c.UserID, room.GetChatroomId()); err != nil {
		return nil, s.toStatus(ctx, "JoinVideoRoom", err)
	}
	room, err = s.rooms.Join(ctx, c, req.GetVideoRoomId(), req.GetMediaStatus())
	if err != nil {
		return nil, s.toStatus(ctx, "JoinVideoRoom", err)
	}
	return &signalingv1.JoinVideoRoomResponse{Room: room, IceServers: s.ice.servers(c.UserID, s.now())}, nil
}

// LeaveVideoRoom implements SignalingService.
func (s *Server) LeaveVideoRoom(ctx context.Context, req *signalingv1.LeaveVideoRoomRequest) (*signalingv1.LeaveVideoRoomResponse, error) {
	c, err := callerIn(req.GetCaller(), req.GetVideoRoomId())
	if err != nil {
		return nil, err
	}
	if err := s.rooms.Leave(ctx, c, req.GetVideoRoomId()); err != nil {
		return nil, s.toStatus(ctx, "LeaveVideoRoom", err)
	}
	return &signalingv1.LeaveVideoRoomResponse{}, nil
}

// Relay implements SignalingService.
func (s *Server) Relay(ctx context.Context, req *signalingv1.RelayRequest) (*signalingv1.RelayResponse, error) {
	c, err := callerIn(req.GetCaller(), req.GetVideoRoomId())
	if err != nil {
		return nil, err
	}
	if err := positive("target_user_id", req.GetTargetUserId()); err != nil {
		return nil, err
	}
	if req.GetTargetUserId() == c.UserID {
		return nil, status.Error(codes.InvalidArgument, "target_user_id is the caller")
	}
	if err := s.checkSignal(req.GetKind(), req.GetPayload()); err != nil {
		return nil, s.toStatus(ctx, "Relay", err)
	}
	if err := s.rooms.Relay(ctx, c, req.GetVideoRoomId(), req.GetTargetUserId(), req.GetKind(), req.GetPayload()); err != nil {
		return nil, s.toStatus(ctx, "Relay", err)
	}
	return &signalingv1.RelayResponse{}, nil
}

// ChangeMediaStatus implements SignalingService.
func (s *Server) ChangeMediaStatus(ctx context.Context, req *signalingv1.ChangeMediaStatusRequest) (*signalingv1.ChangeMediaStatusResponse, error) {
	c, err := callerIn(req.GetCaller(), req.GetVideoRoomId())
	if err != nil {
		return nil, err
	}
	if req.GetMediaStatus() == nil {
		return nil, status.Error(codes.InvalidArgument, "media_status is required")
	}
	if err := s.rooms.ChangeMedia(ctx, c, req.GetVideoRoomId(), req.GetMediaStatus()); err != nil {
		return nil, s.toStatus(ctx, "ChangeMediaStatus", err)
	}
	return &signalingv1.ChangeMediaStatusResponse{}, nil
}

// ListVideoRooms implements SignalingAdminService.
func (s *Server) ListVideoRooms(ctx context.Context, req *signalingv1.ListVideoRoomsRequest) (*signalingv1.ListVideoRoomsResponse, error) {
	if req.GetChatroomId() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "chatroom_id must not be negative, got %d", req.GetChatroomId())
	}
	list, err := s.rooms.List(ctx, req.GetChatroomId())
	if err != nil {
		return nil, s.toStatus(ctx, "ListVideoRooms", err)
	}
	return &signalingv1.ListVideoRoomsResponse{Rooms: list}, nil
}

// CloseVideoRoom implements SignalingAdminService.
func (s *Server) CloseVideoRoom(ctx context.Context, req *signalingv1.CloseVideoRoomRequest) (*signalingv1.CloseVideoRoomResponse, error) {
	if err := positive("video_room_id", req.GetVideoRoomId()); err != nil {
		return nil, err
	}
	if err := s.rooms.Close(ctx, req.GetVideoRoomId()); err != nil {
		return nil, s.toStatus(ctx, "CloseVideoRoom", err)
	}
	return &signalingv1.CloseVideoRoomResponse{}, nil
}

// Refusals decided by the server itself, mapped by toStatus like the
// manager's.
var (
	errNotMember       = errors.New("not a member of the chat room")
	errChatUnavailable = errors.New("chat service unavailable")
)

// invalidSignalError refuses a relayed payload; its text is for people.
type invalidSignalError struct{ msg string }

func (e invalidSignalError) Error() string { return e.msg }

// checkMember asks chat whether the user is a member of the chat room.
func (s *Server) checkMember(ctx context.Context, userID, chatroomID int64) error {
	ids, err := s.userRooms(ctx, userID)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.WarnContext(ctx, "chat membership unknown", "user_id", userID, "chatroom_id", chatroomID, "err", err)
		return fmt.Errorf("list rooms of user %d: %w (%v)", userID, errChatUnavailable, err)
	}
	if !slices.Contains(ids, chatroomID) {
		return errNotMember
	}
	return nil
}

// checkSignal refuses an unknown kind and a payload that is empty, too
// large or not a JSON object on one line, starting at its first byte: what
// an edge writes into a client's envelope as it is (and drops otherwise,
// after the sender was told the signal was relayed).
func (s *Server) checkSignal(kind signalingv1.SignalKind, payload []byte) error {
	switch {
	case kind == signalingv1.SignalKind_SIGNAL_KIND_UNSPECIFIED:
		return invalidSignalError{"kind is required"}
	case signalingv1.SignalKind_name[int32(kind)] == "":
		return invalidSignalError{fmt.Sprintf("unknown kind %d", kind)}
	case len(payload) == 0:
		return invalidSignalError{"payload is empty"}
	case len(payload) > s.maxSignal:
		return invalidSignalError{fmt.Sprintf("payload has %d bytes, at most %d allowed", len(payload), s.maxSignal)}
	case !json.Valid(payload):
		return invalidSignalError{"payload is not valid JSON"}
	case payload[0] != '{':
		return invalidSignalError{"payload is not a JSON object"}
	case bytes.IndexByte(payload, '\n') >= 0:
		return invalidSignalError{"payload is not on one line"}
	}
	return nil
}

// caller validates a request's caller.
func caller(c *signalingv1.Caller) (rooms.Caller, error) {
	if c == nil {
		return rooms.Caller{}, status.Error(codes.InvalidArgument, "caller is required")
	}
	if err := checkID("caller.edge_id", c.GetEdgeId()); err != nil {
		return rooms.Caller{}, err
	}
	if err := checkID("caller.session_id", c.GetSessionId()); err != nil {
		return rooms.Caller{}, err
	}
	if err := positive("caller.user_id", c.GetUserId()); err != nil {
		return rooms.Caller{}, err
	}
	if n := len(c.GetNickname()); n > MaxNicknameBytes {
		return rooms.Caller{}, status.Errorf(codes.InvalidArgument, "caller.nickname has %d bytes, at most %d allowed", n, MaxNicknameBytes)
	}
	if n := len(c.GetSeqId()); n > MaxSeqIDBytes {
		return rooms.Caller{}, status.Errorf(codes.InvalidArgument, "caller.seq_id has %d bytes, at most %d allowed", n, MaxSeqIDBytes)
	}
	return rooms.Caller{EdgeID: c.GetEdgeId(), SessionID: c.GetSessionId(), UserID: c.GetUserId(), Nickname: c.GetNickname(), SeqID: c.GetSeqId()}, nil
}

// callerIn validates a request's caller and the video room it names.
func callerIn(c *signalingv1.Caller, videoRoomID int64) (rooms.Caller, error) {
	if err := positive("video_room_id", videoRoomID); err != nil {
		return rooms.Caller{}, err
	}
	return caller(c)
}

// checkID refuses an empty or oversized id.
func checkID(name, id string) error {
	switch {
	case id == "":
		return status.Errorf(codes.InvalidArgument, "%s is required", name)
	case len(id) > MaxIDBytes:
		return status.Errorf(codes.InvalidArgument, "%s has %d bytes, at most %d allowed", name, len(id), MaxIDBytes)
	}
	return nil
}

// positive refuses an id that is not positive.
func positive(name string, id int64) error {
	if id <= 0 {
		return status.Errorf(codes.InvalidArgument, "%s must be positive, got %d", name, id)
	}
	return nil
}

// toStatus maps an error to the RPC's status. Refusals carry an ErrorInfo;
// anything unexpected is logged and answered as Internal without its
// text.
func (s *Server) toStatus(ctx context.Context, rpc string, err error) error {
	var invalid invalidSignalError
	switch {
	case errors.As(err, &invalid):
		return refusal(codes.InvalidArgument, signalingv1.ErrorReason_ERROR_REASON_INVALID_SIGNAL, invalid.msg)
	case errors.Is(err, store.ErrNotFound):
		return refusal(codes.NotFound, signalingv1.ErrorReason_ERROR_REASON_VIDEO_ROOM_NOT_FOUND, "video room not found")
	case errors.Is(err, rooms.ErrFull):
		// Not RESOURCE_EXHAUSTED: that is the edge's rate limit.
		return refusal(codes.FailedPrecondition, signalingv1.ErrorReason_ERROR_REASON_VIDEO_ROOM_FULL, "the video room is full")
	case errors.Is(err, rooms.ErrNotParticipant):
		return refusal(codes.PermissionDenied, signalingv1.ErrorReason_ERROR_REASON_NOT_PARTICIPANT, "not a participant of the video room")
	case errors.Is(err, errNotMember):
		return refusal(codes.PermissionDenied, signalingv1.ErrorReason_ERROR_REASON_NOT_MEMBER, "not a member of the chat room")
	case errors.Is(err, errChatUnavailable):
		return status.Error(codes.Unavailable, "chat service unavailable")
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

// refusal is a status with an ErrorInfo whose reason is the ErrorReason
// name.
func refusal(code codes.Code, reason signalingv1.ErrorReason, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: Domain})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}
