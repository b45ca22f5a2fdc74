package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard.dev/cli/internal/token"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServesUntilCanceled starts sbbare, connects a client with a token of
// the secret, and stops it.
func TestServesUntilCanceled(t *testing.T) {
	const secret = "bare-test-secret-0123456789abcdef"
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0"}, func(k string) string {
			return map[string]string{"JWT_SECRET": secret}[k]
		}, &bytes.Buffer{}, &stderr)
	}()
	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, a, ok := strings.Cut(stderr.String(), "serving on "); ok {
			addr = strings.TrimSpace(a)
		}
	}
	if addr == "" {
		t.Fatalf("sbbare did not say where it serves: %q", stderr.String())
	}
	minter, err := token.NewMinter(secret, "HS256")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := minter.Mint(token.Claims{UserID: 7, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(`{"action":"CONNECT","data":{"jwt_token":"` + tok + `"},"seq_id":"c"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, `"action":"CONNECT_SUCCESS"`) || !strings.Contains(line, `"user_id":7`) {
		t.Fatalf("CONNECT answered %q, %v; want CONNECT_SUCCESS for user 7", line, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("sbbare after cancel = exit %d, want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sbbare did not stop after cancel")
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		env    map[string]string
		stderr string
	}{
		{nil, nil, "sbbare: --secret or JWT_SECRET is required\n"},
		{[]string{"--secret", "s", "x"}, nil, "sbbare: unexpected argument \"x\"\n"},
		{[]string{"--port", "1"}, nil, "sbbare: flag provided but not defined: -port (run 'sbbare -h')\n"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &bytes.Buffer{}, &stderr)
		if code != 2 || stderr.String() != tt.stderr {
			t.Errorf("sbbare %q = exit %d, stderr %q; want 2, %q", tt.args, code, stderr.String(), tt.stderr)
		}
	}
}
