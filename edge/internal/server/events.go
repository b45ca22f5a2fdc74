package server

import (
	"context"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/protocol"
)

// Backoff of the event stream's reconnection.
const (
	minStreamBackoff = 50 * time.Millisecond
	maxStreamBackoff = 2 * time.Second
)

// cursor is the edge's position in chat's event log.
type cursor struct {
	seq   uint64 // the last event delivered
	known bool   // false until a first stream has told the head
}

// request asks to resume after the cursor, or to start at the head when no
// position is known yet.
func (c *cursor) request(edgeID string) *chatv1.SubscribeRequest {
	req := &chatv1.SubscribeRequest{EdgeId: edgeID}
	if c.known {
		req.AfterSeq = &c.seq
	}
	return req
}

// ConsumeEvents runs the edge's one chat event stream until ctx is done:
// it subscribes, delivers every event to the local sessions, and after a
// break resubscribes with backoff from the last sequence number it saw, so
// that no committed event is lost.
func (srv *Server) ConsumeEvents(ctx context.Context) {
	var pos cursor
	backoff := minStreamBackoff
	for {
		err := srv.subscribe(ctx, &pos, &backoff)
		if ctx.Err() != nil {
			return
		}
		srv.log.Warn("chat event stream lost; resubscribing", "after_seq", pos.seq, "backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxStreamBackoff)
	}
}

// subscribe consumes one stream until it breaks.
func (srv *Server) subscribe(ctx context.Context, pos *cursor, backoff *time.Duration) error {
	// The stream lives as long as the edge: it has no deadline, unlike every
	// unary call.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := srv.opts.Chat.Subscribe(ctx, pos.request(srv.opts.EdgeID))
	if err != nil {
		return err
	}
	first := true
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if first {
			first = false
			*backoff = minStreamBackoff
			if !pos.known {
				pos.seq, pos.known = resp.GetHeadSeq(), true
			}
			if resp.GetTruncated() {
				srv.log.Error("chat event stream truncated: events were lost", "after_seq", pos.seq)
			}
			srv.log.Info("chat event stream open", "head_seq", resp.GetHeadSeq(), "after_seq", pos.seq)
		}
		for _, ev := range resp.GetEvents() {
			if ev.GetSeq() <= pos.seq {
				continue // already delivered before a reconnect
			}
			srv.Deliver(ev)
			pos.seq = ev.GetSeq()
		}
	}
}

// Deliver hands one chat event to the local sessions it concerns. The
// envelope is serialized once and the same bytes are queued on every
// recipient; the session that caused the event (Origin) was answered
// directly and is skipped.
func (srv *Server) Deliver(ev *chatv1.Event) {
	roomID := ev.GetRoomId()
	switch p := ev.GetPayload().(type) {
	case *chatv1.Event_MessagePosted:
		m := p.MessagePosted.GetMessage()
		line := protocol.AppendNewMessage(make([]byte, 0, 256+len(m.GetNickname())+len(m.GetContent())), srv.serverHeader(), m)
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
