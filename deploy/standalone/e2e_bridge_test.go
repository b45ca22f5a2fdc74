package standalone

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
)

// expectBridgeWaiting opens a bridge session with key and checks the
// flow up to a node waiting for the offer: CREDENTIAL → auth_success,
// session_start → node_status pending (when a node is made) then waiting.
func expectBridgeWaiting(ctx context.Context, t *testing.T, bridgeAddr, key string) {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws://"+bridgeAddr+"/client", nil)
	if err != nil {
		t.Fatalf("dial the bridge: %v", err)
	}
	defer ws.CloseNow()
	send := func(m map[string]any) {
		b, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatalf("bridge: write %s: %v", b, err)
		}
	}
	recv := func() map[string]any {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("bridge: read: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("bridge: %q: %v", b, err)
		}
		return m
	}
	send(map[string]any{"type": "CREDENTIAL", "payload": map[string]any{"credential": key}})
	if m := recv(); m["type"] != "auth_success" {
		t.Fatalf("bridge answered CREDENTIAL with %v, want auth_success", m)
	}
	send(map[string]any{"type": "session_start"})
	for i := 0; ; i++ {
		m := recv()
		if m["type"] != "node_status" || (m["status"] != "pending" && m["status"] != "waiting") || i == 10 {
			t.Fatalf("bridge sent %v after session_start, want node_status pending then waiting", m)
		}
		if m["status"] == "waiting" {
			break
		}
	}
	ws.Close(websocket.StatusNormalClosure, "done")
}

// TestStandaloneBridge checks that the standalone runs the bridge against
// its auth service: a key made through the admin API opens a session whose
// in-process node waits for the offer, and a bad key is refused.
func TestStandaloneBridge(t *testing.T) {
	addrs, _ := startStandalone(t, testConfig(t, t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc, err := grpc.NewClient(addrs.Auth.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	key, err := authv1.NewAuthAdminServiceClient(cc).CreateAPIKey(ctx, &authv1.CreateAPIKeyRequest{Env: "TEST01"})
	if err != nil {
		t.Fatalf("CreateAPIKey() = %v", err)
	}
	expectBridgeWaiting(ctx, t, addrs.Bridge.String(), key.GetKey())

	ws, _, err := websocket.Dial(ctx, "ws://"+addrs.Bridge.String()+"/client", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"CREDENTIAL","payload":{"credential":"sk_TEST01_wrong"}}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("bad key: read = %q, %v; want a policy-violation close and no message", b, err)
	}
}
