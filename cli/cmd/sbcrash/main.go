// Command sbcrash is Switchboard's crash test: it runs the per-service
// binaries as separate processes with two edges, drives senders and
// receivers through them while it kills (SIGKILL) and restarts chat,
// presence, signaling, auth and each edge in turn, then checks that every
// acknowledged message is stored exactly once, that every receiver has
// every message of its rooms in order, and that every store passes
// bbolt's check. It prints the figures as one JSON line and exits 1 when a
// check fails (see docs/reliability.md).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/cli/internal/crash"
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
		cfg  crash.Config
		keep bool
		seed int64
	)
	set := envflag.New("sbcrash", io.Discard, getenv)
	set.String(&cfg.BinDir, "bin", "", "bin", "directory of authd, chatd, presenced, signalingd and edged")
	set.String(&cfg.Dir, "dir", "", "", "directory for the stores and logs (default: a new temporary one)")
	set.Int(&cfg.Kills, "kills", "KILLS", crash.DefaultKills, "processes to kill, one after another")
	set.Int(&cfg.Rooms, "rooms", "", crash.DefaultRooms, "rooms")
	set.Int(&cfg.Senders, "senders", "", crash.DefaultSenders, "senders per room")
	set.Int(&cfg.Receivers, "receivers", "", crash.DefaultReceivers, "receivers, each a member of every room")
	set.Duration(&cfg.Pace, "pace", "", crash.DefaultPace, "pause of a sender between an acknowledgement and its next message")
	set.Duration(&cfg.MinGap, "min-gap", "", crash.DefaultMinGap, "shortest pause between a recovery and the next kill")
	set.Duration(&cfg.MaxGap, "max-gap", "", crash.DefaultMaxGap, "longest pause between a recovery and the next kill")
	set.Bool(&keep, "keep", "", false, "keep the directory even when every check passes")
	fs := set.FlagSet()
	fs.Int64Var(&seed, "seed", 0, "seed of the kill schedule (0: random, printed)")
	if code, ok := set.ParseCommand(args, stdout, stderr); !ok {
		return code
	}
	cfg.Seed = uint64(seed)
	cfg.Progress = stderr
	temp := cfg.Dir == ""
	if temp {
		dir, err := crash.MkdirTemp("")
		if err != nil {
			fmt.Fprintf(stderr, "sbcrash: %v\n", err)
			return 1
		}
		cfg.Dir = dir
	}
	fmt.Fprintf(stderr, "sbcrash: %d kills; stores and logs in %s\n", cfg.Kills, cfg.Dir)
	rep, err := crash.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sbcrash: %v (logs in %s)\n", err, cfg.Dir)
		return 1
	}
	line, err := json.Marshal(rep)
	if err != nil {
		fmt.Fprintf(stderr, "sbcrash: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", line)
	fmt.Fprintf(stderr, "sbcrash: %d kills (seed %d): %d messages acknowledged (%d resends, %d of them deduplicated), %d lost, %d duplicated, %d unacknowledged; "+
		"receivers: %d live gaps, %d missing, %d redelivered; recovery p50 %.0f ms, p99 %.0f ms; %d stores checked, %d errors\n",
		rep.Kills, rep.Seed, rep.Acked, rep.Resends, rep.Deduplicated, rep.Lost, rep.Duplicated, rep.Unacked, rep.LiveGaps, rep.Missing, rep.Redelivered,
		rep.RecoveryP50Ms, rep.RecoveryP99Ms, rep.StoresChecked, len(rep.StoreErrors))
	if !rep.OK() {
		for _, p := range append(rep.StoreErrors, rep.Problems...) {
			fmt.Fprintf(stderr, "sbcrash: FAIL: %s\n", p)
		}
		fmt.Fprintf(stderr, "sbcrash: FAIL; stores and logs kept in %s\n", cfg.Dir)
		return 1
	}
	if temp && !keep {
		os.RemoveAll(cfg.Dir)
	}
	fmt.Fprintln(stderr, "sbcrash: PASS")
	return 0
}
