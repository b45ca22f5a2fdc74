package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"time"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/protocol"
)

// maxEchoedAction bounds the original_action echoed in an ERROR, so that a
// huge bogus action is not reflected back.
const maxEchoedAction = 64

// session is the request side of one connection. Its fields are used by its
// request loop only (the expiry timer touches sess alone).
type session struct {
	srv  *Server
	conn net.Conn
	sess *hub.Session

	userID      int64 // 0 until CONNECT succeeds
	nickname    string
	expiresAt   time.Time
	expiry      *time.Timer
	compression string // CONNECT's "compression", for the compression issue
	batch       bool   // CONNECT's "batch", for the batching issue
}

// serveConn runs one connection's request loop; requests are handled in
// order, one at a time. The loop's frame is kept small, with the rest in
// separate functions, because an idle session's goroutine sits in it: a
// shallow stack lets the runtime shrink it (memory per idle connection).
func (srv *Server) serveConn(ctx context.Context, conn net.Conn) {
	s := srv.newSession(conn)
	if s == nil {
		return
	}
	defer s.finish()
	lr := protocol.NewLineReader(conn, srv.opts.MaxFrameBytes)
	authDeadline := time.Now().Add(srv.opts.AuthTimeout)
	for {
		conn.SetReadDeadline(s.readDeadline(authDeadline))
		line, err := lr.ReadLine()
		if err == protocol.ErrFrameTooLong {
			s.replyError(protocol.CodeInvalidData, "", "")
			continue
		}
		if err != nil {
			s.logClosed(err)
			return
		}
		if !s.handle(ctx, line) {
			return
		}
	}
}

// newSession sets up a connection's session; nil when the server is stopping.
func (srv *Server) newSession(conn net.Conn) *session {
	id := srv.opts.EdgeID + "-" + strconv.FormatUint(srv.sessionN.Add(1), 10)
	s := &session{srv: srv, conn: conn, sess: srv.hub.NewSession(id, conn)}
	if !srv.addSession(s.sess) {
		s.sess.Close()
		return nil
	}
	srv.log.Debug("session opened", "session", id, "remote", conn.RemoteAddr().String())
	return s
}

// finish ends the session: out of the indexes, closed once flushed.
func (s *session) finish() {
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.srv.hub.Unregister(s.sess)
	s.sess.CloseAfterFlush()
	s.srv.removeSession(s.sess)
}

// readDeadline is when the next read times out: the idle timeout, or the
// auth deadline until CONNECT succeeds.
func (s *session) readDeadline(authDeadline time.Time) time.Time {
	deadline := time.Now().Add(s.srv.opts.IdleTimeout)
	if s.userID == 0 && authDeadline.Before(deadline) {
		return authDeadline
	}
	return deadline
}

// logClosed logs why the request loop ended with err.
func (s *session) logClosed(err error) {
	log := s.srv.log.With("session", s.sess.ID(), "user_id", s.userID)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout() && s.userID == 0:
		log.Info("session closed: no CONNECT in time", "auth_timeout", s.srv.opts.AuthTimeout)
	case errors.As(err, &ne) && ne.Timeout():
		log.Info("session closed: idle", "idle_timeout", s.srv.opts.IdleTimeout)
	default:
		log.Debug("session closed", "err", err)
	}
}

// replyError answers a failed request.
func (s *session) replyError(code, seqID, action string) {
	if len(action) > maxEchoedAction {
		action = ""
	}
	h := protocol.Header{Time: time.Now(), SeqID: seqID}
	s.sess.Send(protocol.AppendError(make([]byte, 0, 192), h, code, seqID, action))
}

func (s *session) rpcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.srv.opts.RPCTimeout)
}

func (s *session) origin() *chatv1.Origin {
	return &chatv1.Origin{EdgeId: s.srv.opts.EdgeID, SessionId: s.sess.ID()}
}

// handle answers one line; false ends the session.
func (s *session) handle(ctx context.Context, line []byte) bool {
	env, err := protocol.Decode(line, s.srv.opts.MaxDepth)
	if err != nil {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return true
	}
	switch env.Action {
	case protocol.ActionConnect, protocol.ActionPing, protocol.ActionJoinRoom,
		protocol.ActionSendMessage, protocol.ActionLeaveRoom:
	default:
		s.replyError(protocol.CodeInvalidAction, env.SeqID, env.Action)
		return true
	}
	if s.userID == 0 {
		if env.Action != protocol.ActionConnect {
			s.replyError(protocol.CodeNotAuthenticated, env.SeqID, env.Action)
			return true
		}
		return s.connect(ctx, env)
	}
	// The token's expiry is checked locally on every request: no network
	// round trip per request.
	if !s.expiresAt.IsZero() && !time.Now().Before(s.expiresAt) {
		s.expire()
		return false
	}
	if env.HasUserID && env.UserID != s.userID {
		s.replyError(protocol.CodePermissionDenied, env.SeqID, env.Action)
		return true
	}
	switch env.Action {
	case protocol.ActionConnect:
		s.replyError(protocol.CodeInvalidAction, env.SeqID, env.Action)
	case protocol.ActionPing:
		s.sess.Send(protocol.AppendPong(make([]byte, 0, 128), protocol.Header{Time: time.Now(), SeqID: env.SeqID}))
	case protocol.ActionJoinRoom:
		s.joinRoom(ctx, env)
	case protocol.ActionSendMessage:
		s.sendMessage(ctx, env)
	case protocol.ActionLeaveRoom:
		s.leaveRoom(ctx, env)
	}
	return true
}

// expire ends the session because its token expired.
func (s *session) expire() {
	b := protocol.AppendError(make([]byte, 0, 192), s.srv.serverHeader(), protocol.CodeTokenExpired, "", "")
	s.sess.SendAndClose(b)
}

type connectData struct {
	JWTToken    string `json:"jwt_token"`
	Compression string `json:"compression"`
	Batch       bool   `json:"batch"`
}

func (s *session) connect(ctx context.Context, env protocol.Envelope) bool {
	var req connectData
	if err := json.Unmarshal(env.Data, &req); err != nil || req.JWTToken == "" ||
		(req.Compression != "" && req.Compression != "gzip") {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return true
	}
	fail := func(code string) bool {
		h := protocol.Header{Time: time.Now(), SeqID: env.SeqID}
		s.sess.SendAndClose(protocol.AppendConnectError(make([]byte, 0, 160), h, code))
		return false
	}
	rctx, cancel := s.rpcContext(ctx)
	id, err := s.srv.opts.Auth.VerifyToken(rctx, &authv1.VerifyTokenRequest{Token: req.JWTToken})
	cancel()
	if err != nil {
		code := ErrorCode(err)
		s.srv.log.Info("CONNECT refused", "session", s.sess.ID(), "code", code, "err", err)
		return fail(code)
	}
	if id.GetUserId() <= 0 {
		s.srv.log.Error("VerifyToken returned no user id", "session", s.sess.ID())
		return fail(protocol.CodeInternalError)
	}
	var expiresAt time.Time
	if id.GetExpiresAt() != nil {
		expiresAt = id.GetExpiresAt().AsTime()
		if !time.Now().Before(expiresAt) {
			return fail(protocol.CodeTokenExpired)
		}
	}
	rctx, cancel = s.rpcContext(ctx)
	rooms, err := s.srv.opts.Chat.ListUserRooms(rctx, &chatv1.ListUserRoomsRequest{UserId: id.GetUserId()})
	cancel()
	if err != nil {
		code := ErrorCode(err)
		s.srv.log.Warn("CONNECT: ListUserRooms failed", "session", s.sess.ID(), "code", code, "err", err)
		return fail(code)
	}

	s.userID, s.nickname, s.expiresAt = id.GetUserId(), id.GetNickname(), expiresAt
	s.compression, s.batch = req.Compression, req.Batch
	now := time.Now()
	reply := protocol.AppendConnectSuccess(make([]byte, 0, 256), protocol.Header{Time: now, SeqID: env.SeqID}, protocol.Connected{
		UserID:            s.userID,
		SessionID:         s.sess.ID(),
		Nickname:          s.nickname,
		ExpiresAt:         expiresAt,
		HeartbeatInterval: s.srv.opts.HeartbeatInterval,
	})
	// Registering queues CONNECT_SUCCESS first: no room event can precede it.
	s.srv.hub.Register(s.sess, s.userID, rooms.GetRoomIds(), reply)
	if !expiresAt.IsZero() {
		s.expiry = time.AfterFunc(expiresAt.Sub(now), s.expire)
	}
	s.srv.log.Debug("session authenticated", "session", s.sess.ID(), "user_id", s.userID)
	return true
}

type joinData struct {
	ChatroomID     protocol.ID `json:"chatroom_id"`
	SinceMessageID *int64      `json:"since_message_id"`
}

func (s *session) joinRoom(ctx context.Context, env protocol.Envelope) {
	var req joinData
	if err := json.Unmarshal(env.Data, &req); err != nil || req.ChatroomID <= 0 ||
		(req.SinceMessageID != nil && *req.SinceMessageID < 0) {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return
	}
	roomID := int64(req.ChatroomID)
	rctx, cancel := s.rpcContext(ctx)
	resp, err := s.srv.opts.Chat.JoinRoom(rctx, &chatv1.JoinRoomRequest{
		RoomId: roomID, UserId: s.userID, Nickname: s.nickname, Origin: s.origin(),
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	// The user's sessions enter the room's local index when the stream
	// delivers the MemberJoined event, not here: the stream is in commit
	// order, so they get exactly the events committed after the join.
	// Online means "has a session on this edge" until the presence service
	// makes it cluster-wide.
	var online []protocol.Participant
	for _, m := range resp.GetMembers() {
		if s.srv.hub.Online(m.GetUserId()) {
			online = append(online, protocol.Participant{UserID: m.GetUserId(), Nickname: m.GetNickname()})
		}
	}
	count := resp.GetRoom().GetMemberCount()
	if count == 0 {
		count = int32(len(resp.GetMembers()))
	}
	h := protocol.Header{Time: time.Now(), SeqID: env.SeqID}
	s.sess.Send(protocol.AppendJoinRoomSuccess(make([]byte, 0, 256), h, roomID, count, online))
	if req.SinceMessageID == nil {
		return
	}
	rctx, cancel = s.rpcContext(ctx)
	page, err := s.srv.opts.Chat.ListMessages(rctx, &chatv1.ListMessagesRequest{
		RoomId: roomID, UserId: s.userID, AfterId: *req.SinceMessageID, Limit: int32(s.srv.opts.HistoryLimit),
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	h.Time = time.Now()
	s.sess.Send(protocol.AppendBatchMessages(make([]byte, 0, 1024), h, roomID, page.GetMessages(), page.GetHasMore()))
}

type sendData struct {
	ChatroomID  protocol.ID `json:"chatroom_id"`
	Content     *string     `json:"content"`
	MessageType string      `json:"message_type"`
}

func (s *session) sendMessage(ctx context.Context, env protocol.Envelope) {
	var req sendData
	if err := json.Unmarshal(env.Data, &req); err != nil || req.ChatroomID <= 0 || req.Content == nil {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return
	}
	mt, ok := protocol.ParseMessageType(req.MessageType)
	if !ok {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return
	}
	rctx, cancel := s.rpcContext(ctx)
	resp, err := s.srv.opts.Chat.SendMessage(rctx, &chatv1.SendMessageRequest{
		RoomId: int64(req.ChatroomID), UserId: s.userID, Nickname: s.nickname,
		Content: *req.Content, MessageType: mt, Origin: s.origin(),
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	// The ack: the sender's session is answered from the RPC response and
	// skipped when the event comes back on the stream.
	m := resp.GetMessage()
	h := protocol.Header{Time: time.Now(), SeqID: env.SeqID}
	s.sess.Send(protocol.AppendNewMessage(make([]byte, 0, 256+len(m.GetContent())), h, m))
}

type leaveData struct {
	ChatroomID protocol.ID `json:"chatroom_id"`
}

func (s *session) leaveRoom(ctx context.Context, env protocol.Envelope) {
	var req leaveData
	if err := json.Unmarshal(env.Data, &req); err != nil || req.ChatroomID <= 0 {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return
	}
	roomID := int64(req.ChatroomID)
	rctx, cancel := s.rpcContext(ctx)
	resp, err := s.srv.opts.Chat.LeaveRoom(rctx, &chatv1.LeaveRoomRequest{
		RoomId: roomID, UserId: s.userID, Origin: s.origin(),
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	if !resp.GetLeft() {
		// Not a member: no event will come to clean a stale local index.
		s.srv.hub.LeaveUser(s.userID, roomID)
	}
	// LEAVE_ROOM_SUCCESS is ours (added): the seed only tells the others.
	h := protocol.Header{Time: time.Now(), SeqID: env.SeqID}
	s.sess.Send(protocol.AppendLeaveRoomSuccess(make([]byte, 0, 160), h, roomID, resp.GetMemberCount()))
}

// rpcFailed answers a request whose RPC failed; the session stays open.
func (s *session) rpcFailed(err error, env protocol.Envelope) {
	code := ErrorCode(err)
	if code == protocol.CodeInternalError || code == protocol.CodeServiceUnavailable {
		s.srv.log.Warn("chat RPC failed", "session", s.sess.ID(), "action", env.Action, "code", code, "err", err)
	}
	s.replyError(code, env.SeqID, env.Action)
}
