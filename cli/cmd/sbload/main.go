// Command sbload is Switchboard's load generator: it drives the TCP edge
// with many authenticated clients sending chat messages at a total rate and
// prints one JSON line with the delivery ratio and latency percentiles
// (or, with --idle, the edge's memory per idle connection).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/cli/internal/load"
	"switchboard.dev/platform/envflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var (
		cfg  load.Config
		rate float64
		idle bool
	)
	set := envflag.New("sbload", io.Discard, getenv)
	set.String(&cfg.Addr, "addr", "EDGE_ADDR", load.DefaultAddr, "edge TCP address")
	set.String(&cfg.ChatAddr, "chat-addr", "CHAT_ADDR", "127.0.0.1:9102", "chat service gRPC address for creating rooms (empty: the rooms exist)")
	set.String(&cfg.Algo, "algo", "JWT_ALGO", load.DefaultAlgo, "token algorithm: HS256, HS384 or HS512")
	set.Int(&cfg.Clients, "clients", "", load.DefaultClients, "connections")
	set.Int(&cfg.Rooms, "rooms", "", load.DefaultRooms, "rooms; client i joins room room-base + i%rooms")
	set.Duration(&cfg.Duration, "duration", "", load.DefaultDuration, "how long to send (with --idle: to hold)")
	set.Int(&cfg.Size, "size", "", load.DefaultSize, "message content bytes (at least 20)")
	set.Duration(&cfg.Warmup, "warmup", "", load.DefaultWarmup, "first part of --duration whose messages are not measured")
	set.Duration(&cfg.Drain, "drain", "", load.DefaultDrain, "longest wait for the deliveries still owed after sending stops")
	set.Bool(&cfg.Compression, "compression", "", false, "ask the edge for gzip-compressed envelopes")
	set.Bool(&cfg.Batch, "batch", "", false, "ask the edge to coalesce messages into BATCH_MESSAGES")
	set.Bool(&idle, "idle", "", false, "connect and authenticate only, and report the edge's RSS per connection")
	set.Bool(&cfg.Prejoin, "prejoin", "", false, "make the clients members through the chat service before they connect, instead of with JOIN_ROOM (big rooms)")
	set.Int(&cfg.PID, "pid", "", 0, "edge process id whose VmRSS is reported")
	set.Int(&cfg.Parallelism, "parallel", "", load.DefaultParallelism, "clients connecting at once")
	set.Duration(&cfg.Settle, "settle", "", load.DefaultSettle, "with --idle: pause after connecting before reading RSS")
	set.Int(&cfg.Sources, "sources", "", 0, "loopback addresses to connect from, 127.0.0.1 upward (0: enough for --clients when the edge is on loopback)")
	fs := set.FlagSet()
	fs.Float64Var(&rate, "rate", load.DefaultRate, "total messages per second across all clients")
	fs.Int64Var(&cfg.RoomBase, "room-base", load.DefaultRoomBase, "first room id")
	// The secret's default is not shown in -h output: it is read after parsing.
	fs.StringVar(&cfg.Secret, "secret", "", "HMAC secret of the tokens (env JWT_SECRET)")
	if err := set.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: sbload [flags]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "sbload: %v (run 'sbload -h')\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sbload: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if cfg.Secret == "" {
		cfg.Secret = getenv("JWT_SECRET")
	}
	cfg.Rate = rate
	cfg.Progress = stderr
	if limit, err := load.RaiseFileLimit(uint64(cfg.Clients) + 1024); err != nil {
		fmt.Fprintf(stderr, "sbload: %v\n", err)
	} else if limit < uint64(cfg.Clients)+64 {
		fmt.Fprintf(stderr, "sbload: warning: RLIMIT_NOFILE %d is below --clients %d\n", limit, cfg.Clients)
	}

	var out any
	var err error
	if idle {
		out, err = load.RunIdle(ctx, cfg)
	} else {
		out, err = load.Run(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sbload: %v\n", err)
		return 1
	}
	line, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintf(stderr, "sbload: encode report: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return 0
}
