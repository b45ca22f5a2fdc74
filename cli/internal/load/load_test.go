package load

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/cli/internal/bare"
	"switchboard.dev/cli/internal/servicetest"
	"switchboard.dev/edge"
)

const secret = "tU9c2bX0kq1Yw7Lr3Hn8Vd5Gs6Jp4Mz2Qa9Ee1Ff0Cc7Bb3Nn5Xx8Ww2Ss4Rr6Tt"

func testConfig(edgeAddr, chatAddr string) Config {
	return Config{
		Addr:     edgeAddr,
		ChatAddr: chatAddr,
		Secret:   secret,
		Clients:  6,
		Rooms:    2,
		RoomBase: 1_000_000,
		Rate:     60,
		Duration: time.Second,
		Warmup:   200 * time.Millisecond,
		Drain:    10 * time.Second, // the longest wait: the drain ends once every delivery is in
		Size:     100,
	}
}

func TestRunEndToEnd(t *testing.T) {
	tests := []struct {
		name string
		opts bare.Options
		cfg  func(*Config)
	}{
		{"plain", bare.Options{Secret: secret}, func(*Config) {}},
		// The fake edge lingers to coalesce (300 msg/s a room: about 6 a
		// batch); every batch exceeds 300 bytes, single messages do not. The
		// rate stays modest so that deliveries keep within the drain on a
		// busy machine under -race.
		{"batch and gzip", bare.Options{Secret: secret, CompressOver: 300, BatchLinger: 20 * time.Millisecond}, func(c *Config) {
			c.Batch, c.Compression, c.Rate = true, true, 600
		}},
		{"uneven rooms, small size", bare.Options{Secret: secret}, func(c *Config) {
			c.Clients, c.Rooms, c.Size, c.Parallelism = 7, 3, MinSize, 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edge := servicetest.StartBare(t, tt.opts)
			chat := servicetest.NewChatAdmin()
			cfg := testConfig(edge.Addr(), chat.Start(t))
			tt.cfg(&cfg)
			var progress bytes.Buffer
			cfg.Progress = &progress
			cfg.PIDs = []int{os.Getpid()}
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
			}
			if rep.Sent <= 0 || rep.Expected <= 0 {
				t.Fatalf("Run: sent %d, expected %d; want both > 0", rep.Sent, rep.Expected)
			}
			if rep.Delivered != rep.Expected || rep.DeliveredRatio != 1 {
				t.Errorf("Run: delivered %d (ratio %v), want expected %d (ratio 1)", rep.Delivered, rep.DeliveredRatio, rep.Expected)
			}
			if rep.Errors != 0 {
				t.Errorf("Run: errors = %d, want 0; progress:\n%s", rep.Errors, progress.String())
			}
			if cfg.Batch && (edge.Batches() == 0 || edge.Compressed() == 0) {
				t.Errorf("edge wrote %d batches, %d compressed envelopes; want both > 0 to exercise the scanner", edge.Batches(), edge.Compressed())
			}
			// The last messages sent may be after the measured window: the
			// run does not wait for them, so the edge may still be reading them.
			deadline := time.Now().Add(5 * time.Second)
			for int64(edge.Received()) < rep.Sent && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := int64(edge.Received()); got != rep.Sent {
				t.Errorf("edge received %d messages, sbload says it sent %d", got, rep.Sent)
			}
			// Sent covers the whole duration at the configured rate (±25 %: scheduling).
			if want := cfg.Rate * cfg.Duration.Seconds(); float64(rep.Sent) < want*0.75 || float64(rep.Sent) > want*1.25 {
				t.Errorf("Run: sent %d, want about %.0f (rate %v × %v)", rep.Sent, want, cfg.Rate, cfg.Duration)
			}
			if !(rep.P50Ms > 0 && rep.P50Ms <= rep.P90Ms && rep.P90Ms <= rep.P99Ms && rep.P99Ms <= rep.MaxMs) {
				t.Errorf("Run: p50 %v p90 %v p99 %v max %v; want 0 < p50 <= p90 <= p99 <= max", rep.P50Ms, rep.P90Ms, rep.P99Ms, rep.MaxMs)
			}
			if rep.RSSKiB == nil || *rep.RSSKiB <= 0 {
				t.Errorf("Run: rss_kib = %v, want the test process's RSS", rep.RSSKiB)
			}
			if rep.ServerCPUPct == nil || *rep.ServerCPUPct <= 0 {
				t.Errorf("Run: server_cpu_pct = %v, want the test process's CPU use", rep.ServerCPUPct)
			}
			for r := range int64(cfg.Rooms) {
				room := chat.Room(cfg.RoomBase + r)
				if want := int32((cfg.Clients + cfg.Rooms - 1) / cfg.Rooms); room == nil || room.GetMaxMembers() < want {
					t.Errorf("room %d = %v, want it created with max_members >= %d", cfg.RoomBase+r, room, want)
				}
			}

			line, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			if err := json.Unmarshal(line, &fields); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"clients", "rooms", "rate", "duration_s", "size", "sent", "expected", "delivered",
				"delivered_ratio", "deliveries_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors", "rss_kib", "server_cpu_pct"} {
				if _, ok := fields[k]; !ok {
					t.Errorf("report JSON %s lacks %q", line, k)
				}
			}
			if len(fields) != 17 {
				t.Errorf("report JSON has %d fields, want 17: %s", len(fields), line)
			}
			if fields["clients"] != float64(cfg.Clients) || fields["rooms"] != float64(cfg.Rooms) || fields["size"] != float64(cfg.Size) || fields["duration_s"] != 1.0 {
				t.Errorf("report JSON %s does not echo the configuration", line)
			}
		})
	}
}

func TestRunRoomsAlreadyExist(t *testing.T) {
	edge := servicetest.StartBare(t, bare.Options{Secret: secret})
	chat := servicetest.NewChatAdmin()
	chat.PutRoom(&chatv1.Room{Id: 1_000_000, Name: "old", MaxMembers: 0})
	chat.PutRoom(&chatv1.Room{Id: 1_000_001, Name: "old", MaxMembers: 100})
	cfg := testConfig(edge.Addr(), chat.Start(t))
	cfg.Duration, cfg.Warmup = 300*time.Millisecond, 0
	rep, err := Run(context.Background(), cfg)
	if err != nil || rep.Errors != 0 || rep.Delivered != rep.Expected {
		t.Errorf("Run with existing roomy rooms = %+v, %v; want no error and every delivery", rep, err)
	}
}

func TestRunRefusesExistingRoomTooSmall(t *testing.T) {
	edge := servicetest.StartBare(t, bare.Options{Secret: secret})
	chat := servicetest.NewChatAdmin()
	chat.PutRoom(&chatv1.Room{Id: 1_000_001, Name: "old", MaxMembers: 2})
	cfg := testConfig(edge.Addr(), chat.Start(t))
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "room 1000001: it exists with max_members 2 < 3") {
		t.Errorf("Run with a too small existing room: error = %v, want it named", err)
	}
}

func TestRunSetupFailures(t *testing.T) {
	edge := servicetest.StartBare(t, bare.Options{Secret: "another secret"})
	cfg := testConfig(edge.Addr(), "")
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "setup: 6 of 6 clients failed") || !strings.Contains(err.Error(), "INVALID_TOKEN") {
		t.Errorf("Run against an edge with another secret: error = %v, want the setup abort with the CONNECT_ERROR", err)
	}
	if edge.Sessions() != 0 {
		t.Errorf("edge sessions after the abort = %d, want 0", edge.Sessions())
	}
}

func TestRunChatUnreachable(t *testing.T) {
	cfg := testConfig("127.0.0.1:1", "127.0.0.1:1")
	cfg.RPCTimeout = time.Second
	_, err := Run(context.Background(), cfg)
	if err == nil || err.Error() != "create room 1000000: chat service unreachable at 127.0.0.1:1" {
		t.Errorf("Run with no chat service: error = %v, want the unreachable message", err)
	}
}

func TestValidate(t *testing.T) {
	base := testConfig("127.0.0.1:1", "")
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no addr", func(c *Config) { c.Addr = "" }, "--addr is required"},
		{"no clients", func(c *Config) { c.Clients = 0 }, "--clients 0"},
		{"more rooms than clients", func(c *Config) { c.Rooms = 7 }, "--rooms 7"},
		{"no rooms", func(c *Config) { c.Rooms = 0 }, "--rooms 0"},
		{"too many per room", func(c *Config) { c.Clients, c.Rooms = UsersPerRoom+1, 1 }, "at most 100000 clients per room"},
		{"room base", func(c *Config) { c.RoomBase = 0 }, "--room-base 0"},
		{"room base overflow", func(c *Config) { c.RoomBase = maxRoomID }, "--room-base"},
		{"rate", func(c *Config) { c.Rate = 0 }, "--rate 0"},
		{"size", func(c *Config) { c.Size = MinSize - 1 }, "--size 19"},
		{"huge size", func(c *Config) { c.Size = 1 << 20 }, "--size 1048576"},
		{"duration", func(c *Config) { c.Duration = 0 }, "--duration 0s"},
		{"warmup too long", func(c *Config) { c.Warmup = c.Duration }, "--warmup 1s"},
		{"drain", func(c *Config) { c.Drain = -time.Second }, "--drain -1s"},
		{"no secret", func(c *Config) { c.Secret = "" }, "JWT_SECRET is empty"},
		{"algorithm", func(c *Config) { c.Algo = "ES256" }, "only HS256"},
		{"sources", func(c *Config) { c.Sources = 255 }, "--sources 255"},
		{"prejoin without chat", func(c *Config) { c.Prejoin, c.ChatAddr = true, "" }, "--prejoin needs --chat-addr"},
		{"negative stalled", func(c *Config) { c.Stalled = -1 }, "--stalled -1: want at least 0"},
		{"too many stalled per room", func(c *Config) { c.Clients, c.Rooms, c.Stalled = UsersPerRoom, 1, 1 }, "--clients 100000 and --stalled 1 over --rooms 1"},
	}
	for _, tt := range tests {
		cfg := base
		tt.mutate(&cfg)
		_, err := Run(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Run error = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	// The stalled clients belong to the fanout mode.
	idle := Config{Addr: "127.0.0.1:1", Secret: secret, Clients: 2, RoomBase: 1, Duration: time.Second, Stalled: 1}
	if _, err := RunIdle(context.Background(), idle); err == nil || !strings.Contains(err.Error(), "--stalled is for the fanout mode") {
		t.Errorf("RunIdle with Stalled 1: error = %v, want the stalled clients refused", err)
	}
	if _, err := RunSilent(context.Background(), idle); err == nil || !strings.Contains(err.Error(), "--stalled is for the fanout mode") {
		t.Errorf("RunSilent with Stalled 1: error = %v, want the stalled clients refused", err)
	}
	idle.Stalled, idle.Clients = 0, 0
	if _, err := RunSilent(context.Background(), idle); err == nil || !strings.Contains(err.Error(), "--clients 0") {
		t.Errorf("RunSilent with no clients: error = %v, want --clients refused", err)
	}
}

// TestRunStalled runs the fanout against a real edge with small queues
// beside a client that joins and never reads: the edge closes it as a slow
// consumer, every other member gets every delivery, and the stalled client
// owes none and counts no error.
func TestRunStalled(t *testing.T) {
	sb := servicetest.StartSwitchboard(t, secret, func(c *edge.Config) { c.OutboundQueueMessages = 64 })
	cfg := testConfig(sb.EdgeAddr, sb.ChatAddr)
	// 1200 messages of 4 KB in the one room, 5 MB: more than the stalled
	// client's socket holds (on loopback the edge's end takes about 2.8
	// MB) and its 64 queued envelopes.
	cfg.Clients, cfg.Rooms, cfg.Stalled = 4, 1, 1
	cfg.Rate, cfg.Size, cfg.Duration, cfg.Warmup = 600, 4000, 2*time.Second, 200*time.Millisecond
	var progress bytes.Buffer
	cfg.Progress = &progress
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	if rep.Stalled != 1 || rep.StalledClosed == nil || *rep.StalledClosed != 1 {
		t.Errorf("Run with Stalled 1: stalled %d, stalled_closed %v; want 1 and 1\nprogress:\n%s", rep.Stalled, rep.StalledClosed, progress.String())
	}
	if !sb.Logged("slow consumer") {
		t.Errorf("the edge logged no slow consumer; want the stalled client closed as one")
	}
	if rep.Expected <= 0 || rep.Delivered != rep.Expected || rep.DeliveredRatio != 1 || rep.Errors != 0 {
		t.Errorf("Run with Stalled 1: delivered %d of %d (ratio %v), errors %d; want every delivery to the 4 readers, no error\nprogress:\n%s",
			rep.Delivered, rep.Expected, rep.DeliveredRatio, rep.Errors, progress.String())
	}
	// Each measured message is owed to the 4 readers, not to the stalled client.
	if rep.Expected%4 != 0 || rep.Expected > 4*rep.Sent {
		t.Errorf("Run: expected %d deliveries of %d messages sent; want 4 per measured message", rep.Expected, rep.Sent)
	}
	line, _ := json.Marshal(rep)
	if !bytes.Contains(line, []byte(`"stalled":1,"stalled_closed":1`)) {
		t.Errorf("report %s lacks \"stalled\":1,\"stalled_closed\":1", line)
	}
}

// TestRunSilent opens connections that never send CONNECT to a real edge
// with a short auth timeout: the edge closes every one, once the timeout
// has passed.
func TestRunSilent(t *testing.T) {
	const authTimeout = 500 * time.Millisecond
	sb := servicetest.StartSwitchboard(t, secret, func(c *edge.Config) { c.AuthTimeout = authTimeout })
	var progress bytes.Buffer
	cfg := Config{
		Addr:        sb.EdgeAddr,
		Clients:     20,
		Duration:    2 * time.Second,
		Settle:      50 * time.Millisecond,
		RoomBase:    1,
		PIDs:        []int{os.Getpid()},
		Parallelism: 8,
		Progress:    &progress,
	}
	start := time.Now()
	rep, err := RunSilent(context.Background(), cfg)
	if err != nil {
		t.Fatalf("RunSilent: %v\nprogress:\n%s", err, progress.String())
	}
	if rep.Clients != 20 || rep.Connected != 20 || rep.Closed != 20 || rep.Errors != 0 {
		t.Errorf("RunSilent = %+v; want 20 clients connected and closed by the edge, no errors\nprogress:\n%s", rep, progress.String())
	}
	// The edge counts from its accept, after the connect; the percentile
	// is a histogram bucket's (within 1 %), the maximum exact.
	if floor := 0.95 * float64(authTimeout.Milliseconds()); rep.ClosedAfterP50Ms < floor || rep.ClosedAfterMaxMs < float64(authTimeout.Milliseconds()) ||
		rep.ClosedAfterP50Ms > rep.ClosedAfterMaxMs || rep.ClosedAfterMaxMs > 5000 {
		t.Errorf("RunSilent closed after p50 %v ms, max %v ms; want both at least the auth timeout %v, and under 5 s", rep.ClosedAfterP50Ms, rep.ClosedAfterMaxMs, authTimeout)
	}
	// The wait ends once all are closed, not at Duration plus the grace.
	if took := time.Since(start); took > cfg.Duration+silentGrace {
		t.Errorf("RunSilent took %v, want it to end once the edge closed every connection", took)
	}
	if rep.RSSBeforeKiB <= 0 || rep.RSSConnectedKiB <= 0 || rep.RSSAfterCloseKiB <= 0 {
		t.Errorf("RunSilent rss before %d, connected %d, after close %d; want all > 0", rep.RSSBeforeKiB, rep.RSSConnectedKiB, rep.RSSAfterCloseKiB)
	}
	if want := round(float64(rep.RSSConnectedKiB-rep.RSSBeforeKiB)/20, 2); rep.RSSPerConnKiB != want {
		t.Errorf("RunSilent rss_per_conn_kib = %v, want (connected-before)/connected = %v", rep.RSSPerConnKiB, want)
	}
	if want := rep.RSSAfterCloseKiB - rep.RSSBeforeKiB; rep.RSSRetainedKiB != want {
		t.Errorf("RunSilent rss_retained_kib = %v, want after_close-before = %v", rep.RSSRetainedKiB, want)
	}
	line, _ := json.Marshal(rep)
	var fields map[string]any
	if err := json.Unmarshal(line, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"clients", "connected", "closed", "closed_after_p50_ms", "closed_after_max_ms", "rss_before_kib",
		"rss_connected_kib", "rss_after_close_kib", "rss_per_conn_kib", "rss_retained_kib", "errors"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("silent report %s lacks %q", line, k)
		}
	}
	if len(fields) != 11 {
		t.Errorf("silent report has %d fields, want 11: %s", len(fields), line)
	}
}

// TestRunSilentUnclosed holds connections to a server that never closes
// them (the bare server has no auth timeout): the wait ends at Duration
// plus the grace, with none closed by the edge.
func TestRunSilentUnclosed(t *testing.T) {
	srv := servicetest.StartBare(t, bare.Options{Secret: secret})
	start := time.Now()
	rep, err := RunSilent(context.Background(), Config{Addr: srv.Addr(), Clients: 3, RoomBase: 1, Duration: 10 * time.Millisecond,
		Settle: 10 * time.Millisecond, KeepHistogram: true})
	if err != nil || rep.Connected != 3 || rep.Closed != 0 || rep.Errors != 0 || rep.ClosedAfterMaxMs != 0 {
		t.Errorf("RunSilent against a server that keeps them = %+v, %v; want 3 connected, none closed", rep, err)
	}
	if rep.Histogram == nil || rep.Histogram.Count() != 0 {
		t.Errorf("RunSilent histogram = %v, want an empty one with KeepHistogram", rep.Histogram)
	}
	if took := time.Since(start); took < silentGrace {
		t.Errorf("RunSilent took %v, want it to wait Duration plus %v for the closes", took, silentGrace)
	}
}

func TestRunIdle(t *testing.T) {
	edge := servicetest.StartBare(t, bare.Options{Secret: secret})
	cfg := Config{
		Addr:        edge.Addr(),
		Secret:      secret,
		Clients:     40,
		RoomBase:    1,
		Duration:    100 * time.Millisecond,
		Settle:      50 * time.Millisecond,
		PIDs:        []int{os.Getpid()},
		Parallelism: 8,
	}
	rep, err := RunIdle(context.Background(), cfg)
	if err != nil {
		t.Fatalf("RunIdle: %v", err)
	}
	if rep.Clients != 40 || rep.Connected != 40 || rep.Errors != 0 {
		t.Errorf("RunIdle = %+v; want 40 clients connected, no errors", rep)
	}
	if rep.RSSBeforeKiB <= 0 || rep.RSSAfterKiB <= 0 {
		t.Errorf("RunIdle rss before, after = %d, %d; want both > 0", rep.RSSBeforeKiB, rep.RSSAfterKiB)
	}
	if want := round(float64(rep.RSSAfterKiB-rep.RSSBeforeKiB)/40, 2); rep.RSSPerConnKiB != want {
		t.Errorf("RunIdle rss_per_conn_kib = %v, want (after-before)/connected = %v", rep.RSSPerConnKiB, want)
	}
	line, _ := json.Marshal(rep)
	for _, k := range []string{`"clients"`, `"connected"`, `"errors"`, `"rss_before_kib"`, `"rss_after_kib"`, `"rss_per_conn_kib"`} {
		if !bytes.Contains(line, []byte(k)) {
			t.Errorf("idle report %s lacks %s", line, k)
		}
	}
	// Connections are closed when RunIdle returns; the edge notices shortly after.
	deadline := time.Now().Add(5 * time.Second)
	for edge.Sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if edge.Sessions() != 0 {
		t.Errorf("edge sessions after RunIdle = %d, want 0", edge.Sessions())
	}
}

func TestRunIdleCountsFailures(t *testing.T) {
	edge := servicetest.StartBare(t, bare.Options{Secret: "another secret"})
	rep, err := RunIdle(context.Background(), Config{
		Addr: edge.Addr(), Secret: secret, Clients: 3, RoomBase: 1,
		Duration: 10 * time.Millisecond, Settle: 10 * time.Millisecond,
	})
	if err != nil || rep.Connected != 0 || rep.Errors != 3 {
		t.Errorf("RunIdle with refused tokens = %+v, %v; want 0 connected and 3 errors", rep, err)
	}
}

// TestRaiseFileLimit asks for more descriptors than the hard limit: root
// gets them, anyone else the hard limit.
func TestRaiseFileLimit(t *testing.T) {
	var before, after syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	want := before.Max + 16
	got, err := RaiseFileLimit(want)
	if err != nil {
		t.Fatalf("RaiseFileLimit(%d): %v", want, err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after); err != nil {
		t.Fatal(err)
	}
	if after.Cur != got || (got != want && got != before.Max) {
		t.Errorf("RaiseFileLimit(%d) = %d, RLIMIT_NOFILE soft %d (hard before %d); want the soft limit at %d or the old hard limit", want, got, after.Cur, before.Max, want)
	}
	if again, err := RaiseFileLimit(16); err != nil || again != after.Cur {
		t.Errorf("RaiseFileLimit(16) = %d, %v; want the limit left at %d", again, err, after.Cur)
	}
}

// TestSources spreads many clients over loopback source addresses, and
// connects from them.
func TestSources(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		clients int
		want    int
	}{
		{"127.0.0.1:12345", 10, 1},
		{"127.0.0.1:12345", 100_000, 4},
		{"[::1]:12345", 100_000, 0},
		{"10.0.0.7:12345", 100_000, 0},
	} {
		cfg := Config{Addr: tc.addr, Clients: tc.clients}
		cfg.defaults()
		if cfg.Sources != tc.want {
			t.Errorf("Config{Addr: %s, Clients: %d} sources = %d, want %d", tc.addr, tc.clients, cfg.Sources, tc.want)
		}
	}
	edge := servicetest.StartBare(t, bare.Options{Secret: secret})
	rep, err := RunIdle(context.Background(), Config{Addr: edge.Addr(), Secret: secret, Clients: 9, RoomBase: 1, Sources: 3,
		Duration: 10 * time.Millisecond, Settle: 10 * time.Millisecond})
	if err != nil || rep.Connected != 9 || rep.Errors != 0 {
		t.Errorf("RunIdle from 3 source addresses = %+v, %v; want 9 connected", rep, err)
	}
}

func TestFillerCompressesLikeText(t *testing.T) {
	a, b := filler(1, 4000), filler(1, 4000)
	if len(a) != 4000 || !bytes.Equal(a, b) {
		t.Fatalf("filler(1, 4000): len %d, deterministic %v; want 4000 bytes, the same each time", len(a), bytes.Equal(a, b))
	}
	if bytes.Equal(a, filler(2, 4000)) {
		t.Error("filler gives the same bytes for two seeds")
	}
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(a)
	w.Close()
	if ratio := float64(len(a)) / float64(buf.Len()); ratio < 1.5 || ratio > 5 {
		t.Errorf("filler compresses %.1f:1, want text-like (1.5..5)", ratio)
	}
}

// joinRecorder is a chat service that records JoinRoom calls.
type joinRecorder struct {
	chatv1.UnimplementedChatServiceServer
	mu     sync.Mutex
	joined map[int64]int64 // user → room
}

func (j *joinRecorder) JoinRoom(_ context.Context, req *chatv1.JoinRoomRequest) (*chatv1.JoinRoomResponse, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.joined[req.GetUserId()] = req.GetRoomId()
	return &chatv1.JoinRoomResponse{Joined: true}, nil
}

// TestPrejoin makes every client a member of its room through the chat
// service.
func TestPrejoin(t *testing.T) {
	rec := &joinRecorder{joined: map[int64]int64{}}
	addr := servicetest.Serve(t, func(s *grpc.Server) { chatv1.RegisterChatServiceServer(s, rec) })
	cfg := Config{ChatAddr: addr, Parallelism: 4, RPCTimeout: 5 * time.Second}
	var clients []*client
	for i := range 25 {
		room := int64(7 + i%3)
		clients = append(clients, &client{idx: i, room: room, user: room*UsersPerRoom + int64(i/3)})
	}
	if err := prejoin(context.Background(), cfg, clients); err != nil {
		t.Fatalf("prejoin = %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, c := range clients {
		if rec.joined[c.user] != c.room {
			t.Errorf("user %d joined room %d, want %d", c.user, rec.joined[c.user], c.room)
		}
	}
	if len(rec.joined) != len(clients) {
		t.Errorf("%d users joined, want %d", len(rec.joined), len(clients))
	}
}

func TestKeepAlive(t *testing.T) {
	mine, edge := net.Pipe()
	defer edge.Close()
	k := startKeepAlive(10*time.Millisecond, time.Second)
	k.add(&client{conn: mine})
	r := bufio.NewReader(edge)
	for range 2 {
		edge.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil || line != string(pingLine) {
			t.Fatalf("edge read %q, %v; want a PING", line, err)
		}
	}
	go io.Copy(io.Discard, r) // a ping written meanwhile does not block close
	if errs := k.close(); errs != 0 {
		t.Errorf("close = %d failed pings, want 0", errs)
	}
	if errs := k.close(); errs != 0 {
		t.Errorf("second close = %d, want 0", errs)
	}
	// Once closed, the client is the caller's: nothing else writes to it.
	mine.Close()
	k2 := startKeepAlive(5*time.Millisecond, 10*time.Millisecond)
	k2.add(&client{conn: mine})
	failed := func() bool { k2.mu.Lock(); defer k2.mu.Unlock(); return k2.errs > 0 }
	for deadline := time.Now().Add(5 * time.Second); !failed() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if errs := k2.close(); errs == 0 {
		t.Error("pings to a closed connection counted no failure")
	}
}
