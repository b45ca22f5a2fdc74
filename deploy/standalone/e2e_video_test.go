package standalone

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge"
)

// videoUser is a session of a chat room member, on some edge.
func (c *cluster) videoUser(addr, name string, user int64, rooms ...int64) *client {
	c.t.Helper()
	cl := dialEdge(c.t, addr, name)
	cl.connect(mint(c.t, user, name, time.Hour))
	for _, r := range rooms {
		cl.join(r)
	}
	return cl
}

// createVideoRoom creates a video room as cl, its first participant, and
// returns its id and the seq_id of the request.
func createVideoRoom(t *testing.T, cl *client, chatroom int64, max int) (room int64, seq string) {
	t.Helper()
	room, seq, _ = createVideoRoomAnswer(t, cl, chatroom, max)
	return room, seq
}

// createVideoRoomAnswer is createVideoRoom returning the creator's
// VIDEO_ROOM_CREATED as well.
func createVideoRoomAnswer(t *testing.T, cl *client, chatroom int64, max int) (room int64, seq string, env envelope) {
	t.Helper()
	seq = cl.send("CREATE_VIDEO_ROOM", map[string]any{"chatroom_id": chatroom, "video_room_name": "standup", "max_participants": max})
	env = cl.expect("VIDEO_ROOM_CREATED", seq)
	room = videoRoomID(t, env)
	if num(env.Data["chatroom_id"]) != chatroom || env.Data["video_room_name"] != "standup" ||
		(max != 0 && num(env.Data["max_participants"]) != int64(max)) {
		t.Fatalf("%s: CREATE_VIDEO_ROOM answered %s", cl.name, env.raw)
	}
	return room, seq, env
}

// videoRoomID returns the video_room_id of env, failing the test unless it
// is a positive JSON number, as the protocol document has it.
func videoRoomID(t *testing.T, env envelope) int64 {
	t.Helper()
	f, ok := env.Data["video_room_id"].(float64)
	if !ok || f <= 0 || f != float64(int64(f)) {
		t.Fatalf("%s: video_room_id %#v, want a positive JSON integer", env.raw, env.Data["video_room_id"])
	}
	return int64(f)
}

// joinVideo joins a video room as cl and returns JOIN_VIDEO_ROOM_SUCCESS,
// after checking the VIDEO_PARTICIPANT_JOINED that the joiner gets too,
// both echoing the request's seq_id.
func joinVideo(t *testing.T, cl *client, user int64, room int64) envelope {
	t.Helper()
	seq := cl.send("JOIN_VIDEO_ROOM", map[string]any{"video_room_id": room, "media_status": map[string]any{"audio_enabled": true, "video_enabled": false}})
	ok := cl.expect("JOIN_VIDEO_ROOM_SUCCESS", seq)
	expectJoined(t, cl, room, user, seq)
	return ok
}

// expectJoined reads a VIDEO_PARTICIPANT_JOINED of user in room, echoing
// seq (the joiner's JOIN_VIDEO_ROOM) unless seq is empty.
func expectJoined(t *testing.T, cl *client, room int64, user int64, seq string) envelope {
	t.Helper()
	env := cl.expect("VIDEO_PARTICIPANT_JOINED", seq)
	if videoRoomID(t, env) != room || num(env.Data["user_id"]) != user {
		t.Fatalf("%s: got %s, want user %d joined %d", cl.name, env.raw, user, room)
	}
	return env
}

func participantIDs(env envelope) []int64 {
	var ids []int64
	ps, _ := env.Data["participants"].([]any)
	for _, p := range ps {
		m, _ := p.(map[string]any)
		ids = append(ids, num(m["user_id"]))
	}
	return ids
}

// TestVideoRoomAcrossEdges runs every rule of the video rooms with the
// participants on two edges.
func TestVideoRoomAcrossEdges(t *testing.T) {
	c := startCluster(t)
	createRoom(t, c.chatAdmin, &chatv1.CreateRoomRequest{Id: 1, Name: "team"})
	createRoom(t, c.chatAdmin, &chatv1.CreateRoomRequest{Id: 2, Name: "other"})
	a, b := c.edge("edge-a"), c.edge("edge-b")
	alice := c.videoUser(a, "alice", 801, 1)
	bob := c.videoUser(b, "bob", 802, 1)
	carol := c.videoUser(b, "carol", 803, 1)
	dave := c.videoUser(a, "dave", 804, 2) // not a member of room 1
	skipUntil(t, alice, "USER_JOINED")     // bob
	skipUntil(t, alice, "USER_JOINED")     // carol
	skipUntil(t, bob, "USER_JOINED")       // carol

	dave.expectError("PERMISSION_DENIED", dave.send("CREATE_VIDEO_ROOM", map[string]any{"chatroom_id": 1, "video_room_name": "x"}), "CREATE_VIDEO_ROOM")
	alice.expectError("INVALID_DATA", alice.send("CREATE_VIDEO_ROOM", map[string]any{"chatroom_id": 1, "video_room_name": "x", "max_participants": 99}), "CREATE_VIDEO_ROOM")
	alice.expectError("INVALID_DATA", alice.send("CREATE_VIDEO_ROOM", map[string]any{"chatroom_id": "one"}), "CREATE_VIDEO_ROOM")

	// alice creates the room and is its first participant: her answer
	// carries the ICE servers, with TURN credentials made for her; the
	// chat room's members get the announcement with her seq_id.
	room, createSeq, created := createVideoRoomAnswer(t, alice, 1, 2)
	checkICEServers(t, created, 801)
	for _, cl := range []*client{bob, carol} {
		if env := cl.expect("VIDEO_ROOM_CREATED", createSeq); videoRoomID(t, env) != room || num(env.Data["host_user_id"]) != 801 || env.Data["ice_servers"] != nil {
			t.Fatalf("%s: got %s, want VIDEO_ROOM_CREATED of %d by 801, without alice's ICE servers", cl.name, env.raw, room)
		}
	}
	dave.expectSilence(100 * time.Millisecond) // not in the chat room

	alice.expectError("VIDEO_ROOM_NOT_FOUND", alice.send("JOIN_VIDEO_ROOM", map[string]any{"video_room_id": room + 1000}), "JOIN_VIDEO_ROOM")
	env := alice.expectError("INVALID_DATA", alice.send("JOIN_VIDEO_ROOM", map[string]any{"video_room_id": "vr_nope"}), "JOIN_VIDEO_ROOM")
	if msg, _ := env.Data["message"].(string); !strings.Contains(msg, "video_room_id") {
		t.Errorf("ERROR for a video_room_id that is no number: message %q, want it to name video_room_id", msg)
	}
	dave.expectError("PERMISSION_DENIED", dave.send("JOIN_VIDEO_ROOM", map[string]any{"video_room_id": room}), "JOIN_VIDEO_ROOM")

	// bob joins, naming the room with a digit string as a lenient client
	// may: he is the second participant.
	seq := bob.send("JOIN_VIDEO_ROOM", map[string]any{"video_room_id": strconv.FormatInt(room, 10),
		"media_status": map[string]any{"audio_enabled": true, "video_enabled": false}})
	ok := bob.expect("JOIN_VIDEO_ROOM_SUCCESS", seq)
	expectJoined(t, bob, room, 802, seq)
	if got := participantIDs(ok); len(got) != 2 || got[0] != 801 || got[1] != 802 || videoRoomID(t, ok) != room {
		t.Errorf("bob's JOIN_VIDEO_ROOM_SUCCESS = %s, want room %d with participants [801 802]", ok.raw, room)
	}
	if env := expectJoined(t, alice, room, 802, seq); num(env.Data["participants_count"]) != 2 || env.Data["nickname"] != "bob" {
		t.Errorf("alice: got %s, want bob joined, 2 participants", env.raw)
	}
	carol.expectError("VIDEO_ROOM_FULL", carol.send("JOIN_VIDEO_ROOM", map[string]any{"video_room_id": room}), "JOIN_VIDEO_ROOM")

	// Relay: to the target's session only, from_user_id in place of the
	// target, the object as it was sent.
	sdp := map[string]any{"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"}
	seq = bob.send("SDP_OFFER", map[string]any{"video_room_id": room, "target_user_id": 801, "sdp": sdp})
	got := alice.expect("SDP_OFFER", seq)
	if num(got.Data["from_user_id"]) != 802 || got.Data["target_user_id"] != nil || videoRoomID(t, got) != room {
		t.Errorf("alice: got %s, want the offer from 802", got.raw)
	}
	if gs, _ := got.Data["sdp"].(map[string]any); gs["sdp"] != sdp["sdp"] || gs["type"] != "offer" {
		t.Errorf("alice: relayed sdp = %v, want %v", got.Data["sdp"], sdp)
	}
	seq = alice.send("SDP_ANSWER", map[string]any{"video_room_id": room, "target_user_id": 802, "sdp": map[string]any{"type": "answer", "sdp": "v=0\r\n"}})
	if got := bob.expect("SDP_ANSWER", seq); num(got.Data["from_user_id"]) != 801 {
		t.Errorf("bob: got %s, want the answer from 801", got.raw)
	}
	cand := map[string]any{"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
	seq = alice.send("ICE_CANDIDATE", map[string]any{"video_room_id": room, "target_user_id": 802, "candidate": cand})
	if got := bob.expect("ICE_CANDIDATE", seq); got.Data["candidate"].(map[string]any)["candidate"] != cand["candidate"] {
		t.Errorf("bob: got %s, want alice's candidate", got.raw)
	}
	carol.expectSilence(100 * time.Millisecond) // not a participant: saw none of it

	// Refusals: a sender or a target who is not a participant, bad and
	// oversized payloads.
	carol.expectError("PERMISSION_DENIED", carol.send("SDP_OFFER", map[string]any{"video_room_id": room, "target_user_id": 801, "sdp": sdp}), "SDP_OFFER")
	bob.expectError("PERMISSION_DENIED", bob.send("ICE_CANDIDATE", map[string]any{"video_room_id": room, "target_user_id": 803, "candidate": cand}), "ICE_CANDIDATE")
	bob.expectError("VIDEO_ROOM_NOT_FOUND", bob.send("SDP_OFFER", map[string]any{"video_room_id": room + 1000, "target_user_id": 801, "sdp": sdp}), "SDP_OFFER")
	bob.expectError("INVALID_DATA", bob.send("SDP_OFFER", map[string]any{"video_room_id": room, "target_user_id": 801, "sdp": map[string]any{"type": "answer", "sdp": "v=0"}}), "SDP_OFFER")
	bob.expectError("INVALID_DATA", bob.send("SDP_ANSWER", map[string]any{"video_room_id": room, "target_user_id": 801}), "SDP_ANSWER")
	big := map[string]any{"type": "offer", "sdp": "v=0\r\n" + strings.Repeat("a=x\r\n", edge.DefaultMaxSignalBytes/5)}
	bob.expectError("INVALID_DATA", bob.send("SDP_OFFER", map[string]any{"video_room_id": room, "target_user_id": 801, "sdp": big}), "SDP_OFFER")
	alice.expectSilence(100 * time.Millisecond)

	// Media status: to every participant, the sender included.
	seq = bob.send("MEDIA_STATUS_CHANGE", map[string]any{"video_room_id": room, "media_status": map[string]any{"audio_enabled": false, "video_enabled": true, "screen_sharing": true}})
	for _, cl := range []*client{alice, bob} {
		env := cl.expect("PARTICIPANT_MEDIA_CHANGED", seq)
		ms, _ := env.Data["media_status"].(map[string]any)
		if num(env.Data["user_id"]) != 802 || ms["video_enabled"] != true || ms["screen_sharing"] != true || ms["audio_enabled"] != false {
			t.Errorf("%s: got %s, want bob's new media status", cl.name, env.raw)
		}
	}
	carol.expectError("PERMISSION_DENIED", carol.send("MEDIA_STATUS_CHANGE", map[string]any{"video_room_id": room, "media_status": map[string]any{}}), "MEDIA_STATUS_CHANGE")

	// Leave: the leaver is answered, the others told.
	seq = bob.send("LEAVE_VIDEO_ROOM", map[string]any{"video_room_id": room})
	bob.expect("LEAVE_VIDEO_ROOM_SUCCESS", seq)
	if env := alice.expect("VIDEO_PARTICIPANT_LEFT", ""); num(env.Data["user_id"]) != 802 || env.Data["reason"] != "left" || num(env.Data["participants_count"]) != 1 {
		t.Errorf("alice: got %s, want bob left, 1 participant", env.raw)
	}
	bob.expectError("PERMISSION_DENIED", bob.send("SDP_OFFER", map[string]any{"video_room_id": room, "target_user_id": 801, "sdp": sdp}), "SDP_OFFER")

	// carol takes the free place; then alice disconnects: carol is told,
	// and when carol leaves too, the room closes for the chat room.
	expectJoined(t, alice, room, 803, joinVideo(t, carol, 803, room).SeqID)
	alice.conn.Close()
	if env := carol.expect("VIDEO_PARTICIPANT_LEFT", ""); num(env.Data["user_id"]) != 801 || env.Data["reason"] != "disconnected" {
		t.Errorf("carol: got %s, want alice disconnected", env.raw)
	}
	// carol's answer and the closing, which reaches her as a member of the
	// chat room, come by different paths: in either order.
	seq = carol.send("LEAVE_VIDEO_ROOM", map[string]any{"video_room_id": room})
	closed := map[string]envelope{"bob": skipUntil(t, bob, "VIDEO_ROOM_CLOSED")}
	for range 2 {
		switch env := carol.next(); {
		case env.Action == "LEAVE_VIDEO_ROOM_SUCCESS" && env.SeqID == seq:
		case env.Action == "VIDEO_ROOM_CLOSED":
			closed["carol"] = env
		default:
			t.Fatalf("carol: got %s, want LEAVE_VIDEO_ROOM_SUCCESS and VIDEO_ROOM_CLOSED", env.raw)
		}
	}
	for name, env := range closed {
		if videoRoomID(t, env) != room || env.Data["reason"] != "empty" || num(env.Data["chatroom_id"]) != 1 {
			t.Errorf("%s: got %s, want %d closed empty", name, env.raw, room)
		}
	}
	if len(closed) != 2 {
		t.Errorf("VIDEO_ROOM_CLOSED reached %d of bob and carol, want both", len(closed))
	}
	bob.expectError("VIDEO_ROOM_NOT_FOUND", bob.send("JOIN_VIDEO_ROOM", map[string]any{"video_room_id": room}), "JOIN_VIDEO_ROOM")
}

// checkICEServers checks the STUN server and the TURN REST credentials of
// a JOIN_VIDEO_ROOM_SUCCESS or a creator's VIDEO_ROOM_CREATED: username
// "<expiry>:<user>", credential the base64 HMAC-SHA1 of the username with
// the secret.
func checkICEServers(t *testing.T, env envelope, user int64) {
	t.Helper()
	servers, _ := env.Data["ice_servers"].([]any)
	if len(servers) != 2 {
		t.Fatalf("ice_servers = %v, want a STUN and a TURN server", env.Data["ice_servers"])
	}
	stun, _ := servers[0].(map[string]any)
	if urls, _ := stun["urls"].([]any); len(urls) != 1 || urls[0] != "stun:stun.example.com:3478" || stun["username"] != nil {
		t.Errorf("STUN server = %v, want stun:stun.example.com:3478 without credentials", stun)
	}
	turn, _ := servers[1].(map[string]any)
	username, _ := turn["username"].(string)
	expiry, userPart, ok := strings.Cut(username, ":")
	exp, err := strconv.ParseInt(expiry, 10, 64)
	if !ok || err != nil || userPart != fmt.Sprint(user) || exp < time.Now().Add(23*time.Hour).Unix() || exp > time.Now().Add(25*time.Hour).Unix() {
		t.Errorf("TURN username = %q, want <unix time in 24 h>:%d", username, user)
	}
	mac := hmac.New(sha1.New, []byte(testTURNSecret))
	mac.Write([]byte(username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); turn["credential"] != want {
		t.Errorf("TURN credential = %v, want %s (HMAC-SHA1 of the username)", turn["credential"], want)
	}
}

// TestVideoSignalRateLimit checks the per-session bound of video-room
// requests.
func TestVideoSignalRateLimit(t *testing.T) {
	c := startCluster(t)
	createRoom(t, c.chatAdmin, &chatv1.CreateRoomRequest{Id: 1, Name: "team"})
	lis := listen(t, "127.0.0.1:0")
	runPart(t, func(ctx context.Context) error {
		return edge.Run(ctx, edge.Config{Listener: lis, EdgeID: "edge-slow", AuthAddr: c.authAddr, ChatAddr: c.chatAddr,
			PresenceAddr: c.presAddr, SignalingAddr: c.sigAddr, SignalRate: 0.001, SignalBurst: 3, Logger: testLogger(t)})
	})
	alice := c.videoUser(lis.Addr().String(), "alice", 811, 1)
	room, _ := createVideoRoom(t, alice, 1, 0) // 1
	joinVideo(t, alice, 811, room)             // 2: the creator again, answered as a join
	alice.send("MEDIA_STATUS_CHANGE", map[string]any{"video_room_id": room, "media_status": map[string]any{"audio_enabled": true}})
	alice.expect("PARTICIPANT_MEDIA_CHANGED", "") // 3
	alice.expectError("RATE_LIMITED", alice.send("ICE_CANDIDATE", map[string]any{"video_room_id": room, "target_user_id": 812,
		"candidate": map[string]any{"candidate": ""}}), "ICE_CANDIDATE")
	alice.say(1, "chat is not limited by it")
}

// TestVideoRoomEmptyTimeout checks that a video room nobody but its
// creator joins closes: an unanswered call.
func TestVideoRoomEmptyTimeout(t *testing.T) {
	c := startCluster(t)
	createRoom(t, c.chatAdmin, &chatv1.CreateRoomRequest{Id: 1, Name: "team"})
	alice := c.videoUser(c.edge("edge-a"), "alice", 821, 1)
	room, _ := createVideoRoom(t, alice, 1, 0)
	alice.conn.SetReadDeadline(time.Now().Add(testEmptyRoomTimeout + 10*time.Second))
	env, err := alice.readOne()
	if err != nil || env.Action != "VIDEO_ROOM_CLOSED" || num(env.Data["video_room_id"]) != room || env.Data["reason"] != "timeout" {
		t.Fatalf("alice: got %s (%v), want %d closed by the timeout", env.raw, err, room)
	}
	alice.expectSilence(200 * time.Millisecond) // once, though she is both a chat member and its participant
}

// TestVideoRoomSurvivesSignalingRestart checks the choice documented in
// docs/protocol.md: rooms and participants survive a restart of the
// signaling service; a participant whose session ended meanwhile leaves
// once its edge reports back.
func TestVideoRoomSurvivesSignalingRestart(t *testing.T) {
	c := startCluster(t)
	createRoom(t, c.chatAdmin, &chatv1.CreateRoomRequest{Id: 1, Name: "team"})
	a, b := c.edge("edge-a"), c.edge("edge-b")
	alice := c.videoUser(a, "alice", 831, 1)
	bob := c.videoUser(b, "bob", 832, 1)
	carol := c.videoUser(b, "carol", 833, 1)
	skipUntil(t, alice, "USER_JOINED")
	skipUntil(t, alice, "USER_JOINED")
	skipUntil(t, bob, "USER_JOINED")
	room, created := createVideoRoom(t, alice, 1, 0)
	bob.expect("VIDEO_ROOM_CREATED", created)
	carol.expect("VIDEO_ROOM_CREATED", created)
	expectJoined(t, alice, room, 832, joinVideo(t, bob, 832, room).SeqID)
	seq := joinVideo(t, carol, 833, room).SeqID
	expectJoined(t, alice, room, 833, seq)
	expectJoined(t, bob, room, 833, seq)

	c.signaling.stop(t)
	carol.conn.Close() // ends while signaling is down
	c.sigCfg.Listener = listen(t, c.sigAddr)
	c.startSignaling()

	// carol's edge resubscribes and resyncs its sessions: she leaves.
	for _, cl := range []*client{alice, bob} {
		env := skipUntil(t, cl, "VIDEO_PARTICIPANT_LEFT")
		if num(env.Data["user_id"]) != 833 || env.Data["reason"] != "disconnected" || num(env.Data["participants_count"]) != 2 {
			t.Errorf("%s: got %s, want carol disconnected, 2 participants left", cl.name, env.raw)
		}
	}
	// alice and bob kept their places: the relay works across edges.
	seq = alice.send("SDP_OFFER", map[string]any{"video_room_id": room, "target_user_id": 832, "sdp": map[string]any{"type": "offer", "sdp": "v=0\r\n"}})
	if env := bob.expect("SDP_OFFER", seq); num(env.Data["from_user_id"]) != 831 {
		t.Errorf("bob: got %s, want alice's offer", env.raw)
	}
}
