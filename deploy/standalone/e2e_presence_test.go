package standalone

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/edge"
	"switchboard.dev/services/auth"
	"switchboard.dev/services/chat"
	"switchboard.dev/services/presence"
	"switchboard.dev/services/signaling"
)

// Short presence timings keep the tests fast; the defaults are 5 s and 10 s.
const (
	testGrace = 400 * time.Millisecond
	testLease = 1500 * time.Millisecond
	// testEmptyRoomTimeout closes the video rooms nobody joins (60 s by
	// default).
	testEmptyRoomTimeout = 3 * time.Second
	// testTURNSecret makes the video participants' TURN credentials.
	testTURNSecret = "turn-test-secret"
)

// cluster runs auth, chat and presence as separate parts and any number of
// edges, all on loopback, so that sessions on different edges meet.
type cluster struct {
	t                            *testing.T
	dir                          string
	authAddr, chatAddr, presAddr string
	presence                     *part
	presCfg                      presence.Config
	sigAddr                      string
	signaling                    *part
	sigCfg                       signaling.Config
	chatAdmin                    chatv1.ChatAdminServiceClient
	authAdmin                    authv1.AuthAdminServiceClient
	presAdmin                    presencev1.PresenceAdminServiceClient
	pres                         presencev1.PresenceServiceClient
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	log := testLogger(t)
	authLis, chatLis, presLis := listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0")
	c.authAddr, c.chatAddr, c.presAddr = authLis.Addr().String(), chatLis.Addr().String(), presLis.Addr().String()
	runPart(t, func(ctx context.Context) error {
		return auth.Run(ctx, auth.Config{Listener: authLis, DataDir: c.dir, Algo: "HS256", Secret: []byte(vectorSecret), Logger: log})
	})
	runPart(t, func(ctx context.Context) error {
		return chat.Run(ctx, chat.Config{Listener: chatLis, DataDir: c.dir, Logger: log})
	})
	c.presCfg = presence.Config{Listener: presLis, DataDir: c.dir, ChatAddr: c.chatAddr,
		OfflineGrace: testGrace, EdgeLease: testLease, Logger: log}
	c.startPresence()
	sigLis := listen(t, "127.0.0.1:0")
	c.sigAddr = sigLis.Addr().String()
	c.sigCfg = signaling.Config{Listener: sigLis, DataDir: c.dir, ChatAddr: c.chatAddr, EdgeLease: testLease,
		EmptyRoomTimeout: testEmptyRoomTimeout, STUNURLs: []string{"stun:stun.example.com:3478"},
		TURNURLs: []string{"turn:turn.example.com:3478"}, TURNSecret: []byte(testTURNSecret), Logger: log}
	c.startSignaling()
	conn := func(addr string) *grpc.ClientConn {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
	c.chatAdmin = chatv1.NewChatAdminServiceClient(conn(c.chatAddr))
	c.authAdmin = authv1.NewAuthAdminServiceClient(conn(c.authAddr))
	pc := conn(c.presAddr)
	c.presAdmin = presencev1.NewPresenceAdminServiceClient(pc)
	c.pres = presencev1.NewPresenceServiceClient(pc)
	return c
}

func (c *cluster) startPresence() {
	cfg := c.presCfg
	c.presence = runPart(c.t, func(ctx context.Context) error { return presence.Run(ctx, cfg) })
}

// restartPresence stops the presence service and starts it again on the
// same address and data.
func (c *cluster) restartPresence() {
	c.presence.stop(c.t)
	c.presCfg.Listener = listen(c.t, c.presAddr)
	c.startPresence()
}

func (c *cluster) startSignaling() {
	cfg := c.sigCfg
	c.signaling = runPart(c.t, func(ctx context.Context) error { return signaling.Run(ctx, cfg) })
}

// restartSignaling stops the signaling service and starts it again on the
// same address and data.
func (c *cluster) restartSignaling() {
	c.signaling.stop(c.t)
	c.sigCfg.Listener = listen(c.t, c.sigAddr)
	c.startSignaling()
}

// edge starts an in-process edge and returns its address.
func (c *cluster) edge(name string) string {
	c.t.Helper()
	lis := listen(c.t, "127.0.0.1:0")
	runPart(c.t, func(ctx context.Context) error {
		return edge.Run(ctx, edge.Config{Listener: lis, EdgeID: name, AuthAddr: c.authAddr, ChatAddr: c.chatAddr,
			PresenceAddr: c.presAddr, SignalingAddr: c.sigAddr, RPCTimeout: time.Second, Logger: testLogger(c.t)})
	})
	return lis.Addr().String()
}

// connect opens a session of user on the edge at addr with token.
func (c *cluster) connect(addr string, name, token string) *client {
	c.t.Helper()
	cl := dialEdge(c.t, addr, name)
	cl.presence = true
	cl.connect(token)
	return cl
}

// members makes users members of room through throw-away sessions, then
// waits until the presence changes those sessions caused are over.
func (c *cluster) members(addr string, room int64, users ...int64) {
	c.t.Helper()
	for _, u := range users {
		cl := c.connect(addr, fmt.Sprint("joiner", u), mint(c.t, u, "", time.Hour))
		cl.join(room)
		cl.conn.Close()
	}
	time.Sleep(3 * testGrace)
}

// expectStatus reads until a USER_STATUS_CHANGED arrives (skipping room
// traffic) and checks it.
func expectStatus(t *testing.T, cl *client, user int64, online bool) envelope {
	t.Helper()
	for range 20 {
		env := cl.next()
		if env.Action != "USER_STATUS_CHANGED" {
			continue
		}
		if num(env.Data["user_id"]) != user || env.Data["is_online"] != online {
			t.Fatalf("%s: got %s, want user %d online=%v", cl.name, env.raw, user, online)
		}
		return env
	}
	t.Fatalf("%s: no USER_STATUS_CHANGED", cl.name)
	return envelope{}
}

// expectNoStatus checks that no USER_STATUS_CHANGED arrives for d.
func expectNoStatus(t *testing.T, cl *client, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		env, err := cl.read(time.Until(deadline))
		if err != nil {
			return
		}
		if env.Action == "USER_STATUS_CHANGED" {
			t.Fatalf("%s: got %s, want no status change", cl.name, env.raw)
		}
	}
}

func TestPresenceAcrossEdges(t *testing.T) {
	c := startCluster(t)
	createRoom(t, c.chatAdmin, &chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	a, b := c.edge("edge-a"), c.edge("edge-b")
	c.members(a, 1, 701, 702)

	u1 := c.connect(a, "u1", mint(t, 701, "one", time.Hour))
	u2 := c.connect(b, "u2", mint(t, 702, "two", time.Hour))
	expectStatus(t, u1, 702, true) // crosses from edge B to edge A

	// online_participants comes from presence: 702 is on the other edge.
	j := u1.join(1)
	online := map[int64]bool{}
	for _, p := range j.Data["online_participants"].([]any) {
		online[num(p.(map[string]any)["user_id"])] = true
	}
	if !online[701] || !online[702] {
		t.Errorf("JOIN_ROOM_SUCCESS = %s, want 701 and 702 online", j.raw)
	}

	// A reconnect within the grace announces nothing.
	u2.conn.Close()
	time.Sleep(testGrace / 4)
	u2 = c.connect(b, "u2-again", mint(t, 702, "two", time.Hour))
	expectNoStatus(t, u1, 2*testGrace)

	// Gone for good: offline after the grace, with last_seen.
	u2.conn.Close()
	off := expectStatus(t, u1, 702, false)
	if ts, _ := off.Data["last_seen"].(string); ts == "" {
		t.Errorf("offline USER_STATUS_CHANGED = %s, want last_seen", off.raw)
	}
	resp, err := c.pres.GetPresence(context.Background(), &presencev1.GetPresenceRequest{UserIds: []int64{701, 702}})
	if err != nil || len(resp.GetUsers()) != 2 || !resp.GetUsers()[0].GetOnline() || resp.GetUsers()[1].GetOnline() || resp.GetUsers()[1].GetLastSeen() == nil {
		t.Errorf("GetPresence(701, 702) = %v, %v; want 701 online, 702 offline with last_seen", resp, err)
	}
}

func TestAnnouncementReachesEveryEdge(t *testing.T) {
	c := startCluster(t)
	a, b := c.edge("edge-a"), c.edge("edge-b")
	u1 := c.connect(a, "u1", mint(t, 801, "", time.Hour))
	u2 := c.connect(b, "u2", mint(t, 802, "", time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ann := &presencev1.Announcement{Title: "Maintenance", Message: "at noon", Type: "maintenance", Priority: "high"}
	if _, err := c.presAdmin.Announce(ctx, &presencev1.AnnounceRequest{Announcement: ann}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client{u1, u2} {
		e := cl.expect("SERVER_ANNOUNCEMENT", "")
		if e.Data["title"] != "Maintenance" || e.Data["message"] != "at noon" || e.Data["type"] != "maintenance" || e.Data["priority"] != "high" {
			t.Errorf("%s: SERVER_ANNOUNCEMENT = %s", cl.name, e.raw)
		}
	}
	if _, err := c.presAdmin.Announce(ctx, &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "Just you", Message: "hi"}, UserIds: []int64{802}}); err != nil {
		t.Fatal(err)
	}
	if e := u2.expect("SERVER_ANNOUNCEMENT", ""); e.Data["title"] != "Just you" {
		t.Errorf("targeted announcement = %s", e.raw)
	}
	u1.expectSilence(300 * time.Millisecond)
}

func TestRevocationEndsSessionsOnEveryEdge(t *testing.T) {
	c := startCluster(t)
	a, b := c.edge("edge-a"), c.edge("edge-b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A token revoked by jti: its session on the other edge ends within 1 s.
	tok := mint(t, 901, "", time.Hour)
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	victim := c.connect(b, "victim", tok)
	bystander := c.connect(b, "bystander", mint(t, 902, "", time.Hour))
	start := time.Now()
	if _, err := c.authAdmin.RevokeToken(ctx, &authv1.RevokeTokenRequest{TokenId: claims["jti"].(string)}); err != nil {
		t.Fatal(err)
	}
	if e := victim.next(); e.Action != "ERROR" || e.Data["error_code"] != "TOKEN_REVOKED" {
		t.Fatalf("revoked session got %s, want ERROR TOKEN_REVOKED", e.raw)
	}
	victim.expectClosed()
	if d := time.Since(start); d > time.Second {
		t.Errorf("revocation took %v to end the session, want under 1 s", d)
	}
	again := dialEdge(t, a, "again")
	again.expect("CONNECT_ERROR", again.send("CONNECT", map[string]any{"jwt_token": tok}))
	again.expectClosed()
	bystander.expect("PONG", bystander.send("PING", map[string]any{}))

	// A user revoked: every session of theirs, on both edges, ends; a token
	// issued afterwards works.
	old := mint(t, 903, "", time.Hour)
	s1, s2 := c.connect(a, "s1", old), c.connect(b, "s2", old)
	time.Sleep(1100 * time.Millisecond) // iat has a resolution of one second
	if _, err := c.authAdmin.RevokeUser(ctx, &authv1.RevokeUserRequest{UserId: 903}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*client{s1, s2} {
		if e := s.next(); e.Action != "ERROR" || e.Data["error_code"] != "TOKEN_REVOKED" {
			t.Fatalf("%s got %s, want ERROR TOKEN_REVOKED", s.name, e.raw)
		}
		s.expectClosed()
	}
	time.Sleep(1100 * time.Millisecond)
	c.connect(a, "fresh", mint(t, 903, "", time.Hour))
}

func TestRefreshToken(t *testing.T) {
	c := startCluster(t)
	a := c.edge("edge-a")
	cl := c.connect(a, "u", mint(t, 1001, "", 2*time.Second))
	seq := cl.send("REFRESH_TOKEN", map[string]any{"jwt_token": mint(t, 1002, "", time.Hour)})
	cl.expectError("INVALID_TOKEN", seq, "REFRESH_TOKEN") // another user's token
	seq = cl.send("REFRESH_TOKEN", map[string]any{"jwt_token": "garbage"})
	cl.expectError("INVALID_TOKEN", seq, "REFRESH_TOKEN")
	seq = cl.send("REFRESH_TOKEN", map[string]any{"jwt_token": mint(t, 1001, "", time.Hour)})
	if r := cl.expect("REFRESH_TOKEN_SUCCESS", seq); r.Data["expires_at"] == nil {
		t.Errorf("REFRESH_TOKEN_SUCCESS = %s, want expires_at", r.raw)
	}
	// The first token's expiry passes: the session lives on the new one.
	time.Sleep(2500 * time.Millisecond)
	cl.expect("PONG", cl.send("PING", map[string]any{}))

	// Without a refresh, expiry ends the session.
	short := c.connect(a, "short", mint(t, 1003, "", time.Second))
	if e := short.next(); e.Action != "ERROR" || e.Data["error_code"] != "TOKEN_EXPIRED" {
		t.Fatalf("expired session got %s, want ERROR TOKEN_EXPIRED", e.raw)
	}
	short.expectClosed()
}

// TestEdgeKilledWithoutGoodbye runs an edge as its own process and kills
// it: its users go offline within the lease plus the grace.
func TestEdgeKilledWithoutGoodbye(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "edged")
	build := exec.Command("go", "build", "-o", bin, "switchboard.dev/edge/cmd/edged")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build edged: %v\n%s", err, out)
	}
	c := startCluster(t)
	createRoom(t, c.chatAdmin, &chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	a := c.edge("edge-a")
	c.members(a, 1, 1101, 1102)
	watcher := c.connect(a, "watcher", mint(t, 1101, "", time.Hour))

	lis := listen(t, "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "EDGE_ADDR="+addr, "EDGE_ID=edge-doomed", "AUTH_ADDR="+c.authAddr,
		"CHAT_ADDR="+c.chatAddr, "PRESENCE_ADDR="+c.presAddr, "LOG_LEVEL=error")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var doomed *client
	for range 100 { // until the process listens
		if conn, err := dialQuiet(addr); err == nil {
			conn.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	doomed = c.connect(addr, "doomed", mint(t, 1102, "", time.Hour))
	expectStatus(t, watcher, 1102, true)

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	doomed.expectClosed()
	expectStatus(t, watcher, 1102, false)
	if d := time.Since(killed); d > testLease+testGrace+2*time.Second {
		t.Errorf("offline announced %v after the kill, want within lease + grace (%v)", d, testLease+testGrace)
	}
}

// TestPresenceRestart restarts the presence service under connected users:
// the edges re-register their sessions and no client sees a status storm.
func TestPresenceRestart(t *testing.T) {
	c := startCluster(t)
	createRoom(t, c.chatAdmin, &chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	a, b := c.edge("edge-a"), c.edge("edge-b")
	c.members(a, 1, 1201, 1202)
	u1 := c.connect(a, "u1", mint(t, 1201, "", time.Hour))
	time.Sleep(3 * testGrace) // 1201's online is announced while 1202 has no session
	u2 := c.connect(b, "u2", mint(t, 1202, "", time.Hour))
	expectStatus(t, u1, 1202, true)
	expectNoStatus(t, u2, 2*testGrace)

	c.restartPresence()
	expectNoStatus(t, u1, 2*testLease)
	expectNoStatus(t, u2, 0)
	resp, err := c.pres.GetPresence(context.Background(), &presencev1.GetPresenceRequest{UserIds: []int64{1201, 1202}})
	if err != nil || !resp.GetUsers()[0].GetOnline() || !resp.GetUsers()[1].GetOnline() {
		t.Errorf("after the restart GetPresence = %v, %v; want both online", resp, err)
	}
	// Presence works on after the restart.
	u2.conn.Close()
	expectStatus(t, u1, 1202, false)
}
