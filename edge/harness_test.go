package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/edge"
)

// readTimeout bounds every wait for an envelope in the tests.
const readTimeout = 5 * time.Second

// logBuffer collects the edge's JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

type harness struct {
	t           testing.TB
	chat        *fakeChat
	chatAddr    string
	chatSrv     *grpc.Server
	auth        *fakeAuth
	authSrv     *grpc.Server
	presence    *fakePresence
	presenceSrv *grpc.Server
	addr        string
	logs        *logBuffer
	cancel      context.CancelFunc
	done        chan error
}

// newHarness starts fake auth, chat and presence services and an edge "e1"
// configured by cfg (Listener, AuthAddr, ChatAddr, PresenceAddr, EdgeID and
// Logger are filled in when unset), and waits until the edge's streams to
// the fakes are open and its first SyncSessions is done.
func newHarness(t testing.TB, configure func(*edge.Config)) *harness {
	t.Helper()
	h := &harness{t: t, chat: newFakeChat(), auth: newFakeAuth(), presence: newFakePresence(),
		logs: &logBuffer{}, done: make(chan error, 1)}
	authLis := listen(t)
	h.authSrv = serveGRPC(t, authLis, func(s *grpc.Server) { authv1.RegisterAuthServiceServer(s, h.auth) })
	chatLis := listen(t)
	h.chatAddr = chatLis.Addr().String()
	h.chatSrv = serveGRPC(t, chatLis, func(s *grpc.Server) { chatv1.RegisterChatServiceServer(s, h.chat) })
	presenceLis := listen(t)
	h.presenceSrv = serveGRPC(t, presenceLis, func(s *grpc.Server) {
		presencev1.RegisterPresenceServiceServer(s, h.presence)
		// The video rooms are tested against the real signaling service
		// (deploy/standalone); here it answers UNIMPLEMENTED.
		signalingv1.RegisterSignalingServiceServer(s, signalingv1.UnimplementedSignalingServiceServer{})
	})

	lis := listen(t)
	h.addr = lis.Addr().String()
	cfg := edge.Config{
		Listener:     lis,
		AuthAddr:     authLis.Addr().String(),
		ChatAddr:     h.chatAddr,
		PresenceAddr: presenceLis.Addr().String(),
		// The presence fake's server also answers for signaling.
		SignalingAddr: presenceLis.Addr().String(),
		EdgeID:        "e1",
		Logger:        slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RPCTimeout:    2 * time.Second,
		IdleTimeout:   10 * time.Second,
	}
	cfg.BlockingIO = blockingIO
	if configure != nil {
		configure(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- edge.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Errorf("edge.Run did not return within 10s of cancel")
		}
	})
	h.waitFor("the edge's chat event stream", func() bool { _, n := h.chat.subscriptions(); return n > 0 })
	if cfg.AuthAddr == authLis.Addr().String() {
		h.waitFor("the edge's revocation stream", func() bool { _, n := h.auth.revocations.subscriptions(); return n > 0 })
	}
	if cfg.PresenceAddr == presenceLis.Addr().String() {
		h.waitFor("the edge's first SyncSessions", func() bool { _, syncs := h.presence.state(); return len(syncs) > 0 })
	}
	return h
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return lis
}

// waitFor polls cond for at most 5 s.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s", what)
}

type envelope struct {
	Action    string         `json:"action"`
	Data      map[string]any `json:"data"`
	Timestamp string         `json:"timestamp"`
	SeqID     string         `json:"seq_id"`
	raw       string
}

func (e envelope) num(key string) int64 {
	f, _ := e.Data[key].(float64)
	return int64(f)
}

func (e envelope) str(key string) string {
	s, _ := e.Data[key].(string)
	return s
}

type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (h *harness) dial() *client {
	return dialWith(h.t, h.addr, nil)
}

// dialWith dials addr with dialer d (nil: the default).
func dialWith(t testing.TB, addr string, d *net.Dialer) *client {
	t.Helper()
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial edge %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
}

// connect dials and authenticates as user id.
func (h *harness) connect(id int64) *client {
	h.t.Helper()
	c := h.dial()
	c.send("CONNECT", "c", map[string]any{"jwt_token": fmt.Sprintf("tok-%d", id)})
	if got := c.expect("CONNECT_SUCCESS", "c"); got.num("user_id") != id {
		h.t.Fatalf("CONNECT as %d: user_id = %v, want %d", id, got.Data["user_id"], id)
	}
	return c
}

func (c *client) sendRaw(line string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(readTimeout))
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		c.t.Fatalf("write %.80q: %v", line, err)
	}
}

func (c *client) send(action, seq string, data any) {
	c.t.Helper()
	b, err := json.Marshal(map[string]any{"action": action, "seq_id": seq, "data": data,
		"timestamp": "2024-01-01T12:00:00.000Z"})
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

var timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func (c *client) read() (envelope, error) {
	c.conn.SetReadDeadline(time.Now().Add(readTimeout))
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return envelope{}, err
	}
	var w struct {
		envelope
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(line, &w); err != nil {
		return envelope{}, fmt.Errorf("decode %q: %w", line, err)
	}
	e := w.envelope
	if len(w.Data) > 0 && w.Data[0] == '{' { // compressed data is a string: see inflated
		if err := json.Unmarshal(w.Data, &e.Data); err != nil {
			return e, fmt.Errorf("decode data of %q: %w", line, err)
		}
	}
	e.raw = string(line)
	if !timestampRE.MatchString(e.Timestamp) {
		return e, fmt.Errorf("envelope %s: timestamp %q is not ISO-8601 UTC with milliseconds", line, e.Timestamp)
	}
	return e, nil
}

// expect reads the next envelope and checks its action and seq_id ("s-"
// checks for a server-originated seq_id).
func (c *client) expect(action, seq string) envelope {
	c.t.Helper()
	e, err := c.read()
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", action, err)
	}
	if e.Action != action {
		c.t.Fatalf("got envelope %s, want action %s", e.raw, action)
	}
	if seq == "s-" {
		if !strings.HasPrefix(e.SeqID, "s-e1-") {
			c.t.Fatalf("%s seq_id = %q, want a server seq_id s-e1-*", action, e.SeqID)
		}
	} else if e.SeqID != seq {
		c.t.Fatalf("%s seq_id = %q, want %q (envelope %s)", action, e.SeqID, seq, e.raw)
	}
	return e
}

// expectError reads an ERROR with code answering (seq, action).
func (c *client) expectError(code, seq, action string) envelope {
	c.t.Helper()
	e := c.expect("ERROR", seq)
	if e.str("error_code") != code || e.str("original_seq_id") != seq || e.str("original_action") != action {
		c.t.Fatalf("got %s, want ERROR %s original_seq_id=%q original_action=%q", e.raw, code, seq, action)
	}
	if strings.Contains(e.raw, "secret") {
		c.t.Fatalf("ERROR %s leaks internal error text", e.raw)
	}
	return e
}

// ping checks that the next envelope is the PONG of a new PING: nothing
// else was queued before it.
func (c *client) ping(seq string) {
	c.t.Helper()
	c.send("PING", seq, map[string]any{})
	if e := c.expect("PONG", seq); !timestampRE.MatchString(e.str("server_time")) {
		c.t.Fatalf("PONG server_time = %v", e.Data["server_time"])
	}
}

// expectClosed reads until the edge closes the connection (at most 64 MiB).
func (c *client) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(readTimeout))
	n, err := io.Copy(io.Discard, io.LimitReader(c.r, 64<<20))
	var ne net.Error
	if n == 64<<20 || errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection not closed by the edge: read %d bytes, err %v", n, err)
	}
}
