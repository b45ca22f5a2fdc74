// Package presence is the presence service: which users are online, on any
// edge, announced to the users who share a room with them, plus the
// operators' announcements; served over gRPC (switchboard.presence.v1
// PresenceService and PresenceAdminService) from one bbolt file.
//
// Sessions live in memory; what must survive a restart is durable: the
// event log, each user's last seen, and whether each user's peers were
// last told they are online. After a restart the users who were online
// stay online for EdgeLease while the edges resubscribe and resync their
// sessions: those who reappear announce nothing, the others go offline.
package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/platform/backup"
	"switchboard.dev/platform/eventstream"
	"switchboard.dev/platform/grpcserver"
	"switchboard.dev/services/presence/internal/server"
	"switchboard.dev/services/presence/internal/store"
	"switchboard.dev/services/presence/internal/tracker"
)

// Defaults of Config.
const (
	// DefaultAddr is the address the service listens on without a Listener.
	DefaultAddr = "127.0.0.1:9103"
	// DefaultChatAddr is the chat service's gRPC address.
	DefaultChatAddr = "127.0.0.1:9102"
	// DefaultRPCTimeout bounds each call to chat.
	DefaultRPCTimeout = 5 * time.Second
	// DefaultOfflineGrace is how long a user stays online after their last
	// session closed.
	DefaultOfflineGrace = tracker.DefaultOfflineGrace
	// DefaultEdgeLease is how long an edge's sessions outlive its stream.
	DefaultEdgeLease = tracker.DefaultEdgeLease
	// DefaultEventRetention is how many events the log keeps.
	DefaultEventRetention = store.DefaultEventRetention
	// DefaultSubscriberBuffer is how many live events a stream may have
	// pending.
	DefaultSubscriberBuffer = eventstream.DefaultBuffer
)

// Bounds of requests, refused with INVALID_ARGUMENT beyond them.
const (
	// MaxIDBytes bounds an edge id and a session id.
	MaxIDBytes = server.MaxIDBytes
	// MaxPresenceUsers bounds the users of one GetPresence.
	MaxPresenceUsers = server.MaxPresenceUsers
	// MaxAnnouncementChars bounds an announcement's title and message, in
	// characters; its type and priority have at most MaxLabelChars.
	MaxAnnouncementChars = server.MaxAnnouncementChars
	MaxLabelChars        = server.MaxLabelChars
	// MaxAnnounceUsers bounds the users an announcement is limited to.
	MaxAnnounceUsers = server.MaxAnnounceUsers
)

// Config configures Run. Zero values mean the defaults.
type Config struct {
	// Listener, when set, is served instead of listening on Addr.
	Listener net.Listener
	// Addr is the gRPC listen address; default DefaultAddr.
	Addr string
	// DataDir holds the bbolt file presence.db; it is created (0o700) when
	// missing. Required.
	DataDir string
	// ChatAddr is the chat service's gRPC address, asked
	// ChatService.ListRoomPeers for the audience of each transition;
	// default DefaultChatAddr.
	ChatAddr string
	// RPCTimeout is the deadline of each call to chat; default
	// DefaultRPCTimeout.
	RPCTimeout time.Duration
	// OfflineGrace is how long a user whose last session closed stays
	// online before offline is announced: a reconnect within it announces
	// nothing. Default DefaultOfflineGrace.
	OfflineGrace time.Duration
	// EdgeLease is how long an edge's sessions still count after its last
	// Subscribe stream ended; then they are dropped. An edge that dies
	// without closing its sessions thus has its users announced offline
	// within EdgeLease + OfflineGrace (plus a sweep tick and the chat
	// lookup). After a restart it is also how long the users who were
	// online wait for their edges to resync. Default DefaultEdgeLease.
	EdgeLease time.Duration
	// EventRetention is how many of the newest events the log keeps for
	// Subscribe resumes; default DefaultEventRetention.
	EventRetention int
	// SubscriberBuffer is how many live events a Subscribe stream may have
	// pending before it is cut as too slow; default DefaultSubscriberBuffer.
	SubscriberBuffer int
	// Now is the service's clock (last seen, grace and lease deadlines);
	// nil means time.Now. For tests.
	Now func() time.Time
	// Logger receives the service's records; nil discards them.
	Logger *slog.Logger
}

// maxSyncBytes bounds a request: room for the SyncSessions of an edge with
// well over a million sessions.
const maxSyncBytes = 64 << 20

// Run serves the presence service until ctx is done, then shuts down
// gracefully (Subscribe streams end with UNAVAILABLE so that edges
// resume), persists what a restart needs and closes the store. It returns
// nil after a shutdown caused by ctx.
func Run(ctx context.Context, cfg Config) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return fmt.Errorf("presence: DataDir is required")
	}
	if cfg.RPCTimeout < 0 || cfg.OfflineGrace < 0 || cfg.EdgeLease < 0 || cfg.EventRetention < 0 || cfg.SubscriberBuffer < 0 {
		return fmt.Errorf("presence: RPCTimeout, OfflineGrace, EdgeLease, EventRetention and SubscriberBuffer must not be negative")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.ChatAddr == "" {
		cfg.ChatAddr = DefaultChatAddr
	}
	if cfg.RPCTimeout == 0 {
		cfg.RPCTimeout = DefaultRPCTimeout
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("presence: data dir: %w", err)
	}
	conn, err := grpc.NewClient(cfg.ChatAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("presence: chat client: %w", err)
	}
	defer conn.Close()
	chat := chatv1.NewChatServiceClient(conn)

	b := eventstream.New[*presencev1.Event](cfg.SubscriberBuffer)
	defer b.Close()
	st, err := store.Open(filepath.Join(cfg.DataDir, "presence.db"), store.Options{
		EventRetention: cfg.EventRetention,
		Publish:        b.Publish,
		Logger:         log,
	})
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("presence: %w", cerr)
		}
	}()
	known, err := st.OnlineUsers(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	lis, err := grpcserver.Listen(cfg.Listener, cfg.Addr)
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	tr := tracker.New(st, known, tracker.Options{
		OfflineGrace: cfg.OfflineGrace,
		EdgeLease:    cfg.EdgeLease,
		Now:          cfg.Now,
		Logger:       log,
		Peers: func(ctx context.Context, userID int64) ([]int64, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.RPCTimeout)
			defer cancel()
			res, err := chat.ListRoomPeers(ctx, &chatv1.ListRoomPeersRequest{UserId: userID})
			if err != nil {
				return nil, err
			}
			return res.GetUserIds(), nil
		},
	})
	trCtx, stopTracker := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tr.Run(trCtx) })
	if len(known) > 0 {
		log.Info("users online before the restart wait for a resync", "users", len(known))
	}

	srv := server.New(tr, st, b, log)
	serveErr := grpcserver.Serve(ctx, lis, grpcserver.Options{Logger: log, BeforeStop: b.Close, ServerOptions: []grpc.ServerOption{
		// An edge's SyncSessions lists all its sessions: about 40 bytes
		// each, so gRPC's default 4 MiB would stop at some 100,000.
		grpc.MaxRecvMsgSize(maxSyncBytes),
	}}, func(g *grpc.Server) {
		presencev1.RegisterPresenceServiceServer(g, srv)
		presencev1.RegisterPresenceAdminServiceServer(g, srv)
		backup.Register(g, st.WriteTo, backup.Options{FileName: "presence.db", SpoolDir: cfg.DataDir, Logger: log})
	})
	stopTracker()
	wg.Wait()
	flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := errors.Join(serveErr, tr.Flush(flushCtx)); err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	return nil
}
