package bridge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/bridge/internal/pool"
	"switchboard.dev/bridge/internal/protocol"
	"switchboard.dev/bridge/medianode"
	"switchboard.dev/services/auth"
)

// waitFor is the generous deadline of waiting for an event: the machine is
// small and shared.
const waitFor = 30 * time.Second

// testLogger logs to the test at debug level when BRIDGE_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("BRIDGE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// authService runs the real auth service on loopback and returns its
// address and admin client.
func authService(t testing.TB) (string, authv1.AuthAdminServiceClient) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- auth.Run(ctx, auth.Config{Listener: lis, DataDir: t.TempDir(), Secret: []byte("bridge-test-secret-0123456789abcdef0123456789abcdef")})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("auth.Run: %v", err)
		}
	})
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return lis.Addr().String(), authv1.NewAuthAdminServiceClient(cc)
}

// createKey makes an API key and returns its secret and id.
func createKey(t testing.TB, admin authv1.AuthAdminServiceClient) (key, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := admin.CreateAPIKey(ctx, &authv1.CreateAPIKeyRequest{Env: "TEST01", Name: t.Name()})
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return resp.GetKey(), resp.GetApiKey().GetId()
}

// harness is a bridge on loopback with the real auth service.
type harness struct {
	wsURL   string
	httpURL string
	client  *http.Client // trusts the bridge's certificate when it has one
	admin   authv1.AuthAdminServiceClient
	pool    *pool.Pool
}

// startBridge runs a bridge configured by cfg (Listener, AuthAddr, Media
// and Logger are set here) until the test ends.
func startBridge(t testing.TB, cfg Config) *harness {
	t.Helper()
	authAddr, admin := authService(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = lis
	cfg.AuthAddr = authAddr
	cfg.Media = medianode.ICEConfig{Interfaces: []string{"lo"}}
	cfg.Logger = testLogger(t)
	cfg.MediaNodeStderr = io.Discard
	if os.Getenv("BRIDGE_TEST_LOG") != "" {
		cfg.MediaNodeStderr = tWriter{t}
	}
	pools := make(chan *pool.Pool, 1)
	cfg.poolStarted = func(p *pool.Pool) { pools <- p }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitFor):
			t.Errorf("Run did not return %v after its context ended", waitFor)
		}
	})
	h := &harness{wsURL: "ws://" + lis.Addr().String() + "/client", httpURL: "http://" + lis.Addr().String(), client: http.DefaultClient, admin: admin}
	if cfg.TLSCertFile != "" {
		pemBytes, err := os.ReadFile(cfg.TLSCertFile)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pemBytes)
		h.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		h.wsURL, h.httpURL = "wss://"+lis.Addr().String()+"/client", "https://"+lis.Addr().String()
	}
	select {
	case h.pool = <-pools:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	// Revocations end sessions only once the stream is open.
	h.waitMetric(t, "bridge_revocation_stream_up", func(v float64) bool { return v == 1 })
	return h
}

// metric returns the value of the sample named (with its labels) exactly
// as in the exposition, and whether it is there.
func (h *harness) metric(t testing.TB, sample string) (float64, bool) {
	t.Helper()
	resp, err := h.client.Get(h.httpURL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s = %q: %v", sample, value, err)
			}
			return v, true
		}
	}
	return 0, false
}

// waitMetric waits until the sample satisfies ok.
func (h *harness) waitMetric(t testing.TB, sample string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		v, _ := h.metric(t, sample)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s = %v after %v, still not as wanted", sample, v, waitFor)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNodes waits until the pool's nodes satisfy ok.
func (h *harness) waitNodes(t testing.TB, what string, ok func([]pool.NodeInfo) bool) []pool.NodeInfo {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		nodes := h.pool.Nodes()
		if ok(nodes) {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool nodes = %+v after %v, want %s", nodes, waitFor, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a WebSocket client of the bridge.
type client struct {
	t    testing.TB
	ws   *websocket.Conn
	msgs chan protocol.Message
	err  chan error // the read error that ended the connection
}

// dial connects without authenticating.
func (h *harness) dial(t testing.TB) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, h.wsURL, &websocket.DialOptions{HTTPClient: h.client})
	if err != nil {
		t.Fatalf("Dial(%s): %v", h.wsURL, err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws}
}

// connect dials, authenticates with key and starts reading messages.
func (h *harness) connect(t testing.TB, key string) *client {
	t.Helper()
	c := h.dial(t)
	c.send(map[string]any{"type": "CREDENTIAL", "payload": map[string]string{"credential": key}})
	c.startReading()
	if m := c.next(); m.Type != protocol.TypeAuthSuccess {
		t.Fatalf("after CREDENTIAL got %+v, want auth_success", m)
	}
	return c
}

func (c *client) startReading() {
	c.msgs = make(chan protocol.Message, 64)
	c.err = make(chan error, 1)
	go func() { // ends when the connection does (test cleanup closes it)
		for {
			_, data, err := c.ws.Read(context.Background())
			if err != nil {
				c.err <- err
				close(c.msgs)
				return
			}
			var m protocol.Message
			if err := json.Unmarshal(data, &m); err != nil {
				c.err <- fmt.Errorf("bad message %q: %w", data, err)
				close(c.msgs)
				return
			}
			c.msgs <- m
		}
	}()
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write %s: %v", b, err)
	}
}

// next returns the next message from the bridge.
func (c *client) next() protocol.Message {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("connection ended while waiting for a message: %v", <-c.err)
		}
		return m
	case <-time.After(waitFor):
		c.t.Fatalf("no message from the bridge within %v", waitFor)
	}
	return protocol.Message{}
}

// expect reads the next message and checks its type and status or error
// text.
func (c *client) expect(typ, detail string) protocol.Message {
	c.t.Helper()
	m := c.next()
	got := m.Status + m.Message
	if m.Type != typ || got != detail {
		c.t.Fatalf("got message %+v, want type %q with %q", m, typ, detail)
	}
	return m
}

// closed waits for the bridge to close the connection and returns the
// close error.
func (c *client) closed() websocket.CloseError {
	c.t.Helper()
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				err := <-c.err
				var ce websocket.CloseError
				if !asCloseError(err, &ce) {
					c.t.Fatalf("connection ended with %v, want a close frame", err)
				}
				return ce
			}
			c.t.Logf("message before the close: %+v", m)
		case <-time.After(waitFor):
			c.t.Fatalf("connection still open after %v, want it closed", waitFor)
		}
	}
}

func asCloseError(err error, ce *websocket.CloseError) bool { return errors.As(err, ce) }

// peer is a real WebRTC client on loopback: a VP8 track and an "echo"
// data channel.
type peer struct {
	pc        *webrtc.PeerConnection
	track     *webrtc.TrackLocalStaticRTP
	dc        *webrtc.DataChannel
	dcOpen    chan struct{}
	connected chan struct{}
	echoes    chan string
	media     chan []byte
	local     chan webrtc.ICECandidateInit

	mu       sync.Mutex
	remoteOK bool
	queued   []webrtc.ICECandidateInit
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	p := &peer{pc: pc, dcOpen: make(chan struct{}), connected: make(chan struct{}), echoes: make(chan string, 16),
		media: make(chan []byte, 64), local: make(chan webrtc.ICECandidateInit, 64)}
	p.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "test")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pc.AddTrack(p.track)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // ends when the peer connection closes
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	p.dc, err = pc.CreateDataChannel("echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	p.dc.OnOpen(func() { close(p.dcOpen) })
	p.dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case p.echoes <- string(m.Data):
		default:
		}
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			once.Do(func() { close(p.connected) })
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			p.local <- c.ToJSON()
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case p.media <- pkt.Payload:
			default:
			}
		}
	})
	return p
}

// offer makes and sets the local offer.
func (p *peer) offer(t testing.TB) string {
	t.Helper()
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// setAnswer applies the answer and the candidates that came before it.
func (p *peer) setAnswer(t testing.TB, sdp string) {
	t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatalf("SetRemoteDescription(answer): %v", err)
	}
	p.mu.Lock()
	p.remoteOK = true
	queued := p.queued
	p.queued = nil
	p.mu.Unlock()
	for _, c := range queued {
		p.addCandidate(t, c)
	}
}

// addCandidate adds a remote candidate, or queues it until the answer.
func (p *peer) addCandidate(t testing.TB, c webrtc.ICECandidateInit) {
	t.Helper()
	p.mu.Lock()
	if !p.remoteOK {
		p.queued = append(p.queued, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if err := p.pc.AddICECandidate(c); err != nil {
		t.Fatalf("AddICECandidate(%+v): %v", c, err)
	}
}

func candidateInit(c *protocol.Candidate) webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
}

func candidateMessage(c webrtc.ICECandidateInit) map[string]any {
	return map[string]any{"type": "candidate", "candidate": protocol.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}}
}

// sessionResult is what runSession saw.
type sessionResult struct {
	statuses     []string
	provisioning bool
}

// runSession sends the offer (session_start already answered as
// statuses[0] when given), exchanges candidates, and waits until ICE is
// connected, the data channel echoed and the media came back.
func runSession(t testing.TB, c *client, p *peer) sessionResult {
	t.Helper()
	var res sessionResult
	c.send(map[string]any{"type": "offer", "sdp": p.offer(t)})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var (
		connected, echoed, looped bool
		dcOpen                    = p.dcOpen
		conn                      = p.connected
		seq                       uint16
	)
	marker := []byte("switchboard-loop")
	for !(connected && echoed && looped) {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatalf("connection ended during the session: %v", <-c.err)
			}
			switch m.Type {
			case protocol.TypeNodeStatus:
				res.statuses = append(res.statuses, m.Status)
			case protocol.TypeServerProvisioning:
				res.provisioning = true
			case protocol.TypeAnswer:
				p.setAnswer(t, m.SDP)
			case protocol.TypeCandidate:
				p.addCandidate(t, candidateInit(m.Candidate))
			default:
				t.Fatalf("unexpected message during the session: %+v", m)
			}
		case lc := <-p.local:
			c.send(candidateMessage(lc))
		case <-conn:
			connected, conn = true, nil
		case <-dcOpen:
			dcOpen = nil
			if err := p.dc.SendText("ping"); err != nil {
				t.Fatalf("data channel send: %v", err)
			}
		case e := <-p.echoes:
			if e != "ping" {
				t.Fatalf("data channel echo = %q, want %q", e, "ping")
			}
			echoed = true
		case payload := <-p.media:
			if !bytes.HasPrefix(payload, marker) {
				t.Fatalf("looped media payload = %q, want prefix %q", payload, marker)
			}
			looped = true
		case <-tick.C:
			if connected && !looped {
				seq++
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true},
					Payload: append(append([]byte{}, marker...), byte(seq))}
				if err := p.track.WriteRTP(pkt); err != nil {
					t.Fatalf("WriteRTP: %v", err)
				}
			}
		case <-ctx.Done():
			t.Fatalf("session not complete after %v: connected %v, echoed %v, media back %v", waitFor, connected, echoed, looped)
		}
	}
	return res
}

var (
	medianodeOnce sync.Once
	medianodeBin  string
	medianodeErr  error
	medianodeDir  string
)

// buildMedianode builds the medianode binary once per test run.
func buildMedianode(t testing.TB) string {
	t.Helper()
	medianodeOnce.Do(func() {
		medianodeDir, medianodeErr = os.MkdirTemp("", "medianode-test-")
		if medianodeErr != nil {
			return
		}
		medianodeBin = filepath.Join(medianodeDir, "medianode")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", medianodeBin, "./cmd/medianode").CombinedOutput()
		if err != nil {
			medianodeErr = fmt.Errorf("go build ./cmd/medianode: %v\n%s", err, out)
		}
	})
	if medianodeErr != nil {
		t.Fatal(medianodeErr)
	}
	return medianodeBin
}

// copyMedianode copies the built binary into the test's own directory, for
// a test that removes it.
func copyMedianode(t testing.TB) string {
	t.Helper()
	src, err := os.ReadFile(buildMedianode(t))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "medianode")
	if err := os.WriteFile(dst, src, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestMain(m *testing.M) {
	code := m.Run()
	if medianodeDir != "" {
		os.RemoveAll(medianodeDir)
	}
	os.Exit(code)
}
