package bridge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard.dev/bridge/internal/protocol"
	"switchboard.dev/bridge/medianode"
	"switchboard.dev/platform/envflag"
)

func TestRegisterFlags(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(Config) bool
		wantErr bool
	}{
		{"defaults", nil, nil, func(c Config) bool {
			return c.Addr == DefaultAddr && c.AuthTimeout == DefaultAuthTimeout && c.ReadLimit == DefaultReadLimit && c.Provisioner == DefaultProvisioner &&
				c.MediaNodePath == DefaultMediaNodePath && c.MaxPoolSize == DefaultMaxPoolSize && c.NodeCapacity == DefaultNodeCapacity &&
				c.WarmNodes == DefaultWarmNodes && c.NodeIdleTimeout == DefaultNodeIdleTimeout && c.HealthInterval == DefaultHealthInterval &&
				c.HealthFailures == DefaultHealthFailures && len(c.AllowedOrigins) == 0 && len(c.Media.Interfaces) == 0
		}, false},
		{"environment", map[string]string{
			"BRIDGE_ADDR": "127.0.0.1:1", "BRIDGE_TLS_CERT": "c.pem", "BRIDGE_TLS_KEY": "k.pem", "BRIDGE_ALLOWED_ORIGINS": "a.example,*.b.example",
			"BRIDGE_AUTH_TIMEOUT": "3s", "BRIDGE_PROVISIONER": "process", "BRIDGE_MEDIANODE_PATH": "/opt/medianode", "BRIDGE_MAX_POOL_SIZE": "9",
			"BRIDGE_NODE_CAPACITY": "3", "BRIDGE_WARM_NODES": "0", "BRIDGE_NODE_IDLE_TIMEOUT": "1m", "BRIDGE_HEALTH_INTERVAL": "2s",
			"BRIDGE_HEALTH_TIMEOUT": "1s", "BRIDGE_HEALTH_FAILURES": "4", "BRIDGE_PROVISION_TIMEOUT": "9s", "BRIDGE_READ_LIMIT": "1000",
			"BRIDGE_MAX_SDP_BYTES": "900", "BRIDGE_MAX_CANDIDATES": "5", "MEDIA_ICE_INTERFACES": "lo", "MEDIA_UDP_PORT_MIN": "40000", "MEDIA_UDP_PORT_MAX": "40100",
		}, nil, func(c Config) bool {
			return c.Addr == "127.0.0.1:1" && c.TLSCertFile == "c.pem" && c.TLSKeyFile == "k.pem" && slices.Equal(c.AllowedOrigins, []string{"a.example", "*.b.example"}) &&
				c.AuthTimeout == 3*time.Second && c.Provisioner == "process" && c.MediaNodePath == "/opt/medianode" && c.MaxPoolSize == 9 &&
				c.NodeCapacity == 3 && c.WarmNodes == 0 && c.NodeIdleTimeout == time.Minute && c.HealthInterval == 2*time.Second &&
				c.HealthTimeout == time.Second && c.HealthFailures == 4 && c.ProvisionTimeout == 9*time.Second && c.ReadLimit == 1000 &&
				c.MaxSDPBytes == 900 && c.MaxCandidates == 5 && slices.Equal(c.Media.Interfaces, []string{"lo"}) && c.Media.UDPPortMin == 40000 && c.Media.UDPPortMax == 40100
		}, false},
		{"flags override", map[string]string{"BRIDGE_MAX_POOL_SIZE": "9"}, []string{"-bridge-max-pool-size", "2"}, func(c Config) bool { return c.MaxPoolSize == 2 }, false},
		{"malformed duration", map[string]string{"BRIDGE_NODE_IDLE_TIMEOUT": "later"}, nil, nil, true},
		{"malformed size", map[string]string{"BRIDGE_MAX_POOL_SIZE": "many"}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			s := envflag.New("test", io.Discard, func(k string) string { return tt.env[k] })
			c.RegisterFlags(s)
			err := s.Parse(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RegisterFlags, Parse(%v) with env %v = %v, want error %v", tt.args, tt.env, err, tt.wantErr)
			}
			if !tt.wantErr && !tt.check(c) {
				t.Errorf("RegisterFlags, Parse(%v) with env %v = %+v, not as wanted", tt.args, tt.env, c)
			}
		})
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"unknown provisioner", Config{Provisioner: "docker"}},
		{"missing medianode", Config{Provisioner: ProvisionerProcess, MediaNodePath: filepath.Join(t.TempDir(), "nope")}},
		{"cert without key", Config{TLSCertFile: "cert.pem"}},
		{"unreadable cert", Config{TLSCertFile: "missing.pem", TLSKeyFile: "missing.pem"}},
		{"more warm nodes than the pool", Config{MaxPoolSize: 1, WarmNodes: 2}},
		{"negative timeout", Config{AuthTimeout: -time.Second}},
		{"negative read limit", Config{ReadLimit: -1}},
		{"bad port range", Config{Media: medianode.ICEConfig{UDPPortMin: 2, UDPPortMax: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Addr = "127.0.0.1:0"
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := Run(ctx, tt.cfg); err == nil {
				t.Errorf("Run(%+v) = nil, want an error", tt.cfg)
			}
		})
	}
}

func TestOriginPolicy(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		origin  string
		want    bool
	}{
		{"any origin by default", nil, "https://anywhere.example", true},
		{"no origin by default", nil, "", true},
		{"listed origin", []string{"app.example.com"}, "https://app.example.com", true},
		{"pattern", []string{"*.example.com"}, "https://www.example.com", true},
		{"unlisted origin", []string{"app.example.com"}, "https://evil.example", false},
		{"native client without origin", []string{"app.example.com"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startBridge(t, Config{AllowedOrigins: tt.allowed})
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			hdr := http.Header{}
			if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			ws, resp, err := websocket.Dial(ctx, h.wsURL, &websocket.DialOptions{HTTPHeader: hdr})
			if ws != nil {
				ws.CloseNow()
			}
			if got := err == nil; got != tt.want {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Errorf("Dial with Origin %q, allowed %v: accepted %v (status %d, %v), want %v", tt.origin, tt.allowed, got, status, err, tt.want)
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	h := startBridge(t, Config{ReadLimit: 4096})
	key, _ := createKey(t, h.admin)
	c := h.connect(t, key)
	c.sendRaw([]byte(`{"type":"offer","sdp":"` + strings.Repeat("v", 5000) + `"}`))
	if ce := c.closed(); ce.Code != websocket.StatusMessageTooBig {
		t.Errorf("message over the read limit: close %d %q, want %d", ce.Code, ce.Reason, websocket.StatusMessageTooBig)
	}
}

func TestTLS(t *testing.T) {
	certFile, keyFile := selfSigned(t)
	h := startBridge(t, Config{TLSCertFile: certFile, TLSKeyFile: keyFile})
	if !strings.HasPrefix(h.wsURL, "wss://") {
		t.Fatalf("harness URL %s, want wss", h.wsURL)
	}
	resp, err := h.client.Get(h.httpURL + "/healthz")
	if err != nil {
		t.Fatalf("GET https /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET https /healthz = %d, want 200", resp.StatusCode)
	}
	key, _ := createKey(t, h.admin)
	h.connect(t, key) // over wss
	// Plain HTTP is not served.
	plain := strings.Replace(h.httpURL, "https://", "http://", 1)
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s/healthz on a TLS bridge = 200", plain)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bridge-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestShutdownClosesConnections(t *testing.T) {
	authAddr, admin := authService(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Config{Listener: lis, AuthAddr: authAddr, WarmNodes: 1}) }()
	h := &harness{wsURL: "ws://" + lis.Addr().String() + "/client", httpURL: "http://" + lis.Addr().String(), admin: admin}
	key, _ := createKey(t, admin)
	c := h.connect(t, key)
	c.send(map[string]any{"type": "session_start"})
	c.next() // pending or waiting
	cancel()
	if ce := c.closed(); ce.Code != websocket.StatusGoingAway {
		t.Errorf("at shutdown: close %d %q, want %d", ce.Code, ce.Reason, websocket.StatusGoingAway)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after shutdown = %v, want nil", err)
		}
	case <-time.After(waitFor):
		t.Fatalf("Run did not return %v after its context ended", waitFor)
	}
	if conn, err := net.DialTimeout("tcp", lis.Addr().String(), time.Second); err == nil {
		conn.Close()
		t.Errorf("the bridge still listens after Run returned")
	}
}

// TestMaxCandidates checks the bound of the client candidates that wait
// for the node: one past it is an error, and the connection stays.
func TestMaxCandidates(t *testing.T) {
	h := startBridge(t, Config{MaxCandidates: 2})
	key, _ := createKey(t, h.admin)
	c := h.connect(t, key)
	cand := map[string]any{"type": "candidate", "candidate": map[string]any{"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}}
	for range 2 {
		c.send(cand)
	}
	c.send(cand)
	c.expect(protocol.TypeError, protocol.ErrTooManyCandidates)
	c.sendRaw([]byte(`{"type":"bogus"}`))
	c.expect(protocol.TypeError, protocol.ErrUnknownType)
}
