// Command edged runs the Switchboard TCP edge.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/edge"
	"switchboard.dev/platform/envflag"
	"switchboard.dev/platform/healthcheck"
	"switchboard.dev/platform/logger"
	"switchboard.dev/platform/profiling"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	var (
		cfg       edge.Config
		logLevel  string
		pprofAddr string
	)
	fs := envflag.New("edged", os.Stderr, getenv)
	cfg.RegisterFlags(fs)
	fs.String(&cfg.AuthAddr, "auth-addr", "AUTH_ADDR", edge.DefaultAuthAddr, "auth service gRPC address")
	fs.String(&cfg.ChatAddr, "chat-addr", "CHAT_ADDR", edge.DefaultChatAddr, "chat service gRPC address")
	fs.String(&cfg.PresenceAddr, "presence-addr", "PRESENCE_ADDR", edge.DefaultPresenceAddr, "presence service gRPC address")
	fs.String(&cfg.SignalingAddr, "signaling-addr", "SIGNALING_ADDR", edge.DefaultSignalingAddr, "signaling service gRPC address")
	fs.String(&logLevel, "log-level", "LOG_LEVEL", "info", "log level: debug, info, warn, error")
	fs.String(&pprofAddr, "pprof-addr", "PPROF_ADDR", "", "address serving Go profiles at /debug/pprof/ (empty: none; keep it private)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// `healthcheck` checks the server this configuration would run (the
	// compose health checks run it in the container).
	if sub, err := healthcheck.Command(ctx, fs.FlagSet().Args(), func(ctx context.Context) error { return healthcheck.CheckTCP(ctx, cfg.Addr) }); sub {
		return err
	}
	log, err := logger.New(os.Stderr, logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log
	go func() {
		if err := profiling.Serve(ctx, pprofAddr, log); err != nil {
			log.Error("profiles not served", "err", err)
		}
	}()
	return edge.Run(ctx, cfg)
}
