package bridge

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	mediav1 "switchboard.dev/api/gen/switchboard/media/v1"
	"switchboard.dev/bridge/internal/pool"
	"switchboard.dev/bridge/internal/protocol"
)

func TestRefusedCredentialClosesSilently(t *testing.T) {
	h := startBridge(t, Config{AuthTimeout: 300 * time.Millisecond, WarmNodes: 0})
	key, _ := createKey(t, h.admin)
	tests := []struct {
		name  string
		first []byte // nil sends nothing
		typ   websocket.MessageType
	}{
		{"unknown key", []byte(`{"type":"CREDENTIAL","payload":{"credential":"sk_TEST01_my0Secret1Token2Value3"}}`), websocket.MessageText},
		{"malformed key", []byte(`{"type":"CREDENTIAL","payload":{"credential":"not-a-key"}}`), websocket.MessageText},
		{"empty credential", []byte(`{"type":"CREDENTIAL","payload":{"credential":""}}`), websocket.MessageText},
		{"session_start first", []byte(`{"type":"session_start"}`), websocket.MessageText},
		{"not JSON", []byte(`CREDENTIAL sk_TEST01_x`), websocket.MessageText},
		{"valid key in a binary frame", []byte(`{"type":"CREDENTIAL","payload":{"credential":"` + key + `"}}`), websocket.MessageBinary},
		{"nothing within the auth timeout", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.dial(t)
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if tt.first != nil {
				if err := c.ws.Write(ctx, tt.typ, tt.first); err != nil {
					t.Fatalf("write %s: %v", tt.first, err)
				}
			}
			typ, data, err := c.ws.Read(ctx)
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("after %s: Read = (%v, %q, %v), want a close frame and no message", tt.first, typ, data, err)
			}
			if ce.Code != websocket.StatusPolicyViolation || ce.Reason != "" {
				t.Errorf("after %s: close = %d %q, want %d (policy violation) with no reason", tt.first, ce.Code, ce.Reason, websocket.StatusPolicyViolation)
			}
		})
	}
	if v, _ := h.metric(t, `bridge_auth_total{result="timeout"}`); v != 1 {
		t.Errorf(`bridge_auth_total{result="timeout"} = %v, want 1`, v)
	}
}

func TestSessionEchoesAndLoopsMedia(t *testing.T) {
	h := startBridge(t, Config{MaxPoolSize: 2, NodeCapacity: 1, WarmNodes: 1})
	resp, err := http.Get(h.httpURL + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", resp.StatusCode)
	}
	key, _ := createKey(t, h.admin)
	h.waitNodes(t, "a warm node ready", func(ns []pool.NodeInfo) bool { return len(ns) == 1 && ns[0].State == pool.StateReady })

	c := h.connect(t, key)
	// Bad input is answered, and the connection stays.
	for _, tt := range []struct {
		msg  string
		want string
	}{
		{`{"type":"bogus"}`, protocol.ErrUnknownType},
		{`{"type":`, protocol.ErrMalformed},
		{`{"type":"offer","sdp":""}`, protocol.ErrMalformed},
		{`{"type":"offer","sdp":"` + strings.Repeat("v", DefaultMaxSDPBytes+1) + `"}`, protocol.ErrOfferTooLarge},
		{`{"type":"CREDENTIAL","payload":{"credential":"sk_x"}}`, protocol.ErrAlreadyAuthed},
	} {
		c.sendRaw([]byte(tt.msg))
		c.expect(protocol.TypeError, tt.want)
	}

	c.send(map[string]any{"type": "session_start"})
	c.expect(protocol.TypeNodeStatus, protocol.StatusWaiting) // the warm node
	c.send(map[string]any{"type": "session_start"})
	c.expect(protocol.TypeError, protocol.ErrSessionStarted)
	res := runSession(t, c, newPeer(t))
	if res.provisioning || len(res.statuses) != 0 {
		t.Errorf("offer on a waiting node: got statuses %v and server_provisioning %v, want neither", res.statuses, res.provisioning)
	}
	if v, _ := h.metric(t, "bridge_sessions"); v != 1 {
		t.Errorf("bridge_sessions = %v during the session, want 1", v)
	}
	if v, _ := h.metric(t, "bridge_session_starts_total"); v != 1 {
		t.Errorf("bridge_session_starts_total = %v, want 1", v)
	}

	// Closing the socket ends the session and frees the node.
	c.ws.Close(websocket.StatusNormalClosure, "")
	h.waitMetric(t, "bridge_sessions", func(v float64) bool { return v == 0 })
	h.waitNodes(t, "no session on any node", func(ns []pool.NodeInfo) bool {
		for _, n := range ns {
			if n.Sessions != 0 {
				return false
			}
		}
		return true
	})
}

func TestOfferWithoutSessionStartProvisions(t *testing.T) {
	h := startBridge(t, Config{MaxPoolSize: 1, WarmNodes: 0})
	key, _ := createKey(t, h.admin)
	c := h.connect(t, key)
	// Candidates before the offer wait for the node.
	c.send(map[string]any{"type": "candidate", "candidate": map[string]any{"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}})
	res := runSession(t, c, newPeer(t))
	if !res.provisioning || len(res.statuses) != 1 || res.statuses[0] != protocol.StatusWaiting {
		t.Errorf("offer with no node: got statuses %v and server_provisioning %v, want server_provisioning then [waiting]", res.statuses, res.provisioning)
	}
	if v, _ := h.metric(t, `bridge_node_provision_seconds_count{kind="provision"}`); v != 1 {
		t.Errorf(`bridge_node_provision_seconds_count{kind="provision"} = %v, want 1`, v)
	}
}

func TestFullPool(t *testing.T) {
	h := startBridge(t, Config{MaxPoolSize: 1, NodeCapacity: 1, WarmNodes: 1})
	key, _ := createKey(t, h.admin)
	h.waitNodes(t, "a warm node ready", func(ns []pool.NodeInfo) bool { return len(ns) == 1 && ns[0].State == pool.StateReady })

	a := h.connect(t, key)
	a.send(map[string]any{"type": "session_start"})
	a.expect(protocol.TypeNodeStatus, protocol.StatusWaiting)

	b := h.connect(t, key)
	b.send(map[string]any{"type": "session_start"})
	b.expect(protocol.TypeNodeStatus, protocol.StatusFull)
	b.send(map[string]any{"type": "offer", "sdp": newPeer(t).offer(t)})
	b.expect(protocol.TypeError, protocol.ErrPoolFull)
	if v, _ := h.metric(t, `bridge_session_errors_total{reason="pool_full"}`); v != 1 {
		t.Errorf(`bridge_session_errors_total{reason="pool_full"} = %v, want 1`, v)
	}

	// Once a leaves, its slot is b's.
	a.ws.Close(websocket.StatusNormalClosure, "")
	h.waitNodes(t, "the node free", func(ns []pool.NodeInfo) bool { return len(ns) == 1 && ns[0].State == pool.StateReady })
	b.send(map[string]any{"type": "session_start"})
	b.expect(protocol.TypeNodeStatus, protocol.StatusWaiting)
}

func TestIdleNodeStopsAndRestarts(t *testing.T) {
	h := startBridge(t, Config{MaxPoolSize: 1, WarmNodes: 0, NodeIdleTimeout: 300 * time.Millisecond})
	key, _ := createKey(t, h.admin)

	a := h.connect(t, key)
	a.send(map[string]any{"type": "session_start"})
	a.expect(protocol.TypeNodeStatus, protocol.StatusPending)
	a.expect(protocol.TypeNodeStatus, protocol.StatusWaiting)
	a.ws.Close(websocket.StatusNormalClosure, "")
	h.waitMetric(t, `bridge_nodes{state="stopped"}`, func(v float64) bool { return v == 1 })

	b := h.connect(t, key)
	b.send(map[string]any{"type": "session_start"})
	b.expect(protocol.TypeNodeStatus, protocol.StatusPending)
	b.expect(protocol.TypeNodeStatus, protocol.StatusWaiting)
	runSession(t, b, newPeer(t)) // the restarted node works

	for sample, want := range map[string]float64{
		`bridge_node_transitions_total{from="none",to="provisioning"}`: 1,
		`bridge_node_transitions_total{from="ready",to="stopped"}`:     1,
		`bridge_node_transitions_total{from="stopped",to="starting"}`:  1,
		`bridge_node_transitions_total{from="starting",to="ready"}`:    1,
		`bridge_node_provision_seconds_count{kind="start"}`:            1,
		`bridge_nodes{state="assigned"}`:                               1,
	} {
		if got, _ := h.metric(t, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
}

func TestKilledNodeProcessIsReplaced(t *testing.T) {
	h := startBridge(t, Config{
		Provisioner: ProvisionerProcess, MediaNodePath: buildMedianode(t),
		MaxPoolSize: 1, WarmNodes: 1, HealthInterval: 100 * time.Millisecond, HealthTimeout: time.Second, HealthFailures: 2,
	})
	key, _ := createKey(t, h.admin)
	nodes := h.waitNodes(t, "a warm node ready", func(ns []pool.NodeInfo) bool { return len(ns) == 1 && ns[0].State == pool.StateReady })
	killed := nodes[0]

	c := h.connect(t, key)
	c.send(map[string]any{"type": "session_start"})
	c.expect(protocol.TypeNodeStatus, protocol.StatusWaiting)
	runSession(t, c, newPeer(t))

	pid := nodePID(t, killed.Addr)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill media node process %d: %v", pid, err)
	}
	c.expect(protocol.TypeError, protocol.ErrNodeLost)
	h.waitNodes(t, "a new node ready in place of "+killed.ID, func(ns []pool.NodeInfo) bool {
		return len(ns) == 1 && ns[0].ID != killed.ID && ns[0].State == pool.StateReady
	})
	// The broken stream usually frees the node before the health checks
	// fail it.
	fromReady, _ := h.metric(t, `bridge_node_transitions_total{from="ready",to="failed"}`)
	fromAssigned, _ := h.metric(t, `bridge_node_transitions_total{from="assigned",to="failed"}`)
	if fromReady+fromAssigned != 1 {
		t.Errorf("bridge_node_transitions_total to failed = %v from ready + %v from assigned, want 1 (the health checks failed the node)", fromReady, fromAssigned)
	}

	// The connection stays and gets the new node.
	c.send(map[string]any{"type": "session_start"})
	c.expect(protocol.TypeNodeStatus, protocol.StatusWaiting)
}

// nodePID asks the node at addr for its id, host-pid by default.
func nodePID(t *testing.T, addr string) int {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := mediav1.NewMediaNodeServiceClient(cc).GetStatus(ctx, &mediav1.GetStatusRequest{})
	if err != nil {
		t.Fatalf("GetStatus(%s): %v", addr, err)
	}
	i := strings.LastIndexByte(st.GetNodeId(), '-')
	pid, err := strconv.Atoi(st.GetNodeId()[i+1:])
	if err != nil || pid == os.Getpid() {
		t.Fatalf("GetStatus(%s) node_id = %q, want host-pid of another process", addr, st.GetNodeId())
	}
	return pid
}

func TestStoppedNodeThatCannotStart(t *testing.T) {
	bin := copyMedianode(t)
	h := startBridge(t, Config{
		Provisioner: ProvisionerProcess, MediaNodePath: bin,
		MaxPoolSize: 1, WarmNodes: 0, NodeIdleTimeout: 300 * time.Millisecond,
	})
	key, _ := createKey(t, h.admin)

	a := h.connect(t, key)
	a.send(map[string]any{"type": "session_start"})
	a.expect(protocol.TypeNodeStatus, protocol.StatusPending)
	a.expect(protocol.TypeNodeStatus, protocol.StatusWaiting)
	a.ws.Close(websocket.StatusNormalClosure, "")
	h.waitMetric(t, `bridge_nodes{state="stopped"}`, func(v float64) bool { return v == 1 })
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}

	b := h.connect(t, key)
	b.send(map[string]any{"type": "session_start"})
	b.expect(protocol.TypeNodeStatus, protocol.StatusPending)
	b.send(map[string]any{"type": "offer", "sdp": newPeer(t).offer(t)})
	// The start may fail before or after the offer came.
	m := b.next()
	if m.Type == protocol.TypeServerProvisioning {
		m = b.next()
	}
	if m.Type != protocol.TypeError || m.Message != protocol.ErrStartFailed {
		t.Fatalf("after the stopped node's start: got %+v, want error %q", m, protocol.ErrStartFailed)
	}
	if v, _ := h.metric(t, `bridge_session_errors_total{reason="start_failed"}`); v != 1 {
		t.Errorf(`bridge_session_errors_total{reason="start_failed"} = %v, want 1`, v)
	}
}

func TestRevokedKeyEndsSession(t *testing.T) {
	h := startBridge(t, Config{MaxPoolSize: 2, WarmNodes: 1})
	key, id := createKey(t, h.admin)
	other, _ := createKey(t, h.admin)
	h.waitNodes(t, "a warm node ready", func(ns []pool.NodeInfo) bool { return len(ns) >= 1 && ns[0].State == pool.StateReady })

	c := h.connect(t, key)
	c.send(map[string]any{"type": "session_start"})
	c.expect(protocol.TypeNodeStatus, protocol.StatusWaiting)
	runSession(t, c, newPeer(t))
	bystander := h.connect(t, other)

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := h.admin.RevokeAPIKey(ctx, &authv1.RevokeAPIKeyRequest{Id: id}); err != nil {
		t.Fatalf("RevokeAPIKey(%s): %v", id, err)
	}
	if ce := c.closed(); ce.Code != websocket.StatusPolicyViolation {
		t.Errorf("revoked key's connection closed with %d %q, want %d", ce.Code, ce.Reason, websocket.StatusPolicyViolation)
	}
	h.waitMetric(t, "bridge_sessions", func(v float64) bool { return v == 0 })

	bystander.send(map[string]any{"type": "bogus"})
	bystander.expect(protocol.TypeError, protocol.ErrUnknownType)

	again := h.dial(t)
	again.send(map[string]any{"type": "CREDENTIAL", "payload": map[string]string{"credential": key}})
	again.startReading()
	if ce := again.closed(); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "" {
		t.Errorf("revoked key's new connection closed with %d %q, want %d and no reason", ce.Code, ce.Reason, websocket.StatusPolicyViolation)
	}
}
