package servicetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
)

// SignalingDomain is the ErrorInfo domain of the signaling fake's
// refusals, the signaling service's.
const SignalingDomain = "signaling.switchboard.dev"

// SignalingAdmin is a fake SignalingAdminService keeping the open video
// rooms set with PutVideoRoom. It lists and closes them, and refuses, as
// the signaling service does. It records every request; FailWith makes a
// method return a chosen error instead.
type SignalingAdmin struct {
	signalingv1.UnimplementedSignalingAdminServiceServer

	mu    sync.Mutex
	rooms map[int64]*signalingv1.VideoRoom

	recorder
}

var _ signalingv1.SignalingAdminServiceServer = (*SignalingAdmin)(nil)

// NewSignalingAdmin returns a fake with no open video room.
func NewSignalingAdmin() *SignalingAdmin {
	return &SignalingAdmin{rooms: map[int64]*signalingv1.VideoRoom{}}
}

// Start serves the fake on loopback until the test ends and returns its address.
func (a *SignalingAdmin) Start(t testing.TB) string {
	return Serve(t, func(s *grpc.Server) { signalingv1.RegisterSignalingAdminServiceServer(s, a) })
}

// PutVideoRoom stores r as an open video room, as if it had been created
// and joined.
func (a *SignalingAdmin) PutVideoRoom(r *signalingv1.VideoRoom) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rooms[r.GetVideoRoomId()] = proto.CloneOf(r)
}

// VideoRooms returns copies of the open video rooms, oldest first.
func (a *SignalingAdmin) VideoRooms() []*signalingv1.VideoRoom {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.list(0)
}

// list returns copies of the open video rooms of chatroom (0: all), oldest
// first and by id among those created at once, as the service orders
// them; the caller holds mu.
func (a *SignalingAdmin) list(chatroom int64) []*signalingv1.VideoRoom {
	var out []*signalingv1.VideoRoom
	for _, r := range a.rooms {
		if chatroom == 0 || r.GetChatroomId() == chatroom {
			out = append(out, proto.CloneOf(r))
		}
	}
	slices.SortFunc(out, func(x, y *signalingv1.VideoRoom) int {
		if c := x.GetCreatedAt().AsTime().Compare(y.GetCreatedAt().AsTime()); c != 0 {
			return c
		}
		return cmp.Compare(x.GetVideoRoomId(), y.GetVideoRoomId())
	})
	return out
}

// ListVideoRooms returns the open video rooms, of one chat room when
// chatroom_id is not zero; INVALID_ARGUMENT when it is negative.
func (a *SignalingAdmin) ListVideoRooms(ctx context.Context, req *signalingv1.ListVideoRoomsRequest) (*signalingv1.ListVideoRoomsResponse, error) {
	if err := a.record(ctx, "ListVideoRooms", req); err != nil {
		return nil, err
	}
	if req.GetChatroomId() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "chatroom_id must not be negative, got %d", req.GetChatroomId())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return &signalingv1.ListVideoRoomsResponse{Rooms: a.list(req.GetChatroomId())}, nil
}

// CloseVideoRoom closes an open video room; NOT_FOUND with the reason
// VIDEO_ROOM_NOT_FOUND when none has the id.
func (a *SignalingAdmin) CloseVideoRoom(ctx context.Context, req *signalingv1.CloseVideoRoomRequest) (*signalingv1.CloseVideoRoomResponse, error) {
	if err := a.record(ctx, "CloseVideoRoom", req); err != nil {
		return nil, err
	}
	if id := req.GetVideoRoomId(); id <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "video_room_id must be positive, got %d", id)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.rooms[req.GetVideoRoomId()]; !ok {
		return nil, signalingRefusal(codes.NotFound, signalingv1.ErrorReason_ERROR_REASON_VIDEO_ROOM_NOT_FOUND, "video room not found")
	}
	delete(a.rooms, req.GetVideoRoomId())
	return &signalingv1.CloseVideoRoomResponse{}, nil
}

// signalingRefusal returns a status with code (not OK) and msg carrying an
// ErrorInfo whose reason is the name of reason, as the signaling service
// refuses.
func signalingRefusal(code codes.Code, reason signalingv1.ErrorReason, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: SignalingDomain})
	if err != nil {
		panic(fmt.Sprintf("servicetest: attach ErrorInfo: %v", err))
	}
	return st.Err()
}
