// Package server implements the presence service's gRPC API over the
// tracker, the store and the broker. It validates requests and maps errors
// to gRPC statuses, in one place.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/platform/eventstream"
	"switchboard.dev/services/presence/internal/store"
	"switchboard.dev/services/presence/internal/tracker"
)

// Bounds of requests.
const (
	// MaxIDBytes bounds an edge id and a session id.
	MaxIDBytes = 256
	// MaxPresenceUsers bounds the users of one GetPresence.
	MaxPresenceUsers = 1000
	// MaxAnnouncementChars bounds an announcement's title and its
	// message, in characters (runes).
	MaxAnnouncementChars = 1000
	// MaxLabelChars bounds an announcement's type and priority.
	MaxLabelChars = 64
	// MaxAnnounceUsers bounds the users an announcement is limited to.
	MaxAnnounceUsers = 10000
)

// Server implements PresenceService and PresenceAdminService.
type Server struct {
	presencev1.UnimplementedPresenceServiceServer
	presencev1.UnimplementedPresenceAdminServiceServer

	tracker *tracker.Tracker
	store   *store.Store
	broker  *eventstream.Broker[*presencev1.Event]
	log     *slog.Logger
}

var (
	_ presencev1.PresenceServiceServer      = (*Server)(nil)
	_ presencev1.PresenceAdminServiceServer = (*Server)(nil)
)

// New returns a Server. Subscribe streams come from b and replay st's log;
// announcements are appended to st.
func New(tr *tracker.Tracker, st *store.Store, b *eventstream.Broker[*presencev1.Event], log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{tracker: tr, store: st, broker: b, log: log}
}

// Subscribe implements PresenceService. The stream is the edge's lease.
func (s *Server) Subscribe(req *presencev1.SubscribeRequest, stream presencev1.PresenceService_SubscribeServer) error {
	ctx := stream.Context()
	if err := checkID("edge_id", req.GetEdgeId()); err != nil {
		return err
	}
	s.log.Info("subscribe", "edge_id", req.GetEdgeId(), "resume", req.AfterSeq != nil, "after_seq", req.GetAfterSeq())
	s.tracker.Subscribed(req.GetEdgeId())
	defer s.tracker.Unsubscribed(req.GetEdgeId())
	err := s.broker.Stream(ctx, s.store, req.AfterSeq, func(b eventstream.Batch[*presencev1.Event]) error {
		return stream.Send(&presencev1.SubscribeResponse{Events: b.Events, HeadSeq: b.Head, Truncated: b.Truncated})
	})
	s.log.Info("subscribe ended", "edge_id", req.GetEdgeId(), "reason", err)
	return eventstream.StreamError(ctx, err, func(err error) error { return s.toStatus(ctx, "Subscribe", err) })
}

// SyncSessions implements PresenceService.
func (s *Server) SyncSessions(ctx context.Context, req *presencev1.SyncSessionsRequest) (*presencev1.SyncSessionsResponse, error) {
	if err := checkID("edge_id", req.GetEdgeId()); err != nil {
		return nil, err
	}
	sessions := make(map[string]int64, len(req.GetSessions()))
	for _, ss := range req.GetSessions() {
		if err := checkSession(ss); err != nil {
			return nil, err
		}
		sessions[ss.GetSessionId()] = ss.GetUserId()
	}
	s.tracker.Sync(req.GetEdgeId(), sessions)
	return &presencev1.SyncSessionsResponse{}, nil
}

// SessionOpened implements PresenceService.
func (s *Server) SessionOpened(ctx context.Context, req *presencev1.SessionOpenedRequest) (*presencev1.SessionOpenedResponse, error) {
	if err := checkID("edge_id", req.GetEdgeId()); err != nil {
		return nil, err
	}
	if req.GetSession() == nil {
		return nil, status.Error(codes.InvalidArgument, "session is required")
	}
	if err := checkSession(req.GetSession()); err != nil {
		return nil, err
	}
	s.tracker.Opened(req.GetEdgeId(), req.GetSession().GetSessionId(), req.GetSession().GetUserId())
	return &presencev1.SessionOpenedResponse{}, nil
}

// SessionClosed implements PresenceService.
func (s *Server) SessionClosed(ctx context.Context, req *presencev1.SessionClosedRequest) (*presencev1.SessionClosedResponse, error) {
	if err := checkID("edge_id", req.GetEdgeId()); err != nil {
		return nil, err
	}
	if err := checkID("session_id", req.GetSessionId()); err != nil {
		return nil, err
	}
	s.tracker.Closed(req.GetEdgeId(), req.GetSessionId())
	return &presencev1.SessionClosedResponse{}, nil
}

// GetPresence implements PresenceService.
func (s *Server) GetPresence(ctx context.Context, req *presencev1.GetPresenceRequest) (*presencev1.GetPresenceResponse, error) {
	ids := req.GetUserIds()
	if len(ids) > MaxPresenceUsers {
		return nil, status.Errorf(codes.InvalidArgument, "at most %d user_ids, got %d", MaxPresenceUsers, len(ids))
	}
	for _, id := range ids {
		if err := positive("user_ids", id); err != nil {
			return nil, err
		}
	}
	users, err := s.tracker.Presence(ctx, ids)
	if err != nil {
		return nil, s.toStatus(ctx, "GetPresence", err)
	}
	return &presencev1.GetPresenceResponse{Users: users}, nil
}

// Announce implements PresenceAdminService. It returns once the
// announcement is in the log and handed to the open streams.
func (s *Server) Announce(ctx context.Context, req *presencev1.AnnounceRequest) (*presencev1.AnnounceResponse, error) {
	a := req.GetAnnouncement()
	if a == nil {
		return nil, status.Error(codes.InvalidArgument, "announcement is required")
	}
	for _, f := range []struct {
		name     string
		value    string
		max      int
		required bool
	}{
		{"title", a.GetTitle(), MaxAnnouncementChars, true},
		{"message", a.GetMessage(), MaxAnnouncementChars, true},
		{"type", a.GetType(), MaxLabelChars, false},
		{"priority", a.GetPriority(), MaxLabelChars, false},
	} {
		if f.required && f.value == "" {
			return nil, status.Errorf(codes.InvalidArgument, "announcement %s is required", f.name)
		}
		if n := utf8.RuneCountInString(f.value); n > f.max {
			return nil, status.Errorf(codes.InvalidArgument, "announcement %s has %d characters, at most %d allowed", f.name, n, f.max)
		}
	}
	if len(req.GetUserIds()) > MaxAnnounceUsers {
		return nil, status.Errorf(codes.InvalidArgument, "at most %d user_ids, got %d", MaxAnnounceUsers, len(req.GetUserIds()))
	}
	for _, id := range req.GetUserIds() {
		if err := positive("user_ids", id); err != nil {
			return nil, err
		}
	}
	ev := &presencev1.Event{UserIds: req.GetUserIds(), Payload: &presencev1.Event_Announcement{Announcement: a}}
	if err := s.store.Apply(ctx, store.Write{Event: ev}); err != nil {
		return nil, s.toStatus(ctx, "Announce", err)
	}
	return &presencev1.AnnounceResponse{}, nil
}

func checkSession(ss *presencev1.Session) error {
	if err := checkID("session_id", ss.GetSessionId()); err != nil {
		return err
	}
	return positive("user_id", ss.GetUserId())
}

// checkID refuses an empty or oversized edge or session id.
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
		return status.Error(codes.InvalidArgument, fmt.Sprintf("%s must be positive, got %d", name, id))
	}
	return nil
}

// toStatus maps an error to the RPC's status; anything unexpected is
// logged and answered as Internal without its text.
func (s *Server) toStatus(ctx context.Context, rpc string, err error) error {
	switch {
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
