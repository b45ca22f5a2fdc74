// Package edge is the TCP edge of Switchboard: mobile clients connect over
// TCP and speak newline-delimited JSON envelopes; the edge translates their
// requests into auth and chat RPCs and delivers the chat service's events,
// received on one stream per edge, to its sessions. It ends the sessions of
// revoked tokens (auth's revocation stream), reports its sessions to the
// presence service and delivers presence events (statuses, announcements).
package edge

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/edge/internal/server"
	"switchboard.dev/platform/grpcserver"
)

// Defaults of Config.
const (
	DefaultAddr                  = ":12345"
	DefaultAuthAddr              = "127.0.0.1:9101"
	DefaultChatAddr              = "127.0.0.1:9102"
	DefaultPresenceAddr          = "127.0.0.1:9103"
	DefaultSignalingAddr         = "127.0.0.1:9104"
	DefaultMaxSignalBytes        = 64 << 10
	DefaultSignalRate            = 20
	DefaultSignalBurst           = 100
	DefaultMaxFrameBytes         = 1 << 20
	DefaultMaxDepth              = 32
	DefaultAuthTimeout           = 10 * time.Second
	DefaultMaxUnauthenticated    = 10000
	DefaultIdleTimeout           = 90 * time.Second
	DefaultWriteTimeout          = 10 * time.Second
	DefaultOutboundQueueMessages = 4096
	DefaultOutboundQueueBytes    = 8 << 20
	DefaultRPCTimeout            = 5 * time.Second
	DefaultHistoryLimit          = 100
	DefaultHeartbeatInterval     = 30 * time.Second
	DefaultCompressThreshold     = 4096
	DefaultBatchWindow           = 10 * time.Millisecond
	DefaultBatchMax              = 64
)

// Config configures an edge. Zero values take the defaults above.
type Config struct {
	// Listener, when set, is used instead of listening on Addr.
	Listener net.Listener
	// Addr is the TCP address clients connect to.
	Addr string
	// TLSCertFile and TLSKeyFile, when both set, are the PEM certificate
	// (chain) and key the edge serves TLS with, on the same protocol (mobile
	// clients on the internet need it). Neither: plain TCP.
	TLSCertFile string
	TLSKeyFile  string
	// AuthAddr is the auth service's gRPC address.
	AuthAddr string
	// ChatAddr is the chat service's gRPC address.
	ChatAddr string
	// PresenceAddr is the presence service's gRPC address. Presence being
	// down never breaks chat: sessions connect and chat, online lists fall
	// back to this edge's view, and reports are repaired once it is back.
	PresenceAddr string
	// SignalingAddr is the signaling service's gRPC address: the video
	// rooms. Signaling being down fails the video actions alone
	// (SERVICE_UNAVAILABLE).
	SignalingAddr string
	// MaxSignalBytes bounds the sdp or candidate object of an SDP_OFFER,
	// SDP_ANSWER or ICE_CANDIDATE; larger ones get INVALID_DATA.
	MaxSignalBytes int
	// SignalRate and SignalBurst bound each session's video-room requests:
	// SignalRate a second, in bursts of SignalBurst (a call's trickled ICE
	// candidates come in bursts); more get RATE_LIMITED.
	SignalRate  float64
	SignalBurst int
	// EdgeID names this edge to the services; default hostname plus a short
	// random suffix.
	EdgeID string
	// Logger receives the edge's logs; nil discards them.
	Logger *slog.Logger

	// MaxFrameBytes bounds one envelope line; longer lines get INVALID_DATA.
	MaxFrameBytes int
	// MaxDepth bounds JSON nesting; deeper envelopes get INVALID_DATA.
	MaxDepth int
	// AuthTimeout closes a connection that has not connected in time.
	AuthTimeout time.Duration
	// MaxConnsPerIP bounds the connections from one source address (0, the
	// default: no bound; mobile carriers put many users behind one
	// address). MaxUnauthenticated bounds the connections that have not
	// yet sent a successful CONNECT (default DefaultMaxUnauthenticated;
	// negative: no bound). A connection past either is answered ERROR
	// TOO_MANY_CONNECTIONS and closed at once.
	MaxConnsPerIP      int
	MaxUnauthenticated int
	// IdleTimeout closes a connection from which nothing was read for that long.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to a client; a session whose write
	// times out is closed.
	WriteTimeout time.Duration
	// OutboundQueueMessages bounds the envelopes waiting for a client; a
	// session exceeding it is closed (slow consumer), never stalling others.
	OutboundQueueMessages int
	// OutboundQueueBytes bounds the bytes waiting for a client, likewise.
	OutboundQueueBytes int
	// RPCTimeout is the deadline of every unary gRPC call.
	RPCTimeout time.Duration
	// HistoryLimit bounds the BATCH_MESSAGES after JOIN_ROOM's
	// since_message_id and the limit of GET_MESSAGES.
	HistoryLimit int
	// HeartbeatInterval is advertised in CONNECT_SUCCESS as heartbeat_interval_s.
	HeartbeatInterval time.Duration
	// MaxInflatedBytes bounds the inflated data of a compressed request
	// (a gzip bomb is refused after inflating this much); default
	// MaxFrameBytes.
	MaxInflatedBytes int
	// CompressThreshold is the data size in bytes above which sessions that
	// connected with "compression":"gzip" receive compressed envelopes.
	CompressThreshold int
	// BatchWindow is the longest a broadcast message waits to be coalesced
	// with others, for sessions that connected with "batch":true.
	BatchWindow time.Duration
	// BatchMax is the most messages in one coalesced BATCH_MESSAGES.
	BatchMax int
	// BlockingIO serves every plain TCP connection with a goroutine of its
	// own and blocking reads and writes, as TLS connections are, and as
	// every connection is on systems without epoll. False (the default)
	// serves them with epoll: an idle connection then holds no goroutine
	// and no read buffer, and the sessions are written in rounds.
	BlockingIO bool
}

func (c Config) withDefaults() (Config, error) {
	setStr := func(p *string, def string) {
		if *p == "" {
			*p = def
		}
	}
	setInt := func(p *int, def int) {
		if *p == 0 {
			*p = def
		}
	}
	setDur := func(p *time.Duration, def time.Duration) {
		if *p == 0 {
			*p = def
		}
	}
	setStr(&c.Addr, DefaultAddr)
	setStr(&c.AuthAddr, DefaultAuthAddr)
	setStr(&c.ChatAddr, DefaultChatAddr)
	setStr(&c.PresenceAddr, DefaultPresenceAddr)
	setStr(&c.SignalingAddr, DefaultSignalingAddr)
	setInt(&c.MaxSignalBytes, DefaultMaxSignalBytes)
	if c.SignalRate == 0 {
		c.SignalRate = DefaultSignalRate
	}
	setInt(&c.SignalBurst, DefaultSignalBurst)
	setInt(&c.MaxFrameBytes, DefaultMaxFrameBytes)
	setInt(&c.MaxDepth, DefaultMaxDepth)
	setDur(&c.AuthTimeout, DefaultAuthTimeout)
	setInt(&c.MaxUnauthenticated, DefaultMaxUnauthenticated)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setInt(&c.OutboundQueueMessages, DefaultOutboundQueueMessages)
	setInt(&c.OutboundQueueBytes, DefaultOutboundQueueBytes)
	setDur(&c.RPCTimeout, DefaultRPCTimeout)
	setInt(&c.HistoryLimit, DefaultHistoryLimit)
	setDur(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setInt(&c.MaxInflatedBytes, c.MaxFrameBytes)
	setInt(&c.CompressThreshold, DefaultCompressThreshold)
	setDur(&c.BatchWindow, DefaultBatchWindow)
	setInt(&c.BatchMax, DefaultBatchMax)
	if c.EdgeID == "" {
		c.EdgeID = defaultEdgeID()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxFrameBytes < 0 || c.MaxDepth < 0 || c.AuthTimeout < 0 || c.IdleTimeout < 0 ||
		c.WriteTimeout < 0 || c.OutboundQueueMessages < 0 || c.OutboundQueueBytes < 0 ||
		c.RPCTimeout < 0 || c.HistoryLimit < 0 || c.HeartbeatInterval < 0 ||
		c.MaxInflatedBytes < 0 || c.CompressThreshold < 0 || c.BatchWindow < 0 || c.BatchMax < 0 ||
		c.MaxSignalBytes < 0 || c.SignalRate < 0 || c.SignalBurst < 0 || c.MaxConnsPerIP < 0 {
		return c, errors.New("edge config: limits must not be negative")
	}
	return c, nil
}

// tlsConfig loads the certificate when TLS is configured; nil means plain
// TCP. The handshake happens on the session's first read, under the
// CONNECT deadline, so a client that never finishes it is closed like one
// that never sends CONNECT.
func (c Config) tlsConfig() (*tls.Config, error) {
	if c.TLSCertFile == "" && c.TLSKeyFile == "" {
		return nil, nil
	}
	if c.TLSCertFile == "" || c.TLSKeyFile == "" {
		return nil, errors.New("edge config: TLS needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("edge config: TLS: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func defaultEdgeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "edge"
	}
	var b [3]byte
	rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// Run serves clients until ctx is done, then shuts down gracefully: it stops
// accepting, flushes and closes every session, closes its gRPC connections
// and returns nil.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	tlsConfig, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	lis, err := grpcserver.Listen(cfg.Listener, cfg.Addr)
	if err != nil {
		return err
	}
	defer lis.Close()
	if tlsConfig != nil {
		lis = tls.NewListener(lis, tlsConfig)
	}
	authConn, err := dial(cfg.AuthAddr)
	if err != nil {
		return err
	}
	defer authConn.Close()
	chatConn, err := dial(cfg.ChatAddr)
	if err != nil {
		return err
	}
	defer chatConn.Close()
	presenceConn, err := dial(cfg.PresenceAddr)
	if err != nil {
		return err
	}
	defer presenceConn.Close()
	signalingConn, err := dial(cfg.SignalingAddr)
	if err != nil {
		return err
	}
	defer signalingConn.Close()

	srv := server.New(server.Options{
		EdgeID:             cfg.EdgeID,
		Logger:             cfg.Logger,
		Auth:               authv1.NewAuthServiceClient(authConn),
		Chat:               chatv1.NewChatServiceClient(chatConn),
		Presence:           presencev1.NewPresenceServiceClient(presenceConn),
		Signaling:          signalingv1.NewSignalingServiceClient(signalingConn),
		MaxSignalBytes:     cfg.MaxSignalBytes,
		SignalRate:         cfg.SignalRate,
		SignalBurst:        cfg.SignalBurst,
		MaxFrameBytes:      cfg.MaxFrameBytes,
		MaxDepth:           cfg.MaxDepth,
		AuthTimeout:        cfg.AuthTimeout,
		MaxConnsPerIP:      cfg.MaxConnsPerIP,
		MaxUnauthenticated: max(cfg.MaxUnauthenticated, 0),
		IdleTimeout:        cfg.IdleTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		QueueMessages:      cfg.OutboundQueueMessages,
		QueueBytes:         cfg.OutboundQueueBytes,
		RPCTimeout:         cfg.RPCTimeout,
		HistoryLimit:       cfg.HistoryLimit,
		HeartbeatInterval:  cfg.HeartbeatInterval,
		MaxInflatedBytes:   cfg.MaxInflatedBytes,
		CompressThreshold:  cfg.CompressThreshold,
		BatchWindow:        cfg.BatchWindow,
		BatchMax:           cfg.BatchMax,
		Epoll:              !cfg.BlockingIO,
	})
	// The streams and the session reports outlive Serve: the sessions it
	// closes while shutting down are reported before the reporter stops.
	consumerCtx, stopConsumer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsumer()
	var wg sync.WaitGroup
	wg.Go(func() { srv.SendMessages(consumerCtx) })
	wg.Go(func() { srv.ConsumeEvents(consumerCtx) })
	wg.Go(func() { srv.ConsumeRevocations(consumerCtx) })
	wg.Go(func() { srv.ConsumePresence(consumerCtx) })
	wg.Go(func() { srv.ConsumeSignaling(consumerCtx) })
	wg.Go(func() { srv.ReportSessions(consumerCtx) })
	cfg.Logger.Info("edge serving", "addr", lis.Addr().String(), "edge_id", cfg.EdgeID,
		"auth_addr", cfg.AuthAddr, "chat_addr", cfg.ChatAddr, "presence_addr", cfg.PresenceAddr, "signaling_addr", cfg.SignalingAddr)

	err = srv.Serve(ctx, lis)
	stopConsumer()
	wg.Wait()
	cfg.Logger.Info("edge stopped", "addr", lis.Addr().String())
	return err
}

// maxStreamResponseBytes bounds what the edge accepts in one gRPC response.
const maxStreamResponseBytes = 64 << 20

// dial returns a client connection to a service on a trusted network
// (loopback or the cluster's private network). Reconnection backs off to 2 s
// at most, so a restarted service is found again quickly.
func dial(addr string) (*grpc.ClientConn, error) {
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		// A stream response coalesces up to 512 events; with messages of
		// thousands of characters that passes gRPC's default 4 MiB.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxStreamResponseBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("grpc client %s: %w", addr, err)
	}
	return cc, nil
}
