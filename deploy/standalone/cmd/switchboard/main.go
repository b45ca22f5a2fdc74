// Command switchboard runs every Switchboard service in one process: auth and
// chat on their loopback gRPC ports and the TCP edge on EDGE_ADDR, with their
// stores in DATA_DIR. Configuration is by environment, flags mirroring it;
// `switchboard -h` lists both.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/deploy/standalone"
	"switchboard.dev/platform/envflag"
	"switchboard.dev/platform/logger"
	"switchboard.dev/platform/procs"
	"switchboard.dev/platform/profiling"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	procs.Ensure(os.Getenv, procs.MinForStores) // see package procs: fsync with one P stalls everything
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	var (
		cfg       standalone.Config
		logLevel  string
		pprofAddr string
	)
	fs := envflag.New("switchboard", os.Stderr, getenv)
	fs.String(&cfg.DataDir, "data-dir", "DATA_DIR", "./data", "folder of the stores (auth.db, chat.db, presence.db, signaling.db)")
	fs.String(&logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	fs.String(&pprofAddr, "pprof-addr", "PPROF_ADDR", "", "address serving Go profiles at /debug/pprof/ (empty: none; keep it private)")
	cfg.Auth.RegisterFlags(fs)
	cfg.Chat.RegisterFlags(fs)
	cfg.Presence.RegisterFlags(fs)
	cfg.Signaling.RegisterFlags(fs)
	cfg.Edge.RegisterFlags(fs)
	cfg.Bridge.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := logger.New(os.Stderr, logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log
	cfg.Ready = func(a standalone.Addrs) {
		log.Info("switchboard ready", "edge", a.Edge.String(), "auth", a.Auth.String(), "chat", a.Chat.String(),
			"presence", a.Presence.String(), "signaling", a.Signaling.String(), "bridge", a.Bridge.String(), "data_dir", cfg.DataDir)
	}
	go func() {
		if err := profiling.Serve(ctx, pprofAddr, log); err != nil {
			log.Error("profiles not served", "err", err)
		}
	}()
	return standalone.Run(ctx, cfg)
}
