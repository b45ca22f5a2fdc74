// Package signaling is the signaling service: the video rooms of the chat
// rooms and the relay of WebRTC signaling (SDP offers and answers, ICE
// candidates) between their participants, on any edge; served over gRPC
// (switchboard.signaling.v1 SignalingService and SignalingAdminService)
// from one bbolt file, signaling.db.
//
// Every state change and its events are committed in one fsync'd
// transaction (group commit) before the RPC returns, and the events are
// appended to a durable log that edges stream and resume from; relayed
// signals go through the log too, in order with the joins and leaves, so
// a restart loses no acknowledged signal.
//
// Video rooms and their participants survive a restart of the service. A
// participant is a user in one edge session. While an edge holds its
// Subscribe stream its sessions keep their places; when the stream has
// been gone for EdgeLease, the edge's participants leave ("disconnected").
// After a restart every edge that had participants gets a lease from the
// start, the time it has to resubscribe and call SyncSessions, which
// takes out the participants of the sessions it no longer lists. The last
// participant out closes the room at once; a room nobody joined closes
// after EmptyRoomTimeout.
package signaling

import (
	"context"
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
	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/platform/backup"
	"switchboard.dev/platform/eventstream"
	"switchboard.dev/platform/grpcserver"
	"switchboard.dev/services/signaling/internal/rooms"
	"switchboard.dev/services/signaling/internal/server"
	"switchboard.dev/services/signaling/internal/store"
)

// Defaults of Config.
const (
	// DefaultAddr is the address the service listens on without a Listener.
	DefaultAddr = "127.0.0.1:9104"
	// DefaultChatAddr is the chat service's gRPC address.
	DefaultChatAddr = "127.0.0.1:9102"
	// DefaultRPCTimeout bounds each call to chat.
	DefaultRPCTimeout = 5 * time.Second
	// DefaultEdgeLease is how long an edge's participants outlive its
	// stream.
	DefaultEdgeLease = rooms.DefaultEdgeLease
	// DefaultEmptyRoomTimeout is how long a room nobody joined stays open.
	DefaultEmptyRoomTimeout = rooms.DefaultEmptyRoomTimeout
	// DefaultMaxParticipants is the ceiling of a room's max_participants.
	DefaultMaxParticipants = server.DefaultMaxParticipants
	// DefaultMaxSignalBytes bounds a relayed SDP or candidate.
	DefaultMaxSignalBytes = server.DefaultMaxSignalBytes
	// DefaultTURNTTL is how long TURN credentials made from TURNSecret
	// last.
	DefaultTURNTTL = server.DefaultTURNTTL
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
	// MaxSeqIDBytes bounds a caller's seq_id.
	MaxSeqIDBytes = server.MaxSeqIDBytes
	// MaxNameChars bounds a video room's name, in characters.
	MaxNameChars = server.MaxNameChars
	// MaxNicknameBytes bounds a caller's nickname.
	MaxNicknameBytes = server.MaxNicknameBytes
)

// Domain is the google.rpc.ErrorInfo domain of the service's refusals.
const Domain = server.Domain

// Config configures Run. Zero values mean the defaults.
type Config struct {
	// Listener, when set, is served instead of listening on Addr.
	Listener net.Listener
	// Addr is the gRPC listen address; default DefaultAddr.
	Addr string
	// DataDir holds the bbolt file signaling.db; it is created (0o700)
	// when missing. Required.
	DataDir string
	// ChatAddr is the chat service's gRPC address, asked
	// ChatService.ListUserRooms whether a caller is a member of a chat
	// room; default DefaultChatAddr.
	ChatAddr string
	// RPCTimeout is the deadline of each call to chat; default
	// DefaultRPCTimeout.
	RPCTimeout time.Duration
	// EdgeLease is how long an edge's participants keep their places after
	// its last Subscribe stream ended, and after a restart; default
	// DefaultEdgeLease.
	EdgeLease time.Duration
	// EmptyRoomTimeout is how long a room nobody joined stays open before
	// it closes ("timeout"); default DefaultEmptyRoomTimeout.
	EmptyRoomTimeout time.Duration
	// MaxParticipants is the ceiling of a room's max_participants, and
	// what max_participants 0 takes; at least 2, default
	// DefaultMaxParticipants.
	MaxParticipants int
	// MaxSignalBytes bounds a relayed payload (an SDP or a candidate, as
	// JSON); default DefaultMaxSignalBytes.
	MaxSignalBytes int
	// STUNURLs are the STUN servers handed to joiners.
	STUNURLs []string
	// TURNURLs are the TURN servers handed to joiners, with credentials.
	TURNURLs []string
	// TURNSecret, when set, is coturn's static-auth-secret: each joiner
	// gets TURN REST credentials, username "<unix expiry>:<user id>" and
	// credential base64(HMAC-SHA1(TURNSecret, username)), valid TURNTTL.
	TURNSecret []byte
	// TURNTTL is how long those credentials last; default DefaultTURNTTL.
	TURNTTL time.Duration
	// TURNUsername and TURNCredential are static TURN credentials, handed
	// to every joiner when there is no TURNSecret.
	TURNUsername   string
	TURNCredential string
	// EventRetention is how many of the newest events the log keeps for
	// Subscribe resumes; default DefaultEventRetention.
	EventRetention int
	// SubscriberBuffer is how many live events a Subscribe stream may have
	// pending before it is cut as too slow; default DefaultSubscriberBuffer.
	SubscriberBuffer int
	// Now is the service's clock (room and join times, leases, timeouts,
	// TURN expiry); nil means time.Now. For tests.
	Now func() time.Time
	// Logger receives the service's records; nil discards them.
	Logger *slog.Logger
}

// maxSyncBytes bounds a request: room for the SyncSessions of an edge with
// well over a million sessions.
const maxSyncBytes = 64 << 20

// Run serves the signaling service until ctx is done, then shuts down
// gracefully (Subscribe streams end with UNAVAILABLE so that edges
// resume) and closes the store. It returns nil after a shutdown caused by
// ctx.
func Run(ctx context.Context, cfg Config) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return fmt.Errorf("signaling: DataDir is required")
	}
	if cfg.RPCTimeout < 0 || cfg.EdgeLease < 0 || cfg.EmptyRoomTimeout < 0 || cfg.MaxParticipants < 0 || cfg.MaxSignalBytes < 0 ||
		cfg.TURNTTL < 0 || cfg.EventRetention < 0 || cfg.SubscriberBuffer < 0 {
		return fmt.Errorf("signaling: RPCTimeout, EdgeLease, EmptyRoomTimeout, MaxParticipants, MaxSignalBytes, TURNTTL, EventRetention and SubscriberBuffer must not be negative")
	}
	if cfg.MaxParticipants == 1 {
		return fmt.Errorf("signaling: MaxParticipants must be at least 2")
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
		return fmt.Errorf("signaling: data dir: %w", err)
	}
	conn, err := grpc.NewClient(cfg.ChatAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("signaling: chat client: %w", err)
	}
	defer conn.Close()
	chat := chatv1.NewChatServiceClient(conn)

	b := eventstream.New[*signalingv1.Event](cfg.SubscriberBuffer)
	defer b.Close()
	st, err := store.Open(filepath.Join(cfg.DataDir, "signaling.db"), store.Options{
		EventRetention: cfg.EventRetention,
		Publish:        b.Publish,
		Logger:         log,
	})
	if err != nil {
		return fmt.Errorf("signaling: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("signaling: %w", cerr)
		}
	}()
	m, err := rooms.New(context.WithoutCancel(ctx), st, rooms.Options{
		EdgeLease:        cfg.EdgeLease,
		EmptyRoomTimeout: cfg.EmptyRoomTimeout,
		Now:              cfg.Now,
		Logger:           log,
	})
	if err != nil {
		return fmt.Errorf("signaling: %w", err)
	}
	lis, err := grpcserver.Listen(cfg.Listener, cfg.Addr)
	if err != nil {
		return fmt.Errorf("signaling: %w", err)
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(sweepCtx) })

	srv := server.New(m, st, b, server.Options{
		MaxParticipants: cfg.MaxParticipants,
		MaxSignalBytes:  cfg.MaxSignalBytes,
		ICE: server.ICE{
			STUNURLs:       cfg.STUNURLs,
			TURNURLs:       cfg.TURNURLs,
			TURNSecret:     cfg.TURNSecret,
			TURNTTL:        cfg.TURNTTL,
			TURNUsername:   cfg.TURNUsername,
			TURNCredential: cfg.TURNCredential,
		},
		UserRooms: func(ctx context.Context, userID int64) ([]int64, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.RPCTimeout)
			defer cancel()
			res, err := chat.ListUserRooms(ctx, &chatv1.ListUserRoomsRequest{UserId: userID})
			if err != nil {
				return nil, err
			}
			return res.GetRoomIds(), nil
		},
		Now:    cfg.Now,
		Logger: log,
	})
	serveErr := grpcserver.Serve(ctx, lis, grpcserver.Options{Logger: log, BeforeStop: b.Close, ServerOptions: []grpc.ServerOption{
		// An edge's SyncSessions lists all its sessions: gRPC's default
		// 4 MiB would stop at some 100,000.
		grpc.MaxRecvMsgSize(maxSyncBytes),
	}}, func(g *grpc.Server) {
		signalingv1.RegisterSignalingServiceServer(g, srv)
		signalingv1.RegisterSignalingAdminServiceServer(g, srv)
		backup.Register(g, st.WriteTo, backup.Options{FileName: "signaling.db", SpoolDir: cfg.DataDir, Logger: log})
	})
	stopSweep()
	wg.Wait()
	if serveErr != nil {
		return fmt.Errorf("signaling: %w", serveErr)
	}
	return nil
}
