package server

import (
	"context"
	"sync"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/edge/internal/feed"
	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/protocol"
)

// Presence reporting. Session openings and closings are reported to the
// presence service from one goroutine per edge, in order, off the clients'
// request paths: presence being slow or down never delays chat. A report
// that fails is only logged; the SyncSessions sent after every
// (re)subscription repairs what the service missed.

// maxPendingReports bounds the reports waiting for the presence service;
// past it they are replaced by one SyncSessions.
const maxPendingReports = 4096

// maxPresenceUsers is the most users of one GetPresence call.
const maxPresenceUsers = 1000

// reportKind is what a report tells; its value names it in logs.
type reportKind string

const (
	reportOpened reportKind = "SessionOpened"
	reportClosed reportKind = "SessionClosed"
	reportSync   reportKind = "SyncSessions" // the hub's sessions as they are when it is sent
)

type report struct {
	kind      reportKind
	sessionID string
	userID    int64
}

// reporter queues the presence reports of the edge for ReportPresence.
type reporter struct {
	wake chan struct{} // capacity 1: there is something pending

	mu      sync.Mutex
	pending []report
}

func newReporter() *reporter {
	return &reporter{wake: make(chan struct{}, 1)}
}

// add queues r without blocking. On overflow the pending reports are
// replaced by a sync, which reports the state they led to.
func (q *reporter) add(r report) {
	q.mu.Lock()
	if len(q.pending) >= maxPendingReports {
		clear(q.pending)
		q.pending = append(q.pending[:0], report{kind: reportSync})
	} else {
		q.pending = append(q.pending, r)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the pending reports and empties the queue.
func (q *reporter) take() []report {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pending
	q.pending = nil
	return p
}

// sessionOpened reports an authenticated session.
func (srv *Server) sessionOpened(id string, userID int64) {
	srv.reports.add(report{kind: reportOpened, sessionID: id, userID: userID})
}

// sessionClosed reports the end of an authenticated session.
func (srv *Server) sessionClosed(id string) {
	srv.reports.add(report{kind: reportClosed, sessionID: id})
}

// ReportPresence sends the queued presence reports, in order, until ctx is
// done; then, within one RPC deadline, it sends the sessions left (none,
// once Serve has returned), so that the service need not wait for the
// edge's lease to lapse.
func (srv *Server) ReportPresence(ctx context.Context) {
	for {
		select {
		case <-srv.reports.wake:
			srv.sendReports(ctx, srv.reports.take())
		case <-ctx.Done():
			// A fresh context: ctx is done, but the last report still has
			// its deadline.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), srv.opts.RPCTimeout)
			srv.sendReports(final, []report{{kind: reportSync}})
			cancel()
			return
		}
	}
}

// sendReports sends reports in order. A sync among them sends the hub's
// sessions as they are now, which every earlier report of the batch has
// already changed: it replaces the whole batch.
func (srv *Server) sendReports(ctx context.Context, reports []report) {
	for _, r := range reports {
		if r.kind == reportSync {
			reports = []report{r}
			break
		}
	}
	for _, r := range reports {
		if ctx.Err() != nil && r.kind != reportSync {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, srv.opts.RPCTimeout)
		var err error
		switch r.kind {
		case reportOpened:
			_, err = srv.opts.Presence.SessionOpened(rctx, &presencev1.SessionOpenedRequest{
				EdgeId: srv.opts.EdgeID, Session: &presencev1.Session{SessionId: r.sessionID, UserId: r.userID},
			})
		case reportClosed:
			_, err = srv.opts.Presence.SessionClosed(rctx, &presencev1.SessionClosedRequest{
				EdgeId: srv.opts.EdgeID, SessionId: r.sessionID,
			})
		case reportSync:
			sessions := make([]*presencev1.Session, 0, srv.hub.Count())
			srv.hub.EachSession(func(id string, userID int64) {
				sessions = append(sessions, &presencev1.Session{SessionId: id, UserId: userID})
			})
			_, err = srv.opts.Presence.SyncSessions(rctx, &presencev1.SyncSessionsRequest{
				EdgeId: srv.opts.EdgeID, Sessions: sessions,
			})
		}
		cancel()
		srv.reportFailed(r, err)
	}
}

// reportFailed logs a failed report: at warning level on the first failure
// after a success, so that a presence outage is logged once, not once per
// session.
func (srv *Server) reportFailed(r report, err error) {
	switch {
	case err == nil:
		srv.reportsFailing = false
	case !srv.reportsFailing:
		srv.reportsFailing = true
		srv.log.Warn("presence report failed; the next SyncSessions repairs it", "rpc", r.kind, "session", r.sessionID, "err", err)
	default:
		srv.log.Debug("presence report failed", "rpc", r.kind, "session", r.sessionID, "err", err)
	}
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
		Opened: func() { srv.reports.add(report{kind: reportSync}) },
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
