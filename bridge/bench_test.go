package bridge

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard.dev/bridge/internal/pool"
	"switchboard.dev/bridge/internal/protocol"
)

// BenchmarkSessionSetup measures one whole bridge session on loopback with
// a warm in-process node: WebSocket and CREDENTIAL (the auth service's
// VerifyAPIKey), session_start, the offer, the node's answer and trickled
// candidates, until ICE and DTLS are connected, the data channel echoed
// and the first looped-back RTP packet arrived; then the close that frees
// the node. Run it with a bounded count: -benchtime 20x.
func BenchmarkSessionSetup(b *testing.B) {
	h := startBridge(b, Config{MaxPoolSize: 1, NodeCapacity: 4, WarmNodes: 1})
	key, _ := createKey(b, h.admin)
	h.waitNodes(b, "a warm node ready", func(ns []pool.NodeInfo) bool { return len(ns) == 1 && ns[0].State == pool.StateReady })
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		c := h.connect(b, key)
		c.send(map[string]any{"type": "session_start"})
		c.expect(protocol.TypeNodeStatus, protocol.StatusWaiting)
		p := newPeer(b)
		runSession(b, c, p)
		total += time.Since(start)
		c.ws.Close(websocket.StatusNormalClosure, "")
		p.pc.Close()
		h.waitNodes(b, "the session freed", func(ns []pool.NodeInfo) bool { return len(ns) == 1 && ns[0].Sessions == 0 })
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/session")
}
