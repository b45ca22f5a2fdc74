// Package chat is the chat service: rooms, memberships, messages and the
// event stream that carries room traffic to the edges, served over gRPC
// (switchboard.chat.v1 ChatService and ChatAdminService) from one bbolt file.
package chat

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"google.golang.org/grpc"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/platform/grpcserver"
	"switchboard.dev/services/chat/internal/broker"
	"switchboard.dev/services/chat/internal/server"
	"switchboard.dev/services/chat/internal/store"
)

// DefaultAddr is the address the service listens on without a Listener.
const DefaultAddr = "127.0.0.1:9102"

// Config configures Run. Zero values mean the defaults.
type Config struct {
	// Listener, when set, is served instead of listening on Addr.
	Listener net.Listener
	// Addr is the gRPC listen address; default DefaultAddr.
	Addr string
	// DataDir holds the bbolt file chat.db; it is created (0o700) when
	// missing. Required.
	DataDir string
	// DefaultMaxMembers is the member limit of rooms created with
	// max_members 0; default 10000.
	DefaultMaxMembers int
	// MaxContentChars bounds a message's content, in characters (runes);
	// default 4000.
	MaxContentChars int
	// EventRetention is how many of the newest events the log keeps for
	// Subscribe resumes; default 100000.
	EventRetention int
	// SubscriberBuffer is how many live events a Subscribe stream may have
	// pending before it is cut as too slow; default 8192.
	SubscriberBuffer int
	// Logger receives the service's records; nil discards them.
	Logger *slog.Logger
}

// Run serves the chat service until ctx is done, then shuts down
// gracefully (Subscribe streams end with UNAVAILABLE so that edges resume)
// and closes the store. It returns nil after a shutdown caused by ctx.
func Run(ctx context.Context, cfg Config) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return fmt.Errorf("chat: DataDir is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("chat: data dir: %w", err)
	}
	b := broker.New(cfg.SubscriberBuffer)
	defer b.Close()
	st, err := store.Open(filepath.Join(cfg.DataDir, "chat.db"), store.Options{
		DefaultMaxMembers: cfg.DefaultMaxMembers,
		EventRetention:    cfg.EventRetention,
		Publish:           b.Publish,
		Logger:            log,
	})
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("chat: %w", cerr)
		}
	}()
	lis, err := grpcserver.Listen(cfg.Listener, cfg.Addr)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	srv := server.New(st, b, server.Options{MaxContentChars: cfg.MaxContentChars, Logger: log})
	err = grpcserver.Serve(ctx, lis, grpcserver.Options{Logger: log, BeforeStop: b.Close}, func(g *grpc.Server) {
		chatv1.RegisterChatServiceServer(g, srv)
		chatv1.RegisterChatAdminServiceServer(g, srv)
	})
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	return nil
}
