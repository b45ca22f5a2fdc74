// Command sbload is Switchboard's load generator: it drives the TCP edge
// with many authenticated clients sending chat messages at a total rate and
// prints one JSON line with the delivery ratio and latency percentiles
// (with --stalled, beside clients that never read, and how many of those
// the edge closed). With --idle it reports the edge's memory per idle
// connection; with --silent, how soon the edge closes connections that
// never authenticate, and their memory. With --workers it runs the load in
// several processes of itself, each with a share of the rooms (or of the
// connections), and merges their figures: one process may hold fewer
// descriptors than 100,000 connections need.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"switchboard.dev/cli/internal/load"
	"switchboard.dev/platform/envflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	var (
		cfg     load.Config
		rate    float64
		idle    bool
		silent  bool
		addrs   []string
		pids    string
		workers int
		worker  int
	)
	set := envflag.New("sbload", io.Discard, getenv)
	set.Strings(&addrs, "addr", "EDGE_ADDR", []string{load.DefaultAddr}, "edge TCP address (with --workers, several: the workers take them in turn)")
	set.String(&cfg.ChatAddr, "chat-addr", "CHAT_ADDR", "127.0.0.1:9102", "chat service gRPC address for creating rooms (empty: the rooms exist)")
	set.String(&cfg.Algo, "algo", "JWT_ALGO", load.DefaultAlgo, "token algorithm: HS256, HS384 or HS512")
	set.Int(&cfg.Clients, "clients", "", load.DefaultClients, "connections")
	set.Int(&cfg.Rooms, "rooms", "", load.DefaultRooms, "rooms; client i joins room room-base + i%rooms")
	set.Duration(&cfg.Duration, "duration", "", load.DefaultDuration, "how long to send (with --idle: to hold; with --silent: the longest wait for the edge to close, at least its EDGE_AUTH_TIMEOUT)")
	set.Int(&cfg.Size, "size", "", load.DefaultSize, "message content bytes (at least 20)")
	set.Duration(&cfg.Warmup, "warmup", "", load.DefaultWarmup, "first part of --duration whose messages are not measured")
	set.Duration(&cfg.Drain, "drain", "", load.DefaultDrain, "longest wait for the deliveries still owed after sending stops")
	set.Bool(&cfg.Compression, "compression", "", false, "ask the edge for gzip-compressed envelopes")
	set.Bool(&cfg.Batch, "batch", "", false, "ask the edge to coalesce messages into BATCH_MESSAGES")
	set.Bool(&idle, "idle", "", false, "connect and authenticate only, and report the edge's RSS per connection")
	set.Bool(&silent, "silent", "", false, "connect and send nothing, not even CONNECT, and report when the edge closes the connections and its RSS")
	set.Int(&cfg.Stalled, "stalled", "", 0, "clients beyond --clients that join the rooms and never read: the edge should close them as slow consumers")
	set.Bool(&cfg.Prejoin, "prejoin", "", false, "make the clients members through the chat service before they connect, instead of with JOIN_ROOM (big rooms)")
	set.String(&pids, "pid", "", "", "server process ids whose VmRSS and CPU use are reported, summed (comma-separated)")
	set.Int(&workers, "workers", "", 1, "processes the load is split among, each with a share of the rooms")
	set.Int(&worker, "worker", "", -1, "run share number N of a --workers run (set by the parent process)")
	set.Int(&cfg.Parallelism, "parallel", "", load.DefaultParallelism, "clients connecting at once")
	set.Duration(&cfg.Settle, "settle", "", load.DefaultSettle, "with --idle or --silent: pause after connecting (and, silent, after the close) before reading RSS")
	set.Int(&cfg.Sources, "sources", "", 0, "loopback addresses to connect from, 127.0.0.1 upward (0: enough for --clients when the edge is on loopback)")
	fs := set.FlagSet()
	fs.Float64Var(&rate, "rate", load.DefaultRate, "total messages per second across all clients")
	fs.Int64Var(&cfg.RoomBase, "room-base", load.DefaultRoomBase, "first room id")
	// The secret's default is not shown in -h output: it is read after parsing.
	fs.StringVar(&cfg.Secret, "secret", "", "HMAC secret of the tokens (env JWT_SECRET)")
	if code, ok := set.ParseCommand(args, stdout, stderr); !ok {
		return code
	}
	if cfg.Secret == "" {
		cfg.Secret = getenv("JWT_SECRET")
	}
	cfg.Rate = rate
	cfg.Progress = stderr
	for _, f := range strings.Split(pids, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			fmt.Fprintf(stderr, "sbload: --pid %q: want process ids\n", pids)
			return 2
		}
		cfg.PIDs = append(cfg.PIDs, pid)
	}
	if len(addrs) == 0 {
		fmt.Fprintln(stderr, "sbload: --addr is required")
		return 2
	}
	if idle && silent {
		fmt.Fprintln(stderr, "sbload: --idle and --silent: choose one")
		return 2
	}
	cfg.Addr = addrs[0]
	if workers > 1 || worker >= 0 {
		split := load.Split
		switch {
		case idle:
			split = load.SplitIdle
		case silent:
			split = load.SplitSilent
		}
		shares, err := split(cfg, workers, addrs)
		if err != nil {
			fmt.Fprintf(stderr, "sbload: %v\n", err)
			return 1
		}
		if worker >= len(shares) {
			fmt.Fprintf(stderr, "sbload: --worker %d of --workers %d\n", worker, workers)
			return 2
		}
		if worker < 0 {
			switch {
			case idle:
				return runIdleWorkers(ctx, args, cfg, workers, stdout, stderr)
			case silent:
				return runSilentWorkers(ctx, args, cfg, workers, stdout, stderr)
			}
			return runLoadWorkers(ctx, args, cfg, workers, stdout, stderr)
		}
		cfg = shares[worker]
		cfg.KeepHistogram = true
		cfg.Progress = prefixWriter{w: stderr, prefix: fmt.Sprintf("[%d] ", worker)}
		in := bufio.NewReader(stdin)
		cfg.Gate = func(ctx context.Context) error {
			fmt.Fprintln(stdout, readyLine)
			return waitLine(ctx, in)
		}
	} else if len(addrs) > 1 {
		fmt.Fprintln(stderr, "sbload: several --addr need --workers")
		return 2
	}
	conns := uint64(max(cfg.Clients+cfg.Stalled, 0))
	if limit, err := load.RaiseFileLimit(conns + 1024); err != nil {
		fmt.Fprintf(stderr, "sbload: %v\n", err)
	} else if limit < conns+64 {
		fmt.Fprintf(stderr, "sbload: warning: RLIMIT_NOFILE %d is below the %d connections\n", limit, conns)
	}

	var out any
	var err error
	switch {
	case idle:
		out, err = load.RunIdle(ctx, cfg)
	case silent:
		out, err = load.RunSilent(ctx, cfg)
	default:
		out, err = load.Run(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sbload: %v\n", err)
		return 1
	}
	return printJSON(out, stdout, stderr)
}

// printJSON prints a report as one line.
func printJSON(report any, stdout, stderr io.Writer) int {
	line, err := json.Marshal(report)
	if err != nil {
		fmt.Fprintf(stderr, "sbload: encode report: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return 0
}

// readyLine is what a worker prints once its clients are set up; it
// then waits for a line on its standard input before sending.
const readyLine = "ready"

// executable is the program the workers run: sbload itself.
var executable = os.Executable

// runLoadWorkers runs the fanout load in n processes of sbload (Split)
// and prints their merged report.
func runLoadWorkers(ctx context.Context, args []string, cfg load.Config, n int, stdout, stderr io.Writer) int {
	reps := make([]load.Report, n)
	if !runWorkers(ctx, args, cfg, reps, nil, stderr) {
		return 1
	}
	merged, err := load.Merge(reps)
	if err != nil {
		fmt.Fprintf(stderr, "sbload: %v\n", err)
		return 1
	}
	return printJSON(merged, stdout, stderr)
}

// runIdleWorkers holds the idle clients in n processes of sbload
// (SplitIdle), reads the RSS of the server processes before they connect
// and once all have connected and settled, and prints the merged report.
func runIdleWorkers(ctx context.Context, args []string, cfg load.Config, n int, stdout, stderr io.Writer) int {
	reps := make([]load.IdleReport, n)
	rss, ok := runHoldingWorkers(ctx, args, cfg, reps, false, stderr)
	if !ok {
		return 1
	}
	merged := load.MergeIdle(reps)
	if len(cfg.PIDs) > 0 {
		merged.SetRSS(rss.before, rss.held)
	}
	return printJSON(merged, stdout, stderr)
}

// runSilentWorkers opens the silent connections in n processes of sbload
// (SplitSilent), reads the RSS of the server processes before they
// connect, once all have connected and settled, and once the workers have
// ended and the server has settled again, and prints the merged report.
func runSilentWorkers(ctx context.Context, args []string, cfg load.Config, n int, stdout, stderr io.Writer) int {
	reps := make([]load.SilentReport, n)
	rss, ok := runHoldingWorkers(ctx, args, cfg, reps, true, stderr)
	if !ok {
		return 1
	}
	merged, err := load.MergeSilent(reps)
	if err != nil {
		fmt.Fprintf(stderr, "sbload: %v\n", err)
		return 1
	}
	if len(cfg.PIDs) > 0 {
		merged.SetRSS(rss.before, rss.held, rss.after)
	}
	return printJSON(merged, stdout, stderr)
}

// heldRSS is what the parent of an idle or silent --workers run reads of
// the server processes' RSS, summed: before the workers connect, once all
// have connected and settled, and (silent) once they have ended and the
// server has settled again.
type heldRSS struct {
	before, held, after int64
}

// runHoldingWorkers runs the workers of an idle or silent run (SplitIdle,
// SplitSilent) as runWorkers does, and reads the RSS of cfg.PIDs around
// them; the after sample only with afterEnd. It reports failures on stderr
// and returns whether all went well.
func runHoldingWorkers[R any](ctx context.Context, args []string, cfg load.Config, reports []R, afterEnd bool, stderr io.Writer) (heldRSS, bool) {
	var rss heldRSS
	// settled waits cfg.Settle, then reads the RSS into into.
	settled := func(ctx context.Context, into *int64) error {
		select {
		case <-time.After(cfg.Settle):
		case <-ctx.Done():
			return ctx.Err()
		}
		var err error
		*into, err = load.TotalRSS(cfg.PIDs)
		return err
	}
	var err error
	if rss.before, err = load.TotalRSS(cfg.PIDs); err != nil {
		fmt.Fprintf(stderr, "sbload: %v\n", err)
		return rss, false
	}
	held := func(ctx context.Context) error { return settled(ctx, &rss.held) }
	if !runWorkers(ctx, args, cfg, reports, held, stderr) {
		return rss, false
	}
	if afterEnd {
		if err := settled(ctx, &rss.after); err != nil {
			fmt.Fprintf(stderr, "sbload: %v\n", err)
			return rss, false
		}
	}
	return rss, true
}

// runWorkers starts n = len(reports) processes of sbload with args and
// --worker i, waits until all are set up, calls between (when set), lets
// them go on together and decodes each one's report into reports[i]. It
// reports failures on stderr and returns whether all went well.
func runWorkers[R any](ctx context.Context, args []string, cfg load.Config, reports []R, between func(context.Context) error, stderr io.Writer) bool {
	n := len(reports)
	exe, err := executable()
	if err != nil {
		fmt.Fprintf(stderr, "sbload: %v\n", err)
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type proc struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
		err error
	}
	// The workers' progress lines go to stderr whole, one at a time.
	stderr = &lockedWriter{w: stderr}
	procs := make([]*proc, 0, n)
	wait := func() {
		for _, p := range procs {
			p.in.Close()
			if err := p.cmd.Wait(); p.err == nil {
				p.err = err
			}
		}
	}
	for i := range n {
		cmd := exec.CommandContext(ctx, exe, append(args[:len(args):len(args)], "--worker", strconv.Itoa(i))...)
		// The secret goes by the environment, never on a command line.
		cmd.Env = append(os.Environ(), "JWT_SECRET="+cfg.Secret)
		cmd.Stderr = stderr
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = workerGrace
		in, err := cmd.StdinPipe()
		var out io.ReadCloser
		if err == nil {
			out, err = cmd.StdoutPipe()
		}
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			fmt.Fprintf(stderr, "sbload: start worker %d: %v\n", i, err)
			cancel()
			wait()
			return false
		}
		procs = append(procs, &proc{cmd: cmd, in: in, out: bufio.NewReader(out)})
	}
	// Every worker sets up, then all send together.
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			line, err := p.out.ReadString('\n')
			if err == nil && strings.TrimSpace(line) != readyLine {
				err = fmt.Errorf("printed %q", line)
			}
			if err != nil {
				p.err = fmt.Errorf("did not get ready: %w", err)
				cancel()
			}
		})
	}
	wg.Wait()
	if ctx.Err() == nil && between != nil {
		if err := between(ctx); err != nil {
			fmt.Fprintf(stderr, "sbload: %v\n", err)
			cancel()
		}
	}
	if ctx.Err() == nil {
		for _, p := range procs {
			fmt.Fprintln(p.in)
		}
		for i, p := range procs {
			p.err = json.NewDecoder(p.out).Decode(&reports[i])
		}
	}
	wait()
	failed := false
	for i, p := range procs {
		if p.err != nil {
			fmt.Fprintf(stderr, "sbload: worker %d: %v\n", i, p.err)
			failed = true
		}
	}
	return !failed && ctx.Err() == nil
}

// waitLine returns once a line, or the end, arrives on in, or ctx ends.
func waitLine(ctx context.Context, in *bufio.Reader) error {
	done := make(chan error, 1)
	go func() {
		_, err := in.ReadString('\n')
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("waiting for the start: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// workerGrace is how long a worker may take to end once interrupted.
const workerGrace = 10 * time.Second

// lockedWriter serializes writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// prefixWriter prefixes each write (a progress line) with a worker's number.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
