package servicetest

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
)

// maxPresenceUsers is the contract's limit on the users of one GetPresence.
const maxPresenceUsers = 1000

// Presence is a fake PresenceService answering GetPresence from the
// presences set with SetPresence; a user never set is offline and never
// seen. The edges' calls (Subscribe, SyncSessions, SessionOpened,
// SessionClosed) are unimplemented. It records every request; FailWith
// makes a method return a chosen error instead.
type Presence struct {
	presencev1.UnimplementedPresenceServiceServer

	mu    sync.Mutex
	users map[int64]*presencev1.UserPresence

	recorder
}

var _ presencev1.PresenceServiceServer = (*Presence)(nil)

// NewPresence returns a fake in which every user is offline.
func NewPresence() *Presence {
	return &Presence{users: map[int64]*presencev1.UserPresence{}}
}

// Start serves the fake on loopback until the test ends and returns its address.
func (p *Presence) Start(t testing.TB) string {
	return Serve(t, func(s *grpc.Server) { presencev1.RegisterPresenceServiceServer(s, p) })
}

// SetPresence stores u as its user's presence.
func (p *Presence) SetPresence(u *presencev1.UserPresence) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[u.GetUserId()] = proto.Clone(u).(*presencev1.UserPresence)
}

// GetPresence returns one presence per user asked, in order, refusing as
// the contract says: no users, more than 1000, or an id that is not positive.
func (p *Presence) GetPresence(ctx context.Context, req *presencev1.GetPresenceRequest) (*presencev1.GetPresenceResponse, error) {
	if err := p.record(ctx, "GetPresence", req); err != nil {
		return nil, err
	}
	ids := req.GetUserIds()
	if len(ids) == 0 || len(ids) > maxPresenceUsers {
		return nil, status.Errorf(codes.InvalidArgument, "want 1 to %d user_ids, got %d", maxPresenceUsers, len(ids))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := &presencev1.GetPresenceResponse{}
	for _, id := range ids {
		if id <= 0 {
			return nil, status.Errorf(codes.InvalidArgument, "user_ids must be positive, got %d", id)
		}
		u, ok := p.users[id]
		if !ok {
			u = &presencev1.UserPresence{UserId: id}
		}
		resp.Users = append(resp.Users, proto.Clone(u).(*presencev1.UserPresence))
	}
	return resp, nil
}

// PresenceAdmin is a fake PresenceAdminService keeping the announcements it
// accepted. It records every request; FailWith makes a method return a
// chosen error instead.
type PresenceAdmin struct {
	presencev1.UnimplementedPresenceAdminServiceServer

	mu            sync.Mutex
	announcements []*presencev1.AnnounceRequest

	recorder
}

var _ presencev1.PresenceAdminServiceServer = (*PresenceAdmin)(nil)

// NewPresenceAdmin returns a fake that has announced nothing.
func NewPresenceAdmin() *PresenceAdmin {
	return &PresenceAdmin{}
}

// Start serves the fake on loopback until the test ends and returns its address.
func (a *PresenceAdmin) Start(t testing.TB) string {
	return Serve(t, func(s *grpc.Server) { presencev1.RegisterPresenceAdminServiceServer(s, a) })
}

// Announce keeps an announcement; INVALID_ARGUMENT without a title or a
// message, or with a user id that is not positive.
func (a *PresenceAdmin) Announce(ctx context.Context, req *presencev1.AnnounceRequest) (*presencev1.AnnounceResponse, error) {
	if err := a.record(ctx, "Announce", req); err != nil {
		return nil, err
	}
	if req.GetAnnouncement().GetTitle() == "" || req.GetAnnouncement().GetMessage() == "" {
		return nil, status.Error(codes.InvalidArgument, "announcement title and message are required")
	}
	for _, id := range req.GetUserIds() {
		if id <= 0 {
			return nil, status.Errorf(codes.InvalidArgument, "user_ids must be positive, got %d", id)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.announcements = append(a.announcements, proto.Clone(req).(*presencev1.AnnounceRequest))
	return &presencev1.AnnounceResponse{}, nil
}

// Announcements returns copies of the announcements accepted, in order.
func (a *PresenceAdmin) Announcements() []*presencev1.AnnounceRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*presencev1.AnnounceRequest, len(a.announcements))
	for i, r := range a.announcements {
		out[i] = proto.Clone(r).(*presencev1.AnnounceRequest)
	}
	return out
}

// ServePresence serves both fakes on one loopback address, as the presence
// service serves both of its APIs, until the test ends; it returns the address.
func ServePresence(t testing.TB, p *Presence, a *PresenceAdmin) string {
	return Serve(t, func(s *grpc.Server) {
		presencev1.RegisterPresenceServiceServer(s, p)
		presencev1.RegisterPresenceAdminServiceServer(s, a)
	})
}
