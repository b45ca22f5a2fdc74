package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"switchboard.dev/cli/internal/bare"
	"switchboard.dev/cli/internal/servicetest"
)

const secret = "dev-secret"

func TestRunPrintsOneJSONLine(t *testing.T) {
	edge := startBare(t, bare.Options{Secret: secret})
	chat := servicetest.NewChatAdmin()
	env := map[string]string{"JWT_SECRET": secret, "EDGE_ADDR": edge.Addr(), "CHAT_ADDR": chat.Start(t)}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--clients", "4", "--rooms", "2", "--rate", "40", "--duration", "400ms",
		"--warmup", "100ms", "--drain", "30s", "--size", "64"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("sbload = exit %d, stderr %q; want 0", code, stderr.String())
	}
	if strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("stdout = %q, want exactly one line", stdout.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout %q is not JSON: %v", stdout.String(), err)
	}
	if rep["clients"] != 4.0 || rep["rate"] != 40.0 || rep["size"] != 64.0 || rep["delivered"] != rep["expected"] || rep["errors"] != 0.0 {
		t.Errorf("report = %v, want clients 4, rate 40, size 64, delivered = expected, no errors", rep)
	}
	if _, ok := rep["rss_kib"]; ok {
		t.Errorf("report = %v, want no rss_kib without --pid", rep)
	}
	if !strings.Contains(stderr.String(), "sbload: connected and joined 4/4 clients") {
		t.Errorf("stderr = %q, want progress lines", stderr.String())
	}
	if strings.Contains(stderr.String(), secret) {
		t.Errorf("stderr shows the secret: %q", stderr.String())
	}
}

// TestRunOneRoomOfThousand runs the fanout shape of the benchmarks: one
// room of 1000 clients, every message gzip-compressed by the edge. The fake
// edge leaves out the quadratic USER_JOINED traffic of filling the room,
// which under -race would take most of the test's time.
func TestRunOneRoomOfThousand(t *testing.T) {
	edge := startBare(t, bare.Options{Secret: secret, CompressOver: 250, QuietJoins: true})
	chat := servicetest.NewChatAdmin()
	env := map[string]string{"JWT_SECRET": secret, "EDGE_ADDR": edge.Addr(), "CHAT_ADDR": chat.Start(t)}
	var stdout, stderr bytes.Buffer
	args := []string{"--clients", "1000", "--rooms", "1", "--compression", "--rate", "20", "--duration", "500ms",
		"--warmup", "100ms", "--drain", "30s", "--size", "200", "--room-base", "77"}
	code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("sbload %v = exit %d, stderr %q; want 0", args, code, stderr.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout %q is not JSON: %v", stdout.String(), err)
	}
	expected, _ := rep["expected"].(float64)
	if rep["clients"] != 1000.0 || rep["rooms"] != 1.0 || expected <= 0 || rep["delivered"] != rep["expected"] || rep["errors"] != 0.0 {
		t.Errorf("sbload %v report = %v, want 1000 clients, 1 room, delivered = expected > 0, no errors", args, rep)
	}
	// Every measured message goes to the 1000 members, its sender included.
	if sent := edge.Received(); int(expected)%1000 != 0 || expected > float64(sent)*1000 {
		t.Errorf("expected %v deliveries for %d messages sent, want 1000 per measured message", expected, sent)
	}
	if edge.Compressed() == 0 {
		t.Errorf("edge compressed no envelope, want the clients to have asked for gzip")
	}
	if room := chat.Room(77); room == nil || room.GetMaxMembers() != 1000 {
		t.Errorf("room 77 = %v, want it created with max_members 1000", room)
	}
	if !strings.Contains(stderr.String(), "sbload: connected and joined 1000/1000 clients") {
		t.Errorf("stderr = %q, want all 1000 clients joined", stderr.String())
	}
}

func TestRunIdleFlag(t *testing.T) {
	edge := startBare(t, bare.Options{Secret: secret})
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--idle", "--addr", edge.Addr(), "--secret", secret, "--clients", "5",
		"--duration", "50ms", "--settle", "20ms", "--pid", strconv.Itoa(os.Getpid())}, func(string) string { return "" }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("sbload --idle = exit %d, stderr %q; want 0", code, stderr.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout %q is not JSON: %v", stdout.String(), err)
	}
	if rep["connected"] != 5.0 || rep["rss_after_kib"].(float64) <= 0 {
		t.Errorf("idle report = %v, want 5 connected and an RSS", rep)
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-h"}, func(k string) string { return map[string]string{"JWT_SECRET": "hidden-value"}[k] }, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "-rate") || !strings.Contains(stdout.String(), "-idle") {
		t.Errorf("sbload -h = exit %d, stdout %q; want 0 and the flags", code, stdout.String())
	}
	if strings.Contains(stdout.String(), "hidden-value") {
		t.Errorf("sbload -h shows the secret: %q", stdout.String())
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{[]string{"--clients", "x"}, nil, 2, "sbload: invalid value \"x\" for flag -clients: parse error (run 'sbload -h')\n"},
		{[]string{"extra"}, nil, 2, "sbload: unexpected argument \"extra\"\n"},
		{[]string{"--chat-addr", ""}, nil, 1, "sbload: JWT_SECRET is empty: set it to the Laravel backend's JWT_SECRET\n"},
		{[]string{"--size", "5"}, map[string]string{"JWT_SECRET": "s"}, 1, "sbload: --size 5: want at least 20 (the send time takes 20 bytes)\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
		if code != tt.code || stderr.String() != tt.stderr || stdout.Len() != 0 {
			t.Errorf("sbload %v = exit %d, stderr %q, stdout %q; want exit %d, %q, no stdout", tt.args, code, stderr.String(), stdout.String(), tt.code, tt.stderr)
		}
	}
}

// startBare serves the bare fanout server on loopback until the test ends.
func startBare(t testing.TB, opts bare.Options) *bare.Server {
	t.Helper()
	srv, err := bare.Listen("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}
