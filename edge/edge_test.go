package edge_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge"
)

func TestConnect(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) { c.HeartbeatInterval = 7 * time.Second })
	c := h.dial()
	c.send("CONNECT", "c1", map[string]any{"jwt_token": "tok-42", "compression": "gzip", "batch": true})
	e := c.expect("CONNECT_SUCCESS", "c1")
	if e.num("user_id") != 42 || e.str("nickname") != "nick42" || e.num("heartbeat_interval_s") != 7 || e.str("compression") != "gzip" ||
		!strings.HasPrefix(e.str("session_id"), "e1-") ||
		!timestampRE.MatchString(e.str("server_time")) || !timestampRE.MatchString(e.str("expires_at")) {
		t.Errorf("CONNECT tok-42: got %s, want user_id 42, nickname nick42, session_id e1-*, heartbeat_interval_s 7, compression gzip, server_time and expires_at", e.raw)
	}
	c.ping("p1")
}

func TestConnectRefused(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct{ token, code string }{
		{"garbage", "INVALID_TOKEN"},
		{"expired", "TOKEN_EXPIRED"},
		{"revoked", "TOKEN_REVOKED"},
	} {
		t.Run(tc.token, func(t *testing.T) {
			c := dialWith(t, h.addr, nil)
			c.send("CONNECT", "c1", map[string]any{"jwt_token": tc.token})
			e := c.expect("CONNECT_ERROR", "c1")
			if e.str("error_code") != tc.code || e.str("message") == "" || strings.Contains(e.raw, "secret") {
				t.Errorf("CONNECT %q: got %s, want CONNECT_ERROR %s with a public message", tc.token, e.raw, tc.code)
			}
			c.expectClosed()
		})
	}
}

func TestConnectAuthUnavailable(t *testing.T) {
	dead := listen(t)
	deadAddr := dead.Addr().String()
	dead.Close()
	h := newHarness(t, func(c *edge.Config) { c.AuthAddr = deadAddr })
	c := h.dial()
	c.send("CONNECT", "c1", map[string]any{"jwt_token": "tok-1"})
	if e := c.expect("CONNECT_ERROR", "c1"); e.str("error_code") != "SERVICE_UNAVAILABLE" {
		t.Errorf("CONNECT with auth down: got %s, want CONNECT_ERROR SERVICE_UNAVAILABLE", e.raw)
	}
	c.expectClosed()
}

func TestBeforeConnect(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial()
	c.send("PING", "p1", map[string]any{})
	c.expectError("NOT_AUTHENTICATED", "p1", "PING")
	c.send("JOIN_ROOM", "j1", map[string]any{"chatroom_id": 1})
	c.expectError("NOT_AUTHENTICATED", "j1", "JOIN_ROOM")
	c.send("DANCE", "d1", map[string]any{})
	c.expectError("INVALID_ACTION", "d1", "DANCE")
	c.send("CONNECT", "c1", map[string]any{})
	c.expectError("INVALID_DATA", "c1", "CONNECT")
	c.send("CONNECT", "c2", map[string]any{"jwt_token": "tok-1", "compression": 5})
	c.expectError("INVALID_DATA", "c2", "CONNECT")
	// The session survived all of that. An unknown compression is ignored:
	// the session gets plain envelopes, and CONNECT_SUCCESS confirms none.
	c.send("CONNECT", "c3", map[string]any{"jwt_token": "tok-1", "compression": "brotli"})
	if e := c.expect("CONNECT_SUCCESS", "c3"); strings.Contains(e.raw, "compression") {
		t.Errorf("CONNECT with compression brotli: got %s, want no compression confirmed", e.raw)
	}
	c.send("CONNECT", "c4", map[string]any{"jwt_token": "tok-1"})
	c.expectError("INVALID_ACTION", "c4", "CONNECT")
	c.send("VIDEO_DANCE", "d2", map[string]any{})
	c.expectError("INVALID_ACTION", "d2", "VIDEO_DANCE")
	c.ping("p2")
}

func TestInvalidData(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) { c.MaxDepth = 4 })
	c := h.connect(1)
	long := strings.Repeat("x", 65)
	for _, tc := range []struct {
		name, line, seq, action string
	}{
		{"bad json", `{"action":"PING",`, "", ""},
		{"not an object", `[1,2,3]`, "", ""},
		{"a string", `"PING"`, "", ""},
		{"no action", `{"seq_id":"a1","data":{}}`, "a1", ""},
		{"action not a string", `{"action":5,"seq_id":"a2"}`, "a2", ""},
		{"invalid UTF-8", "{\"action\":\"PING\",\"seq_id\":\"u1\",\"data\":{\"x\":\"\xff\xfe\"}}", "", ""},
		{"lone surrogate", `{"action":"PING","seq_id":"u2","data":{"x":"\ud800"}}`, "", ""},
		{"too deep", `{"action":"PING","seq_id":"d1","data":{"a":{"b":[{}]}}}`, "", ""},
		{"seq_id too long", `{"action":"PING","seq_id":"` + long + `"}`, "", ""},
		{"seq_id not a string", `{"action":"PING","seq_id":7}`, "", ""},
		{"timestamp not a string", `{"action":"PING","seq_id":"t1","timestamp":5}`, "t1", "PING"},
		{"user_id not a number", `{"action":"PING","seq_id":"i1","user_id":"bob"}`, "i1", "PING"},
		{"data not an object", `{"action":"PING","seq_id":"o1","data":"x"}`, "o1", "PING"},
		{"chatroom_id a word", `{"action":"JOIN_ROOM","seq_id":"j1","data":{"chatroom_id":"abc"}}`, "j1", "JOIN_ROOM"},
		{"chatroom_id a bool", `{"action":"JOIN_ROOM","seq_id":"j2","data":{"chatroom_id":true}}`, "j2", "JOIN_ROOM"},
		{"chatroom_id missing", `{"action":"JOIN_ROOM","seq_id":"j3","data":{}}`, "j3", "JOIN_ROOM"},
		{"since_message_id negative", `{"action":"JOIN_ROOM","seq_id":"j4","data":{"chatroom_id":1,"since_message_id":-1}}`, "j4", "JOIN_ROOM"},
		{"content a number", `{"action":"SEND_MESSAGE","seq_id":"s1","data":{"chatroom_id":1,"content":5}}`, "s1", "SEND_MESSAGE"},
		{"content missing", `{"action":"SEND_MESSAGE","seq_id":"s2","data":{"chatroom_id":1}}`, "s2", "SEND_MESSAGE"},
		{"unknown message_type", `{"action":"SEND_MESSAGE","seq_id":"s3","data":{"chatroom_id":1,"content":"x","message_type":"video"}}`, "s3", "SEND_MESSAGE"},
		{"leave without room", `{"action":"LEAVE_ROOM","seq_id":"l1","data":{"chatroom_id":0}}`, "l1", "LEAVE_ROOM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.sendRaw(tc.line)
			c.expectError("INVALID_DATA", tc.seq, tc.action)
			c.ping("after")
		})
	}
	c.t = t
	// Depth 4 is within the limit; lone surrogates inside a pair are fine.
	c.sendRaw(`{"action":"PING","seq_id":"ok","data":{"a":{"b":[1]},"e":"\ud83d\ude00"},"user_id":"1"}`)
	c.expect("PONG", "ok")
}

func TestFrameLimit(t *testing.T) {
	const max = 1024
	h := newHarness(t, func(c *edge.Config) { c.MaxFrameBytes = max })
	c := h.connect(1)
	c.sendRaw(`{"action":"PING","seq_id":"big","data":{"pad":"` + strings.Repeat("a", 50_000) + `"}}`)
	c.expectError("INVALID_DATA", "", "")
	c.ping("after-big")
	// A frame of exactly the limit passes, with \r\n too.
	frame := `{"action":"PING","seq_id":"exact","data":{"pad":"`
	frame += strings.Repeat("b", max-len(frame)-3) + `"}}`
	if len(frame) != max {
		t.Fatalf("test frame is %d bytes, want %d", len(frame), max)
	}
	c.sendRaw(frame + "\r")
	c.expect("PONG", "exact")
	c.sendRaw("\n\r\n" + frame[:len(frame)-2] + `b"}}`) // empty lines are skipped; max+1 bytes is refused
	c.expectError("INVALID_DATA", "", "")
	c.ping("after-max+1")
}

func TestUserIDMismatch(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	c := h.connect(5)
	c.sendRaw(`{"action":"JOIN_ROOM","seq_id":"j1","user_id":6,"data":{"chatroom_id":1}}`)
	c.expectError("PERMISSION_DENIED", "j1", "JOIN_ROOM")
	c.sendRaw(`{"action":"PING","seq_id":"p1","user_id":"6"}`)
	c.expectError("PERMISSION_DENIED", "p1", "PING")
	c.sendRaw(`{"action":"PING","seq_id":"p2","user_id":5}`)
	c.expect("PONG", "p2")
	if ids, _ := h.chat.ListUserRooms(t.Context(), &chatv1.ListUserRoomsRequest{UserId: 5}); len(ids.GetRoomIds()) != 0 {
		t.Errorf("JOIN_ROOM with a foreign user_id joined rooms %v, want nothing done", ids.GetRoomIds())
	}
}

func TestRoomFanout(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(10, false, 0)
	a := h.connect(1)
	b := h.connect(2)
	c := h.connect(3) // not a member: hears nothing

	a.send("JOIN_ROOM", "ja", map[string]any{"chatroom_id": 10})
	if e := a.expect("JOIN_ROOM_SUCCESS", "ja"); e.num("chatroom_id") != 10 || e.num("participants_count") != 1 ||
		!strings.Contains(e.raw, `"online_participants":[{"user_id":1,"nickname":"nick1","is_online":true}]`) {
		t.Errorf("A JOIN_ROOM 10: got %s, want 1 participant, A online", e.raw)
	}
	b.send("JOIN_ROOM", "jb", map[string]any{"chatroom_id": "10"})
	if e := b.expect("JOIN_ROOM_SUCCESS", "jb"); e.num("participants_count") != 2 || len(e.Data["online_participants"].([]any)) != 2 {
		t.Errorf("B JOIN_ROOM 10: got %s, want 2 participants, both online", e.raw)
	}
	if e := a.expect("USER_JOINED", "s-"); e.num("user_id") != 2 || e.str("nickname") != "nick2" || e.num("participants_count") != 2 || e.num("chatroom_id") != 10 {
		t.Errorf("A after B's join: got %s, want USER_JOINED user 2", e.raw)
	}
	b.ping("b-no-self-join") // the joining session does not hear its own USER_JOINED

	// B's second session gets the room's traffic from CONNECT on.
	b2 := h.connect(2)

	a.send("SEND_MESSAGE", "m1", map[string]any{"chatroom_id": 10, "content": "hi \"all\"\n"})
	ack := a.expect("NEW_MESSAGE", "m1")
	if ack.num("message_id") != 1 || ack.num("user_id") != 1 || ack.str("nickname") != "nick1" ||
		ack.str("content") != "hi \"all\"\n" || ack.str("message_type") != "text" || !timestampRE.MatchString(ack.str("created_at")) {
		t.Errorf("A SEND_MESSAGE ack: got %s", ack.raw)
	}
	for name, cl := range map[string]*client{"B": b, "B2": b2} {
		if e := cl.expect("NEW_MESSAGE", "m1"); e.num("message_id") != 1 || e.str("content") != "hi \"all\"\n" {
			t.Errorf("%s: got %s, want A's message 1", name, e.raw)
		}
	}
	a.ping("a-no-dup") // the origin session got the message once, as its ack

	b.send("SEND_MESSAGE", "m2", map[string]any{"chatroom_id": 10, "content": "😀", "message_type": "emoji"})
	b.expect("NEW_MESSAGE", "m2")
	for name, cl := range map[string]*client{"A": a, "B2": b2} {
		if e := cl.expect("NEW_MESSAGE", "m2"); e.num("message_id") != 2 || e.str("message_type") != "emoji" {
			t.Errorf("%s: got %s, want B's message 2", name, e.raw)
		}
	}
	b.ping("b-no-dup")
	c.ping("c-nothing")

	b.send("LEAVE_ROOM", "lb", map[string]any{"chatroom_id": 10})
	if e := b.expect("LEAVE_ROOM_SUCCESS", "lb"); e.num("chatroom_id") != 10 || e.num("participants_count") != 1 {
		t.Errorf("B LEAVE_ROOM: got %s, want participants_count 1", e.raw)
	}
	for name, cl := range map[string]*client{"A": a, "B2": b2} {
		if e := cl.expect("USER_LEFT", "s-"); e.num("user_id") != 2 || e.num("participants_count") != 1 {
			t.Errorf("%s: got %s, want USER_LEFT user 2", name, e.raw)
		}
	}
	a.send("SEND_MESSAGE", "m3", map[string]any{"chatroom_id": 10, "content": "bye"})
	a.expect("NEW_MESSAGE", "m3")
	b.ping("b-left")
	b2.ping("b2-left")
}

func TestJoinSinceMessageID(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) { c.HistoryLimit = 2 })
	h.chat.addRoom(7, false, 0)
	h.chat.mu.Lock()
	r := h.chat.rooms[7]
	r.members[9] = "nick9"
	for i := range 5 {
		h.chat.appendMessageLocked(r, 7, 9, "nick9", fmt.Sprintf("old %d", i+1), chatv1.MessageType_MESSAGE_TYPE_TEXT)
	}
	h.chat.mu.Unlock()

	c := h.connect(1)
	c.send("JOIN_ROOM", "j", map[string]any{"chatroom_id": 7, "since_message_id": 2})
	c.expect("JOIN_ROOM_SUCCESS", "j")
	e := c.expect("BATCH_MESSAGES", "j")
	msgs, _ := e.Data["messages"].([]any)
	if e.num("chatroom_id") != 7 || len(msgs) != 2 || e.Data["has_more"] != true {
		t.Fatalf("BATCH_MESSAGES after since 2 with limit 2: got %s, want messages 3 and 4, has_more", e.raw)
	}
	for i, m := range msgs {
		if id := m.(map[string]any)["message_id"]; id != float64(3+i) {
			t.Errorf("BATCH_MESSAGES message %d id = %v, want %d", i, id, 3+i)
		}
	}
	c.send("JOIN_ROOM", "j2", map[string]any{"chatroom_id": 7, "since_message_id": 4})
	c.expect("JOIN_ROOM_SUCCESS", "j2")
	if e := c.expect("BATCH_MESSAGES", "j2"); len(e.Data["messages"].([]any)) != 1 || e.Data["has_more"] != false {
		t.Errorf("BATCH_MESSAGES after since 4: got %s, want message 5 only", e.raw)
	}
	c.send("JOIN_ROOM", "j0", map[string]any{"chatroom_id": 7, "since_message_id": 0})
	c.expect("JOIN_ROOM_SUCCESS", "j0")
	if e := c.expect("BATCH_MESSAGES", "j0"); len(e.Data["messages"].([]any)) != 2 || e.Data["has_more"] != true ||
		e.Data["messages"].([]any)[0].(map[string]any)["message_id"] != 1.0 {
		t.Errorf("BATCH_MESSAGES after since 0: got %s, want messages 1 and 2 (from the oldest), has_more", e.raw)
	}
	c.send("JOIN_ROOM", "j-none", map[string]any{"chatroom_id": 7})
	c.expect("JOIN_ROOM_SUCCESS", "j-none")
	c.ping("no replay without since_message_id")
}

func TestChatErrors(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	h.chat.addRoom(2, true, 0)  // invite-only
	h.chat.addRoom(3, false, 1) // full once user 1 is in
	h.chat.addRoom(4, false, 0) // user 1 is not a member
	h.chat.addRoom(5, false, 0) // user 2 is banned from it
	h.chat.mu.Lock()
	h.chat.rooms[5].banned[2] = true
	h.chat.mu.Unlock()
	c := h.connect(1)
	for _, room := range []int{1, 3} {
		c.send("JOIN_ROOM", "setup", map[string]any{"chatroom_id": room})
		c.expect("JOIN_ROOM_SUCCESS", "setup")
	}
	d := h.connect(2)
	for _, tc := range []struct {
		name, action string
		data         map[string]any
		code         string
	}{
		{"unknown room", "JOIN_ROOM", map[string]any{"chatroom_id": 99}, "ROOM_NOT_FOUND"},
		{"not invited", "JOIN_ROOM", map[string]any{"chatroom_id": 2}, "PERMISSION_DENIED"},
		{"room full", "JOIN_ROOM", map[string]any{"chatroom_id": 3}, "ROOM_FULL"},
		{"banned", "JOIN_ROOM", map[string]any{"chatroom_id": 5}, "USER_BLOCKED"},
		{"not a member", "SEND_MESSAGE", map[string]any{"chatroom_id": 4, "content": "x"}, "PERMISSION_DENIED"},
		{"system message", "SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "x", "message_type": "system"}, "INVALID_DATA"},
		{"rate limited", "SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "rate"}, "RATE_LIMITED"},
		{"rate limited reason", "SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "slow down"}, "RATE_LIMITED"},
		{"internal", "SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "internal"}, "INTERNAL_ERROR"},
		{"leave unknown room", "LEAVE_ROOM", map[string]any{"chatroom_id": 99}, "ROOM_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := c
			if tc.name == "room full" || tc.name == "not invited" || tc.name == "banned" {
				cl = d
			}
			cl.t = t
			cl.send(tc.action, "e", tc.data)
			cl.expectError(tc.code, "e", tc.action)
			cl.ping("after")
		})
	}
}

func TestChatUnavailable(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	a := h.connect(1)
	b := h.connect(2)
	for _, cl := range []*client{a, b} {
		cl.send("JOIN_ROOM", "j", map[string]any{"chatroom_id": 1})
		cl.expect("JOIN_ROOM_SUCCESS", "j")
	}
	a.expect("USER_JOINED", "s-")

	h.chatSrv.Stop()
	a.send("SEND_MESSAGE", "down", map[string]any{"chatroom_id": 1, "content": "lost"})
	a.expectError("SERVICE_UNAVAILABLE", "down", "SEND_MESSAGE")
	a.ping("still-open")

	lis, err := net.Listen("tcp", h.chatAddr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", h.chatAddr, err)
	}
	serveGRPC(t, lis, func(s *grpc.Server) { chatv1.RegisterChatServiceServer(s, h.chat) })
	// The edge's channel reconnects within its backoff: retry a bounded
	// number of times.
	var ok bool
	var sent string
	for i := range 40 {
		seq := fmt.Sprintf("up%d", i)
		a.send("SEND_MESSAGE", seq, map[string]any{"chatroom_id": 1, "content": "back"})
		e, err := a.read()
		if err != nil {
			t.Fatalf("SEND_MESSAGE after restart: %v", err)
		}
		if e.Action == "NEW_MESSAGE" && e.SeqID == seq {
			ok, sent = true, seq
			break
		}
		if e.Action != "ERROR" || e.str("error_code") != "SERVICE_UNAVAILABLE" {
			t.Fatalf("SEND_MESSAGE after restart: got %s, want NEW_MESSAGE or SERVICE_UNAVAILABLE", e.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("SEND_MESSAGE never succeeded after chat came back")
	}
	// The event stream came back too.
	if e := b.expect("NEW_MESSAGE", sent); e.str("content") != "back" {
		t.Errorf("B after chat restart: got %s, want the message sent after the restart", e.raw)
	}
}

func TestStreamResume(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	a := h.connect(1)
	b := h.connect(2)
	for _, cl := range []*client{a, b} {
		cl.send("JOIN_ROOM", "j", map[string]any{"chatroom_id": 1})
		cl.expect("JOIN_ROOM_SUCCESS", "j")
	}
	a.expect("USER_JOINED", "s-")
	seen := h.chat.head()

	h.chat.breakStreams()
	// Committed while the edge has no stream: must still be delivered.
	for i := range 3 {
		b.send("SEND_MESSAGE", fmt.Sprintf("m%d", i), map[string]any{"chatroom_id": 1, "content": fmt.Sprintf("during break %d", i)})
		b.expect("NEW_MESSAGE", fmt.Sprintf("m%d", i))
	}
	for i := range 3 {
		if e := a.expect("NEW_MESSAGE", fmt.Sprintf("m%d", i)); e.str("content") != fmt.Sprintf("during break %d", i) {
			t.Errorf("A after the stream break: got %s, want message %d", e.raw, i)
		}
	}
	seqs, _ := h.chat.subscriptions()
	if len(seqs) < 2 || seqs[0] != 0 || seqs[len(seqs)-1] != seen {
		t.Errorf("Subscribe after_seq values = %v, want [0 ... %d]", seqs, seen)
	}
	a.ping("no-dup")
	b.ping("no-dup")
}

// TestStreamResumeFromEmptyLog breaks the stream before any event was ever
// committed: the edge must resume after seq 0 (set), not start at the head
// again, or events committed during the break would be skipped.
func TestStreamResumeFromEmptyLog(t *testing.T) {
	h := newHarness(t, nil)
	waitStreams := func(n int) {
		t.Helper()
		for range 200 {
			if seqs, open := h.chat.subscriptions(); len(seqs) >= n && open == 1 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("the edge did not open stream %d", n)
	}
	waitStreams(1)
	h.chat.breakStreams()
	waitStreams(2)
	h.chat.mu.Lock()
	set, seqs := slices.Clone(h.chat.afterSet), slices.Clone(h.chat.afterSeqs)
	h.chat.mu.Unlock()
	if set[0] || !set[1] || seqs[1] != 0 {
		t.Errorf("Subscribe after_seq set %v values %v, want unset first, then set to 0", set, seqs)
	}
}

func TestAuthTimeout(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) { c.AuthTimeout = 300 * time.Millisecond })
	c := h.dial()
	c.send("PING", "p", map[string]any{}) // does not extend the deadline
	c.expectError("NOT_AUTHENTICATED", "p", "PING")
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("unauthenticated session closed after %v, want about 300ms", d)
	}
	if !h.logs.contains("no CONNECT in time") {
		t.Errorf("no log record of the auth timeout")
	}
}

func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) { c.IdleTimeout = 400 * time.Millisecond })
	c := h.connect(1)
	for i := range 4 { // activity keeps the session alive past the timeout
		time.Sleep(150 * time.Millisecond)
		c.ping(fmt.Sprint(i))
	}
	c.expectClosed()
	if !h.logs.contains("session closed: idle") {
		t.Errorf("no log record of the idle timeout")
	}
}

func TestTokenExpiry(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial()
	c.send("CONNECT", "c", map[string]any{"jwt_token": "short-1"}) // valid 500ms
	c.expect("CONNECT_SUCCESS", "c")
	c.ping("p")
	if e := c.expect("ERROR", "s-"); e.str("error_code") != "TOKEN_EXPIRED" {
		t.Errorf("after expiry: got %s, want ERROR TOKEN_EXPIRED", e.raw)
	}
	c.expectClosed()
}

func TestGracefulShutdown(t *testing.T) {
	h := newHarness(t, nil)
	a := h.connect(1)
	b := h.dial() // not authenticated
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	h.done <- nil // for the cleanup
	a.expectClosed()
	b.expectClosed()
	// The sessions closed by the shutdown are reported: the last
	// SyncSessions lists none.
	if _, syncs := h.presence.state(); len(syncs) < 2 || len(syncs[len(syncs)-1]) != 0 {
		t.Errorf("SyncSessions calls = %q, want a last one with no sessions after the shutdown", syncs)
	}
	if conn, err := net.DialTimeout("tcp", h.addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("dial after shutdown succeeded, want the listener closed")
	}
}
