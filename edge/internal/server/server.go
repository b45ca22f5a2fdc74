// Package server is the edge's TCP server: it accepts client connections,
// runs each session's request loop (translating envelopes into auth, chat
// and signaling RPCs), consumes the chat event stream that feeds the hub,
// the revocation stream that ends sessions, the presence stream and the
// signaling stream, and reports its sessions to the presence and signaling
// services.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/protocol"
)

// Options configure a Server. Every field must be set (the edge package
// applies the defaults).
type Options struct {
	// EdgeID names the edge in Origins, Subscribe and session ids.
	EdgeID string
	// Logger receives the server's logs.
	Logger *slog.Logger
	// Auth verifies CONNECT and REFRESH_TOKEN tokens and streams revocations.
	Auth authv1.AuthServiceClient
	// Chat serves the chat actions and the event stream.
	Chat chatv1.ChatServiceClient
	// Presence receives the session reports and streams presence events.
	Presence presencev1.PresenceServiceClient
	// Signaling serves the video-room actions, relays signaling and
	// streams the video-room events.
	Signaling signalingv1.SignalingServiceClient
	// MaxSignalBytes bounds the sdp or candidate object of a signaling
	// request.
	MaxSignalBytes int
	// SignalRate and SignalBurst bound each session's signaling requests
	// (a token bucket: SignalRate a second in bursts of SignalBurst).
	SignalRate  float64
	SignalBurst int
	// MaxFrameBytes bounds a request line.
	MaxFrameBytes int
	// MaxDepth bounds a request's JSON nesting.
	MaxDepth int
	// AuthTimeout closes a connection without CONNECT.
	AuthTimeout time.Duration
	// MaxConnsPerIP bounds the connections from one source address, and
	// MaxUnauthenticated those that have not sent a successful CONNECT
	// (0: no bound): past either, a new connection is answered ERROR
	// TOO_MANY_CONNECTIONS and closed.
	MaxConnsPerIP      int
	MaxUnauthenticated int
	// IdleTimeout closes a connection nothing was read from.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write.
	WriteTimeout time.Duration
	// QueueMessages bounds a session's outbound queue in envelopes.
	QueueMessages int
	// QueueBytes bounds a session's outbound queue in bytes.
	QueueBytes int
	// RPCTimeout is every unary call's deadline.
	RPCTimeout time.Duration
	// HistoryLimit bounds JOIN_ROOM's BATCH_MESSAGES and GET_MESSAGES' limit.
	HistoryLimit int
	// MaxInflatedBytes bounds the inflated data of a compressed request.
	MaxInflatedBytes int
	// CompressThreshold is the data size above which gzip sessions get
	// compressed envelopes.
	CompressThreshold int
	// BatchWindow is how long a batching session's open batch waits.
	BatchWindow time.Duration
	// BatchMax is the most messages in one coalesced batch.
	BatchMax int
	// HeartbeatInterval is advertised in CONNECT_SUCCESS.
	HeartbeatInterval time.Duration
	// Epoll serves plain TCP connections with epoll where the system has
	// it (pollServer): an idle connection holds no goroutine and no read
	// buffer. Other connections (TLS) get a goroutine each.
	Epoll bool
}

// Server serves client sessions over TCP.
type Server struct {
	opts      Options
	log       *slog.Logger
	hub       *hub.Hub
	seqPrefix string
	seq       atomic.Uint64 // server-originated seq_ids
	sessionN  atomic.Uint64
	gz        protocol.Compressor // inflates compressed requests
	// presenceReports and signalingReports queue what the services are
	// told of the sessions.
	presenceReports  *reporter
	signalingReports *reporter
	// sender carries SEND_MESSAGE and BATCH_MESSAGES to chat.
	sender *sender
	// admission bounds the connections per source address and those not
	// yet authenticated.
	admission *admission

	mu       sync.Mutex
	sessions map[*hub.Session]struct{} // every open session, authenticated or not
	stopping bool
	wg       sync.WaitGroup
}

// New returns a server; Serve accepts its connections, SendMessages
// carries their messages to chat, ConsumeEvents feeds it chat events,
// ConsumeRevocations revocations, ConsumePresence presence events,
// ConsumeSignaling video-room events, and ReportSessions sends its session
// reports.
func New(opts Options) *Server {
	srv := &Server{
		opts:      opts,
		log:       opts.Logger,
		seqPrefix: "s-" + opts.EdgeID + "-",
		sessions:  make(map[*hub.Session]struct{}),
		admission: newAdmission(opts.MaxConnsPerIP, opts.MaxUnauthenticated),
	}
	srv.sender = newSender(opts.Chat, opts.Logger)
	srv.presenceReports = newReporter("presence", opts.Logger, opts.RPCTimeout, srv.sendPresenceReport)
	srv.signalingReports = newReporter("signaling", opts.Logger, opts.RPCTimeout, srv.sendSignalingReport)
	srv.hub = hub.New(hub.Options{
		QueueMessages:     opts.QueueMessages,
		QueueBytes:        opts.QueueBytes,
		WriteTimeout:      opts.WriteTimeout,
		CompressThreshold: opts.CompressThreshold,
		BatchWindow:       opts.BatchWindow,
		BatchMax:          opts.BatchMax,
		Header:            srv.serverHeader,
		Logger:            opts.Logger,
	})
	return srv
}

// SendMessages runs the edge's SendMessages stream to chat, which carries
// the sessions' messages, until ctx is done. Run it until every session
// has ended, so that their last messages are answered.
func (srv *Server) SendMessages(ctx context.Context) { srv.sender.run(ctx) }

// serverHeader stamps a server-originated envelope.
func (srv *Server) serverHeader() protocol.Header {
	return protocol.Header{Time: time.Now(), SeqPrefix: srv.seqPrefix, SeqNum: srv.seq.Add(1)}
}

// eventHeader stamps the envelope of an event a client request caused:
// it echoes the request's seq_id to every recipient, as the protocol
// document shows (NEW_MESSAGE, VIDEO_ROOM_CREATED, ...); an event without
// one gets a server seq_id.
func (srv *Server) eventHeader(seqID string) protocol.Header {
	if seqID == "" {
		return srv.serverHeader()
	}
	return protocol.Header{Time: time.Now(), SeqID: seqID}
}

// Serve accepts connections on lis until ctx is done, then stops accepting,
// flushes and closes every session, waits for their request loops to end and
// returns nil. It closes lis. With Options.Epoll, the plain TCP
// connections are served by epoll.
func (srv *Server) Serve(ctx context.Context, lis net.Listener) error {
	stop := context.AfterFunc(ctx, func() { lis.Close() })
	defer stop()
	var poll *pollServer
	if srv.opts.Epoll {
		poll = newPollServer(ctx, srv)
	}
	var err error
	for {
		var conn net.Conn
		conn, err = lis.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				// EMFILE and friends: wait a little rather than spin.
				srv.log.Warn("accept failed; retrying", "err", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			err = fmt.Errorf("accept %s: %w", lis.Addr(), err)
			break
		}
		ip := remoteIP(conn)
		if !srv.admit(conn, ip) {
			continue
		}
		if poll != nil && poll.adopt(conn, ip) {
			continue
		}
		srv.wg.Go(func() { srv.serveConn(ctx, conn, ip) })
	}
	lis.Close()
	srv.mu.Lock()
	srv.stopping = true
	for s := range srv.sessions {
		s.CloseAfterFlush()
	}
	srv.mu.Unlock()
	srv.wg.Wait()
	if poll != nil {
		poll.close()
	}
	return err
}

// addSession tracks s for the shutdown; false when the server is stopping.
func (srv *Server) addSession(s *hub.Session) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.stopping {
		return false
	}
	srv.sessions[s] = struct{}{}
	return true
}

func (srv *Server) removeSession(s *hub.Session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.sessions, s)
}
