package edge_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard.dev/edge"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths with a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "switchboard test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS serves the same protocol over TLS when a certificate is set.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	h := newHarness(t, func(c *edge.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })

	conn, err := tls.Dial("tcp", h.addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS dial of the edge: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	c.send("CONNECT", "c", map[string]any{"jwt_token": "tok-7"})
	if got := c.expect("CONNECT_SUCCESS", "c"); got.num("user_id") != 7 {
		t.Errorf("CONNECT over TLS = %v, want user 7", got.Data)
	}
	c.send("PING", "p", map[string]any{})
	c.expect("PONG", "p")

	// A plain-TCP client gets no protocol: the handshake fails and the
	// edge closes the connection.
	plain := h.dial()
	plain.sendRaw(`{"action":"PING","data":{},"seq_id":"x"}`)
	plain.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := plain.r.ReadString('\n'); err == nil {
		t.Errorf("plain TCP to a TLS edge read %q, want the connection closed", line)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	for _, tt := range []struct {
		name      string
		cert, key string
	}{
		{"certificate without key", certFile, ""},
		{"key without certificate", "", keyFile},
		{"missing files", filepath.Join(t.TempDir(), "none.pem"), keyFile},
		{"key for the certificate swapped", keyFile, certFile},
	} {
		err := edge.Run(t.Context(), edge.Config{Addr: "127.0.0.1:0", TLSCertFile: tt.cert, TLSKeyFile: tt.key})
		if err == nil {
			t.Errorf("Run with %s = nil, want a configuration error", tt.name)
		}
	}
}
