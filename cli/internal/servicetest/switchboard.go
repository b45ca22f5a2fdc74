package servicetest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"switchboard.dev/edge"
	"switchboard.dev/services/auth"
	"switchboard.dev/services/chat"
)

// Switchboard is a running auth service, chat service and TCP edge, the
// real ones, on loopback ports.
type Switchboard struct {
	// EdgeAddr is the edge's TCP address.
	EdgeAddr string
	// ChatAddr is the chat service's gRPC address.
	ChatAddr string
	logs     *logBuffer
}

// StartSwitchboard runs the auth service (HS256 tokens signed with secret),
// the chat service (without rate limit) and an edge on loopback ports, with
// their stores in a temporary folder, until the test ends; configure, when
// set, adjusts the edge's configuration. Presence and signaling answer
// UNIMPLEMENTED: the edge chats without them. It returns once the edge
// receives the chat service's events.
func StartSwitchboard(t testing.TB, secret string, configure func(*edge.Config)) *Switchboard {
	t.Helper()
	dir := t.TempDir()
	sb := &Switchboard{logs: &logBuffer{}}
	log := slog.New(slog.NewJSONHandler(sb.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	listen := func() net.Listener {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		return lis
	}
	authLis, chatLis, edgeLis := listen(), listen(), listen()
	sb.EdgeAddr, sb.ChatAddr = edgeLis.Addr().String(), chatLis.Addr().String()
	none := Serve(t, func(*grpc.Server) {})
	cfg := edge.Config{
		Listener:      edgeLis,
		AuthAddr:      authLis.Addr().String(),
		ChatAddr:      sb.ChatAddr,
		PresenceAddr:  none,
		SignalingAddr: none,
		EdgeID:        "test-edge",
		RPCTimeout:    2 * time.Second,
		Logger:        log.With("part", "edge"),
	}
	if configure != nil {
		configure(&cfg)
	}
	// The cleanups run last first: the edge stops before the services.
	run := func(part string, f func(context.Context) error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f(ctx) }()
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", part, err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not stop within 10s", part)
			}
		})
	}
	run("auth", func(ctx context.Context) error {
		return auth.Run(ctx, auth.Config{Listener: authLis, DataDir: dir, Algo: "HS256", Secret: []byte(secret), Logger: log.With("part", "auth")})
	})
	run("chat", func(ctx context.Context) error {
		return chat.Run(ctx, chat.Config{Listener: chatLis, DataDir: dir, Logger: log.With("part", "chat")})
	})
	run("edge", func(ctx context.Context) error { return edge.Run(ctx, cfg) })
	// An event published before the edge's stream is open would not reach it.
	for deadline := time.Now().Add(10 * time.Second); !sb.Logged("chat event stream open"); {
		if time.Now().After(deadline) {
			t.Fatalf("the edge's chat event stream did not open within 10s; logs:\n%s", sb.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return sb
}

// Logged reports whether a log record of the services or the edge
// contains s.
func (sb *Switchboard) Logged(s string) bool { return strings.Contains(sb.Logs(), s) }

// Logs returns the JSON log records of the services and the edge so far.
func (sb *Switchboard) Logs() string { return sb.logs.String() }

// logBuffer collects log records written from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
