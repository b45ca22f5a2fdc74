package signaling_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/services/signaling"
)

const (
	none         = signalingv1.ErrorReason_ERROR_REASON_UNSPECIFIED
	notFound     = signalingv1.ErrorReason_ERROR_REASON_VIDEO_ROOM_NOT_FOUND
	full         = signalingv1.ErrorReason_ERROR_REASON_VIDEO_ROOM_FULL
	notMember    = signalingv1.ErrorReason_ERROR_REASON_NOT_MEMBER
	notPart      = signalingv1.ErrorReason_ERROR_REASON_NOT_PARTICIPANT
	invalidSig   = signalingv1.ErrorReason_ERROR_REASON_INVALID_SIGNAL
	offer        = signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER
	offerPayload = `{"type":"offer","sdp":"v=0"}`
)

// Expected payloads, as describePayload prints them.
func created(r *signalingv1.VideoRoom) string {
	return fmt.Sprintf("created %d chatroom=%d name=%q host=%d max=%d", r.GetVideoRoomId(), r.GetChatroomId(), r.GetName(), r.GetHostUserId(), r.GetMaxParticipants())
}

func joined(room int64, user int64, count int) string {
	return fmt.Sprintf("joined %d user=%d nickname=u%d count=%d", room, user, user, count)
}

func left(room int64, user int64, count int, reason string) string {
	return fmt.Sprintf("left %d user=%d nickname=u%d count=%d reason=%s", room, user, user, count, reason)
}

func closed(room int64, chatroomID int64, reason string) string {
	return fmt.Sprintf("closed %d chatroom=%d reason=%s", room, chatroomID, reason)
}

// unknownRoom is an id no test creates.
const unknownRoom = 9999

// TestCreateVideoRoom creates rooms in a chat room the caller is a member
// of, announced to the chat room, with the creator as their first
// participant and integer ids in increasing order, and refuses the rest.
func TestCreateVideoRoom(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-obs", nil)

	at := f.clock.Now()
	room := s.create(t, caller("edge-a", "s1", 1), chatroom, "Standup")
	if id := room.GetVideoRoomId(); id != 1 {
		t.Errorf("CreateVideoRoom: video_room_id %d, want 1 (the first of the store's sequence)", id)
	}
	host := &signalingv1.Participant{UserId: 1, Nickname: "u1", MediaStatus: &signalingv1.MediaStatus{AudioEnabled: true, VideoEnabled: true},
		JoinedAt: room.GetCreatedAt()}
	if room.GetChatroomId() != chatroom || room.GetName() != "Standup" || room.GetHostUserId() != 1 || room.GetMaxParticipants() != 4 ||
		len(room.GetParticipants()) != 1 || !proto.Equal(room.GetParticipants()[0], host) || !room.GetCreatedAt().AsTime().Equal(at) {
		t.Errorf("CreateVideoRoom(max 0) = %v, want chatroom %d, name Standup, host 1, max 4 (the ceiling), participant %v, created at %v",
			room, chatroom, host, at)
	}
	ev := obs.expect(t, want{chatroom: chatroom, payload: created(room)})
	if o := ev[0].GetOrigin(); o.GetEdgeId() != "edge-a" || o.GetSessionId() != "s1" {
		t.Errorf("VideoRoomCreated origin = %v, want edge-a/s1 (the creator, answered directly)", o)
	}
	// The creator is a participant in the session that created the room.
	relay := &signalingv1.RelayRequest{Caller: caller("edge-a", "s1", 1), VideoRoomId: room.GetVideoRoomId(), TargetUserId: 2, Kind: offer, Payload: []byte(offerPayload)}
	_, err := s.api.Relay(callCtx(t), relay)
	expectRefusal(t, "Relay from the creator to a user not in the room", err, codes.PermissionDenied, notPart)
	muted := &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: "Muted",
		MediaStatus: &signalingv1.MediaStatus{VideoEnabled: true}}
	res, err := s.api.CreateVideoRoom(callCtx(t), muted)
	if err != nil {
		t.Fatalf("CreateVideoRoom(%v) = %v", muted, err)
	}
	if got := res.GetRoom().GetParticipants()[0].GetMediaStatus(); !proto.Equal(got, muted.GetMediaStatus()) || res.GetRoom().GetVideoRoomId() != 2 {
		t.Errorf("CreateVideoRoom(media %v) = room %d, host media %v; want room 2, the media given", muted.GetMediaStatus(), res.GetRoom().GetVideoRoomId(), got)
	}
	obs.expect(t, want{chatroom: chatroom, payload: created(res.GetRoom())})
	closeReq := &signalingv1.CloseVideoRoomRequest{VideoRoomId: res.GetRoom().GetVideoRoomId()}
	if _, err := s.admin.CloseVideoRoom(callCtx(t), closeReq); err != nil {
		t.Fatalf("CloseVideoRoom(%v) = %v", closeReq, err)
	}
	obs.expect(t, want{chatroom: chatroom, sessions: []string{"edge-a/s1"}, payload: closed(2, chatroom, "closed")})

	f.clock.Advance(time.Second)
	name := strings.Repeat("é", signaling.MaxNameChars)
	req := &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-b", "s2", 2), ChatroomId: otherChatroom, Name: name, MaxParticipants: 2}
	res, err = s.api.CreateVideoRoom(callCtx(t), req)
	if err != nil {
		t.Fatalf("CreateVideoRoom(name of %d characters, max 2) = %v", signaling.MaxNameChars, err)
	}
	second := res.GetRoom()
	if second.GetMaxParticipants() != 2 || second.GetVideoRoomId() != 3 {
		t.Errorf("third CreateVideoRoom = %v, want max 2 and id 3", second)
	}
	obs.expect(t, want{chatroom: otherChatroom, payload: created(second)})
	if got := s.list(t, 0); len(got) != 2 || got[0].GetVideoRoomId() != room.GetVideoRoomId() || got[1].GetVideoRoomId() != second.GetVideoRoomId() {
		t.Errorf("ListVideoRooms(all) = %v, want the two rooms, oldest first", got)
	}
	if got := s.list(t, otherChatroom); len(got) != 1 || got[0].GetVideoRoomId() != second.GetVideoRoomId() {
		t.Errorf("ListVideoRooms(%d) = %v, want only %d", otherChatroom, got, second.GetVideoRoomId())
	}

	tests := []struct {
		name   string
		req    *signalingv1.CreateVideoRoomRequest
		code   codes.Code
		reason signalingv1.ErrorReason
	}{
		{"not a member", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s5", 5), ChatroomId: chatroom, Name: "x"}, codes.PermissionDenied, notMember},
		{"max 1", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: "x", MaxParticipants: 1}, codes.InvalidArgument, none},
		{"max above the ceiling", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: "x", MaxParticipants: 5}, codes.InvalidArgument, none},
		{"negative max", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: "x", MaxParticipants: -1}, codes.InvalidArgument, none},
		{"empty name", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom}, codes.InvalidArgument, none},
		{"blank name", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: " \t"}, codes.InvalidArgument, none},
		{"long name", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: name + "x"}, codes.InvalidArgument, none},
		{"no chat room", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), Name: "x"}, codes.InvalidArgument, none},
		{"no caller", &signalingv1.CreateVideoRoomRequest{ChatroomId: chatroom, Name: "x"}, codes.InvalidArgument, none},
		{"user 0", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 0), ChatroomId: chatroom, Name: "x"}, codes.InvalidArgument, none},
		{"no edge", &signalingv1.CreateVideoRoomRequest{Caller: caller("", "s1", 1), ChatroomId: chatroom, Name: "x"}, codes.InvalidArgument, none},
		{"long edge id", &signalingv1.CreateVideoRoomRequest{Caller: caller(strings.Repeat("e", signaling.MaxIDBytes+1), "s1", 1), ChatroomId: chatroom, Name: "x"}, codes.InvalidArgument, none},
		{"no session", &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "", 1), ChatroomId: chatroom, Name: "x"}, codes.InvalidArgument, none},
		{"long nickname", &signalingv1.CreateVideoRoomRequest{Caller: &signalingv1.Caller{EdgeId: "edge-a", SessionId: "s1", UserId: 1,
			Nickname: strings.Repeat("n", signaling.MaxNicknameBytes+1)}, ChatroomId: chatroom, Name: "x"}, codes.InvalidArgument, none},
		{"long seq_id", &signalingv1.CreateVideoRoomRequest{Caller: &signalingv1.Caller{EdgeId: "edge-a", SessionId: "s1", UserId: 1,
			SeqId: strings.Repeat("q", signaling.MaxSeqIDBytes+1)}, ChatroomId: chatroom, Name: "x"}, codes.InvalidArgument, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.api.CreateVideoRoom(callCtx(t), tt.req)
			expectRefusal(t, fmt.Sprintf("CreateVideoRoom(%s)", short(tt.req.String())), err, tt.code, tt.reason)
		})
	}
	obs.expectQuiet(t, s)
}

// TestJoinVideoRoom joins members up to the room's max, moves a user who
// joins again from another session, and refuses the rest.
func TestJoinVideoRoom(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-obs", nil)
	req := &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: "Call", MaxParticipants: 3}
	res, err := s.api.CreateVideoRoom(callCtx(t), req)
	if err != nil {
		t.Fatalf("CreateVideoRoom(%v) = %v", req, err)
	}
	room := res.GetRoom().GetVideoRoomId()
	obs.expect(t, want{chatroom: chatroom, payload: created(res.GetRoom())})

	at := f.clock.Advance(time.Second)
	j := s.join(t, caller("edge-b", "s2", 2), room)
	p := j.GetRoom().GetParticipants()
	if len(p) != 2 || p[0].GetUserId() != 1 || p[1].GetUserId() != 2 || p[1].GetNickname() != "u2" || !p[1].GetMediaStatus().GetAudioEnabled() ||
		!p[1].GetJoinedAt().AsTime().Equal(at) {
		t.Errorf("JoinVideoRoom(user 2) room = %v, want the host, user 1, then user 2 (u2, audio on, joined at %v)", j.GetRoom(), at)
	}
	wantICE := []*signalingv1.IceServer{{Urls: []string{"stun:127.0.0.1:3478"}}}
	if !slices.EqualFunc(j.GetIceServers(), wantICE, func(a, b *signalingv1.IceServer) bool { return proto.Equal(a, b) }) {
		t.Errorf("JoinVideoRoom ice_servers = %v, want %v", j.GetIceServers(), wantICE)
	}
	obs.expect(t, want{sessions: []string{"edge-a/s1", "edge-b/s2"}, payload: joined(room, 2, 2)})
	s.join(t, caller("edge-a", "s3", 3), room)
	obs.expect(t, want{sessions: []string{"edge-a/s1", "edge-b/s2", "edge-a/s3"}, payload: joined(room, 3, 3)})

	// Joining again from the same session changes nothing.
	if got := participants(s.join(t, caller("edge-a", "s1", 1), room).GetRoom()); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("JoinVideoRoom(user 1 again) participants = %v, want [1 2 3]", got)
	}
	// From another session it moves the place, though the room is full.
	if got := participants(s.join(t, caller("edge-a", "s9", 2), room).GetRoom()); !slices.Equal(got, []int64{1, 3, 2}) {
		t.Errorf("JoinVideoRoom(user 2 from another session) participants = %v, want [1 3 2]", got)
	}
	obs.expect(t,
		want{sessions: []string{"edge-b/s2"}, payload: left(room, 2, 3, "left")},
		want{sessions: []string{"edge-a/s1", "edge-a/s3", "edge-a/s9"}, payload: joined(room, 2, 3)})
	relay := &signalingv1.RelayRequest{Caller: caller("edge-b", "s2", 2), VideoRoomId: room, TargetUserId: 1, Kind: offer, Payload: []byte(offerPayload)}
	_, err = s.api.Relay(callCtx(t), relay)
	expectRefusal(t, "Relay from the session user 2 moved away from", err, codes.PermissionDenied, notPart)

	tests := []struct {
		name   string
		req    *signalingv1.JoinVideoRoomRequest
		code   codes.Code
		reason signalingv1.ErrorReason
	}{
		{"full", &signalingv1.JoinVideoRoomRequest{Caller: caller("edge-a", "s4", 4), VideoRoomId: room}, codes.FailedPrecondition, full},
		{"unknown room", &signalingv1.JoinVideoRoomRequest{Caller: caller("edge-a", "s4", 4), VideoRoomId: unknownRoom}, codes.NotFound, notFound},
		{"not a member", &signalingv1.JoinVideoRoomRequest{Caller: caller("edge-a", "s5", 5), VideoRoomId: room}, codes.PermissionDenied, notMember},
		{"no room id", &signalingv1.JoinVideoRoomRequest{Caller: caller("edge-a", "s4", 4)}, codes.InvalidArgument, none},
		{"negative room id", &signalingv1.JoinVideoRoomRequest{Caller: caller("edge-a", "s4", 4), VideoRoomId: -room}, codes.InvalidArgument, none},
		{"no caller", &signalingv1.JoinVideoRoomRequest{VideoRoomId: room}, codes.InvalidArgument, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.api.JoinVideoRoom(callCtx(t), tt.req)
			expectRefusal(t, fmt.Sprintf("JoinVideoRoom(%s)", short(tt.req.String())), err, tt.code, tt.reason)
		})
	}
	obs.expectQuiet(t, s)
}

// setupRoom creates a room in the chat room as user 1 on edge-a/s1 (its
// first participant) and joins user 2 on edge-b/s2 and user 3 on
// edge-a/s3, reading the events off obs.
func setupRoom(t *testing.T, s *service, obs *stream) int64 {
	t.Helper()
	r := s.create(t, caller("edge-a", "s1", 1), chatroom, "Call")
	room := r.GetVideoRoomId()
	s.join(t, caller("edge-b", "s2", 2), room)
	s.join(t, caller("edge-a", "s3", 3), room)
	obs.expect(t, want{chatroom: chatroom, payload: created(r)},
		want{sessions: []string{"edge-a/s1", "edge-b/s2"}, payload: joined(room, 2, 2)},
		want{sessions: []string{"edge-a/s1", "edge-b/s2", "edge-a/s3"}, payload: joined(room, 3, 3)})
	return room
}

// TestRelay relays signals to the target's session only, and refuses
// non-participants and malformed, oversized or misaddressed signals.
func TestRelay(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config()) // MaxSignalBytes 1024
	obs := s.subscribe(t, "edge-obs", nil)
	room := setupRoom(t, s, obs)

	exact := `{"sdp":"` + strings.Repeat("x", 1024-len(`{"sdp":""}`)) + `"}`
	accepted := []struct {
		from    *signalingv1.Caller
		to      int64
		kind    signalingv1.SignalKind
		payload string
		session string
	}{
		{caller("edge-a", "s1", 1), 2, offer, offerPayload, "edge-b/s2"},
		{caller("edge-b", "s2", 2), 1, signalingv1.SignalKind_SIGNAL_KIND_SDP_ANSWER, `{"type":"answer","sdp":"v=0"}`, "edge-a/s1"},
		{caller("edge-a", "s3", 3), 1, signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE, `{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}`, "edge-a/s1"},
		{caller("edge-a", "s1", 1), 3, offer, exact, "edge-a/s3"},
	}
	for _, a := range accepted {
		req := &signalingv1.RelayRequest{Caller: a.from, VideoRoomId: room, TargetUserId: a.to, Kind: a.kind, Payload: []byte(a.payload)}
		if _, err := s.api.Relay(callCtx(t), req); err != nil {
			t.Fatalf("Relay(%s) = %v", short(req.String()), err)
		}
		obs.expect(t, want{sessions: []string{a.session},
			payload: fmt.Sprintf("signal %d %s from=%d to=%d payload=%s", room, a.kind, a.from.GetUserId(), a.to, a.payload)})
	}

	tests := []struct {
		name    string
		from    *signalingv1.Caller
		room    int64
		to      int64
		kind    signalingv1.SignalKind
		payload string
		code    codes.Code
		reason  signalingv1.ErrorReason
	}{
		{"sender not a participant", caller("edge-a", "s4", 4), room, 1, offer, offerPayload, codes.PermissionDenied, notPart},
		{"sender in another session", caller("edge-a", "s7", 1), room, 2, offer, offerPayload, codes.PermissionDenied, notPart},
		{"target not a participant", caller("edge-a", "s1", 1), room, 4, offer, offerPayload, codes.PermissionDenied, notPart},
		{"unknown room", caller("edge-a", "s1", 1), unknownRoom, 2, offer, offerPayload, codes.NotFound, notFound},
		{"oversized", caller("edge-a", "s1", 1), room, 2, offer, `{"sdp":"x` + exact[8:], codes.InvalidArgument, invalidSig},
		{"bad JSON", caller("edge-a", "s1", 1), room, 2, offer, `{"type":"offer",`, codes.InvalidArgument, invalidSig},
		{"JSON array", caller("edge-a", "s1", 1), room, 2, offer, `[{"type":"offer"}]`, codes.InvalidArgument, invalidSig},
		{"JSON string", caller("edge-a", "s1", 1), room, 2, offer, `"v=0"`, codes.InvalidArgument, invalidSig},
		{"leading space", caller("edge-a", "s1", 1), room, 2, offer, ` ` + offerPayload, codes.InvalidArgument, invalidSig}, // edges deliver only what starts with '{'
		{"two lines", caller("edge-a", "s1", 1), room, 2, offer, "{\"type\":\"offer\",\n\"sdp\":\"v=0\"}", codes.InvalidArgument, invalidSig},
		{"empty payload", caller("edge-a", "s1", 1), room, 2, offer, "", codes.InvalidArgument, invalidSig},
		{"no kind", caller("edge-a", "s1", 1), room, 2, signalingv1.SignalKind_SIGNAL_KIND_UNSPECIFIED, offerPayload, codes.InvalidArgument, invalidSig},
		{"unknown kind", caller("edge-a", "s1", 1), room, 2, signalingv1.SignalKind(9), offerPayload, codes.InvalidArgument, invalidSig},
		{"to oneself", caller("edge-a", "s1", 1), room, 1, offer, offerPayload, codes.InvalidArgument, none},
		{"no target", caller("edge-a", "s1", 1), room, 0, offer, offerPayload, codes.InvalidArgument, none},
		{"no room id", caller("edge-a", "s1", 1), 0, 2, offer, offerPayload, codes.InvalidArgument, none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &signalingv1.RelayRequest{Caller: tt.from, VideoRoomId: tt.room, TargetUserId: tt.to, Kind: tt.kind, Payload: []byte(tt.payload)}
			_, err := s.api.Relay(callCtx(t), req)
			expectRefusal(t, fmt.Sprintf("Relay(%s)", short(req.String())), err, tt.code, tt.reason)
		})
	}
	obs.expectQuiet(t, s)
}

// TestMediaAndLeave changes a participant's media status, then takes the
// participants out one by one: the last one out closes the room.
func TestMediaAndLeave(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-obs", nil)
	room := setupRoom(t, s, obs)

	media := &signalingv1.ChangeMediaStatusRequest{Caller: caller("edge-b", "s2", 2), VideoRoomId: room,
		MediaStatus: &signalingv1.MediaStatus{VideoEnabled: true, ScreenSharing: true}}
	if _, err := s.api.ChangeMediaStatus(callCtx(t), media); err != nil {
		t.Fatalf("ChangeMediaStatus(%v) = %v", media, err)
	}
	obs.expect(t, want{sessions: []string{"edge-a/s1", "edge-b/s2", "edge-a/s3"},
		payload: fmt.Sprintf("media %d user=2 audio=false video=true screen=true", room)})
	if got := s.list(t, chatroom)[0].GetParticipants()[1].GetMediaStatus(); !proto.Equal(got, media.GetMediaStatus()) {
		t.Errorf("ListVideoRooms after ChangeMediaStatus: user 2's media %v, want %v", got, media.GetMediaStatus())
	}
	mediaTests := []struct {
		name   string
		req    *signalingv1.ChangeMediaStatusRequest
		code   codes.Code
		reason signalingv1.ErrorReason
	}{
		{"not a participant", &signalingv1.ChangeMediaStatusRequest{Caller: caller("edge-a", "s4", 4), VideoRoomId: room, MediaStatus: &signalingv1.MediaStatus{}}, codes.PermissionDenied, notPart},
		{"unknown room", &signalingv1.ChangeMediaStatusRequest{Caller: caller("edge-b", "s2", 2), VideoRoomId: unknownRoom, MediaStatus: &signalingv1.MediaStatus{}}, codes.NotFound, notFound},
		{"no status", &signalingv1.ChangeMediaStatusRequest{Caller: caller("edge-b", "s2", 2), VideoRoomId: room}, codes.InvalidArgument, none},
	}
	for _, tt := range mediaTests {
		_, err := s.api.ChangeMediaStatus(callCtx(t), tt.req)
		expectRefusal(t, fmt.Sprintf("ChangeMediaStatus(%s)", tt.name), err, tt.code, tt.reason)
	}

	s.leave(t, caller("edge-b", "s2", 2), room)
	obs.expect(t, want{sessions: []string{"edge-a/s1", "edge-a/s3"}, payload: left(room, 2, 2, "left")})
	leaveTests := []struct {
		name   string
		req    *signalingv1.LeaveVideoRoomRequest
		code   codes.Code
		reason signalingv1.ErrorReason
	}{
		{"left already", &signalingv1.LeaveVideoRoomRequest{Caller: caller("edge-b", "s2", 2), VideoRoomId: room}, codes.PermissionDenied, notPart},
		{"from another session", &signalingv1.LeaveVideoRoomRequest{Caller: caller("edge-a", "s7", 1), VideoRoomId: room}, codes.PermissionDenied, notPart},
		{"unknown room", &signalingv1.LeaveVideoRoomRequest{Caller: caller("edge-a", "s1", 1), VideoRoomId: unknownRoom}, codes.NotFound, notFound},
		{"no caller", &signalingv1.LeaveVideoRoomRequest{VideoRoomId: room}, codes.InvalidArgument, none},
	}
	for _, tt := range leaveTests {
		_, err := s.api.LeaveVideoRoom(callCtx(t), tt.req)
		expectRefusal(t, fmt.Sprintf("LeaveVideoRoom(%s)", tt.name), err, tt.code, tt.reason)
	}
	s.leave(t, caller("edge-a", "s1", 1), room)
	obs.expect(t, want{sessions: []string{"edge-a/s3"}, payload: left(room, 1, 1, "left")})
	s.leave(t, caller("edge-a", "s3", 3), room)
	obs.expect(t, want{chatroom: chatroom, payload: closed(room, chatroom, "empty")})
	if got := s.list(t, 0); len(got) != 0 {
		t.Errorf("ListVideoRooms after the last one left = %v, want none", got)
	}
	_, err := s.api.JoinVideoRoom(callCtx(t), &signalingv1.JoinVideoRoomRequest{Caller: caller("edge-a", "s1", 1), VideoRoomId: room})
	expectRefusal(t, "JoinVideoRoom(closed room)", err, codes.NotFound, notFound)
	obs.expectQuiet(t, s)
}

// TestSessionClosed takes a closed session out of every room it is in;
// an unknown session changes nothing.
func TestSessionClosed(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-obs", nil)
	shared := setupRoom(t, s, obs)
	alone := s.create(t, caller("edge-a", "s1", 1), chatroom, "Alone")
	obs.expect(t, want{chatroom: chatroom, payload: created(alone)})

	for _, ss := range []*signalingv1.SessionRef{ref("edge-a", "unknown"), ref("edge-unknown", "s1"), ref("edge-a", "s1")} {
		if _, err := s.api.SessionClosed(callCtx(t), &signalingv1.SessionClosedRequest{Session: ss}); err != nil {
			t.Fatalf("SessionClosed(%v) = %v", ss, err)
		}
	}
	// One event per room, rooms in id order.
	obs.expect(t, want{sessions: []string{"edge-b/s2", "edge-a/s3"}, payload: left(shared, 1, 2, "disconnected")},
		want{chatroom: chatroom, payload: closed(alone.GetVideoRoomId(), chatroom, "empty")})
	if got := s.list(t, 0); len(got) != 1 || !slices.Equal(participants(got[0]), []int64{2, 3}) {
		t.Errorf("ListVideoRooms after SessionClosed = %v, want only %d with users 2 and 3", got, shared)
	}
	for _, req := range []*signalingv1.SessionClosedRequest{{}, {Session: ref("", "s1")}, {Session: ref("edge-a", strings.Repeat("s", signaling.MaxIDBytes+1))}} {
		_, err := s.api.SessionClosed(callCtx(t), req)
		expectRefusal(t, fmt.Sprintf("SessionClosed(%s)", short(req.String())), err, codes.InvalidArgument, none)
	}
	obs.expectQuiet(t, s)
}

// awaitEvent advances the clock by step until an event comes (bounded):
// a lease starts when the service has noticed the end of a stream.
func awaitEvent(t *testing.T, f *fixture, obs *stream, step time.Duration) *signalingv1.Event {
	t.Helper()
	for range 20 {
		f.clock.Advance(step)
		if ev, ok := obs.poll(t, 200*time.Millisecond); ok {
			return ev
		}
	}
	t.Fatalf("no event after advancing the clock 20 times by %v", step)
	return nil
}

// TestEdgeLease loses an edge's stream: its participants keep their
// places for the lease, then leave. An edge that resubscribes within the
// lease keeps them; one that never subscribed loses them after the lease.
func TestEdgeLease(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-obs", nil)
	a := s.subscribe(t, "edge-a", nil)
	b := s.subscribe(t, "edge-b", nil)
	room := setupRoom(t, s, obs)

	a.cancel()
	time.Sleep(settle) // the service notices the stream's end; the loop below bounds it
	f.clock.Advance(lease - time.Millisecond)
	obs.expectQuiet(t, s)
	ev := awaitEvent(t, f, obs, lease)
	// Users 1 and 3 leave together, in order of joining, announced to
	// those who stay.
	if want := left(room, 1, 2, "disconnected"); describePayload(ev) != want || !slices.Equal(sessionsOf(ev), []string{"edge-b/s2"}) {
		t.Errorf("got event %s, want %s to [edge-b/s2]", describe(ev), want)
	}
	obs.expect(t, want{sessions: []string{"edge-b/s2"}, payload: left(room, 3, 1, "disconnected")})

	b.cancel()
	time.Sleep(settle)
	s.subscribe(t, "edge-b", nil)
	f.clock.Advance(3 * lease)
	obs.expectQuiet(t, s)
	if got := s.list(t, chatroom); len(got) != 1 || !slices.Equal(participants(got[0]), []int64{2}) {
		t.Errorf("ListVideoRooms after edge-b resubscribed = %v, want user 2 still in %d", got, room)
	}

	s.join(t, caller("edge-never", "s4", 4), room)
	obs.expect(t, want{sessions: []string{"edge-b/s2", "edge-never/s4"}, payload: joined(room, 4, 2)})
	f.clock.Advance(lease - time.Millisecond)
	obs.expectQuiet(t, s)
	f.clock.Advance(2 * time.Millisecond)
	obs.expect(t, want{sessions: []string{"edge-b/s2"}, payload: left(room, 4, 1, "disconnected")})
}

// TestRestart stops the service with a room in use, an unanswered room and
// a relayed signal, then starts it again: the rooms and the log survive;
// the edge that resubscribes resyncs its sessions, dropping one; the edge
// that does not come back loses its participant after the lease; the
// unanswered room gets a new timeout; ids go on from the store's sequence.
func TestRestart(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-obs", nil)
	s.subscribe(t, "edge-a", nil)
	r := s.create(t, caller("edge-a", "s1", 1), chatroom, "Call")
	room := r.GetVideoRoomId()
	f.clock.Advance(time.Millisecond) // the rooms list oldest first
	unanswered := s.create(t, caller("edge-a", "s1", 1), chatroom, "Unanswered")
	s.join(t, caller("edge-a", "s2", 2), room)
	s.join(t, caller("edge-c", "s3", 3), room)
	relay := &signalingv1.RelayRequest{Caller: caller("edge-a", "s1", 1), VideoRoomId: room, TargetUserId: 3, Kind: offer, Payload: []byte(offerPayload)}
	if _, err := s.api.Relay(callCtx(t), relay); err != nil {
		t.Fatalf("Relay(%v) = %v", relay, err)
	}
	evs := obs.expect(t, want{chatroom: chatroom, payload: created(r)}, want{chatroom: chatroom, payload: created(unanswered)},
		want{sessions: []string{"edge-a/s1", "edge-a/s2"}, payload: joined(room, 2, 2)},
		want{sessions: []string{"edge-a/s1", "edge-a/s2", "edge-c/s3"}, payload: joined(room, 3, 3)},
		want{sessions: []string{"edge-c/s3"}, payload: fmt.Sprintf("signal %d %s from=1 to=3 payload=%s", room, offer, offerPayload)})
	signalSeq := evs[len(evs)-1].GetSeq()
	s.stop(t)

	s = start(t, f.config())
	rooms := s.list(t, chatroom)
	if len(rooms) != 2 || rooms[0].GetVideoRoomId() != room || !slices.Equal(participants(rooms[0]), []int64{1, 2, 3}) ||
		rooms[1].GetVideoRoomId() != unanswered.GetVideoRoomId() || !slices.Equal(participants(rooms[1]), []int64{1}) {
		t.Fatalf("ListVideoRooms after the restart = %v, want %d with users 1, 2, 3 and %d with its host", rooms, room, unanswered.GetVideoRoomId())
	}
	resumed := s.subscribe(t, "edge-replay", proto.Uint64(signalSeq-1))
	if ev := resumed.next(t); ev.GetSeq() != signalSeq || ev.GetSignal().GetToUserId() != 3 || string(ev.GetSignal().GetPayload()) != offerPayload {
		t.Errorf("resumed after seq %d: got %s, want the signal to user 3", signalSeq-1, describe(ev))
	}
	resumed.cancel()
	obs = s.subscribe(t, "edge-obs", proto.Uint64(signalSeq))
	if obs.first.GetHeadSeq() != signalSeq {
		t.Errorf("Subscribe after the restart: head_seq %d, want %d", obs.first.GetHeadSeq(), signalSeq)
	}
	s.subscribe(t, "edge-a", nil)
	resync := &signalingv1.SyncSessionsRequest{EdgeId: "edge-a", SessionIds: []string{"s1", "s-other"}}
	if _, err := s.api.SyncSessions(callCtx(t), resync); err != nil {
		t.Fatalf("SyncSessions(%v) = %v", resync, err)
	}
	obs.expect(t, want{sessions: []string{"edge-a/s1", "edge-c/s3"}, payload: left(room, 2, 2, "disconnected")})
	f.clock.Advance(lease - time.Millisecond)
	obs.expectQuiet(t, s)
	f.clock.Advance(2 * time.Millisecond)
	obs.expect(t, want{sessions: []string{"edge-a/s1"}, payload: left(room, 3, 1, "disconnected")})
	f.clock.Advance(emptyTimeout - lease)
	obs.expect(t, want{chatroom: chatroom, sessions: []string{"edge-a/s1"}, payload: closed(unanswered.GetVideoRoomId(), chatroom, "timeout")})

	last := s.create(t, caller("edge-a", "s1", 1), chatroom, "Last before the restart").GetVideoRoomId()
	s.stop(t)
	s = start(t, f.config())
	if rooms := s.list(t, 0); len(rooms) != 2 || !slices.Equal(participants(rooms[0]), []int64{1}) || rooms[1].GetVideoRoomId() != last {
		t.Errorf("ListVideoRooms after a second restart = %v, want %d with user 1 only and %d", rooms, room, last)
	}
	if next := s.create(t, caller("edge-a", "s1", 1), chatroom, "Next").GetVideoRoomId(); next != last+1 {
		t.Errorf("CreateVideoRoom after two restarts: video_room_id %d, want %d (ids are never reused)", next, last+1)
	}
}

// TestEmptyRoomTimeout closes a room nobody but its host joined once the
// timeout has passed, even when the host joined it again; a room someone
// else joined stays.
func TestEmptyRoomTimeout(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-obs", nil)
	s.subscribe(t, "edge-a", nil)
	lonely := s.create(t, caller("edge-a", "s1", 1), chatroom, "Lonely")
	used := s.create(t, caller("edge-a", "s1", 1), chatroom, "Used")
	s.join(t, caller("edge-a", "s1", 1), lonely.GetVideoRoomId())
	s.join(t, caller("edge-a", "s2", 2), used.GetVideoRoomId())
	obs.expect(t, want{chatroom: chatroom, payload: created(lonely)}, want{chatroom: chatroom, payload: created(used)},
		want{sessions: []string{"edge-a/s1", "edge-a/s2"}, payload: joined(used.GetVideoRoomId(), 2, 2)})

	f.clock.Advance(emptyTimeout - time.Millisecond)
	obs.expectQuiet(t, s)
	f.clock.Advance(2 * time.Millisecond)
	obs.expect(t, want{chatroom: chatroom, sessions: []string{"edge-a/s1"}, payload: closed(lonely.GetVideoRoomId(), chatroom, "timeout")})
	f.clock.Advance(3 * emptyTimeout)
	obs.expectQuiet(t, s)
	if got := s.list(t, 0); len(got) != 1 || got[0].GetVideoRoomId() != used.GetVideoRoomId() {
		t.Errorf("ListVideoRooms after the timeout = %v, want only %d", got, used.GetVideoRoomId())
	}
}

// TestEventsEchoSeqID checks that the events a request causes carry the
// caller's seq_id, as the protocol document's envelopes echo it, and that
// the others do not.
func TestEventsEchoSeqID(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-obs", nil)
	with := func(c *signalingv1.Caller, seq string) *signalingv1.Caller { c.SeqId = seq; return c }
	res, err := s.api.CreateVideoRoom(callCtx(t), &signalingv1.CreateVideoRoomRequest{Caller: with(caller("edge-a", "s1", 1), "video_001"), ChatroomId: chatroom, Name: "Call"})
	if err != nil {
		t.Fatalf("CreateVideoRoom = %v", err)
	}
	room := res.GetRoom().GetVideoRoomId()
	calls := []struct {
		name string
		call func() error
		seq  string
	}{
		{"CreateVideoRoom", func() error { return nil }, "video_001"},
		{"JoinVideoRoom", func() error {
			_, err := s.api.JoinVideoRoom(callCtx(t), &signalingv1.JoinVideoRoomRequest{Caller: with(caller("edge-b", "s2", 2), "video_join_001"), VideoRoomId: room})
			return err
		}, "video_join_001"},
		{"Relay", func() error {
			_, err := s.api.Relay(callCtx(t), &signalingv1.RelayRequest{Caller: with(caller("edge-a", "s1", 1), "sdp_001"), VideoRoomId: room,
				TargetUserId: 2, Kind: offer, Payload: []byte(offerPayload)})
			return err
		}, "sdp_001"},
		{"ChangeMediaStatus", func() error {
			_, err := s.api.ChangeMediaStatus(callCtx(t), &signalingv1.ChangeMediaStatusRequest{Caller: with(caller("edge-a", "s1", 1), "media_001"),
				VideoRoomId: room, MediaStatus: &signalingv1.MediaStatus{VideoEnabled: true}})
			return err
		}, "media_001"},
		{"LeaveVideoRoom", func() error {
			_, err := s.api.LeaveVideoRoom(callCtx(t), &signalingv1.LeaveVideoRoomRequest{Caller: with(caller("edge-b", "s2", 2), "leave_001"), VideoRoomId: room})
			return err
		}, ""},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s = %v", c.name, err)
		}
		if ev := obs.next(t); ev.GetSeqId() != c.seq {
			t.Errorf("%s: event %s has seq_id %q, want %q", c.name, describe(ev), ev.GetSeqId(), c.seq)
		}
	}
}

// TestCloseVideoRoom closes a room for its chat room's members and its
// participants' sessions.
func TestCloseVideoRoom(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-obs", nil)
	room := setupRoom(t, s, obs)
	if _, err := s.admin.CloseVideoRoom(callCtx(t), &signalingv1.CloseVideoRoomRequest{VideoRoomId: room}); err != nil {
		t.Fatalf("CloseVideoRoom(%d) = %v", room, err)
	}
	obs.expect(t, want{chatroom: chatroom, sessions: []string{"edge-a/s1", "edge-b/s2", "edge-a/s3"}, payload: closed(room, chatroom, "closed")})
	_, err := s.admin.CloseVideoRoom(callCtx(t), &signalingv1.CloseVideoRoomRequest{VideoRoomId: room})
	expectRefusal(t, "CloseVideoRoom(closed room)", err, codes.NotFound, notFound)
	_, err = s.admin.CloseVideoRoom(callCtx(t), &signalingv1.CloseVideoRoomRequest{})
	expectRefusal(t, "CloseVideoRoom(no id)", err, codes.InvalidArgument, none)
	_, err = s.admin.ListVideoRooms(callCtx(t), &signalingv1.ListVideoRoomsRequest{ChatroomId: -1})
	expectRefusal(t, "ListVideoRooms(-1)", err, codes.InvalidArgument, none)
	_, err = s.api.Relay(callCtx(t), &signalingv1.RelayRequest{Caller: caller("edge-a", "s1", 1), VideoRoomId: room, TargetUserId: 2, Kind: offer, Payload: []byte(offerPayload)})
	expectRefusal(t, "Relay(closed room)", err, codes.NotFound, notFound)
	obs.expectQuiet(t, s)
}

// TestICEServers hands out STUN servers and TURN servers with static
// credentials or, with a secret, TURN REST credentials checked by
// recomputing the HMAC.
func TestICEServers(t *testing.T) {
	secret := []byte("coturn-secret")
	tests := []struct {
		name string
		set  func(*signaling.Config)
		want func(now time.Time, user int64) []*signalingv1.IceServer
	}{
		{"none", func(c *signaling.Config) { c.STUNURLs = nil }, func(time.Time, int64) []*signalingv1.IceServer { return nil }},
		{"static", func(c *signaling.Config) {
			c.TURNURLs = []string{"turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1:5349"}
			c.TURNUsername, c.TURNCredential = "user", "pass"
		}, func(time.Time, int64) []*signalingv1.IceServer {
			return []*signalingv1.IceServer{{Urls: []string{"stun:127.0.0.1:3478"}},
				{Urls: []string{"turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1:5349"}, Username: "user", Credential: "pass"}}
		}},
		{"rest", func(c *signaling.Config) {
			c.TURNURLs = []string{"turn:127.0.0.1:3478"}
			c.TURNSecret, c.TURNTTL = secret, time.Hour
			c.TURNUsername, c.TURNCredential = "ignored", "ignored"
		}, func(now time.Time, user int64) []*signalingv1.IceServer {
			username := fmt.Sprintf("%d:%d", now.Add(time.Hour).Unix(), user)
			mac := hmac.New(sha1.New, secret)
			mac.Write([]byte(username))
			return []*signalingv1.IceServer{{Urls: []string{"stun:127.0.0.1:3478"}},
				{Urls: []string{"turn:127.0.0.1:3478"}, Username: username, Credential: base64.StdEncoding.EncodeToString(mac.Sum(nil))}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			cfg := f.config()
			tt.set(&cfg)
			s := start(t, cfg)
			equal := func(a, b *signalingv1.IceServer) bool { return proto.Equal(a, b) }
			created := f.clock.Now()
			res, err := s.api.CreateVideoRoom(callCtx(t), &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: "Call"})
			if err != nil {
				t.Fatalf("CreateVideoRoom = %v", err)
			}
			if got, want := res.GetIceServers(), tt.want(created, 1); !slices.EqualFunc(got, want, equal) {
				t.Errorf("CreateVideoRoom(user 1 at %v) ice_servers = %v, want %v", created, got, want)
			}
			now := f.clock.Advance(time.Minute)
			got := s.join(t, caller("edge-a", "s2", 2), res.GetRoom().GetVideoRoomId()).GetIceServers()
			if want := tt.want(now, 2); !slices.EqualFunc(got, want, equal) {
				t.Errorf("JoinVideoRoom(user 2 at %v) ice_servers = %v, want %v", now, got, want)
			}
		})
	}
}

// TestSubscribeResume subscribes at the head, from the oldest kept event,
// after a given seq and beyond the head, with EventRetention 5.
func TestSubscribeResume(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	cfg.EventRetention = 5
	s := start(t, cfg)
	for i := range 8 {
		s.create(t, caller("edge-a", "s1", 1), chatroom, fmt.Sprint("room ", i))
	}
	tests := []struct {
		name          string
		after         *uint64
		wantSeqs      []uint64
		wantTruncated bool
	}{
		{"head", nil, nil, false},
		{"oldest kept", proto.Uint64(0), []uint64{4, 5, 6, 7, 8}, true},
		{"after a trimmed seq", proto.Uint64(2), []uint64{4, 5, 6, 7, 8}, true},
		{"after the last trimmed seq", proto.Uint64(3), []uint64{4, 5, 6, 7, 8}, false},
		{"after a kept seq", proto.Uint64(6), []uint64{7, 8}, false},
		{"after the head", proto.Uint64(8), nil, false},
		{"beyond the head", proto.Uint64(100), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := s.subscribe(t, "edge-"+tt.name, tt.after)
			defer st.cancel()
			var seqs []uint64
			for _, ev := range st.first.GetEvents() {
				seqs = append(seqs, ev.GetSeq())
			}
			if st.first.GetHeadSeq() != 8 || st.first.GetTruncated() != tt.wantTruncated || !slices.Equal(seqs, tt.wantSeqs) {
				t.Errorf("Subscribe(after %v) first response: head %d, truncated %v, seqs %v; want 8, %v, %v",
					tt.after, st.first.GetHeadSeq(), st.first.GetTruncated(), seqs, tt.wantTruncated, tt.wantSeqs)
			}
		})
	}
	live := s.subscribe(t, "edge-live", nil)
	r := s.create(t, caller("edge-a", "s1", 1), chatroom, "live")
	if ev := live.next(t); ev.GetSeq() != 9 || ev.GetRoomCreated().GetRoom().GetVideoRoomId() != r.GetVideoRoomId() {
		t.Errorf("live event = %s, want seq 9 creating %d", describe(ev), r.GetVideoRoomId())
	}
}

// TestChatUnavailable answers UNAVAILABLE when chat cannot say whether the
// caller is a member: chat refusing, or nothing listening.
func TestChatUnavailable(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	room := s.create(t, caller("edge-a", "s1", 1), chatroom, "Call").GetVideoRoomId()
	f.chat.setDown(true)
	_, err := s.api.CreateVideoRoom(callCtx(t), &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: "x"})
	expectRefusal(t, "CreateVideoRoom(chat down)", err, codes.Unavailable, none)
	_, err = s.api.JoinVideoRoom(callCtx(t), &signalingv1.JoinVideoRoomRequest{Caller: caller("edge-a", "s1", 1), VideoRoomId: room})
	expectRefusal(t, "JoinVideoRoom(chat down)", err, codes.Unavailable, none)
	f.chat.setDown(false)
	s.join(t, caller("edge-a", "s1", 1), room)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := lis.Addr().String()
	lis.Close()
	cfg := f.config()
	cfg.DataDir = t.TempDir()
	cfg.ChatAddr = addr
	cfg.RPCTimeout = time.Second
	s = start(t, cfg)
	_, err = s.api.CreateVideoRoom(callCtx(t), &signalingv1.CreateVideoRoomRequest{Caller: caller("edge-a", "s1", 1), ChatroomId: chatroom, Name: "x"})
	expectRefusal(t, "CreateVideoRoom(nothing at the chat address)", err, codes.Unavailable, none)
}

// TestSyncAndSubscribeValidation refuses malformed edge and session ids.
func TestSyncAndSubscribeValidation(t *testing.T) {
	f := newFixture(t)
	s := start(t, f.config())
	for _, req := range []*signalingv1.SyncSessionsRequest{
		{},
		{EdgeId: strings.Repeat("e", signaling.MaxIDBytes+1)},
		{EdgeId: "edge-a", SessionIds: []string{"s1", ""}},
		{EdgeId: "edge-a", SessionIds: []string{strings.Repeat("s", signaling.MaxIDBytes+1)}},
	} {
		_, err := s.api.SyncSessions(callCtx(t), req)
		expectRefusal(t, fmt.Sprintf("SyncSessions(%s)", short(req.String())), err, codes.InvalidArgument, none)
	}
	sub, err := s.api.Subscribe(callCtx(t), &signalingv1.SubscribeRequest{})
	if err == nil {
		_, err = sub.Recv()
	}
	expectRefusal(t, "Subscribe(no edge id)", err, codes.InvalidArgument, none)
}

// TestRunConfig refuses configurations Run cannot serve.
func TestRunConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  signaling.Config
	}{
		{"no data dir", signaling.Config{}},
		{"negative lease", signaling.Config{DataDir: t.TempDir(), EdgeLease: -1}},
		{"negative timeout", signaling.Config{DataDir: t.TempDir(), EmptyRoomTimeout: -1}},
		{"negative rpc timeout", signaling.Config{DataDir: t.TempDir(), RPCTimeout: -1}},
		{"ceiling of one", signaling.Config{DataDir: t.TempDir(), MaxParticipants: 1}},
		{"negative signal bytes", signaling.Config{DataDir: t.TempDir(), MaxSignalBytes: -1}},
		{"negative retention", signaling.Config{DataDir: t.TempDir(), EventRetention: -1}},
		{"bad address", signaling.Config{DataDir: t.TempDir(), Addr: "not an address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := signaling.Run(ctx, tt.cfg); err == nil {
				t.Errorf("Run(%+v) = nil, want an error", tt.cfg)
			}
		})
	}
}
