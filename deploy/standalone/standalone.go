// Package standalone runs every Switchboard service in one process: auth,
// chat, presence and signaling each on its own loopback gRPC port (with
// reflection and health, the same as their own binaries), the TCP edge
// dialing them over real gRPC, and the WebSocket bridge with in-process
// media nodes.
// It is the embedded default: nothing to install, stores in one data folder.
package standalone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"switchboard.dev/bridge"
	"switchboard.dev/edge"
	"switchboard.dev/platform/grpcserver"
	"switchboard.dev/services/auth"
	"switchboard.dev/services/chat"
	"switchboard.dev/services/presence"
	"switchboard.dev/services/signaling"
)

// Config is the configuration of every part. DataDir, when set, overrides
// the parts' own data folders; the addresses the edge and presence dial are
// taken from the services' addresses so that the parts always agree.
type Config struct {
	// DataDir holds every service's store (auth.db, chat.db, presence.db,
	// signaling.db).
	DataDir string
	// Auth configures the auth service.
	Auth auth.Config
	// Chat configures the chat service.
	Chat chat.Config
	// Presence configures the presence service.
	Presence presence.Config
	// Signaling configures the signaling service.
	Signaling signaling.Config
	// Edge configures the TCP edge.
	Edge edge.Config
	// Bridge configures the WebSocket bridge.
	Bridge bridge.Config
	// Logger receives every part's records, each tagged with its part.
	Logger *slog.Logger
	// Ready, when set, is called once every listener is bound, with the
	// addresses they listen on (useful with ":0" ports).
	Ready func(Addrs)
}

// Addrs are the bound addresses of a running standalone.
type Addrs struct {
	// Edge is the TCP edge's address.
	Edge net.Addr
	// Auth is the auth service's gRPC address.
	Auth net.Addr
	// Chat is the chat service's gRPC address.
	Chat net.Addr
	// Presence is the presence service's gRPC address.
	Presence net.Addr
	// Signaling is the signaling service's gRPC address.
	Signaling net.Addr
	// Bridge is the WebSocket bridge's address.
	Bridge net.Addr
}

// Run starts every part and blocks until ctx is done or a part fails. On
// shutdown the edge stops first (its sessions are closed cleanly while the
// services still answer), then the services drain and close their stores.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir != "" {
		cfg.Auth.DataDir = cfg.DataDir
		cfg.Chat.DataDir = cfg.DataDir
		cfg.Presence.DataDir = cfg.DataDir
		cfg.Signaling.DataDir = cfg.DataDir
	}
	var lis []net.Listener
	closeAll := func() {
		for _, l := range lis {
			l.Close()
		}
	}
	bind := func(l *net.Listener, addr string) error {
		b, err := grpcserver.Listen(*l, addr)
		if err != nil {
			return err
		}
		*l = b
		lis = append(lis, b)
		return nil
	}
	if err := bind(&cfg.Auth.Listener, cfg.Auth.Addr); err != nil {
		closeAll()
		return err
	}
	if err := bind(&cfg.Chat.Listener, cfg.Chat.Addr); err != nil {
		closeAll()
		return err
	}
	if err := bind(&cfg.Presence.Listener, cfg.Presence.Addr); err != nil {
		closeAll()
		return err
	}
	if err := bind(&cfg.Signaling.Listener, cfg.Signaling.Addr); err != nil {
		closeAll()
		return err
	}
	if err := bind(&cfg.Edge.Listener, cfg.Edge.Addr); err != nil {
		closeAll()
		return err
	}
	if err := bind(&cfg.Bridge.Listener, cfg.Bridge.Addr); err != nil {
		closeAll()
		return err
	}
	cfg.Edge.AuthAddr = cfg.Auth.Listener.Addr().String()
	cfg.Edge.ChatAddr = cfg.Chat.Listener.Addr().String()
	cfg.Edge.PresenceAddr = cfg.Presence.Listener.Addr().String()
	cfg.Edge.SignalingAddr = cfg.Signaling.Listener.Addr().String()
	cfg.Presence.ChatAddr = cfg.Edge.ChatAddr
	cfg.Signaling.ChatAddr = cfg.Edge.ChatAddr
	cfg.Bridge.AuthAddr = cfg.Edge.AuthAddr
	cfg.Auth.Logger = log.With("part", "auth")
	cfg.Chat.Logger = log.With("part", "chat")
	cfg.Presence.Logger = log.With("part", "presence")
	cfg.Signaling.Logger = log.With("part", "signaling")
	cfg.Edge.Logger = log.With("part", "edge")
	cfg.Bridge.Logger = log.With("part", "bridge")
	if cfg.Ready != nil {
		cfg.Ready(Addrs{Edge: cfg.Edge.Listener.Addr(), Auth: cfg.Auth.Listener.Addr(),
			Chat: cfg.Chat.Listener.Addr(), Presence: cfg.Presence.Listener.Addr(), Signaling: cfg.Signaling.Listener.Addr(),
			Bridge: cfg.Bridge.Listener.Addr()})
	}

	// The services outlive the edge and the bridge: they stop only after
	// both have returned.
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	edgeCtx, stopEdge := context.WithCancel(ctx)
	defer stopEdge()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(part string, err error) {
		if err == nil {
			return
		}
		mu.Lock()
		errs = append(errs, fmt.Errorf("%s: %w", part, err))
		mu.Unlock()
		stopEdge() // a failed part takes the whole process down
	}
	for _, svc := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"auth", func(ctx context.Context) error { return auth.Run(ctx, cfg.Auth) }},
		{"chat", func(ctx context.Context) error { return chat.Run(ctx, cfg.Chat) }},
		{"presence", func(ctx context.Context) error { return presence.Run(ctx, cfg.Presence) }},
		{"signaling", func(ctx context.Context) error { return signaling.Run(ctx, cfg.Signaling) }},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail(svc.name, svc.run(svcCtx))
		}()
	}
	var front sync.WaitGroup
	front.Go(func() { fail("bridge", bridge.Run(edgeCtx, cfg.Bridge)) })
	fail("edge", edge.Run(edgeCtx, cfg.Edge))
	stopEdge()
	front.Wait()
	stopServices()
	wg.Wait()
	return errors.Join(errs...)
}
