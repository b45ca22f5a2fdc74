// Package wsserver serves the bridge's WebSocket endpoint (/client): it
// authenticates a connection by its API key, then runs the session
// protocol of seed 004 between the client and a media node of the pool.
package wsserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/bridge/internal/metrics"
	"switchboard.dev/bridge/internal/pool"
	"switchboard.dev/bridge/internal/protocol"
	"switchboard.dev/bridge/internal/revocation"
)

// Close reasons. A refused credential closes with StatusPolicyViolation
// and no reason: nothing about the key is revealed.
const (
	ReasonRevoked  = "API key revoked"
	ReasonShutdown = "server shutting down"
)

// errRevoked is the cause of a connection ended by its key's revocation.
var errRevoked = errors.New("api key revoked")

// Options configure a Server. All are required but AllowedOrigins and
// Logger.
type Options struct {
	// Auth verifies the API keys.
	Auth authv1.AuthServiceClient
	// Pool gives the sessions their nodes.
	Pool *pool.Pool
	// Registry ends the sessions of revoked keys.
	Registry *revocation.Registry
	// Metrics count connections and sessions.
	Metrics *metrics.Metrics
	// AuthTimeout is how long a connection has to send its CREDENTIAL.
	AuthTimeout time.Duration
	// RPCTimeout bounds each call to the auth service.
	RPCTimeout time.Duration
	// WriteTimeout bounds each message written to a client.
	WriteTimeout time.Duration
	// ReadLimit bounds a client's message, in bytes.
	ReadLimit int64
	// MaxSDPBytes bounds an offer's SDP.
	MaxSDPBytes int
	// MaxCandidates bounds the client candidates queued before the node
	// takes them, and in flight to it.
	MaxCandidates int
	// AllowedOrigins, when set, restricts the browsers' Origin to these
	// host patterns (websocket.AcceptOptions.OriginPatterns); empty
	// accepts any origin.
	AllowedOrigins []string
	// Logger receives the server's records; nil discards them.
	Logger *slog.Logger
}

// Server serves /client.
type Server struct {
	opts   Options
	accept *websocket.AcceptOptions
	log    *slog.Logger
}

// New returns a Server.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	accept := &websocket.AcceptOptions{OriginPatterns: opts.AllowedOrigins}
	if len(opts.AllowedOrigins) == 0 {
		// Clients authenticate with an API key inside the connection, not
		// with cookies a foreign page could ride on: any origin may
		// connect unless the operator restricts browsers.
		accept.InsecureSkipVerify = true
	}
	return &Server{opts: opts, accept: accept, log: log}
}

// ServeHTTP accepts a WebSocket and serves it until either side closes it,
// its key is revoked or the server shuts down (r's context).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, s.accept)
	if err != nil {
		s.log.Debug("websocket refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(s.opts.ReadLimit)
	ctx := r.Context()
	stop := context.AfterFunc(ctx, func() { _ = ws.Close(websocket.StatusGoingAway, ReasonShutdown) })
	defer stop()

	key := s.authenticate(ctx, ws)
	if key == nil {
		return
	}
	log := s.log.With("api_key_id", key.GetId(), "remote", r.RemoteAddr)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	remove, ok := s.opts.Registry.Add(key.GetId(), func() { cancel(errRevoked) })
	defer remove()
	if !ok {
		s.opts.Metrics.Auth.WithLabelValues(metrics.AuthRevoked).Inc()
		_ = ws.Close(websocket.StatusPolicyViolation, ReasonRevoked)
		return
	}
	s.opts.Metrics.Auth.WithLabelValues(metrics.AuthOK).Inc()
	s.opts.Metrics.Connections.Inc()
	defer s.opts.Metrics.Connections.Dec()

	c := &conn{s: s, ws: ws, log: log, in: make(chan frame), readErr: make(chan error, 1), events: make(chan nodeEvent)}
	if err := c.write(ctx, protocol.Message{Type: protocol.TypeAuthSuccess}); err != nil {
		return
	}
	log.Info("bridge connection authenticated")
	stopRead := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() { c.read(stopRead) })
	err = c.run(ctx)
	switch {
	case errors.Is(context.Cause(ctx), errRevoked):
		s.opts.Metrics.Auth.WithLabelValues(metrics.AuthRevoked).Inc()
		log.Info("bridge connection closed: api key revoked")
		_ = ws.Close(websocket.StatusPolicyViolation, ReasonRevoked)
	case ctx.Err() != nil:
		// The server shuts down: the AfterFunc closes with StatusGoingAway.
	default:
		log.Info("bridge connection closed", "err", err)
		_ = ws.CloseNow()
	}
	close(stopRead)
	reader.Wait()
}

// authenticate reads the CREDENTIAL and verifies its key. It returns nil
// after closing the connection when the first message is not a valid
// credential, does not come within AuthTimeout, or cannot be checked.
func (s *Server) authenticate(ctx context.Context, ws *websocket.Conn) *authv1.APIKey {
	refuse := func(result string) {
		s.opts.Metrics.Auth.WithLabelValues(result).Inc()
		_ = ws.Close(websocket.StatusPolicyViolation, "")
	}
	timedOut := make(chan struct{})
	timer := time.AfterFunc(s.opts.AuthTimeout, func() {
		close(timedOut)
		refuse(metrics.AuthTimeout)
	})
	// Reading with ctx would drop the connection without a close frame
	// when ctx ends; the timer and the shutdown close it properly instead.
	typ, data, err := ws.Read(context.WithoutCancel(ctx))
	if !timer.Stop() {
		<-timedOut
		return nil
	}
	if err != nil {
		return nil // the client left, or the server shuts down
	}
	m, err := protocol.Decode(data)
	if typ != websocket.MessageText || err != nil || m.Type != protocol.TypeCredential {
		refuse(metrics.AuthInvalid)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.opts.RPCTimeout)
	defer cancel()
	resp, err := s.opts.Auth.VerifyAPIKey(rctx, &authv1.VerifyAPIKeyRequest{Key: m.Payload.Credential})
	switch status.Code(err) {
	case codes.OK:
		return resp.GetApiKey()
	case codes.Unauthenticated, codes.InvalidArgument:
		refuse(metrics.AuthInvalid)
	default:
		s.log.Warn("api key check failed", "err", err)
		s.opts.Metrics.Auth.WithLabelValues(metrics.AuthUnavailable).Inc()
		_ = ws.Close(websocket.StatusTryAgainLater, "")
	}
	return nil
}
