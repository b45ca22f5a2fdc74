package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard.dev/cli/internal/bare"
	"switchboard.dev/cli/internal/servicetest"
	"switchboard.dev/edge"
)

const secret = "dev-secret"

// workerEnv makes the test binary run sbload's main: the --workers test
// starts its workers from it.
const workerEnv = "SBLOAD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestWorkers splits a run between two worker processes, each on its own
// edge, and checks the merged report and what each edge saw.
func TestWorkers(t *testing.T) {
	t.Setenv(workerEnv, "1")
	executable = func() (string, error) { return os.Args[0], nil }
	edges := []*bare.Server{servicetest.StartBare(t, bare.Options{Secret: secret}), servicetest.StartBare(t, bare.Options{Secret: secret})}
	chat := servicetest.NewChatAdmin()
	env := map[string]string{"JWT_SECRET": secret}
	var stdout, stderr bytes.Buffer
	args := []string{"--workers", "2", "--addr", edges[0].Addr() + "," + edges[1].Addr(), "--chat-addr", chat.Start(t),
		"--clients", "6", "--rooms", "3", "--rate", "60", "--duration", "600ms", "--warmup", "100ms", "--drain", "30s",
		"--pid", strconv.Itoa(os.Getpid())}
	code := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("sbload %v = exit %d, stderr:\n%s", args, code, stderr.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout %q is not one JSON report: %v", stdout.String(), err)
	}
	if rep["clients"] != 6.0 || rep["rooms"] != 3.0 || rep["rate"] != 60.0 || rep["delivered"] != rep["expected"] ||
		rep["expected"] == 0.0 || rep["errors"] != 0.0 || rep["server_cpu_pct"] == nil {
		t.Errorf("merged report = %v; want 6 clients in 3 rooms at 60 msg/s, every delivery, the server's CPU", rep)
	}
	if _, ok := rep["histogram"]; ok {
		t.Errorf("merged report shows the histogram: %s", stdout.String())
	}
	for i, e := range edges {
		if e.Received() == 0 {
			t.Errorf("edge %d received no message", i)
		}
	}
	for _, w := range []string{"[0] sbload: connected and joined 4/4 clients", "[1] sbload: connected and joined 2/2 clients"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), secret) {
		t.Errorf("stderr shows the secret")
	}

	// Idle: the parent reads the RSS around all the workers' connections.
	stdout.Reset()
	stderr.Reset()
	peak := make([]int, len(edges))
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			for i, e := range edges {
				peak[i] = max(peak[i], e.Sessions())
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	idle := []string{"--idle", "--workers", "2", "--addr", edges[0].Addr() + "," + edges[1].Addr(), "--clients", "9",
		"--settle", "200ms", "--pid", strconv.Itoa(os.Getpid())}
	code = run(context.Background(), idle, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	close(stop)
	<-watched
	if code != 0 {
		t.Fatalf("sbload %v = exit %d, stderr:\n%s", idle, code, stderr.String())
	}
	var idleRep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &idleRep); err != nil {
		t.Fatalf("stdout %q is not one JSON report: %v", stdout.String(), err)
	}
	if idleRep["clients"] != 9.0 || idleRep["connected"] != 9.0 || idleRep["errors"] != 0.0 ||
		idleRep["rss_before_kib"].(float64) <= 0 || idleRep["rss_after_kib"].(float64) <= 0 {
		t.Errorf("idle report = %v; want 9 connected, no errors, the RSS before and after", idleRep)
	}
	if peak[0] != 5 || peak[1] != 4 {
		t.Errorf("edges held %v sessions at most, want [5 4]", peak)
	}

	// A worker that cannot set up fails the run.
	stdout.Reset()
	stderr.Reset()
	bad := append(args[:len(args):len(args)], "--addr", edges[0].Addr()+",127.0.0.1:1")
	if code := run(context.Background(), bad, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr); code != 1 || stdout.Len() != 0 {
		t.Errorf("sbload with an unreachable edge = exit %d, stdout %q; want 1 and no report", code, stdout.String())
	}
	if !strings.Contains(stderr.String(), "sbload: worker 1: did not get ready") {
		t.Errorf("stderr = %q, want worker 1's failure", stderr.String())
	}
}

func TestRunPrintsOneJSONLine(t *testing.T) {
	edge := servicetest.StartBare(t, bare.Options{Secret: secret})
	chat := servicetest.NewChatAdmin()
	env := map[string]string{"JWT_SECRET": secret, "EDGE_ADDR": edge.Addr(), "CHAT_ADDR": chat.Start(t)}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--clients", "4", "--rooms", "2", "--rate", "40", "--duration", "400ms",
		"--warmup", "100ms", "--drain", "30s", "--size", "64"}, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
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
	edge := servicetest.StartBare(t, bare.Options{Secret: secret, CompressOver: 250, QuietJoins: true})
	chat := servicetest.NewChatAdmin()
	env := map[string]string{"JWT_SECRET": secret, "EDGE_ADDR": edge.Addr(), "CHAT_ADDR": chat.Start(t)}
	var stdout, stderr bytes.Buffer
	args := []string{"--clients", "1000", "--rooms", "1", "--compression", "--rate", "20", "--duration", "500ms",
		"--warmup", "100ms", "--drain", "30s", "--size", "200", "--room-base", "77"}
	code := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
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
	edge := servicetest.StartBare(t, bare.Options{Secret: secret})
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--idle", "--addr", edge.Addr(), "--secret", secret, "--clients", "5",
		"--duration", "50ms", "--settle", "20ms", "--pid", strconv.Itoa(os.Getpid())}, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
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
	code := run(context.Background(), []string{"-h"}, func(k string) string { return map[string]string{"JWT_SECRET": "hidden-value"}[k] }, strings.NewReader(""), &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "-rate") || !strings.Contains(stdout.String(), "-idle") ||
		!strings.Contains(stdout.String(), "-silent") || !strings.Contains(stdout.String(), "-stalled") {
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
		{[]string{"--pid", "12,x"}, nil, 2, "sbload: --pid \"12,x\": want process ids\n"},
		{[]string{"--addr", "a:1,b:2"}, nil, 2, "sbload: several --addr need --workers\n"},
		{[]string{"--workers", "3", "--idle", "--clients", "2"}, nil, 1, "sbload: --workers 3: want 1 to --clients (2)\n"},
		{[]string{"--workers", "11"}, map[string]string{"JWT_SECRET": "s"}, 1, "sbload: --workers 11: want at most --rooms (10)\n"},
		{[]string{"--workers", "2", "--worker", "2"}, map[string]string{"JWT_SECRET": "s"}, 2, "sbload: --worker 2 of --workers 2\n"},
		{[]string{"--idle", "--silent"}, nil, 2, "sbload: --idle and --silent: choose one\n"},
		{[]string{"--silent", "--stalled", "2"}, nil, 1, "sbload: --stalled is for the fanout mode, not --idle or --silent\n"},
		{[]string{"--silent", "--workers", "3", "--clients", "2"}, nil, 1, "sbload: --workers 3: want 1 to --clients (2)\n"},
		{[]string{"--stalled", "-1"}, map[string]string{"JWT_SECRET": "s"}, 1, "sbload: --stalled -1: want at least 0\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, strings.NewReader(""), &stdout, &stderr)
		if code != tt.code || stderr.String() != tt.stderr || stdout.Len() != 0 {
			t.Errorf("sbload %v = exit %d, stderr %q, stdout %q; want exit %d, %q, no stdout", tt.args, code, stderr.String(), stdout.String(), tt.code, tt.stderr)
		}
	}
}

// TestSilentAndStalledWorkers runs the two modes that need a real edge,
// each split between two worker processes: silent connections the edge
// closes at its auth timeout, and stalled clients it closes as slow
// consumers.
func TestSilentAndStalledWorkers(t *testing.T) {
	t.Setenv(workerEnv, "1")
	executable = func() (string, error) { return os.Args[0], nil }
	const authTimeout = 300 * time.Millisecond
	sb := servicetest.StartSwitchboard(t, secret, func(c *edge.Config) {
		c.AuthTimeout, c.OutboundQueueMessages = authTimeout, 64
	})
	env := map[string]string{"JWT_SECRET": secret}
	var stdout, stderr bytes.Buffer
	silent := []string{"--silent", "--workers", "2", "--addr", sb.EdgeAddr, "--clients", "7", "--duration", "2s",
		"--settle", "100ms", "--pid", strconv.Itoa(os.Getpid())}
	if code := run(context.Background(), silent, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("sbload %v = exit %d, stderr:\n%s", silent, code, stderr.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout %q is not one JSON report: %v", stdout.String(), err)
	}
	if rep["clients"] != 7.0 || rep["connected"] != 7.0 || rep["closed"] != 7.0 || rep["errors"] != 0.0 ||
		rep["closed_after_max_ms"].(float64) < float64(authTimeout.Milliseconds()) ||
		rep["rss_before_kib"].(float64) <= 0 || rep["rss_connected_kib"].(float64) <= 0 || rep["rss_after_close_kib"].(float64) <= 0 {
		t.Errorf("silent report = %v; want 7 connected and closed after the auth timeout %v, no errors, the RSS three times", rep, authTimeout)
	}
	if _, ok := rep["histogram"]; ok {
		t.Errorf("merged silent report shows the histogram: %s", stdout.String())
	}
	for _, w := range []string{"[0] sbload: connected 4/4 silent clients", "[1] sbload: connected 3/3 silent clients"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}

	stdout.Reset()
	stderr.Reset()
	// 1000 messages of 4 KB a room, 4 MB: more than a stalled client's
	// socket (about 2.8 MB on loopback) and 64 queued envelopes hold.
	stalled := []string{"--workers", "2", "--addr", sb.EdgeAddr, "--chat-addr", sb.ChatAddr, "--clients", "4", "--rooms", "2",
		"--stalled", "3", "--rate", "1000", "--size", "4000", "--duration", "2s", "--warmup", "200ms", "--drain", "30s"}
	if code := run(context.Background(), stalled, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("sbload %v = exit %d, stderr:\n%s", stalled, code, stderr.String())
	}
	rep = nil
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout %q is not one JSON report: %v", stdout.String(), err)
	}
	if rep["stalled"] != 3.0 || rep["stalled_closed"] != 3.0 || rep["delivered"] != rep["expected"] || rep["expected"] == 0.0 || rep["errors"] != 0.0 {
		t.Errorf("stalled report = %v; want 3 stalled clients, all closed, every other delivery, no errors\nstderr:\n%s", rep, stderr.String())
	}
	for _, w := range []string{"[0] sbload: connected and joined 2/2 stalled clients", "[1] sbload: connected and joined 1/1 stalled clients"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
}
