// Command medianode runs a Switchboard media node: the WebRTC endpoint the
// bridge hands a client's session to, served over gRPC. It is configured by
// environment variables with flags mirroring them, and prints
// MEDIANODE_ADDR=<host:port> on its standard output once it listens, so that
// a bridge that started it on port 0 learns its port.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/bridge/medianode"
	"switchboard.dev/platform/envflag"
	"switchboard.dev/platform/grpcserver"
	"switchboard.dev/platform/healthcheck"
	"switchboard.dev/platform/logger"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		cfg      medianode.Config
		logLevel string
	)
	fs := envflag.New("medianode", stderr, getenv)
	cfg.RegisterFlags(fs)
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
	if err := cfg.ICE.Validate(); err != nil {
		return fmt.Errorf("medianode: %w", err)
	}
	lis, err := grpcserver.Listen(nil, cfg.Addr)
	if err != nil {
		return fmt.Errorf("medianode: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "%s%s\n", medianode.AddrLinePrefix, lis.Addr()); err != nil {
		lis.Close()
		return fmt.Errorf("medianode: announce address: %w", err)
	}
	cfg.Listener = lis
	cfg.Logger = log
	return medianode.Run(ctx, cfg)
}
