package server

import (
	"context"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/protocol"
	"switchboard.dev/platform/feed"
)

// maxPresenceUsers is the most users of one GetPresence call.
const maxPresenceUsers = 1000

// sessionOpened reports an authenticated session to presence.
func (srv *Server) sessionOpened(id string, userID int64) {
	srv.presenceReports.add(report{kind: reportOpened, sessionID: id, userID: userID})
}

// sendPresenceReport sends one report to the presence service.
func (srv *Server) sendPresenceReport(ctx context.Context, r report) error {
	var err error
	switch r.kind {
	case reportOpened:
		_, err = srv.opts.Presence.SessionOpened(ctx, &presencev1.SessionOpenedRequest{
			EdgeId: srv.opts.EdgeID, Session: &presencev1.Session{SessionId: r.sessionID, UserId: r.userID},
		})
	case reportClosed:
		_, err = srv.opts.Presence.SessionClosed(ctx, &presencev1.SessionClosedRequest{
			EdgeId: srv.opts.EdgeID, SessionId: r.sessionID,
		})
	case reportSync:
		sessions := make([]*presencev1.Session, 0, srv.hub.Count())
		srv.hub.EachSession(func(id string, userID int64) {
			sessions = append(sessions, &presencev1.Session{SessionId: id, UserId: userID})
		})
		_, err = srv.opts.Presence.SyncSessions(ctx, &presencev1.SyncSessionsRequest{
			EdgeId: srv.opts.EdgeID, Sessions: sessions,
		})
	}
	return err
}

// ConsumePresence runs the edge's one presence stream until ctx is done,
// delivering its events to the local sessions; after every
// (re)subscription's first response it queues a SyncSessions.
func (srv *Server) ConsumePresence(ctx context.Context) {
	feed.Feed[*presencev1.SubscribeResponse, *presencev1.Event]{
		Name: "presence",
		Log:  srv.log,
		Open: func(ctx context.Context, after *uint64) (feed.Stream[*presencev1.SubscribeResponse], error) {
			return srv.opts.Presence.Subscribe(ctx, &presencev1.SubscribeRequest{EdgeId: srv.opts.EdgeID, AfterSeq: after})
		},
		Events: (*presencev1.SubscribeResponse).GetEvents,
		Handle: srv.DeliverPresence,
		Opened: func() { srv.presenceReports.add(report{kind: reportSync}) },
	}.Run(ctx)
}

// DeliverPresence hands one presence event to the local sessions of its
// users, or to every local session when it lists none. The envelope is
// serialized once for all of them.
func (srv *Server) DeliverPresence(ev *presencev1.Event) {
	var line []byte
	switch p := ev.GetPayload().(type) {
	case *presencev1.Event_StatusChanged:
		sc := p.StatusChanged
		var lastSeen time.Time
		if sc.GetLastSeen() != nil {
			lastSeen = sc.GetLastSeen().AsTime()
		}
		line = protocol.AppendUserStatusChanged(make([]byte, 0, 192), srv.serverHeader(), sc.GetUserId(), sc.GetOnline(), lastSeen)
	case *presencev1.Event_Announcement:
		a := p.Announcement
		line = protocol.AppendServerAnnouncement(make([]byte, 0, 224+len(a.GetTitle())+len(a.GetMessage())), srv.serverHeader(),
			protocol.Announcement{Title: a.GetTitle(), Message: a.GetMessage(), Type: a.GetType(), Priority: a.GetPriority()})
	default:
		return
	}
	b := hub.Broadcast{Line: line}
	if ids := ev.GetUserIds(); len(ids) > 0 {
		srv.hub.SendUsers(ids, &b)
	} else {
		srv.hub.SendAll(&b)
	}
}

// onlineMembers returns the members who are online: those with a session
// on this edge, and those the presence service says are online. When it
// cannot be asked, the local view alone answers: a join never fails for
// presence.
func (s *session) onlineMembers(ctx context.Context, members []*chatv1.Member) []protocol.Participant {
	remote := s.presenceOf(ctx, members)
	var online []protocol.Participant
	for i, m := range members {
		if (remote != nil && remote[i]) || s.srv.hub.Online(m.GetUserId()) {
			online = append(online, protocol.Participant{UserID: m.GetUserId(), Nickname: m.GetNickname()})
		}
	}
	return online
}

// presenceOf asks the presence service whether each member is online, at
// most maxPresenceUsers a call; nil when it could not answer.
func (s *session) presenceOf(ctx context.Context, members []*chatv1.Member) []bool {
	if len(members) == 0 {
		return nil
	}
	online := make([]bool, len(members))
	ids := make([]int64, 0, min(len(members), maxPresenceUsers))
	for start := 0; start < len(members); start += maxPresenceUsers {
		chunk := members[start:min(start+maxPresenceUsers, len(members))]
		ids = ids[:0]
		for _, m := range chunk {
			ids = append(ids, m.GetUserId())
		}
		rctx, cancel := s.rpcContext(ctx)
		resp, err := s.srv.opts.Presence.GetPresence(rctx, &presencev1.GetPresenceRequest{UserIds: ids})
		cancel()
		if err != nil {
			s.srv.log.Debug("GetPresence failed: online participants from the local view", "session", s.sess.ID(), "err", err)
			return nil
		}
		users := resp.GetUsers()
		if len(users) != len(chunk) {
			s.srv.log.Warn("GetPresence answered for other users: online participants from the local view",
				"session", s.sess.ID(), "asked", len(chunk), "got", len(users))
			return nil
		}
		for i, u := range users {
			if u.GetUserId() != ids[i] {
				s.srv.log.Warn("GetPresence answered out of order: online participants from the local view", "session", s.sess.ID())
				return nil
			}
			online[start+i] = u.GetOnline()
		}
	}
	return online
}
