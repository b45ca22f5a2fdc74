package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/protocol"
	"switchboard.dev/platform/requestid"
)

// maxEchoedAction bounds the original_action echoed in an ERROR, so that a
// huge bogus action is not reflected back.
const maxEchoedAction = 64

// session is the request side of one connection. Its fields are used by its
// request loop only (the expiry timer touches sess alone). The token's jti
// and iat are kept by the hub, which judges revocations.
type session struct {
	srv  *Server
	sess *hub.Session
	ip   netip.Addr    // the peer's, as admitted (admission)
	rpcN atomic.Uint64 // numbers the session's gRPC calls (rpcContext)

	userID    int64 // 0 until CONNECT succeeds
	nickname  string
	expiresAt time.Time
	expiry    *time.Timer

	// inVideo is set before the session's first JOIN_VIDEO_ROOM: its end
	// is then reported to the signaling service.
	inVideo bool
	signals signalBucket // bounds the signaling requests
}

// serveConn runs one connection's request loop; requests are handled in
// order, one at a time. The loop's frame is kept small, with the rest in
// separate functions, because an idle session's goroutine sits in it: a
// shallow stack lets the runtime shrink it (memory per idle connection).
func (srv *Server) serveConn(ctx context.Context, conn net.Conn, ip netip.Addr) {
	s := srv.newSession(conn, conn.RemoteAddr(), ip)
	if s == nil {
		return
	}
	defer s.finish()
	lr := protocol.NewLineReader(conn, min(srv.opts.MaxFrameBytes, MaxConnectFrameBytes))
	authDeadline := time.Now().Add(srv.opts.AuthTimeout)
	for {
		s.sess.AwaitRoom()
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
		if s.userID != 0 {
			lr.SetMax(srv.opts.MaxFrameBytes)
		}
	}
}

// newSession sets up the session of an admitted connection from remote
// (source address ip), written through conn; nil when the server is
// stopping.
func (srv *Server) newSession(conn hub.Conn, remote net.Addr, ip netip.Addr) *session {
	s := srv.makeSession(conn, remote, ip)
	if !srv.addSession(s.sess) {
		s.sess.Close()
		srv.admission.release(ip, false)
		return nil
	}
	return s
}

// makeSession makes the session of an admitted connection from remote
// (source address ip), written through conn, not yet tracked for the
// shutdown (see addSession). Its finish releases the admission.
func (srv *Server) makeSession(conn hub.Conn, remote net.Addr, ip netip.Addr) *session {
	id := srv.opts.EdgeID + "-" + strconv.FormatUint(srv.sessionN.Add(1), 10)
	srv.log.Debug("session opened", "session", id, "remote", remote.String())
	return &session{srv: srv, sess: srv.hub.NewSession(id, conn), ip: ip}
}

// finish ends the session: out of the indexes, closed once flushed, and
// reported closed to presence when it was authenticated, and to signaling
// when it joined a video room.
func (s *session) finish() {
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.srv.hub.Unregister(s.sess)
	s.sess.CloseAfterFlush()
	s.srv.removeSession(s.sess)
	s.srv.admission.release(s.ip, s.userID != 0)
	if s.userID != 0 {
		s.srv.presenceReports.add(report{kind: reportClosed, sessionID: s.sess.ID()})
	}
	if s.inVideo {
		s.srv.signalingReports.add(report{kind: reportClosed, sessionID: s.sess.ID()})
	}
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
	s.replyErrorMessage(code, protocol.Message(code), seqID, action)
}

func (s *session) replyErrorMessage(code, message, seqID, action string) {
	if len(action) > maxEchoedAction {
		action = ""
	}
	h := protocol.Header{Time: time.Now(), SeqID: seqID}
	s.sess.Send(protocol.AppendErrorMessage(make([]byte, 0, 192+len(message)), h, code, message, seqID, action))
}

// invalidData answers a request whose data is refused with INVALID_DATA;
// when err names the field at fault (a protocol.FieldError, or a JSON
// value of the wrong type) the message names it too.
func (s *session) invalidData(err error, env protocol.Envelope) {
	msg := protocol.Message(protocol.CodeInvalidData)
	var fe *protocol.FieldError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &fe):
		msg += ": " + fe.Error()
	case errors.As(err, &te) && te.Field != "":
		msg += ": " + te.Field + " must be a JSON " + jsonKind(te.Type.Kind())
	}
	s.replyErrorMessage(protocol.CodeInvalidData, msg, env.SeqID, env.Action)
}

// jsonKind names the JSON type a Go kind decodes from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	default:
		return "number"
	}
}

// rpcContext bounds one gRPC call of the session and names it with a
// request id, "<session id>:<n>" for the session's n-th call, which the
// services put in their logs (platform/requestid): one session's calls are
// found by prefix.
func (s *session) rpcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	id := s.sess.ID() + ":" + strconv.FormatUint(s.rpcN.Add(1), 10)
	ctx, cancel := context.WithTimeout(ctx, s.srv.opts.RPCTimeout)
	return requestid.Outgoing(ctx, id), cancel
}

// origin names the session to chat; seqID is the request's seq_id when
// the events it causes echo it (a message's NEW_MESSAGE), else "".
func (s *session) origin(seqID string) *chatv1.Origin {
	return &chatv1.Origin{EdgeId: s.srv.opts.EdgeID, SessionId: s.sess.ID(), SeqId: seqID}
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
		protocol.ActionSendMessage, protocol.ActionLeaveRoom,
		protocol.ActionGetMessages, protocol.ActionBatchMessages, protocol.ActionRefreshToken,
		protocol.ActionCreateVideoRoom, protocol.ActionJoinVideoRoom, protocol.ActionLeaveVideoRoom,
		protocol.ActionSDPOffer, protocol.ActionSDPAnswer, protocol.ActionICECandidate,
		protocol.ActionMediaStatusChange:
	default:
		s.replyError(protocol.CodeInvalidAction, env.SeqID, env.Action)
		return true
	}
	if s.userID == 0 && env.Action != protocol.ActionConnect {
		s.replyError(protocol.CodeNotAuthenticated, env.SeqID, env.Action)
		return true
	}
	if env.Compressed {
		// Bounded: at most MaxInflatedBytes+1 bytes are ever inflated.
		data, err := s.srv.gz.InflateData(env.Data, s.srv.opts.MaxInflatedBytes, s.srv.opts.MaxDepth-1)
		if err != nil {
			s.srv.log.Debug("compressed request refused", "session", s.sess.ID(), "action", env.Action, "err", err)
			s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
			return true
		}
		env.Data = data
	}
	if s.userID == 0 {
		return s.connect(ctx, env)
	}
	// A revoked (or expired, or too slow) session is closing: it serves
	// nothing more, even while its last envelopes are being written.
	if s.sess.Ending() {
		return false
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
	case protocol.ActionGetMessages:
		s.getMessages(ctx, env)
	case protocol.ActionBatchMessages:
		s.batchMessages(ctx, env)
	case protocol.ActionRefreshToken:
		s.refreshToken(ctx, env)
	case protocol.ActionCreateVideoRoom:
		s.createVideoRoom(ctx, env)
	case protocol.ActionJoinVideoRoom:
		s.joinVideoRoom(ctx, env)
	case protocol.ActionLeaveVideoRoom:
		s.leaveVideoRoom(ctx, env)
	case protocol.ActionSDPOffer, protocol.ActionSDPAnswer, protocol.ActionICECandidate:
		s.relaySignal(ctx, env)
	case protocol.ActionMediaStatusChange:
		s.changeMediaStatus(ctx, env)
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
	if err := json.Unmarshal(env.Data, &req); err != nil || req.JWTToken == "" {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return true
	}
	fail := func(code string) bool {
		h := protocol.Header{Time: time.Now(), SeqID: env.SeqID}
		s.sess.SendAndClose(protocol.AppendConnectError(make([]byte, 0, 160), h, code))
		return false
	}
	// Taken before the token is verified: a revocation applied from now
	// until the session is indexed refuses it at Register.
	mark := s.srv.hub.RevocationMark()
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
	expiresAt := expiry(id)
	if !expiresAt.IsZero() && !time.Now().Before(expiresAt) {
		return fail(protocol.CodeTokenExpired)
	}
	rctx, cancel = s.rpcContext(ctx)
	rooms, err := s.srv.opts.Chat.ListUserRooms(rctx, &chatv1.ListUserRoomsRequest{UserId: id.GetUserId()})
	cancel()
	if err != nil {
		code := ErrorCode(err)
		s.srv.log.Warn("CONNECT: ListUserRooms failed", "session", s.sess.ID(), "code", code, "err", err)
		return fail(code)
	}
	rctx, cancel = s.rpcContext(ctx)
	blocks, err := s.srv.opts.Chat.ListBlocks(rctx, &chatv1.ListBlocksRequest{UserId: id.GetUserId()})
	cancel()
	if err != nil {
		code := ErrorCode(err)
		s.srv.log.Warn("CONNECT: ListBlocks failed", "session", s.sess.ID(), "code", code, "err", err)
		return fail(code)
	}

	// Only gzip is offered; any other compression is ignored (the session
	// gets plain envelopes) rather than refused, so that newer clients can
	// list what they support.
	gzip := req.Compression == "gzip"
	now := time.Now()
	connected := protocol.Connected{
		UserID:            id.GetUserId(),
		SessionID:         s.sess.ID(),
		Nickname:          id.GetNickname(),
		ExpiresAt:         expiresAt,
		HeartbeatInterval: s.srv.opts.HeartbeatInterval,
	}
	if gzip {
		connected.Compression = "gzip"
	}
	reply := protocol.AppendConnectSuccess(make([]byte, 0, 288), protocol.Header{Time: now, SeqID: env.SeqID}, connected)
	// Registering queues CONNECT_SUCCESS first: no room event can precede it.
	if !s.srv.hub.Register(s.sess, hub.Registration{
		UserID:         id.GetUserId(),
		Rooms:          rooms.GetRoomIds(),
		Blocked:        blocks.GetBlockedUserIds(),
		Gzip:           gzip,
		Batch:          req.Batch,
		Token:          token(id),
		RevocationMark: mark,
	}, reply) {
		s.srv.log.Info("CONNECT refused: token revoked while connecting", "session", s.sess.ID())
		return fail(protocol.CodeTokenRevoked)
	}
	s.userID, s.nickname, s.expiresAt = id.GetUserId(), id.GetNickname(), expiresAt
	s.srv.admission.authenticated()
	if !expiresAt.IsZero() {
		s.expiry = time.AfterFunc(expiresAt.Sub(now), s.expire)
	}
	s.srv.sessionOpened(s.sess.ID(), s.userID)
	s.srv.log.Debug("session authenticated", "session", s.sess.ID(), "user_id", s.userID)
	return true
}

type refreshData struct {
	JWTToken string `json:"jwt_token"`
}

// refreshToken replaces the session's token with a new one of the same
// user (added): its expiry, jti and iat. Any refusal leaves the old token
// in force.
func (s *session) refreshToken(ctx context.Context, env protocol.Envelope) {
	var req refreshData
	if err := json.Unmarshal(env.Data, &req); err != nil || req.JWTToken == "" {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return
	}
	mark := s.srv.hub.RevocationMark()
	rctx, cancel := s.rpcContext(ctx)
	id, err := s.srv.opts.Auth.VerifyToken(rctx, &authv1.VerifyTokenRequest{Token: req.JWTToken})
	cancel()
	if err != nil {
		code := ErrorCode(err)
		switch code {
		case protocol.CodeServiceUnavailable, protocol.CodeInternalError:
			s.srv.log.Warn("REFRESH_TOKEN: VerifyToken failed", "session", s.sess.ID(), "code", code, "err", err)
		default:
			s.srv.log.Info("REFRESH_TOKEN refused", "session", s.sess.ID(), "code", code, "err", err)
			code = protocol.CodeInvalidToken
		}
		s.replyError(code, env.SeqID, env.Action)
		return
	}
	expiresAt := expiry(id)
	switch {
	case id.GetUserId() != s.userID:
		s.srv.log.Info("REFRESH_TOKEN refused: another user's token", "session", s.sess.ID(),
			"user_id", s.userID, "token_user_id", id.GetUserId())
	case !expiresAt.IsZero() && !time.Now().Before(expiresAt):
		s.srv.log.Info("REFRESH_TOKEN refused: token expired", "session", s.sess.ID())
	case !s.srv.hub.SetToken(s.sess, token(id), mark):
		s.srv.log.Info("REFRESH_TOKEN refused: token revoked while refreshing", "session", s.sess.ID())
	default:
		if s.expiry != nil {
			s.expiry.Stop()
			s.expiry = nil
		}
		s.expiresAt = expiresAt
		now := time.Now()
		if !expiresAt.IsZero() {
			s.expiry = time.AfterFunc(expiresAt.Sub(now), s.expire)
		}
		s.sess.Send(protocol.AppendRefreshTokenSuccess(make([]byte, 0, 160), protocol.Header{Time: now, SeqID: env.SeqID}, expiresAt))
		return
	}
	s.replyError(protocol.CodeInvalidToken, env.SeqID, env.Action)
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
		RoomId: roomID, UserId: s.userID, Nickname: s.nickname, Origin: s.origin(""),
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	// The user's sessions enter the room's local index when the stream
	// delivers the MemberJoined event, not here: the stream is in commit
	// order, so they get exactly the events committed after the join.
	online := s.onlineMembers(ctx, resp.GetMembers())
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
		RoomId: roomID, UserId: s.userID, AfterId: req.SinceMessageID, Limit: int32(s.srv.opts.HistoryLimit),
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	h.Time = time.Now()
	msgs := page.GetMessages()
	s.sess.Send(protocol.AppendBatchMessages(make([]byte, 0, protocol.HistorySize(msgs)), h, roomID, msgs, page.GetHasMore()))
}

func (s *session) sendMessage(ctx context.Context, env protocol.Envelope) {
	d, err := protocol.DecodeMessageData(env.Data)
	if err != nil {
		s.invalidData(err, env)
		return
	}
	mt, _ := protocol.ParseMessageType(d.MessageType)
	rctx, cancel := s.rpcContext(ctx)
	results, err := s.srv.sender.send(rctx, []*chatv1.SendMessageRequest{{
		RoomId: d.ChatroomID, UserId: s.userID, Nickname: s.nickname,
		Content: d.Content, MessageType: mt, Origin: s.origin(env.SeqID), ClientMsgId: d.ClientMsgID,
	}})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	m := results[0].GetMessage()
	if m == nil {
		s.replyError(resultCode(results[0]), env.SeqID, env.Action)
		return
	}
	// The ack: the sender's session is answered from the result and
	// skipped when the event comes back on the stream.
	h := protocol.Header{Time: time.Now(), SeqID: env.SeqID}
	s.sess.Send(protocol.AppendAck(make([]byte, 0, 256+len(m.GetContent())), h, m, results[0].GetDuplicate()))
}

// resultCode is the error code of a refused message's result.
func resultCode(r *chatv1.SendMessageResult) string {
	return cmp.Or(reasonCode(r.GetErrorReason().String()), protocol.CodeInternalError)
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
		RoomId: roomID, UserId: s.userID, Origin: s.origin(""),
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

// defaultPageSize is GET_MESSAGES' limit when the request sets none.
const defaultPageSize = 50

type getMessagesData struct {
	ChatroomID      protocol.ID   `json:"chatroom_id"`
	BeforeMessageID *protocol.Int `json:"before_message_id"`
	AfterMessageID  *protocol.Int `json:"after_message_id"`
	Limit           *int          `json:"limit"`
}

// getMessages pages through a room's history (added): the newest messages
// before before_message_id, the oldest after after_message_id, or the
// newest. A before_message_id of 0 or less and a negative after_message_id
// are unset; after_message_id 0 reads from the oldest message kept (as
// JOIN_ROOM's since_message_id 0 does). A limit above HistoryLimit is
// lowered to it.
func (s *session) getMessages(ctx context.Context, env protocol.Envelope) {
	var req getMessagesData
	err := json.Unmarshal(env.Data, &req)
	var before int64
	var after *int64
	if req.BeforeMessageID != nil && *req.BeforeMessageID > 0 {
		before = int64(*req.BeforeMessageID)
	}
	if req.AfterMessageID != nil && *req.AfterMessageID >= 0 {
		after = (*int64)(req.AfterMessageID)
	}
	if err != nil || req.ChatroomID <= 0 || (before > 0 && after != nil) || (req.Limit != nil && *req.Limit < 0) {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return
	}
	limit := min(defaultPageSize, s.srv.opts.HistoryLimit)
	if req.Limit != nil && *req.Limit > 0 {
		limit = min(*req.Limit, s.srv.opts.HistoryLimit)
	}
	roomID := int64(req.ChatroomID)
	rctx, cancel := s.rpcContext(ctx)
	page, err := s.srv.opts.Chat.ListMessages(rctx, &chatv1.ListMessagesRequest{
		RoomId: roomID, UserId: s.userID, AfterId: after, BeforeId: before, Limit: int32(limit),
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	msgs := page.GetMessages()
	h := protocol.Header{Time: time.Now(), SeqID: env.SeqID}
	s.sess.Send(protocol.AppendMessages(make([]byte, 0, protocol.HistorySize(msgs)), h, roomID, msgs, page.GetHasMore()))
}

// maxBatchItems bounds a client BATCH_MESSAGES (edge-protocol.md §7).
const maxBatchItems = 100

type batchData struct {
	Messages json.RawMessage `json:"messages"`
}

// batchMessages sends the items of a client BATCH_MESSAGES together (one
// batch of the SendMessages stream, one commit), then answers each item in
// order: its NEW_MESSAGE echo, or an ERROR, either carrying the item's id
// (its seq_id, else "<envelope seq_id>:<index>").
func (s *session) batchMessages(ctx context.Context, env protocol.Envelope) {
	var req batchData
	var raws []json.RawMessage
	if err := json.Unmarshal(env.Data, &req); err != nil || len(req.Messages) == 0 || req.Messages[0] != '[' ||
		json.Unmarshal(req.Messages, &raws) != nil || len(raws) == 0 || len(raws) > maxBatchItems {
		s.replyError(protocol.CodeInvalidData, env.SeqID, env.Action)
		return
	}
	ids := make([]string, len(raws))
	codes := make([]string, len(raws)) // the refusal of each item, "" when stored
	msgs := make([]*chatv1.Message, len(raws))
	dups := make([]bool, len(raws))
	items := make([]*chatv1.SendMessageRequest, 0, len(raws))
	sent := make([]int, 0, len(raws)) // sent[j] is the index of items[j]
	for i, raw := range raws {
		id, item, ok := parseBatchItem(raw)
		if id == "" {
			id = env.SeqID + ":" + strconv.Itoa(i)
		}
		ids[i] = id
		if !ok {
			codes[i] = protocol.CodeInvalidData
			continue
		}
		item.UserId, item.Nickname, item.Origin = s.userID, s.nickname, s.origin(id)
		items = append(items, item)
		sent = append(sent, i)
	}
	if len(items) > 0 {
		rctx, cancel := s.rpcContext(ctx)
		results, err := s.srv.sender.send(rctx, items)
		cancel()
		rpcCode := ErrorCode(err)
		if rpcCode == protocol.CodeInternalError || rpcCode == protocol.CodeServiceUnavailable {
			s.srv.log.Warn("RPC failed", "session", s.sess.ID(), "action", env.Action, "code", rpcCode, "err", err)
		}
		for j, i := range sent {
			switch {
			case rpcCode != "":
				codes[i] = rpcCode
			case results[j].GetMessage() != nil:
				msgs[i], dups[i] = results[j].GetMessage(), results[j].GetDuplicate()
			default:
				codes[i] = resultCode(results[j])
			}
		}
	}
	now := time.Now()
	for i, id := range ids {
		h := protocol.Header{Time: now, SeqID: id}
		if m := msgs[i]; m != nil {
			s.sess.Send(protocol.AppendAck(make([]byte, 0, 256+len(m.GetNickname())+len(m.GetContent())), h, m, dups[i]))
		} else {
			s.sess.Send(protocol.AppendError(make([]byte, 0, 192), h, codes[i], id, env.Action))
		}
	}
}

// parseBatchItem reads one batch item into a SendMessageRequest without
// its sender. id is the item's own seq_id ("" when it has none or it is
// unreadable); ok is false for a malformed item.
func parseBatchItem(raw json.RawMessage) (id string, req *chatv1.SendMessageRequest, ok bool) {
	d, err := protocol.DecodeMessageData(raw)
	if err != nil {
		return d.SeqID, nil, false
	}
	mt, _ := protocol.ParseMessageType(d.MessageType)
	return d.SeqID, &chatv1.SendMessageRequest{RoomId: d.ChatroomID, Content: d.Content, MessageType: mt, ClientMsgId: d.ClientMsgID}, true
}

// rpcFailed answers a request whose RPC failed; the session stays open.
func (s *session) rpcFailed(err error, env protocol.Envelope) {
	code := ErrorCode(err)
	if code == protocol.CodeInternalError || code == protocol.CodeServiceUnavailable {
		s.srv.log.Warn("RPC failed", "session", s.sess.ID(), "action", env.Action, "code", code, "err", err)
	}
	s.replyError(code, env.SeqID, env.Action)
}
