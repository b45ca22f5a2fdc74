package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"strconv"
	"time"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/protocol"
	"switchboard.dev/platform/feed"
)

// The video-room actions (edge-protocol.md §6): translated into calls to
// the signaling service, whose stream brings back the events of the video
// rooms, addressed to the members of a chat room or to sessions.

// signalBucket is a session's token bucket for its video-room requests;
// its session's request loop alone uses it.
type signalBucket struct {
	tokens float64
	at     time.Time // when tokens was computed; zero: never used (full)
}

// take takes a token and reports whether there was one.
func (b *signalBucket) take(now time.Time, rate float64, burst int) bool {
	if rate <= 0 {
		return true
	}
	if b.at.IsZero() {
		b.tokens = float64(burst)
	} else if d := now.Sub(b.at); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d.Seconds()*rate)
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// videoRequest takes a token for a video-room request, answering
// RATE_LIMITED when there is none.
func (s *session) videoRequest(env protocol.Envelope) bool {
	if s.signals.take(time.Now(), s.srv.opts.SignalRate, s.srv.opts.SignalBurst) {
		return true
	}
	s.replyError(protocol.CodeRateLimited, env.SeqID, env.Action)
	return false
}

// caller names the session to the signaling service, with the request's
// seq_id, which the events the request causes echo.
func (s *session) caller(env protocol.Envelope) *signalingv1.Caller {
	return &signalingv1.Caller{EdgeId: s.srv.opts.EdgeID, SessionId: s.sess.ID(), UserId: s.userID, Nickname: s.nickname, SeqId: env.SeqID}
}

// errNoVideoRoomID refuses a video request without its video room.
var errNoVideoRoomID = &protocol.FieldError{Field: "video_room_id", Problem: "is required"}

type createVideoData struct {
	ChatroomID      protocol.ID           `json:"chatroom_id"`
	VideoRoomName   string                `json:"video_room_name"`
	MaxParticipants int32                 `json:"max_participants"`
	MediaStatus     *protocol.MediaStatus `json:"media_status"`
}

// createVideoRoom answers VIDEO_ROOM_CREATED, with the ICE servers, to the
// creator, who is the room's first participant; the other sessions of the
// chat room's members get it from the signaling stream.
func (s *session) createVideoRoom(ctx context.Context, env protocol.Envelope) {
	var req createVideoData
	err := json.Unmarshal(env.Data, &req)
	switch {
	case err == nil && req.ChatroomID <= 0:
		err = &protocol.FieldError{Field: "chatroom_id", Problem: "is required"}
	case err == nil && req.MaxParticipants < 0:
		err = &protocol.FieldError{Field: "max_participants", Problem: "must not be negative"}
	}
	if err != nil {
		s.invalidData(err, env)
		return
	}
	if !s.videoRequest(env) {
		return
	}
	create := &signalingv1.CreateVideoRoomRequest{
		Caller: s.caller(env), ChatroomId: int64(req.ChatroomID), Name: req.VideoRoomName, MaxParticipants: req.MaxParticipants,
	}
	if req.MediaStatus != nil {
		create.MediaStatus = mediaStatusProto(*req.MediaStatus)
	}
	// Set before the call, as for a join: the creator is a participant.
	s.inVideo = true
	rctx, cancel := s.rpcContext(ctx)
	resp, err := s.srv.opts.Signaling.CreateVideoRoom(rctx, create)
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	ice := iceServers(resp.GetIceServers())
	s.sess.Send(protocol.AppendVideoRoomCreated(make([]byte, 0, 256+iceSize(ice)), protocol.Header{Time: time.Now(), SeqID: env.SeqID},
		videoRoom(resp.GetRoom()), ice))
}

type joinVideoData struct {
	VideoRoomID protocol.VideoRoomID `json:"video_room_id"`
	MediaStatus protocol.MediaStatus `json:"media_status"`
}

// joinVideoRoom answers JOIN_VIDEO_ROOM_SUCCESS, then the joiner's own
// VIDEO_PARTICIPANT_JOINED (in that order: the stream's copy, which the
// other participants get, skips the joiner's session); both echo the
// request's seq_id, as the other participants' copies do.
func (s *session) joinVideoRoom(ctx context.Context, env protocol.Envelope) {
	var req joinVideoData
	if err := json.Unmarshal(env.Data, &req); err != nil || req.VideoRoomID <= 0 {
		s.invalidData(cmp.Or(err, error(errNoVideoRoomID)), env)
		return
	}
	if !s.videoRequest(env) {
		return
	}
	// Set before the call: a join that succeeds after its deadline passed
	// here must still be undone when the session ends.
	s.inVideo = true
	rctx, cancel := s.rpcContext(ctx)
	resp, err := s.srv.opts.Signaling.JoinVideoRoom(rctx, &signalingv1.JoinVideoRoomRequest{
		Caller: s.caller(env), VideoRoomId: int64(req.VideoRoomID), MediaStatus: mediaStatusProto(req.MediaStatus),
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	room := resp.GetRoom()
	participants := make([]protocol.VideoParticipant, 0, len(room.GetParticipants()))
	ice := iceServers(resp.GetIceServers())
	size := 256 + iceSize(ice)
	for _, p := range room.GetParticipants() {
		participants = append(participants, videoParticipant(p))
		size += 128 + len(p.GetNickname())
	}
	h := protocol.Header{Time: time.Now(), SeqID: env.SeqID}
	s.sess.Send(protocol.AppendJoinVideoRoomSuccess(make([]byte, 0, size), h, room.GetVideoRoomId(), participants, ice))
	for _, p := range participants {
		if p.UserID == s.userID {
			s.sess.Send(protocol.AppendVideoParticipantJoined(make([]byte, 0, 256), h, room.GetVideoRoomId(), p, int32(len(participants))))
			break
		}
	}
}

type videoRoomData struct {
	VideoRoomID protocol.VideoRoomID `json:"video_room_id"`
}

// leaveVideoRoom answers LEAVE_VIDEO_ROOM_SUCCESS; the others get
// VIDEO_PARTICIPANT_LEFT from the stream.
func (s *session) leaveVideoRoom(ctx context.Context, env protocol.Envelope) {
	var req videoRoomData
	if err := json.Unmarshal(env.Data, &req); err != nil || req.VideoRoomID <= 0 {
		s.invalidData(cmp.Or(err, error(errNoVideoRoomID)), env)
		return
	}
	if !s.videoRequest(env) {
		return
	}
	rctx, cancel := s.rpcContext(ctx)
	_, err := s.srv.opts.Signaling.LeaveVideoRoom(rctx, &signalingv1.LeaveVideoRoomRequest{Caller: s.caller(env), VideoRoomId: int64(req.VideoRoomID)})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
		return
	}
	s.sess.Send(protocol.AppendLeaveVideoRoomSuccess(make([]byte, 0, 160), protocol.Header{Time: time.Now(), SeqID: env.SeqID}, int64(req.VideoRoomID)))
}

type mediaData struct {
	VideoRoomID protocol.VideoRoomID  `json:"video_room_id"`
	MediaStatus *protocol.MediaStatus `json:"media_status"`
}

// changeMediaStatus records the status; every participant, the sender
// included, gets PARTICIPANT_MEDIA_CHANGED from the stream.
func (s *session) changeMediaStatus(ctx context.Context, env protocol.Envelope) {
	var req mediaData
	err := json.Unmarshal(env.Data, &req)
	switch {
	case err == nil && req.VideoRoomID <= 0:
		err = errNoVideoRoomID
	case err == nil && req.MediaStatus == nil:
		err = &protocol.FieldError{Field: "media_status", Problem: "is required"}
	}
	if err != nil {
		s.invalidData(err, env)
		return
	}
	if !s.videoRequest(env) {
		return
	}
	rctx, cancel := s.rpcContext(ctx)
	_, err = s.srv.opts.Signaling.ChangeMediaStatus(rctx, &signalingv1.ChangeMediaStatusRequest{
		Caller: s.caller(env), VideoRoomId: int64(req.VideoRoomID), MediaStatus: mediaStatusProto(*req.MediaStatus),
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
	}
}

type signalData struct {
	VideoRoomID  protocol.VideoRoomID `json:"video_room_id"`
	TargetUserID protocol.ID          `json:"target_user_id"`
	SDP          json.RawMessage      `json:"sdp"`
	Candidate    json.RawMessage      `json:"candidate"`
}

// relaySignal relays an SDP_OFFER, SDP_ANSWER or ICE_CANDIDATE to its
// target. Success has no answer: the target's reply is the answer.
func (s *session) relaySignal(ctx context.Context, env protocol.Envelope) {
	var req signalData
	err := json.Unmarshal(env.Data, &req)
	kind, field, payload := signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE, "candidate", req.Candidate
	if env.Action != protocol.ActionICECandidate {
		kind, field, payload = signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER, "sdp", req.SDP
		if env.Action == protocol.ActionSDPAnswer {
			kind = signalingv1.SignalKind_SIGNAL_KIND_SDP_ANSWER
		}
	}
	switch {
	case err != nil:
	case req.VideoRoomID <= 0:
		err = errNoVideoRoomID
	case req.TargetUserID <= 0:
		err = &protocol.FieldError{Field: "target_user_id", Problem: "is required"}
	case len(payload) > s.srv.opts.MaxSignalBytes:
		err = &protocol.FieldError{Field: field, Problem: "is longer than " + strconv.Itoa(s.srv.opts.MaxSignalBytes) + " bytes"}
	case !validSignal(kind, payload):
		err = &protocol.FieldError{Field: field, Problem: "is not a valid " + signalShape(kind)}
	}
	if err != nil {
		s.invalidData(err, env)
		return
	}
	if !s.videoRequest(env) {
		return
	}
	rctx, cancel := s.rpcContext(ctx)
	_, err = s.srv.opts.Signaling.Relay(rctx, &signalingv1.RelayRequest{
		Caller: s.caller(env), VideoRoomId: int64(req.VideoRoomID), TargetUserId: int64(req.TargetUserID), Kind: kind, Payload: payload,
	})
	cancel()
	if err != nil {
		s.rpcFailed(err, env)
	}
}

// validSignal reports whether payload is what kind carries: an RTC session
// description {type, sdp} of the right type, or an RTC ICE candidate
// {candidate, sdpMid, sdpMLineIndex} (an empty candidate string is the
// end of candidates). Keys match exactly, as the target's WebRTC stack reads
// them (decoding into a struct would take "SDP" for "sdp"), and the object
// is on one line, as signalLine delivers it.
func validSignal(kind signalingv1.SignalKind, payload json.RawMessage) bool {
	var fields map[string]json.RawMessage
	if len(payload) == 0 || payload[0] != '{' || bytes.IndexByte(payload, '\n') >= 0 || json.Unmarshal(payload, &fields) != nil {
		return false
	}
	switch kind {
	case signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE:
		var candidate, mid *string
		var index *uint16
		return decodeField(fields["candidate"], &candidate) && candidate != nil &&
			decodeField(fields["sdpMid"], &mid) && decodeField(fields["sdpMLineIndex"], &index)
	case signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER, signalingv1.SignalKind_SIGNAL_KIND_SDP_ANSWER:
		var typ, sdp string
		if !decodeField(fields["type"], &typ) || !decodeField(fields["sdp"], &sdp) || sdp == "" {
			return false
		}
		if kind == signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER {
			return typ == "offer"
		}
		return typ == "answer" || typ == "pranswer"
	}
	return false
}

// decodeField decodes a field's value into v; an absent field leaves v.
func decodeField(raw json.RawMessage, v any) bool {
	return raw == nil || json.Unmarshal(raw, v) == nil
}

// signalShape names what a signal's payload must be.
func signalShape(kind signalingv1.SignalKind) string {
	if kind == signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE {
		return "ICE candidate object {candidate, sdpMid, sdpMLineIndex}"
	}
	return "session description object {type, sdp}"
}

func iceServers(servers []*signalingv1.IceServer) []protocol.ICEServer {
	ice := make([]protocol.ICEServer, 0, len(servers))
	for _, is := range servers {
		ice = append(ice, protocol.ICEServer{URLs: is.GetUrls(), Username: is.GetUsername(), Credential: is.GetCredential()})
	}
	return ice
}

// iceSize estimates the bytes of the ice_servers field.
func iceSize(ice []protocol.ICEServer) int {
	size := 16
	for _, is := range ice {
		size += 64 + len(is.Username) + len(is.Credential)
		for _, u := range is.URLs {
			size += len(u) + 3
		}
	}
	return size
}

func mediaStatusProto(m protocol.MediaStatus) *signalingv1.MediaStatus {
	return &signalingv1.MediaStatus{AudioEnabled: m.AudioEnabled, VideoEnabled: m.VideoEnabled, ScreenSharing: m.ScreenSharing}
}

func mediaStatus(m *signalingv1.MediaStatus) protocol.MediaStatus {
	return protocol.MediaStatus{AudioEnabled: m.GetAudioEnabled(), VideoEnabled: m.GetVideoEnabled(), ScreenSharing: m.GetScreenSharing()}
}

func videoParticipant(p *signalingv1.Participant) protocol.VideoParticipant {
	return protocol.VideoParticipant{UserID: p.GetUserId(), Nickname: p.GetNickname(), Media: mediaStatus(p.GetMediaStatus())}
}

func videoRoom(r *signalingv1.VideoRoom) protocol.VideoRoom {
	return protocol.VideoRoom{
		ID: r.GetVideoRoomId(), ChatroomID: r.GetChatroomId(), Name: r.GetName(),
		HostUserID: r.GetHostUserId(), MaxParticipants: r.GetMaxParticipants(),
	}
}

// sendSignalingReport sends one report to the signaling service. Only the
// sessions that joined a video room are reported closed; a sync lists
// every session, since any may have joined.
func (srv *Server) sendSignalingReport(ctx context.Context, r report) error {
	var err error
	switch r.kind {
	case reportClosed:
		_, err = srv.opts.Signaling.SessionClosed(ctx, &signalingv1.SessionClosedRequest{
			Session: &signalingv1.SessionRef{EdgeId: srv.opts.EdgeID, SessionId: r.sessionID},
		})
	case reportSync:
		ids := make([]string, 0, srv.hub.Count())
		srv.hub.EachSession(func(id string, _ int64) { ids = append(ids, id) })
		_, err = srv.opts.Signaling.SyncSessions(ctx, &signalingv1.SyncSessionsRequest{EdgeId: srv.opts.EdgeID, SessionIds: ids})
	}
	return err
}

// ConsumeSignaling runs the edge's one signaling stream until ctx is done,
// delivering its events to the local sessions; after every
// (re)subscription's first response it queues a SyncSessions.
func (srv *Server) ConsumeSignaling(ctx context.Context) {
	feed.Feed[*signalingv1.SubscribeResponse, *signalingv1.Event]{
		Name: "signaling",
		Log:  srv.log,
		Open: func(ctx context.Context, after *uint64) (feed.Stream[*signalingv1.SubscribeResponse], error) {
			return srv.opts.Signaling.Subscribe(ctx, &signalingv1.SubscribeRequest{EdgeId: srv.opts.EdgeID, AfterSeq: after})
		},
		Events: (*signalingv1.SubscribeResponse).GetEvents,
		Handle: srv.DeliverSignaling,
		Opened: func() { srv.signalingReports.add(report{kind: reportSync}) },
	}.Run(ctx)
}

// DeliverSignaling hands one signaling event to the local sessions it is
// addressed to: those of the chat room's members and those listed, each
// once, the session that caused it excepted. The envelope is serialized
// once for all of them; it echoes the seq_id of the request that caused
// it, when the event carries one.
func (srv *Server) DeliverSignaling(ev *signalingv1.Event) {
	h := srv.eventHeader(ev.GetSeqId())
	var line []byte
	switch p := ev.GetPayload().(type) {
	case *signalingv1.Event_RoomCreated:
		line = protocol.AppendVideoRoomCreated(make([]byte, 0, 256), h, videoRoom(p.RoomCreated.GetRoom()), nil)
	case *signalingv1.Event_RoomClosed:
		c := p.RoomClosed
		line = protocol.AppendVideoRoomClosed(make([]byte, 0, 192), h, c.GetVideoRoomId(), c.GetChatroomId(), c.GetReason())
	case *signalingv1.Event_ParticipantJoined:
		j := p.ParticipantJoined
		line = protocol.AppendVideoParticipantJoined(make([]byte, 0, 256), h, j.GetVideoRoomId(), videoParticipant(j.GetParticipant()), j.GetParticipantsCount())
	case *signalingv1.Event_ParticipantLeft:
		l := p.ParticipantLeft
		line = protocol.AppendVideoParticipantLeft(make([]byte, 0, 256), h, l.GetVideoRoomId(), l.GetUserId(), l.GetNickname(), l.GetParticipantsCount(), l.GetReason())
	case *signalingv1.Event_MediaChanged:
		m := p.MediaChanged
		line = protocol.AppendParticipantMediaChanged(make([]byte, 0, 256), h, m.GetVideoRoomId(), m.GetUserId(), m.GetNickname(), mediaStatus(m.GetMediaStatus()))
	case *signalingv1.Event_Signal:
		line = srv.signalLine(h, p.Signal)
	}
	if line == nil {
		return
	}
	var skip string
	if o := ev.GetOrigin(); o.GetEdgeId() == srv.opts.EdgeID {
		skip = o.GetSessionId()
	}
	b := hub.Broadcast{Line: line}
	room := ev.GetChatroomId()
	if room != 0 {
		srv.hub.SendRoom(room, skip, &b)
	}
	var ids []string
	for _, ref := range ev.GetSessions() {
		if ref.GetEdgeId() == srv.opts.EdgeID && ref.GetSessionId() != skip {
			ids = append(ids, ref.GetSessionId())
		}
	}
	if len(ids) > 0 {
		srv.hub.SendSessions(ids, room, &b)
	}
}

// signalLine encodes a relayed signal; nil when its payload is not a JSON
// object on one line (the service relays what an edge checked, but a line
// is only ever written whole).
func (srv *Server) signalLine(h protocol.Header, sig *signalingv1.Signal) []byte {
	payload := sig.GetPayload()
	if len(payload) == 0 || payload[0] != '{' || bytes.IndexByte(payload, '\n') >= 0 || !json.Valid(payload) {
		srv.log.Warn("signal with an invalid payload dropped", "video_room_id", sig.GetVideoRoomId(), "from_user_id", sig.GetFromUserId())
		return nil
	}
	action, field := protocol.ActionICECandidate, "candidate"
	switch sig.GetKind() {
	case signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER:
		action, field = protocol.ActionSDPOffer, "sdp"
	case signalingv1.SignalKind_SIGNAL_KIND_SDP_ANSWER:
		action, field = protocol.ActionSDPAnswer, "sdp"
	case signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE:
	default:
		return nil
	}
	return protocol.AppendSignal(make([]byte, 0, 160+len(payload)), h, action, sig.GetVideoRoomId(), sig.GetFromUserId(), field, payload)
}
