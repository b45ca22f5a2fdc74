// Command bridged runs the Switchboard WebSocket bridge with its pool of
// media nodes, configured by environment variables with flags mirroring
// them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/bridge"
	"switchboard.dev/platform/envflag"
	"switchboard.dev/platform/healthcheck"
	"switchboard.dev/platform/logger"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var (
		cfg      bridge.Config
		logLevel string
	)
	fs := envflag.New("bridged", stderr, getenv)
	cfg.RegisterFlags(fs)
	fs.String(&cfg.AuthAddr, "auth-addr", "AUTH_ADDR", bridge.DefaultAuthAddr, "gRPC address of the auth service")
	fs.String(&logLevel, "log-level", "LOG_LEVEL", "info", "log level: debug|info|warn|error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// `healthcheck` gets /healthz of the bridge this configuration would run
	// (the compose health checks run it in the container).
	if sub, err := healthcheck.Command(ctx, fs.FlagSet().Args(), func(ctx context.Context) error {
		addr, err := healthcheck.Loopback(cfg.Addr)
		if err != nil {
			return err
		}
		scheme := "http"
		if cfg.TLSCertFile != "" {
			scheme = "https"
		}
		return healthcheck.CheckHTTP(ctx, scheme+"://"+addr+"/healthz")
	}); sub {
		return err
	}
	log, err := logger.New(stderr, logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log
	cfg.MediaNodeStderr = stderr // node processes log JSON like the bridge
	return bridge.Run(ctx, cfg)
}
