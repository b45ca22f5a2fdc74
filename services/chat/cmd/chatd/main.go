// Command chatd runs the Switchboard chat service, configured by environment
// variables with flags mirroring them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/platform/envflag"
	"switchboard.dev/platform/healthcheck"
	"switchboard.dev/platform/logger"
	"switchboard.dev/platform/procs"
	"switchboard.dev/services/chat"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	procs.Ensure(os.Getenv, procs.MinForStores) // see package procs: fsync with one P stalls everything
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var (
		cfg      chat.Config
		logLevel string
	)
	fs := envflag.New("chatd", stderr, getenv)
	cfg.RegisterFlags(fs)
	fs.String(&cfg.DataDir, "data-dir", "DATA_DIR", "./data", "directory of the bbolt file chat.db")
	fs.String(&logLevel, "log-level", "LOG_LEVEL", "info", "log level: debug|info|warn|error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// `healthcheck` checks the server this configuration would run (the
	// compose health checks run it in the container).
	if sub, err := healthcheck.Command(ctx, fs.FlagSet().Args(), func(ctx context.Context) error { return healthcheck.Check(ctx, cfg.Addr) }); sub {
		return err
	}
	log, err := logger.New(stderr, logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log
	return chat.Run(ctx, cfg)
}
