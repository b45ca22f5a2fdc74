package standalone

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/bridge"
	"switchboard.dev/bridge/medianode"
	"switchboard.dev/edge"
	"switchboard.dev/services/auth"
	"switchboard.dev/services/chat"
	"switchboard.dev/services/presence"
	"switchboard.dev/services/signaling"
)

// The HS256 test vectors of the Laravel token spec (shared/spec/laravel-tokens.md).
const (
	vectorSecret = "tU9c2bX0kq1Yw7Lr3Hn8Vd5Gs6Jp4Mz2Qa9Ee1Ff0Cc7Bb3Nn5Xx8Ww2Ss4Rr6Tt"
	// vector1 is a login token for user "123".
	vector1 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9sb2dpbiIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjo0MTAyNDQ0ODAwLCJuYmYiOjE3NjcyMjU2MDAsImp0aSI6IlhrM2ZQOXFMbTJadDdCdzEiLCJzdWIiOiIxMjMiLCJwcnYiOiIyM2JkNWM4OTQ5ZjYwMGFkYjM5ZTcwMWM0MDA4NzJkYjdhNTk3NmY3In0.z4PrgrUdpE49OgMEI2Qgjoxy_FYcqUG4Eh_Z3vJEjy0"
	// vector2 is a refreshed token for user 124 (a JSON number) with a nickname claim.
	vector2 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9yZWZyZXNoIiwiaWF0IjoxNzY3MjI1NjAwLjEyMzQ1NiwiZXhwIjo0MTAyNDQ0ODAwLCJuYmYiOjE3NjcyMjU2MDAuMTIzNDU2LCJqdGkiOiJRYThSdDVZdTFJbzNQbDZLIiwic3ViIjoxMjQsInBydiI6IjIzYmQ1Yzg5NDlmNjAwYWRiMzllNzAxYzQwMDg3MmRiN2E1OTc2ZjciLCJuaWNrbmFtZSI6Ilx1YzBhY1x1YzZhOVx1Yzc5MDEifQ.rBSSSUjT7hFgR1VyHdJNuYEuIScRcocdHV-SDNJ8D-w"
	// vector3 is expired.
	vector3 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9hcGkvYXV0aC9sb2dpbiIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxNzY3MjI5MjAwLCJuYmYiOjE3NjcyMjU2MDAsImp0aSI6IkV4MVBpMlJlM0RkNFRrNU4iLCJzdWIiOiIxMjUiLCJwcnYiOiIyM2JkNWM4OTQ5ZjYwMGFkYjM5ZTcwMWM0MDA4NzJkYjdhNTk3NmY3In0.M4tc2I8d-Jlq14EoOWG9zC2VIehfFrEd37qwzZ3Qv6w"
)

// mint signs a token the way the Laravel backend does (sub as a string).
func mint(t *testing.T, user int64, nickname string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": "http://localhost/api/auth/login",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
		"jti": fmt.Sprintf("jti-%d-%d", user, now.UnixNano()),
		"sub": fmt.Sprint(user),
	}
	if nickname != "" {
		claims["nickname"] = nickname
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(vectorSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testConfig(t *testing.T, dataDir string) Config {
	return Config{
		DataDir:   dataDir,
		Auth:      auth.Config{Addr: "127.0.0.1:0", Algo: "HS256", Secret: []byte(vectorSecret)},
		Chat:      chat.Config{Addr: "127.0.0.1:0"},
		Presence:  presence.Config{Addr: "127.0.0.1:0"},
		Signaling: signaling.Config{Addr: "127.0.0.1:0"},
		Edge:      edge.Config{Addr: "127.0.0.1:0", RPCTimeout: 2 * time.Second},
		Bridge:    bridge.Config{Addr: "127.0.0.1:0", Media: medianode.ICEConfig{Interfaces: []string{"lo"}}},
		Logger:    testLogger(t),
	}
}

// standaloneStack runs Run with cfg and returns the bound addresses and a
// stop function that waits for Run to return nil.
func startStandalone(t *testing.T, cfg Config) (Addrs, func()) {
	t.Helper()
	ready := make(chan Addrs, 1)
	cfg.Ready = func(a Addrs) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	var addrs Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("Run() = %v before ready", err)
	case <-time.After(10 * time.Second):
		t.Fatal("standalone not ready")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v after shutdown, want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("standalone did not shut down")
		}
	}
	t.Cleanup(stop)
	return addrs, stop
}

func adminClient(t *testing.T, addr string) chatv1.ChatAdminServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return chatv1.NewChatAdminServiceClient(cc)
}

func createRoom(t *testing.T, admin chatv1.ChatAdminServiceClient, req *chatv1.CreateRoomRequest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := admin.CreateRoom(ctx, req); err != nil {
		t.Fatalf("CreateRoom(%v) = %v", req, err)
	}
}

func TestConversation(t *testing.T) {
	addrs, _ := startStandalone(t, testConfig(t, t.TempDir()))
	admin := adminClient(t, addrs.Chat.String())
	createRoom(t, admin, &chatv1.CreateRoomRequest{Id: 1, Name: "general", MaxMembers: 10})
	createRoom(t, admin, &chatv1.CreateRoomRequest{Id: 2, Name: "staff", InviteOnly: true})
	edgeAddr := addrs.Edge.String()

	a := dialEdge(t, edgeAddr, "a")
	ok := a.connect(vector1)
	if num(ok.Data["user_id"]) != 123 || ok.Data["session_id"] == "" || ok.Data["server_time"] == nil {
		t.Fatalf("CONNECT_SUCCESS = %s, want user 123 with session_id and server_time", ok.raw)
	}
	b := dialEdge(t, edgeAddr, "b")
	if ok := b.connect(vector2); num(ok.Data["user_id"]) != 124 || ok.Data["nickname"] != "사용자1" {
		t.Fatalf("CONNECT_SUCCESS = %s, want user 124 nicknamed 사용자1", ok.raw)
	}

	t.Run("ping", func(t *testing.T) {
		seq := a.send("PING", map[string]any{})
		if pong := a.expect("PONG", seq); pong.Data["server_time"] == nil {
			t.Errorf("PONG = %s, want server_time", pong.raw)
		}
	})

	t.Run("join", func(t *testing.T) {
		seq := a.send("JOIN_ROOM", map[string]any{"chatroom_id": 1})
		j := a.expect("JOIN_ROOM_SUCCESS", seq)
		if num(j.Data["chatroom_id"]) != 1 || num(j.Data["participants_count"]) != 1 {
			t.Errorf("JOIN_ROOM_SUCCESS = %s, want room 1 with 1 participant", j.raw)
		}
		seq = b.send("JOIN_ROOM", map[string]any{"chatroom_id": 1})
		j = b.expect("JOIN_ROOM_SUCCESS", seq)
		online, _ := j.Data["online_participants"].([]any)
		if num(j.Data["participants_count"]) != 2 || len(online) != 2 {
			t.Errorf("JOIN_ROOM_SUCCESS = %s, want 2 participants, both online", j.raw)
		}
		joined := a.expect("USER_JOINED", "")
		if num(joined.Data["user_id"]) != 124 || joined.Data["nickname"] != "사용자1" ||
			num(joined.Data["participants_count"]) != 2 || num(joined.Data["chatroom_id"]) != 1 {
			t.Errorf("USER_JOINED = %s, want user 124 in room 1 with 2 participants", joined.raw)
		}
		// Joining again is idempotent and broadcasts nothing.
		seq = b.send("JOIN_ROOM", map[string]any{"chatroom_id": 1})
		b.expect("JOIN_ROOM_SUCCESS", seq)
		a.expectSilence(300 * time.Millisecond)
	})

	t.Run("send", func(t *testing.T) {
		seq := a.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "hello 안녕", "message_type": "text"})
		echo := a.expect("NEW_MESSAGE", seq)
		// Every member's copy echoes the sender's seq_id, as the protocol
		// document shows ("Server → All Room Members ... msg_001").
		got := b.expect("NEW_MESSAGE", seq)
		for _, m := range []envelope{echo, got} {
			if m.Data["content"] != "hello 안녕" || num(m.Data["user_id"]) != 123 || m.Data["message_type"] != "text" ||
				num(m.Data["chatroom_id"]) != 1 || num(m.Data["message_id"]) != 1 || m.Data["created_at"] == nil {
				t.Errorf("NEW_MESSAGE = %s, want message 1 of user 123", m.raw)
			}
		}
		a.expectSilence(200 * time.Millisecond) // no second copy to the sender
	})

	t.Run("every session of a member gets its rooms from CONNECT on", func(t *testing.T) {
		a2 := dialEdge(t, edgeAddr, "a2")
		a2.connect(vector1)
		seq := b.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "to both of a's sessions"})
		b.expect("NEW_MESSAGE", seq)
		for _, c := range []*client{a, a2} {
			if m := c.expect("NEW_MESSAGE", ""); m.Data["content"] != "to both of a's sessions" || m.Data["message_type"] != "text" {
				t.Errorf("%s got %s", c.name, m.raw)
			}
		}
		// a's own message reaches a's other session, not the sending one twice.
		seq = a.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "from a"})
		a.expect("NEW_MESSAGE", seq)
		a2.expect("NEW_MESSAGE", "")
		b.expect("NEW_MESSAGE", "")
		a.expectSilence(200 * time.Millisecond)
	})

	t.Run("errors", func(t *testing.T) {
		c := dialEdge(t, edgeAddr, "c")
		seq := c.send("JOIN_ROOM", map[string]any{"chatroom_id": 1})
		c.expectError("NOT_AUTHENTICATED", seq, "JOIN_ROOM")
		c.connect(mint(t, 300, "carol", time.Hour))
		tests := []struct {
			action string
			data   any
			code   string
		}{
			{"JOIN_ROOM", map[string]any{"chatroom_id": 999}, "ROOM_NOT_FOUND"},
			{"JOIN_ROOM", map[string]any{"chatroom_id": 2}, "PERMISSION_DENIED"},
			{"SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "not a member"}, "PERMISSION_DENIED"},
			{"SEND_MESSAGE", map[string]any{"chatroom_id": 999, "content": "no room"}, "ROOM_NOT_FOUND"},
			{"JOIN_ROOM", map[string]any{"chatroom_id": "one"}, "INVALID_DATA"},
			{"JOIN_ROOM", map[string]any{}, "INVALID_DATA"},
			{"FLY_TO_MOON", map[string]any{}, "INVALID_ACTION"},
			{"CONNECT", map[string]any{"jwt_token": vector1}, "INVALID_ACTION"},
		}
		for _, tt := range tests {
			seq := c.send(tt.action, tt.data)
			c.expectError(tt.code, seq, tt.action)
		}
		c.sendRaw(`{"action":"PING","data":{},"seq_id":"spoof","user_id":123}`)
		c.expectError("PERMISSION_DENIED", "spoof", "PING")
		c.sendRaw(`{"action":`)
		if e := c.expect("ERROR", ""); e.Data["error_code"] != "INVALID_DATA" {
			t.Errorf("malformed JSON: got %s, want INVALID_DATA", e.raw)
		}
		// The session lives on after every error.
		seq = c.send("PING", map[string]any{})
		c.expect("PONG", seq)
	})

	t.Run("leave", func(t *testing.T) {
		a2 := dialEdge(t, edgeAddr, "a2-leave")
		a2.connect(vector1)
		seq := b.send("LEAVE_ROOM", map[string]any{"chatroom_id": 1})
		if l := b.expect("LEAVE_ROOM_SUCCESS", seq); num(l.Data["participants_count"]) != 1 {
			t.Errorf("LEAVE_ROOM_SUCCESS = %s, want 1 participant left", l.raw)
		}
		for _, c := range []*client{a, a2} {
			left := c.expect("USER_LEFT", "")
			if num(left.Data["user_id"]) != 124 || num(left.Data["participants_count"]) != 1 || num(left.Data["chatroom_id"]) != 1 {
				t.Errorf("%s: USER_LEFT = %s, want user 124 leaving room 1", c.name, left.raw)
			}
		}
		seq = b.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "after leaving"})
		b.expectError("PERMISSION_DENIED", seq, "SEND_MESSAGE")
		seq = a.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "b is gone"})
		a.expect("NEW_MESSAGE", seq)
		b.expectSilence(300 * time.Millisecond)
	})

	t.Run("history", func(t *testing.T) {
		d := dialEdge(t, edgeAddr, "d")
		d.connect(mint(t, 400, "dave", time.Hour))
		seq := d.send("JOIN_ROOM", map[string]any{"chatroom_id": 1, "since_message_id": 1})
		d.expect("JOIN_ROOM_SUCCESS", seq)
		batch := d.expect("BATCH_MESSAGES", seq)
		msgs, _ := batch.Data["messages"].([]any)
		if len(msgs) != 3 || batch.Data["has_more"] != false {
			t.Fatalf("BATCH_MESSAGES = %s, want messages 2..4 and has_more false", batch.raw)
		}
		for i, m := range msgs {
			if id := num(m.(map[string]any)["message_id"]); id != int64(i+2) {
				t.Errorf("history[%d].message_id = %d, want %d", i, id, i+2)
			}
		}
	})
}

func TestConnectRefused(t *testing.T) {
	addrs, _ := startStandalone(t, testConfig(t, t.TempDir()))
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxMjMiLCJleHAiOjQxMDI0NDQ4MDB9."
	tests := []struct {
		name, token, code string
	}{
		{"expired", vector3, "TOKEN_EXPIRED"},
		{"garbage", "not-a-jwt", "INVALID_TOKEN"},
		{"alg none", none, "INVALID_TOKEN"},
		{"wrong secret", func() string {
			tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "1", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("other"))
			return tok
		}(), "INVALID_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialEdge(t, addrs.Edge.String(), tt.name)
			seq := c.send("CONNECT", map[string]any{"jwt_token": tt.token})
			e := c.expect("CONNECT_ERROR", seq)
			if e.Data["error_code"] != tt.code || e.Data["message"] == "" {
				t.Errorf("CONNECT_ERROR = %s, want error_code %s and a message", e.raw, tt.code)
			}
			c.expectClosed()
		})
	}
}

// TestStandaloneRestartKeepsMessages stops the whole process gracefully
// (sessions see their connection closed) and starts it again on the same
// data folder: every acknowledged message is still there.
func TestStandaloneRestartKeepsMessages(t *testing.T) {
	dir := t.TempDir()
	addrs, stop := startStandalone(t, testConfig(t, dir))
	createRoom(t, adminClient(t, addrs.Chat.String()), &chatv1.CreateRoomRequest{Id: 7, Name: "durable"})
	a := dialEdge(t, addrs.Edge.String(), "a")
	a.connect(vector1)
	a.expect("JOIN_ROOM_SUCCESS", a.send("JOIN_ROOM", map[string]any{"chatroom_id": 7}))
	for i := range 5 {
		a.expect("NEW_MESSAGE", a.send("SEND_MESSAGE", map[string]any{"chatroom_id": 7, "content": fmt.Sprint("m", i)}))
	}
	stop()
	a.expectClosed()

	addrs, _ = startStandalone(t, testConfig(t, dir))
	a = dialEdge(t, addrs.Edge.String(), "a-again")
	a.connect(vector1)
	seq := a.send("JOIN_ROOM", map[string]any{"chatroom_id": 7, "since_message_id": 0})
	a.expect("JOIN_ROOM_SUCCESS", seq)
	batch := a.expect("BATCH_MESSAGES", seq)
	msgs, _ := batch.Data["messages"].([]any)
	if len(msgs) != 5 {
		t.Fatalf("after restart BATCH_MESSAGES = %s, want the 5 messages", batch.raw)
	}
	for i, m := range msgs {
		if got := m.(map[string]any)["content"]; got != fmt.Sprint("m", i) {
			t.Errorf("message %d content = %v, want m%d", i, got, i)
		}
	}
}

// part runs one service or the edge on a fixed listener and can stop it.
type part struct {
	cancel context.CancelFunc
	done   chan error
}

func runPart(t *testing.T, run func(context.Context) error) *part {
	ctx, cancel := context.WithCancel(context.Background())
	p := &part{cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- run(ctx) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *part) stop(t *testing.T) {
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("Run() = %v after cancel", err)
		}
		p.done <- nil // later stops return at once
	case <-time.After(15 * time.Second):
		t.Fatal("part did not stop")
	}
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var lastErr error
	for range 50 { // the port of a stopped service may take a moment to free
		l, err := net.Listen("tcp", addr)
		if err == nil {
			return l
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("listen %s: %v", addr, lastErr)
	return nil
}

// TestChatRestartMidConversation restarts the chat service while a client
// is sending: every message the sender saw acknowledged reaches the other
// member exactly once, in order, once the edge has resumed its event stream;
// requests made while chat is down are answered SERVICE_UNAVAILABLE and the
// sessions stay open.
func TestChatRestartMidConversation(t *testing.T) {
	dir := t.TempDir()
	log := testLogger(t)
	authLis := listen(t, "127.0.0.1:0")
	chatLis := listen(t, "127.0.0.1:0")
	edgeLis := listen(t, "127.0.0.1:0")
	chatAddr := chatLis.Addr().String()
	runPart(t, func(ctx context.Context) error {
		return auth.Run(ctx, auth.Config{Listener: authLis, DataDir: dir, Algo: "HS256", Secret: []byte(vectorSecret), Logger: log})
	})
	chatCfg := chat.Config{Listener: chatLis, DataDir: dir, Logger: log}
	chatPart := runPart(t, func(ctx context.Context) error { return chat.Run(ctx, chatCfg) })
	runPart(t, func(ctx context.Context) error {
		return edge.Run(ctx, edge.Config{Listener: edgeLis, AuthAddr: authLis.Addr().String(), ChatAddr: chatAddr, RPCTimeout: time.Second, Logger: log})
	})
	createRoom(t, adminClient(t, chatAddr), &chatv1.CreateRoomRequest{Id: 5, Name: "restart"})

	a := dialEdge(t, edgeLis.Addr().String(), "a")
	a.connect(vector1)
	b := dialEdge(t, edgeLis.Addr().String(), "b")
	b.connect(vector2)
	a.expect("JOIN_ROOM_SUCCESS", a.send("JOIN_ROOM", map[string]any{"chatroom_id": 5}))
	b.expect("JOIN_ROOM_SUCCESS", b.send("JOIN_ROOM", map[string]any{"chatroom_id": 5}))
	a.expect("USER_JOINED", "")

	// Pipeline sends and stop chat while they are in flight.
	const burst = 60
	for i := range burst {
		a.send("SEND_MESSAGE", map[string]any{"chatroom_id": 5, "content": fmt.Sprint("before ", i)})
	}
	var acked []int64
	unavailable := 0
	for i := range burst {
		if i == burst/3 {
			go chatPart.cancel() // the rest are in flight or still queued
		}
		env := a.next()
		switch {
		case env.Action == "NEW_MESSAGE":
			acked = append(acked, num(env.Data["message_id"]))
		case env.Action == "ERROR" && env.Data["error_code"] == "SERVICE_UNAVAILABLE":
			unavailable++
		default:
			t.Fatalf("a got %s during the restart, want NEW_MESSAGE or ERROR SERVICE_UNAVAILABLE", env.raw)
		}
	}
	chatPart.stop(t)
	seq := a.send("SEND_MESSAGE", map[string]any{"chatroom_id": 5, "content": "while down"})
	a.expectError("SERVICE_UNAVAILABLE", seq, "SEND_MESSAGE")
	t.Logf("acknowledged %d of %d before the stop, %d unavailable", len(acked), burst, unavailable)

	chatCfg.Listener = listen(t, chatAddr)
	runPart(t, func(ctx context.Context) error { return chat.Run(ctx, chatCfg) })

	// Sending works again once the edge has reconnected.
	deadline := time.Now().Add(15 * time.Second)
	for {
		seq := a.send("SEND_MESSAGE", map[string]any{"chatroom_id": 5, "content": "after restart"})
		env := a.next()
		if env.Action == "NEW_MESSAGE" && env.SeqID == seq {
			acked = append(acked, num(env.Data["message_id"]))
			break
		}
		if env.Action != "ERROR" || env.Data["error_code"] != "SERVICE_UNAVAILABLE" || time.Now().After(deadline) {
			t.Fatalf("after restart a got %s, want NEW_MESSAGE", env.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// b receives every acknowledged message exactly once, in order. (A
	// message committed whose ack was cut by the stop may come too.)
	last := acked[len(acked)-1]
	seen := map[int64]bool{}
	var got []int64
	for len(got) == 0 || got[len(got)-1] < last {
		env := b.next()
		if env.Action != "NEW_MESSAGE" {
			t.Fatalf("b got %s, want NEW_MESSAGE", env.raw)
		}
		id := num(env.Data["message_id"])
		if len(got) > 0 && id <= got[len(got)-1] {
			t.Fatalf("b received message %d after %d: out of order or duplicated (all: %v)", id, got[len(got)-1], got)
		}
		got = append(got, id)
		seen[id] = true
	}
	for _, id := range acked {
		if !seen[id] {
			t.Errorf("acknowledged message %d never reached b (b got %v)", id, got)
		}
	}
	b.expectSilence(300 * time.Millisecond)
}
