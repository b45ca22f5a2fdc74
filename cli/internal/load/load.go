// Package load drives the TCP edge the way many chat clients would: it
// creates rooms, connects and authenticates clients, has them send messages
// at a total rate, and measures every delivery's latency from the send time
// carried in the message content.
package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/cli/internal/hist"
	"switchboard.dev/cli/internal/procstat"
	"switchboard.dev/cli/internal/rpcerr"
	"switchboard.dev/cli/internal/scan"
	"switchboard.dev/cli/internal/token"
)

// Defaults of Config.
const (
	DefaultAddr        = "127.0.0.1:12345"
	DefaultClients     = 1000
	DefaultRooms       = 10
	DefaultRate        = 3000
	DefaultDuration    = 30 * time.Second
	DefaultSize        = 100
	DefaultRoomBase    = 1_000_000
	DefaultWarmup      = 2 * time.Second
	DefaultDrain       = 3 * time.Second
	DefaultParallelism = 64
	DefaultStepTimeout = 10 * time.Second
	DefaultRPCTimeout  = 5 * time.Second
	DefaultSettle      = 2 * time.Second
	DefaultAlgo        = "HS256"
)

const (
	// MinSize is the smallest content: 19 digits of unix nanoseconds and a space.
	MinSize = 20
	// UsersPerRoom bounds the clients of one room: user ids are room*UsersPerRoom+k,
	// so a user is always a member of one room only, whatever --rooms was.
	UsersPerRoom = 100_000
	// maxRoomID keeps room*UsersPerRoom within int64.
	maxRoomID = math.MaxInt64 / UsersPerRoom
	// readBuffer is each client's read buffer; idleReadBuffer an idle or
	// stalled client's, which reads almost nothing.
	readBuffer     = 64 << 10
	idleReadBuffer = 4 << 10
	// stalledReceiveBuffer is a stalled client's socket receive buffer
	// (SO_RCVBUF): small, so that the edge's socket to it fills soon.
	stalledReceiveBuffer = 4096
	// stalledProbe bounds the wait, after the drain, for the edge to close
	// the stalled clients it has not closed yet.
	stalledProbe = 3 * time.Second
	// silentGrace is how much longer than Duration after connecting a
	// silent run waits for the edge to close its connections: the edge
	// checks its auth timeout on a tick, and closes many at once.
	silentGrace = 5 * time.Second
	// portsPerSource is how many clients connect from one source address:
	// fewer than the ports of Linux's default ephemeral range (28,232).
	portsPerSource = 25_000
	// maxCatchUp bounds the messages a late sender writes in one go.
	maxCatchUp = 1000
	// pingInterval keeps idle sessions alive (the edge closes after 90 s of silence).
	pingInterval = 30 * time.Second
	// maxFailPercent of the clients may fail setup before a run aborts.
	maxFailPercent = 1
)

// Config is one load run.
type Config struct {
	// Addr is the edge's TCP address.
	Addr string
	// ChatAddr is the chat service's gRPC address for creating the rooms;
	// empty skips room creation (the rooms must exist).
	ChatAddr string
	// Secret and Algo mint the clients' tokens (see package token).
	Secret, Algo string
	// Clients is the number of connections.
	Clients int
	// Rooms is the number of rooms; client i joins room RoomBase + i%Rooms.
	Rooms int
	// Stalled is the number of clients beyond Clients that join the rooms
	// (stalled client j joins room RoomBase + j%Rooms) and then never read
	// nor send: the edge should close them as slow consumers without
	// stalling the others. They are owed no delivery; the report says how
	// many the edge closed. Being silent too, they are also closed once
	// idle for the edge's idle timeout (90 s): keep the run shorter. Fanout
	// runs only.
	Stalled int
	// RoomBase is the first room id.
	RoomBase int64
	// Rate is the total messages per second across all clients.
	Rate float64
	// Duration is how long clients send (in idle mode, hold; in silent
	// mode, the longest wait after connecting for the edge to close them).
	Duration time.Duration
	// Warmup is the start of Duration whose messages are not measured.
	Warmup time.Duration
	// Drain is the longest wait for the deliveries still owed after
	// sending stops; it ends as soon as all have arrived.
	Drain time.Duration
	// Size is the content length in bytes, at least MinSize.
	Size int
	// Compression asks the edge for gzip-compressed envelopes.
	Compression bool
	// Batch asks the edge to coalesce messages into BATCH_MESSAGES.
	Batch bool
	// PIDs are the server's processes (an edge, or several, and the
	// services): their RSS, summed, and their CPU use are reported.
	PIDs []int
	// Gate, when set, is called once the clients are set up and before
	// they send; the run waits for it, and its error ends the run.
	// Processes running a share of one load each (Split) start together
	// through it. An idle run (RunIdle) ends once it returns, without
	// measuring; a silent run (RunSilent) then waits for the edge to close
	// its connections, without measuring.
	Gate func(context.Context) error
	// KeepHistogram puts the latency (or, silent, the connect-to-close)
	// histogram in the report, for Merge and MergeSilent.
	KeepHistogram bool
	// Parallelism bounds the clients connecting at once (0: DefaultParallelism).
	Parallelism int
	// StepTimeout bounds each setup step of a client (0: DefaultStepTimeout).
	StepTimeout time.Duration
	// RPCTimeout is the deadline of each chat service call (0: DefaultRPCTimeout).
	RPCTimeout time.Duration
	// Settle is the idle and silent modes' pause before measuring RSS
	// (0: DefaultSettle).
	Settle time.Duration
	// Prejoin makes the clients members of their rooms through the chat
	// service (ChatAddr) before they connect, instead of with JOIN_ROOM:
	// a big room's members are then not each told of every join (n²/2
	// USER_JOINED envelopes for n members).
	Prejoin bool
	// Sources is the number of loopback addresses the clients connect
	// from, 127.0.0.1 upward, in turn: one address has about 28,000 ports
	// towards one edge address. 0 takes enough for Clients when the edge
	// is on loopback, else the system's choice.
	Sources int
	// FirstSource shifts the source addresses: the clients connect from
	// 127.0.0.(1+FirstSource) upward (Split gives each worker its own).
	FirstSource int
	// Progress receives human progress lines; nil discards them.
	Progress io.Writer
}

func (c *Config) defaults() {
	if c.Sources == 0 {
		if host, _, err := net.SplitHostPort(c.Addr); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil {
				c.Sources = (c.Clients + c.Stalled + portsPerSource - 1) / portsPerSource
			}
		}
	}
	if c.Parallelism <= 0 {
		c.Parallelism = DefaultParallelism
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = DefaultStepTimeout
	}
	if c.RPCTimeout <= 0 {
		c.RPCTimeout = DefaultRPCTimeout
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	if c.Algo == "" {
		c.Algo = DefaultAlgo
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

func (c *Config) validate(idle bool) error {
	switch {
	case c.Addr == "":
		return errors.New("--addr is required")
	case c.Clients < 1:
		return fmt.Errorf("--clients %d: want at least 1", c.Clients)
	case c.Duration <= 0:
		return fmt.Errorf("--duration %v: want a positive duration", c.Duration)
	case c.RoomBase < 1:
		return fmt.Errorf("--room-base %d: want a positive room id", c.RoomBase)
	case c.Sources < 0 || c.FirstSource < 0 || c.FirstSource+c.Sources > 254:
		return fmt.Errorf("--sources %d from %d: want 0 to 254 addresses", c.Sources, c.FirstSource)
	case c.Stalled < 0:
		return fmt.Errorf("--stalled %d: want at least 0", c.Stalled)
	}
	if idle {
		if c.Stalled != 0 {
			return errors.New("--stalled is for the fanout mode, not --idle or --silent")
		}
		return nil
	}
	switch {
	case c.Rooms < 1 || c.Rooms > c.Clients:
		return fmt.Errorf("--rooms %d: want between 1 and --clients (%d)", c.Rooms, c.Clients)
	case perRoom(c.Clients, c.Rooms) > UsersPerRoom:
		return fmt.Errorf("--clients %d over --rooms %d: at most %d clients per room", c.Clients, c.Rooms, UsersPerRoom)
	case perRoom(c.Clients, c.Rooms)+perRoom(c.Stalled, c.Rooms) > UsersPerRoom:
		return fmt.Errorf("--clients %d and --stalled %d over --rooms %d: at most %d clients per room", c.Clients, c.Stalled, c.Rooms, UsersPerRoom)
	case c.RoomBase > maxRoomID-int64(c.Rooms):
		return fmt.Errorf("--room-base %d: want at most %d", c.RoomBase, maxRoomID-int64(c.Rooms))
	case !(c.Rate > 0) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("--rate %v: want a positive number of messages per second", c.Rate)
	case c.Size < MinSize:
		return fmt.Errorf("--size %d: want at least %d (the send time takes 20 bytes)", c.Size, MinSize)
	case c.Size > scan.DefaultMaxLine/2:
		return fmt.Errorf("--size %d: want at most %d", c.Size, scan.DefaultMaxLine/2)
	case c.Prejoin && c.ChatAddr == "":
		return errors.New("--prejoin needs --chat-addr")
	case c.Warmup < 0 || c.Warmup >= c.Duration:
		return fmt.Errorf("--warmup %v: want at least 0 and shorter than --duration %v", c.Warmup, c.Duration)
	case c.Drain < 0:
		return fmt.Errorf("--drain %v: want at least 0", c.Drain)
	}
	return nil
}

// perRoom is the most of n clients that one of rooms rooms gets: client i
// joins room i%rooms.
func perRoom(n, rooms int) int { return (n + rooms - 1) / rooms }

// Report is the result of a load run, printed as one JSON line.
type Report struct {
	// Clients, Rooms, Rate, DurationS and Size echo the configuration.
	Clients   int     `json:"clients"`
	Rooms     int     `json:"rooms"`
	Rate      float64 `json:"rate"`
	DurationS float64 `json:"duration_s"`
	Size      int     `json:"size"`
	// Sent counts every message sent, warmup included.
	Sent int64 `json:"sent"`
	// Expected is the deliveries owed for the messages sent after the warmup:
	// each counts once per member session of its room, the sender included.
	Expected int64 `json:"expected"`
	// Delivered counts the deliveries of those messages received before the
	// drain ended.
	Delivered int64 `json:"delivered"`
	// DeliveredRatio is Delivered / Expected.
	DeliveredRatio float64 `json:"delivered_ratio"`
	// DeliveriesPerS is Delivered over the measured window (Duration - Warmup).
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	// P50Ms, P90Ms, P99Ms and MaxMs are delivery latencies (receive time
	// minus the send time in the content) in milliseconds.
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Errors counts failed setups, ERROR envelopes, undecodable envelopes,
	// failed writes and connections the edge closed, of the clients that
	// read (not of the stalled ones).
	Errors int64 `json:"errors"`
	// Stalled echoes Config.Stalled; StalledClosed, set with it, is how
	// many of the stalled clients the edge had closed shortly after the
	// drain (a stalled client that failed setup is not counted).
	Stalled       int  `json:"stalled,omitempty"`
	StalledClosed *int `json:"stalled_closed,omitempty"`
	// RSSKiB is the VmRSS of Config.PIDs after setup, summed.
	RSSKiB *int64 `json:"rss_kib,omitempty"`
	// ServerCPUPct is the CPU the processes Config.PIDs used over the
	// measured window (warmup end to send end), in percent of one core:
	// what the load cost the server, whether or not sbload kept up.
	ServerCPUPct *float64 `json:"server_cpu_pct,omitempty"`
	// Histogram holds the delivery latencies, with Config.KeepHistogram.
	Histogram *hist.Histogram `json:"histogram,omitempty"`
}

// IdleReport is the result of an idle run, printed as one JSON line.
type IdleReport struct {
	// Clients is the configured number of connections.
	Clients int `json:"clients"`
	// Connected is the number that authenticated.
	Connected int `json:"connected"`
	// Errors counts failed setups, ERROR envelopes, failed pings and
	// connections the edge closed.
	Errors int64 `json:"errors"`
	// RSSBeforeKiB and RSSAfterKiB are the VmRSS of Config.PIDs, summed,
	// before connecting and after the settle pause (0 without them).
	RSSBeforeKiB int64 `json:"rss_before_kib"`
	RSSAfterKiB  int64 `json:"rss_after_kib"`
	// RSSPerConnKiB is (after - before) / Connected.
	RSSPerConnKiB float64 `json:"rss_per_conn_kib"`
}

// SetRSS fills the RSS fields from the VmRSS of the server processes read
// before the clients connected and once they had settled.
func (r *IdleReport) SetRSS(before, after int64) {
	r.RSSBeforeKiB, r.RSSAfterKiB = before, after
	if r.Connected > 0 {
		r.RSSPerConnKiB = round(float64(after-before)/float64(r.Connected), 2)
	}
}

// SilentReport is the result of a silent run (RunSilent), printed as one
// JSON line.
type SilentReport struct {
	// Clients is the configured number of connections.
	Clients int `json:"clients"`
	// Connected is the number that connected.
	Connected int `json:"connected"`
	// Closed is the number the edge closed before the wait ended.
	Closed int `json:"closed"`
	// ClosedAfterP50Ms and ClosedAfterMaxMs are the times from a
	// connection's connect to the edge's close, in milliseconds.
	ClosedAfterP50Ms float64 `json:"closed_after_p50_ms"`
	ClosedAfterMaxMs float64 `json:"closed_after_max_ms"`
	// RSSBeforeKiB, RSSConnectedKiB and RSSAfterCloseKiB are the VmRSS of
	// Config.PIDs, summed, before connecting, once all had connected and
	// settled, and once the wait had ended, the connections left were
	// closed and the settle pause had passed again (0 without PIDs).
	RSSBeforeKiB     int64 `json:"rss_before_kib"`
	RSSConnectedKiB  int64 `json:"rss_connected_kib"`
	RSSAfterCloseKiB int64 `json:"rss_after_close_kib"`
	// RSSPerConnKiB is (connected - before) / Connected.
	RSSPerConnKiB float64 `json:"rss_per_conn_kib"`
	// RSSRetainedKiB is after_close - before: what the edge kept of them.
	RSSRetainedKiB int64 `json:"rss_retained_kib"`
	// Errors counts the connections that failed.
	Errors int64 `json:"errors"`
	// Histogram holds the connect-to-close times, with
	// Config.KeepHistogram, for MergeSilent.
	Histogram *hist.Histogram `json:"histogram,omitempty"`
}

// SetRSS fills the RSS fields from the VmRSS of the server processes read
// before connecting, once connected and settled, and after the close.
func (r *SilentReport) SetRSS(before, connected, after int64) {
	r.RSSBeforeKiB, r.RSSConnectedKiB, r.RSSAfterCloseKiB = before, connected, after
	r.RSSRetainedKiB = after - before
	if r.Connected > 0 {
		r.RSSPerConnKiB = round(float64(connected-before)/float64(r.Connected), 2)
	}
}

// window is the span of send times that is measured, in unix nanoseconds.
// Readers start before it is known, so it is read atomically.
type window struct {
	lo, hi atomic.Int64
	// delivered counts the measured deliveries of every client, so that
	// the drain ends as soon as all are in.
	delivered atomic.Int64
}

func newWindow() *window {
	w := &window{}
	w.lo.Store(math.MaxInt64) // nothing is measured until the run sets it
	return w
}

// client is one connection. The reader and the sender goroutines own
// disjoint fields, read after both have ended.
type client struct {
	idx  int
	user int64
	room int64
	// stalled clients dial with a tiny receive buffer and never read
	// once set up.
	stalled bool
	conn    net.Conn
	lr      *scan.Reader
	// connected is when a silent client connected.
	connected time.Time

	// reader's
	delivered int64
	errs      int64
	firstErr  string
	hist      hist.Histogram

	// sender's
	sent, expected int64
	sendErr        error

	// a silent client's watcher's
	closedByEdge bool
	closedAfter  time.Duration
}

// drainUntil waits until done reports true (checked every 10 ms), d has
// passed or ctx is done.
func drainUntil(ctx context.Context, d time.Duration, done func() bool) {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		select {
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Run performs a load run and returns its report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg.defaults()
	if err := cfg.validate(false); err != nil {
		return Report{}, err
	}
	minter, err := token.NewMinter(cfg.Secret, cfg.Algo)
	if err != nil {
		return Report{}, err
	}
	if cfg.ChatAddr != "" {
		if err := createRooms(ctx, cfg); err != nil {
			return Report{}, err
		}
		fmt.Fprintf(cfg.Progress, "sbload: rooms %d..%d ready\n", cfg.RoomBase, cfg.RoomBase+int64(cfg.Rooms)-1)
	}

	clients := make([]*client, cfg.Clients)
	for i := range clients {
		room := cfg.RoomBase + int64(i%cfg.Rooms)
		clients[i] = &client{idx: i, room: room, user: room*UsersPerRoom + int64(i/cfg.Rooms)}
	}
	if cfg.Prejoin {
		start := time.Now()
		if err := prejoin(ctx, cfg, clients); err != nil {
			return Report{}, err
		}
		fmt.Fprintf(cfg.Progress, "sbload: %d members joined through the chat service in %v\n", len(clients), time.Since(start).Round(time.Millisecond))
	}
	win := newWindow()
	var closing atomic.Bool
	var readers sync.WaitGroup
	start := time.Now()
	ttl := tokenTTL(cfg)
	setup := func(join bool) func(*client) error {
		return func(c *client) error { return c.setup(ctx, cfg, minter, ttl, join) }
	}
	// Clients set up early wait for the others, and for the gate: pings
	// keep the edge from closing them as idle meanwhile.
	alive := startKeepAlive(pingInterval, cfg.StepTimeout)
	ok, failed, firstErr := connectAll(ctx, cfg, clients, setup(!cfg.Prejoin), func(c *client) {
		readers.Go(func() { c.read(win, &closing) })
		alive.add(c)
	})
	var stalled []*client
	// closeClients closes the clients that read, closeStalled the
	// others, closeAll both.
	closeClients := func() {
		alive.close()
		closing.Store(true)
		for _, c := range ok {
			c.conn.Close()
		}
		readers.Wait()
	}
	closeStalled := func() {
		for _, c := range stalled {
			c.conn.Close()
		}
	}
	closeAll := func() {
		closeClients()
		closeStalled()
	}
	fmt.Fprintf(cfg.Progress, "sbload: connected and joined %d/%d clients in %v\n", len(ok), cfg.Clients, time.Since(start).Round(time.Millisecond))
	if failed*100 > cfg.Clients*maxFailPercent || len(ok) == 0 {
		closeAll()
		return Report{}, fmt.Errorf("setup: %d of %d clients failed (more than %d%%); first error: %v", failed, cfg.Clients, maxFailPercent, firstErr)
	}
	if err := ctx.Err(); err != nil {
		closeAll()
		return Report{}, err
	}
	if failed > 0 {
		fmt.Fprintf(cfg.Progress, "sbload: %d clients failed setup; first error: %v\n", failed, firstErr)
	}
	if cfg.Stalled > 0 {
		// They join after the others, so that their sockets fill with
		// the run's messages rather than with its joins. Their failures
		// are theirs: they neither count as errors nor abort the run.
		start := time.Now()
		var failed int
		var firstErr error
		stalled, failed, firstErr = connectAll(ctx, cfg, stalledClients(cfg), setup(true), func(*client) {})
		fmt.Fprintf(cfg.Progress, "sbload: connected and joined %d/%d stalled clients in %v\n", len(stalled), cfg.Stalled, time.Since(start).Round(time.Millisecond))
		if err := ctx.Err(); err != nil {
			closeAll()
			return Report{}, err
		}
		if failed > 0 {
			fmt.Fprintf(cfg.Progress, "sbload: %d stalled clients failed setup; first error: %v\n", failed, firstErr)
		}
	}

	rep := Report{
		Clients:   cfg.Clients,
		Rooms:     cfg.Rooms,
		Rate:      cfg.Rate,
		DurationS: cfg.Duration.Seconds(),
		Size:      cfg.Size,
		Errors:    int64(failed),
	}
	if len(cfg.PIDs) > 0 {
		kib, err := TotalRSS(cfg.PIDs)
		if err != nil {
			closeAll()
			return Report{}, err
		}
		rep.RSSKiB = &kib
		fmt.Fprintf(cfg.Progress, "sbload: pids %v rss %d KiB after setup\n", cfg.PIDs, kib)
	}
	if cfg.Gate != nil {
		if err := cfg.Gate(ctx); err != nil {
			closeAll()
			return Report{}, err
		}
	}
	rep.Errors += alive.close()

	members := map[int64]int64{}
	for _, c := range ok {
		members[c.room]++
	}
	t0 := time.Now().Add(10 * time.Millisecond)
	end := t0.Add(cfg.Duration)
	win.hi.Store(end.UnixNano())
	win.lo.Store(t0.Add(cfg.Warmup).UnixNano())
	interval := float64(time.Second) * float64(len(ok)) / cfg.Rate
	fmt.Fprintf(cfg.Progress, "sbload: sending %.0f msg/s for %v (warmup %v), one message every %v per client\n",
		cfg.Rate, cfg.Duration, cfg.Warmup, time.Duration(interval).Round(time.Microsecond))
	cpuc := make(chan float64, 1)
	if len(cfg.PIDs) > 0 {
		go func() { cpuc <- serverCPU(ctx, cfg.PIDs, t0.Add(cfg.Warmup), end) }()
	}
	var senders sync.WaitGroup
	for _, c := range ok {
		senders.Go(func() {
			c.send(ctx, sendPlan{
				t0:       t0,
				end:      end,
				deadline: end.Add(cfg.Drain + cfg.StepTimeout),
				interval: interval,
				phase:    rand.Float64() * interval,
				members:  members[c.room],
				size:     cfg.Size,
				win:      win,
			})
		})
	}
	senders.Wait()
	if len(cfg.PIDs) > 0 {
		if pct := <-cpuc; pct >= 0 {
			rep.ServerCPUPct = &pct
		}
	}
	// The senders have ended: their counts are final.
	var owed int64
	for _, c := range ok {
		owed += c.expected
	}
	fmt.Fprintf(cfg.Progress, "sbload: sending done; draining for up to %v\n", cfg.Drain)
	drainUntil(ctx, cfg.Drain, func() bool { return win.delivered.Load() >= owed })
	closeClients()
	if cfg.Stalled > 0 {
		n := closedByEdge(ctx, stalled, stalledProbe)
		closeStalled()
		rep.Stalled, rep.StalledClosed = cfg.Stalled, &n
		fmt.Fprintf(cfg.Progress, "sbload: the edge closed %d of %d stalled clients\n", n, len(stalled))
	}

	var h hist.Histogram
	var firstReadErr string
	for _, c := range ok {
		rep.Sent += c.sent
		rep.Expected += c.expected
		rep.Delivered += c.delivered
		rep.Errors += c.errs
		if c.sendErr != nil {
			rep.Errors++
			if firstReadErr == "" {
				firstReadErr = c.sendErr.Error()
			}
		}
		if firstReadErr == "" {
			firstReadErr = c.firstErr
		}
		h.Merge(&c.hist)
	}
	if firstReadErr != "" {
		fmt.Fprintf(cfg.Progress, "sbload: first error during the run: %s\n", firstReadErr)
	}
	if rep.Expected > 0 {
		rep.DeliveredRatio = round(float64(rep.Delivered)/float64(rep.Expected), 4)
	}
	rep.DeliveriesPerS = round(float64(rep.Delivered)/(cfg.Duration-cfg.Warmup).Seconds(), 1)
	rep.P50Ms = ms(h.Quantile(0.50))
	rep.P90Ms = ms(h.Quantile(0.90))
	rep.P99Ms = ms(h.Quantile(0.99))
	rep.MaxMs = ms(h.Max())
	if cfg.KeepHistogram {
		rep.Histogram = &h
	}
	return rep, nil
}

// RunIdle connects and authenticates Clients connections that then do
// nothing, and reports the edge's memory per connection.
func RunIdle(ctx context.Context, cfg Config) (IdleReport, error) {
	cfg.defaults()
	if err := cfg.validate(true); err != nil {
		return IdleReport{}, err
	}
	minter, err := token.NewMinter(cfg.Secret, cfg.Algo)
	if err != nil {
		return IdleReport{}, err
	}
	rep := IdleReport{Clients: cfg.Clients}
	before, err := TotalRSS(cfg.PIDs)
	if err != nil {
		return IdleReport{}, err
	}
	clients := make([]*client, cfg.Clients)
	for i := range clients {
		clients[i] = &client{idx: i, user: cfg.RoomBase*UsersPerRoom + int64(i)}
	}
	win := newWindow()
	var closing atomic.Bool
	var readers sync.WaitGroup
	start := time.Now()
	alive := startKeepAlive(pingInterval, cfg.StepTimeout)
	ttl := tokenTTL(cfg)
	setup := func(c *client) error { return c.setup(ctx, cfg, minter, ttl, false) }
	ok, failed, firstErr := connectAll(ctx, cfg, clients, setup, func(c *client) {
		readers.Go(func() { c.read(win, &closing) })
		alive.add(c)
	})
	// end closes the clients and returns the pings that failed; it may
	// be called again.
	end := func() int64 {
		errs := alive.close()
		closing.Store(true)
		for _, c := range ok {
			c.conn.Close()
		}
		readers.Wait()
		return errs
	}
	defer end()
	rep.Connected = len(ok)
	fmt.Fprintf(cfg.Progress, "sbload: connected %d/%d idle clients in %v\n", len(ok), cfg.Clients, time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		fmt.Fprintf(cfg.Progress, "sbload: %d clients failed; first error: %v\n", failed, firstErr)
	}
	if cfg.Gate != nil {
		// A worker of SplitIdle: the caller measures, and says when to end.
		if err := cfg.Gate(ctx); err != nil {
			return IdleReport{}, err
		}
	} else {
		if !sleep(ctx, cfg.Settle) {
			return IdleReport{}, ctx.Err()
		}
		after, err := TotalRSS(cfg.PIDs)
		if err != nil {
			return IdleReport{}, err
		}
		if len(cfg.PIDs) > 0 {
			rep.SetRSS(before, after)
		}
		fmt.Fprintf(cfg.Progress, "sbload: holding for %v\n", cfg.Duration)
		select {
		case <-time.After(cfg.Duration):
		case <-ctx.Done():
		}
	}
	rep.Errors = int64(failed) + end()
	for _, c := range ok {
		rep.Errors += c.errs
	}
	return rep, nil
}

// RunSilent opens Clients connections that never send anything, not even
// CONNECT, and reports how long after its connect the edge closed each
// (its auth timeout) and what they cost the edge in memory, held and once
// closed. It waits for the closes until Duration plus a grace period after
// the last connect.
func RunSilent(ctx context.Context, cfg Config) (SilentReport, error) {
	cfg.defaults()
	if err := cfg.validate(true); err != nil {
		return SilentReport{}, err
	}
	rep := SilentReport{Clients: cfg.Clients}
	before, err := TotalRSS(cfg.PIDs)
	if err != nil {
		return SilentReport{}, err
	}
	clients := make([]*client, cfg.Clients)
	for i := range clients {
		clients[i] = &client{idx: i}
	}
	var closing atomic.Bool
	var closed atomic.Int64
	var watchers sync.WaitGroup
	start := time.Now()
	ok, failed, firstErr := connectAll(ctx, cfg, clients, func(c *client) error {
		conn, err := dial(ctx, cfg, c.idx, false)
		if err != nil {
			return fmt.Errorf("client %d: %w", c.idx, err)
		}
		c.conn, c.connected = conn, time.Now()
		return nil
	}, func(c *client) {
		watchers.Go(func() { c.awaitClose(&closing, &closed) })
	})
	connected := time.Now()
	// end closes the connections the edge has not closed; it may be
	// called again.
	end := func() {
		closing.Store(true)
		for _, c := range ok {
			c.conn.Close()
		}
		watchers.Wait()
	}
	defer end()
	rep.Connected, rep.Errors = len(ok), int64(failed)
	fmt.Fprintf(cfg.Progress, "sbload: connected %d/%d silent clients in %v\n", len(ok), cfg.Clients, connected.Sub(start).Round(time.Millisecond))
	if failed > 0 {
		fmt.Fprintf(cfg.Progress, "sbload: %d clients failed; first error: %v\n", failed, firstErr)
	}
	var held int64
	if cfg.Gate != nil {
		// A worker of SplitSilent: the caller measures.
		if err := cfg.Gate(ctx); err != nil {
			return SilentReport{}, err
		}
	} else {
		if !sleep(ctx, cfg.Settle) {
			return SilentReport{}, ctx.Err()
		}
		if held, err = TotalRSS(cfg.PIDs); err != nil {
			return SilentReport{}, err
		}
		if n := closed.Load(); n > 0 {
			fmt.Fprintf(cfg.Progress, "sbload: warning: the edge closed %d connections before the RSS was read: --settle %v outlasts its auth timeout\n", n, cfg.Settle)
		}
	}
	wait := time.Until(connected.Add(cfg.Duration + silentGrace))
	fmt.Fprintf(cfg.Progress, "sbload: waiting up to %v for the edge to close them\n", max(wait, 0).Round(time.Millisecond))
	drainUntil(ctx, wait, func() bool { return closed.Load() >= int64(len(ok)) })
	if err := ctx.Err(); err != nil {
		return SilentReport{}, err
	}
	end()
	var h hist.Histogram
	for _, c := range ok {
		if c.closedByEdge {
			rep.Closed++
			h.Record(c.closedAfter)
		}
	}
	fmt.Fprintf(cfg.Progress, "sbload: the edge closed %d/%d silent clients\n", rep.Closed, len(ok))
	rep.ClosedAfterP50Ms = ms(h.Quantile(0.50))
	rep.ClosedAfterMaxMs = ms(h.Max())
	if cfg.KeepHistogram {
		rep.Histogram = &h
	}
	if cfg.Gate == nil && len(cfg.PIDs) > 0 {
		if !sleep(ctx, cfg.Settle) {
			return SilentReport{}, ctx.Err()
		}
		after, err := TotalRSS(cfg.PIDs)
		if err != nil {
			return SilentReport{}, err
		}
		rep.SetRSS(before, held, after)
	}
	return rep, nil
}

// awaitClose reads the connection of a silent client, discarding what
// arrives, until it ends, and records when the edge closed it (counted in
// closed) unless closing says that the run did.
func (c *client) awaitClose(closing *atomic.Bool, closed *atomic.Int64) {
	buf := make([]byte, 512)
	for {
		if _, err := c.conn.Read(buf); err != nil {
			if !closing.Load() {
				c.closedByEdge, c.closedAfter = true, time.Since(c.connected)
				closed.Add(1)
			}
			return
		}
	}
}

// closedByEdge reads the connections, all at once, discarding what
// arrives, until the edge closes each (end of file or reset) or wait has
// passed (it is still open), and returns how many the edge closed.
func closedByEdge(ctx context.Context, clients []*client, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range clients {
		c.conn.SetReadDeadline(deadline)
		wg.Go(func() {
			buf := make([]byte, 4096)
			for {
				if _, err := c.conn.Read(buf); err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						closed.Add(1)
					}
					return
				}
			}
		})
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range clients {
			c.conn.SetReadDeadline(time.Now())
		}
	})
	wg.Wait()
	stop()
	return int(closed.Load())
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

// createRooms creates the run's rooms; rooms that exist already must admit
// the run's clients.
func createRooms(ctx context.Context, cfg Config) error {
	target := rpcerr.Target{Service: "chat", Addr: cfg.ChatAddr, Timeout: cfg.RPCTimeout}
	cc, err := grpc.NewClient(cfg.ChatAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("chat service address %q: %w", cfg.ChatAddr, err)
	}
	defer cc.Close()
	admin := chatv1.NewChatAdminServiceClient(cc)
	need := perRoom(cfg.Clients, cfg.Rooms) + perRoom(cfg.Stalled, cfg.Rooms)
	call := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, cfg.RPCTimeout)
		defer cancel()
		return f(ctx)
	}
	for r := range cfg.Rooms {
		id := cfg.RoomBase + int64(r)
		err := call(func(ctx context.Context) error {
			_, err := admin.CreateRoom(ctx, &chatv1.CreateRoomRequest{
				Id: id, Name: fmt.Sprintf("sbload %d", id), MaxMembers: int32(need),
			})
			return err
		})
		if rpcerr.Code(err) == codes.AlreadyExists {
			var room *chatv1.Room
			err = call(func(ctx context.Context) error {
				resp, err := admin.GetRoom(ctx, &chatv1.GetRoomRequest{Id: id})
				room = resp.GetRoom()
				return err
			})
			if err == nil && room.GetInviteOnly() {
				return fmt.Errorf("create room %d: it exists and is invite-only; use another --room-base", id)
			}
			if err == nil && room.GetMaxMembers() != 0 && int(room.GetMaxMembers()) < need {
				return fmt.Errorf("create room %d: it exists with max_members %d < %d clients per room; use another --room-base", id, room.GetMaxMembers(), need)
			}
		}
		if err != nil {
			return fmt.Errorf("create room %d: %w", id, rpcerr.Describe(err, target, rpcerr.Subject{Room: id}))
		}
	}
	return nil
}

// prejoin makes every client a member of its room through the chat
// service, cfg.Parallelism calls at a time.
func prejoin(ctx context.Context, cfg Config, clients []*client) error {
	target := rpcerr.Target{Service: "chat", Addr: cfg.ChatAddr, Timeout: cfg.RPCTimeout}
	cc, err := grpc.NewClient(cfg.ChatAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("chat service address %q: %w", cfg.ChatAddr, err)
	}
	defer cc.Close()
	chat := chatv1.NewChatServiceClient(cc)
	jobs := make(chan *client)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(cfg.Parallelism, len(clients)) {
		wg.Go(func() {
			for c := range jobs {
				rctx, cancel := context.WithTimeout(ctx, cfg.RPCTimeout)
				_, err := chat.JoinRoom(rctx, &chatv1.JoinRoomRequest{RoomId: c.room, UserId: c.user, Nickname: "load" + strconv.Itoa(c.idx)})
				cancel()
				if err != nil {
					select {
					case errc <- fmt.Errorf("join user %d to room %d: %w", c.user, c.room, rpcerr.Describe(err, target, rpcerr.Subject{Room: c.room})):
					default:
					}
				}
			}
		})
	}
	for _, c := range clients {
		jobs <- c
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// stalledClients returns the run's stalled clients: stalled client j joins
// room RoomBase + j%Rooms as a user after the room's other clients, and
// takes the source address of client Clients+j.
func stalledClients(cfg Config) []*client {
	first := int64(perRoom(cfg.Clients, cfg.Rooms))
	out := make([]*client, cfg.Stalled)
	for j := range out {
		room := cfg.RoomBase + int64(j%cfg.Rooms)
		out[j] = &client{idx: cfg.Clients + j, room: room, user: room*UsersPerRoom + first + int64(j/cfg.Rooms), stalled: true}
	}
	return out
}

// tokenTTL is the lifetime of the clients' tokens: longer than the run.
func tokenTTL(cfg Config) time.Duration {
	return max(token.DefaultTTL, cfg.Duration+cfg.Drain+cfg.Settle+10*time.Minute)
}

// connectAll sets up the clients with setup, at most cfg.Parallelism at a
// time, calls started for each one set up, and returns those in order.
func connectAll(ctx context.Context, cfg Config, clients []*client, setup func(*client) error, started func(*client)) (ok []*client, failed int, firstErr error) {
	jobs := make(chan int)
	var (
		mu   sync.Mutex
		done = make([]bool, len(clients))
		wg   sync.WaitGroup
	)
	for range min(cfg.Parallelism, len(clients)) {
		wg.Go(func() {
			for i := range jobs {
				c := clients[i]
				err := setup(c)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					done[i] = true
				}
				mu.Unlock()
				if err == nil {
					started(c)
				}
			}
		})
	}
feed:
	for i := range clients {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	for i, c := range clients {
		if done[i] {
			ok = append(ok, c)
		}
	}
	if ctx.Err() != nil && firstErr == nil {
		firstErr = ctx.Err()
	}
	return ok, len(clients) - len(ok), firstErr
}

// dial connects client idx to the edge, from its source address; with
// small, its socket's receive buffer is tiny, set before the connect so
// that the window it announces stays small.
func dial(ctx context.Context, cfg Config, idx int, small bool) (net.Conn, error) {
	d := net.Dialer{Timeout: cfg.StepTimeout}
	var controls []func(network, address string, c syscall.RawConn) error
	if cfg.Sources > 1 || cfg.FirstSource > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+cfg.FirstSource+idx%cfg.Sources))}
		controls = append(controls, bindNoPort)
	}
	if small {
		controls = append(controls, smallReceiveBuffer)
	}
	if len(controls) > 0 {
		d.Control = func(network, address string, c syscall.RawConn) error {
			for _, f := range controls {
				if err := f(network, address, c); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return d.DialContext(ctx, "tcp", cfg.Addr)
}

// smallReceiveBuffer sets a socket's receive buffer to stalledReceiveBuffer.
func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, stalledReceiveBuffer)
	}); err != nil {
		return err
	}
	return serr
}

// setup connects, authenticates and, with join, joins the client's room.
func (c *client) setup(ctx context.Context, cfg Config, minter *token.Minter, ttl time.Duration, join bool) error {
	tok, err := minter.Mint(token.Claims{UserID: c.user, Nickname: "load" + strconv.Itoa(c.idx), TTL: ttl})
	if err != nil {
		return fmt.Errorf("client %d: %w", c.idx, err)
	}
	conn, err := dial(ctx, cfg, c.idx, c.stalled)
	if err != nil {
		return fmt.Errorf("client %d: %w", c.idx, err)
	}
	c.conn = conn
	size := readBuffer
	if !join || c.stalled {
		size = idleReadBuffer
	}
	c.lr = scan.NewReader(conn, size, 0)
	fail := func(err error) error {
		conn.Close()
		return fmt.Errorf("client %d (user %d): %w", c.idx, c.user, err)
	}
	connect := map[string]any{"jwt_token": tok}
	if cfg.Compression {
		connect["compression"] = "gzip"
	}
	if cfg.Batch {
		connect["batch"] = true
	}
	if err := c.request(cfg.StepTimeout, "CONNECT", connect, "CONNECT_SUCCESS"); err != nil {
		return fail(err)
	}
	if join {
		if err := c.request(cfg.StepTimeout, "JOIN_ROOM", map[string]any{"chatroom_id": c.room}, "JOIN_ROOM_SUCCESS"); err != nil {
			return fail(err)
		}
	}
	return nil
}

// request sends an envelope and waits for the reply action, skipping
// unrelated envelopes.
func (c *client) request(timeout time.Duration, action string, data any, want string) error {
	line, err := json.Marshal(map[string]any{"action": action, "data": data, "seq_id": action})
	if err != nil {
		return err
	}
	c.conn.SetDeadline(time.Now().Add(timeout))
	defer c.conn.SetDeadline(time.Time{})
	if _, err := c.conn.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	for {
		line, err := c.lr.Next()
		if err != nil {
			return fmt.Errorf("%s: waiting for %s: %w", action, want, err)
		}
		switch got := scan.Action(line); string(got) {
		case want:
			return nil
		case "ERROR", "CONNECT_ERROR":
			return fmt.Errorf("%s: %s", action, excerpt(line))
		}
	}
}

func excerpt(line []byte) string {
	const n = 300
	if len(line) > n {
		return string(line[:n]) + "..."
	}
	return string(line)
}

// read counts the deliveries of measured messages and the errors until the
// connection closes.
func (c *client) read(win *window, closing *atomic.Bool) {
	times := make([]int64, 0, 16)
	var parser scan.Parser
	for {
		line, err := c.lr.Next()
		if err != nil {
			if !closing.Load() {
				c.errs++
				c.noteErr(fmt.Sprintf("client %d: connection lost: %v", c.idx, err))
			}
			return
		}
		var kind scan.Kind
		kind, times, err = parser.Parse(line, times[:0])
		if err != nil || kind == scan.Error {
			c.errs++
			c.noteErr(fmt.Sprintf("client %d: %s", c.idx, excerpt(line)))
			continue
		}
		if len(times) == 0 {
			continue
		}
		now := time.Now().UnixNano()
		lo, hi := win.lo.Load(), win.hi.Load()
		var n int64
		for _, ts := range times {
			if ts >= lo && ts < hi {
				n++
				c.hist.Record(time.Duration(now - ts))
			}
		}
		if n > 0 {
			c.delivered += n
			win.delivered.Add(n)
		}
	}
}

func (c *client) noteErr(s string) {
	if c.firstErr == "" {
		c.firstErr = s
	}
}

// fillerWords make message padding that compresses like chat text (gzip
// about 2.5:1) rather than like a run of one byte.
var fillerWords = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod
tempor incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation
ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate velit
esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui
officia deserunt mollit anim id est laborum hello world meeting tomorrow thanks see you soon`)

// filler returns n bytes of words chosen pseudo-randomly from a seed, the
// same for a seed every time.
func filler(seed, n int) []byte {
	x := uint64(seed)*0x9E3779B97F4A7C15 + 1
	b := make([]byte, 0, n+16)
	for len(b) < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, fillerWords[x%uint64(len(fillerWords))]...)
		b = append(b, ' ')
	}
	return b[:n]
}

// TotalRSS returns the VmRSS of the processes, summed, in KiB.
func TotalRSS(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		kib, err := procstat.RSS(pid)
		if err != nil {
			return 0, err
		}
		sum += kib
	}
	return sum, nil
}

// totalCPU returns the CPU time the processes have used, summed.
func totalCPU(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, pid := range pids {
		d, err := procstat.CPU(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// serverCPU returns the CPU the processes use from from to to, in percent
// of one core, or -1 when it cannot be read.
func serverCPU(ctx context.Context, pids []int, from, to time.Time) float64 {
	sleepUntil := func(t time.Time) bool {
		select {
		case <-time.After(time.Until(t)):
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !sleepUntil(from) {
		return -1
	}
	c0, err := totalCPU(pids)
	if err != nil || !sleepUntil(to) {
		return -1
	}
	c1, err := totalCPU(pids)
	if err != nil {
		return -1
	}
	return round(100*float64(c1-c0)/float64(to.Sub(from)), 1)
}

// sendPlan is one client's share of the sending.
type sendPlan struct {
	t0, end  time.Time
	deadline time.Time // of every write
	interval float64   // nanoseconds between this client's messages
	phase    float64   // nanoseconds after t0 of the first message
	members  int64     // deliveries each message of the room owes
	size     int
	win      *window
}

// send writes SEND_MESSAGE envelopes on the plan's schedule until its end.
func (c *client) send(ctx context.Context, p sendPlan) {
	prefix := []byte(`{"action":"SEND_MESSAGE","data":{"chatroom_id":` + strconv.FormatInt(c.room, 10) + `,"content":"`)
	suffix := []byte(`","message_type":"text"},"seq_id":"`)
	pad := filler(c.idx, p.size)
	buf := make([]byte, 0, len(prefix)+p.size+len(suffix)+32)
	lo, hi := p.win.lo.Load(), p.win.hi.Load()
	c.conn.SetWriteDeadline(p.deadline)
	timer := time.NewTimer(time.Hour)
	timer.Stop() // armed by Reset below
	var k int64
	next := func() time.Time { return p.t0.Add(time.Duration(p.phase + float64(k)*p.interval)) }
	for due := next(); due.Before(p.end); due = next() {
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		now := time.Now()
		ts := now.UnixNano()
		buf = buf[:0]
		var sent, expected int64
		for n := 0; n < maxCatchUp && !due.After(now) && due.Before(p.end); n++ {
			buf = append(buf, prefix...)
			content := strconv.AppendInt(buf, ts, 10)
			content = append(content, ' ')
			content = append(content, pad[:p.size-(len(content)-len(buf))]...)
			buf = append(content, suffix...)
			buf = strconv.AppendInt(buf, k, 10)
			buf = append(buf, '"', '}', '\n')
			sent++
			if ts >= lo && ts < hi {
				expected += p.members
			}
			k++
			due = next()
		}
		if _, err := c.conn.Write(buf); err != nil {
			c.sendErr = fmt.Errorf("client %d: send: %w", c.idx, err)
			return
		}
		c.sent += sent
		c.expected += expected
	}
}

// keepAlive pings the clients it is given every pingInterval until
// stopped: a client waiting for the others to set up, or holding idle,
// says something before the edge's idle timeout.
type keepAlive struct {
	mu      sync.Mutex
	clients []*client
	errs    int64
	every   time.Duration
	timeout time.Duration
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}
}

var pingLine = []byte(`{"action":"PING","data":{}}` + "\n")

// startKeepAlive pings every every, each write bounded by timeout.
func startKeepAlive(every, timeout time.Duration) *keepAlive {
	k := &keepAlive{every: every, timeout: timeout, stop: make(chan struct{}), done: make(chan struct{})}
	go k.run()
	return k
}

// add starts pinging c, which must not be written to by anyone else until
// the keepAlive is stopped.
func (k *keepAlive) add(c *client) {
	k.mu.Lock()
	k.clients = append(k.clients, c)
	k.mu.Unlock()
}

func (k *keepAlive) run() {
	defer close(k.done)
	tick := time.NewTicker(k.every)
	defer tick.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-tick.C:
		}
		k.mu.Lock()
		clients := k.clients
		k.mu.Unlock()
		for _, c := range clients {
			c.conn.SetWriteDeadline(time.Now().Add(k.timeout))
			if _, err := c.conn.Write(pingLine); err != nil {
				k.mu.Lock()
				k.errs++
				k.mu.Unlock()
			}
		}
	}
}

// close stops the pings, returns once none is being written, and returns
// the number of pings that failed. Closing again does nothing more.
func (k *keepAlive) close() int64 {
	k.stopped.Do(func() { close(k.stop) })
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.errs
}
