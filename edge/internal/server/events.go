package server

import (
	"context"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/protocol"
	"switchboard.dev/platform/feed"
)

// ConsumeEvents runs the edge's one chat event stream until ctx is done:
// it subscribes, delivers every event to the local sessions, and after a
// break resubscribes with backoff from the last sequence number it saw, so
// that no committed event is lost.
func (srv *Server) ConsumeEvents(ctx context.Context) {
	feed.Feed[*chatv1.SubscribeResponse, *chatv1.Event]{
		Name: "chat event",
		Log:  srv.log,
		Open: func(ctx context.Context, after *uint64) (feed.Stream[*chatv1.SubscribeResponse], error) {
			return srv.opts.Chat.Subscribe(ctx, &chatv1.SubscribeRequest{EdgeId: srv.opts.EdgeID, AfterSeq: after})
		},
		Events: (*chatv1.SubscribeResponse).GetEvents,
		Handle: srv.Deliver,
	}.Run(ctx)
}

// Deliver hands one chat event to the local sessions it concerns. The
// envelope is serialized once and the same bytes are queued on every
// recipient; the session that caused the event (Origin) was answered
// directly and is skipped. A NEW_MESSAGE echoes the sender's seq_id to
// every member, as the protocol document shows.
func (srv *Server) Deliver(ev *chatv1.Event) {
	roomID := ev.GetRoomId()
	switch p := ev.GetPayload().(type) {
	case *chatv1.Event_MessagePosted:
		m := p.MessagePosted.GetMessage()
		h := srv.eventHeader(p.MessagePosted.GetOrigin().GetSeqId())
		line := protocol.AppendNewMessage(make([]byte, 0, 256+len(m.GetNickname())+len(m.GetContent())), h, m)
		b := hub.Broadcast{Line: line, Message: protocol.Data(line), SenderID: m.GetUserId()}
		srv.hub.SendRoom(roomID, srv.skipID(p.MessagePosted.GetOrigin()), &b)
	case *chatv1.Event_MemberJoined:
		j := p.MemberJoined
		// Index first, so that the joiner's other sessions hear of it too.
		srv.hub.JoinUser(j.GetUserId(), roomID)
		b := hub.Broadcast{Line: protocol.AppendMember(make([]byte, 0, 256), srv.serverHeader(), protocol.ActionUserJoined,
			roomID, j.GetUserId(), j.GetNickname(), j.GetMemberCount(), "")}
		srv.hub.SendRoom(roomID, srv.skipID(j.GetOrigin()), &b)
	case *chatv1.Event_MemberLeft:
		l := p.MemberLeft
		// Deliver first, so that the leaver's own sessions hear of it too (a
		// kicked or banned user learns it this way), then unindex them.
		b := hub.Broadcast{Line: protocol.AppendMember(make([]byte, 0, 256), srv.serverHeader(), protocol.ActionUserLeft,
			roomID, l.GetUserId(), l.GetNickname(), l.GetMemberCount(), protocol.LeaveReasonName(l.GetReason()))}
		srv.hub.SendRoom(roomID, srv.skipID(l.GetOrigin()), &b)
		srv.hub.LeaveUser(l.GetUserId(), roomID)
	case *chatv1.Event_RoomDeleted:
		b := hub.Broadcast{Line: protocol.AppendRoomDeleted(make([]byte, 0, 160), srv.serverHeader(), roomID)}
		srv.hub.SendRoom(roomID, "", &b)
		srv.hub.DropRoom(roomID)
	case *chatv1.Event_UserBlocked:
		srv.hub.SetBlocked(p.UserBlocked.GetUserId(), p.UserBlocked.GetBlockedUserId(), true)
	case *chatv1.Event_UserUnblocked:
		srv.hub.SetBlocked(p.UserUnblocked.GetUserId(), p.UserUnblocked.GetBlockedUserId(), false)
	}
}

// skipID is the id of the local session an event originates from, or "".
func (srv *Server) skipID(o *chatv1.Origin) string {
	if o.GetEdgeId() != srv.opts.EdgeID {
		return ""
	}
	return o.GetSessionId()
}
