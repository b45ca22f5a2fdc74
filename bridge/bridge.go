// Package bridge is the WebSocket bridge of seed 004: clients (SDKs,
// native apps) connect to /client, authenticate with an API key checked by
// the auth service, and open a WebRTC session with a media node that the
// bridge takes from its pool. The bridge relays the offer, the answer and
// the trickled candidates; the media flows between the client and the node
// directly. It also serves /healthz and /metrics (Prometheus).
//
// A key revoked through the auth service ends its open connections: the
// bridge consumes AuthService.WatchRevocations like an edge.
package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/bridge/effect"
	"switchboard.dev/bridge/internal/metrics"
	"switchboard.dev/bridge/internal/pool"
	"switchboard.dev/bridge/internal/provision"
	"switchboard.dev/bridge/internal/revocation"
	"switchboard.dev/bridge/internal/wsserver"
	"switchboard.dev/bridge/medianode"
	"switchboard.dev/platform/grpcserver"
)

// Provisioners of Config.Provisioner.
const (
	// ProvisionerInProcess runs the nodes in the bridge's process, each on
	// its own loopback gRPC server (the embedded default).
	ProvisionerInProcess = "inprocess"
	// ProvisionerProcess runs each node as a medianode process.
	ProvisionerProcess = "process"
)

// Defaults of Config.
const (
	DefaultAddr             = ":8080"
	DefaultAuthAddr         = "127.0.0.1:9101"
	DefaultAuthTimeout      = 10 * time.Second
	DefaultRPCTimeout       = 5 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultReadLimit        = 256 << 10
	DefaultMaxSDPBytes      = 64 << 10
	DefaultMaxCandidates    = 64
	DefaultProvisioner      = ProvisionerInProcess
	DefaultMediaNodePath    = "medianode"
	DefaultMaxPoolSize      = pool.DefaultMaxSize
	DefaultNodeCapacity     = pool.DefaultCapacity
	DefaultWarmNodes        = 1 // the flag's default; a zero Config means none
	DefaultNodeIdleTimeout  = pool.DefaultIdleTimeout
	DefaultHealthInterval   = pool.DefaultHealthInterval
	DefaultHealthTimeout    = pool.DefaultHealthTimeout
	DefaultHealthFailures   = pool.DefaultHealthFailures
	DefaultProvisionTimeout = pool.DefaultProvisionTimeout
	DefaultShutdownTimeout  = 5 * time.Second
)

// Config configures Run. Zero values mean the defaults, except WarmNodes.
type Config struct {
	// Listener, when set, is served instead of listening on Addr. Run
	// closes it.
	Listener net.Listener
	// Addr is the HTTP listen address of /client, /healthz and /metrics;
	// default DefaultAddr.
	Addr string
	// TLSCertFile and TLSKeyFile, both set, serve HTTPS (wss://) with this
	// PEM certificate chain and key.
	TLSCertFile, TLSKeyFile string
	// AllowedOrigins, when set, restricts the Origin of browser
	// connections to these host patterns (path.Match, "example.com",
	// "*.example.com", or with a scheme "https://app.example.com");
	// connections without an Origin (native apps, SDKs) are always
	// accepted. Empty accepts any origin: clients authenticate with an
	// API key in the connection, not with cookies.
	AllowedOrigins []string
	// AuthAddr is the auth service's gRPC address; default
	// DefaultAuthAddr.
	AuthAddr string
	// Name names the bridge in the auth service's revocation stream;
	// default bridge@<hostname>.
	Name string
	// AuthTimeout is how long a connection has to send its CREDENTIAL;
	// default DefaultAuthTimeout.
	AuthTimeout time.Duration
	// RPCTimeout bounds each call to the auth service; default
	// DefaultRPCTimeout.
	RPCTimeout time.Duration
	// WriteTimeout bounds each message written to a client; default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ReadLimit bounds a client's message in bytes (larger ones close the
	// connection with 1009); default DefaultReadLimit.
	ReadLimit int
	// MaxSDPBytes bounds an offer's SDP; default DefaultMaxSDPBytes.
	MaxSDPBytes int
	// MaxCandidates bounds the client candidates waiting for the node;
	// default DefaultMaxCandidates.
	MaxCandidates int
	// Provisioner is ProvisionerInProcess or ProvisionerProcess; default
	// DefaultProvisioner.
	Provisioner string
	// MediaNodePath is the medianode binary of ProvisionerProcess, a path
	// or a name looked up in PATH; default DefaultMediaNodePath.
	MediaNodePath string
	// MediaNodeStderr receives the node processes' logs; nil discards
	// them.
	MediaNodeStderr io.Writer
	// MaxPoolSize bounds the nodes, stopped ones included; default
	// DefaultMaxPoolSize.
	MaxPoolSize int
	// NodeCapacity is how many sessions a node runs at once; default
	// DefaultNodeCapacity.
	NodeCapacity int
	// WarmNodes is how many idle nodes are kept ready ahead of demand; 0
	// means none (nodes are made on demand).
	WarmNodes int
	// NodeIdleTimeout is how long a node without sessions runs before it
	// is stopped (warm nodes excepted); default DefaultNodeIdleTimeout,
	// negative never stops nodes.
	NodeIdleTimeout time.Duration
	// HealthInterval is the period of the nodes' health checks
	// (grpc.health.v1); default DefaultHealthInterval.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check; default DefaultHealthTimeout.
	HealthTimeout time.Duration
	// HealthFailures is how many failed checks in a row take a node out of
	// the pool; default DefaultHealthFailures.
	HealthFailures int
	// ProvisionTimeout bounds the making, start or stop of a node;
	// default DefaultProvisionTimeout.
	ProvisionTimeout time.Duration
	// Media is the ICE configuration of the nodes: in-process nodes use
	// it, node processes get it as flags.
	Media medianode.ICEConfig
	// Effect is the in-process nodes' effect stage; nil means
	// effect.Identity. Node processes run the medianode binary's.
	Effect effect.Effect
	// ShutdownTimeout bounds the wait for the connections to close at
	// shutdown; default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Logger receives the bridge's records; nil discards them.
	Logger *slog.Logger

	// poolStarted, when set, is given the pool once it exists (tests).
	poolStarted func(*pool.Pool)
}

func (cfg *Config) setDefaults() error {
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{
		{&cfg.AuthTimeout, DefaultAuthTimeout}, {&cfg.RPCTimeout, DefaultRPCTimeout}, {&cfg.WriteTimeout, DefaultWriteTimeout},
		{&cfg.ShutdownTimeout, DefaultShutdownTimeout},
	} {
		if *d.p < 0 {
			return errors.New("bridge: negative timeout")
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	for _, d := range []struct {
		p   *int
		def int
	}{
		{&cfg.ReadLimit, DefaultReadLimit}, {&cfg.MaxSDPBytes, DefaultMaxSDPBytes}, {&cfg.MaxCandidates, DefaultMaxCandidates},
	} {
		if *d.p < 0 {
			return errors.New("bridge: negative read limit, SDP size or candidate limit")
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.AuthAddr == "" {
		cfg.AuthAddr = DefaultAuthAddr
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = "bridge@" + host
	}
	if cfg.Provisioner == "" {
		cfg.Provisioner = DefaultProvisioner
	}
	if cfg.MediaNodePath == "" {
		cfg.MediaNodePath = DefaultMediaNodePath
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return errors.New("bridge: TLS needs both a certificate and a key file")
	}
	if err := cfg.Media.Validate(); err != nil {
		return fmt.Errorf("bridge: media: %w", err)
	}
	return nil
}

func (cfg *Config) provisioner(log *slog.Logger) (pool.Provisioner, error) {
	switch cfg.Provisioner {
	case ProvisionerInProcess:
		return &provision.InProcess{Node: medianode.Config{ICE: cfg.Media, Effect: cfg.Effect}, Logger: log}, nil
	case ProvisionerProcess:
		path, err := exec.LookPath(cfg.MediaNodePath)
		if err != nil {
			return nil, fmt.Errorf("bridge: medianode binary: %w", err)
		}
		return &provision.Process{Path: path, Args: cfg.Media.Args(), Stderr: cfg.MediaNodeStderr, Logger: log}, nil
	default:
		return nil, fmt.Errorf("bridge: provisioner %q: want %s or %s", cfg.Provisioner, ProvisionerInProcess, ProvisionerProcess)
	}
}

// Run serves the bridge until ctx is done, then shuts down: /healthz turns
// 503, every connection closes with 1001 (going away), which ends its
// media session, and the pool closes its nodes. It returns nil after a
// shutdown caused by ctx and an error at once for a bad config.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.Listener != nil {
		defer cfg.Listener.Close() // the server closes it; this covers the early returns
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	if cfg.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return fmt.Errorf("bridge: tls: %w", err)
		}
	}
	prov, err := cfg.provisioner(log.With("component", "medianode"))
	if err != nil {
		return err
	}
	m := metrics.New()
	p, err := pool.New(pool.Options{
		Provisioner:      prov,
		MaxSize:          cfg.MaxPoolSize,
		Capacity:         cfg.NodeCapacity,
		Warm:             cfg.WarmNodes,
		IdleTimeout:      cfg.NodeIdleTimeout,
		HealthInterval:   cfg.HealthInterval,
		HealthTimeout:    cfg.HealthTimeout,
		HealthFailures:   cfg.HealthFailures,
		ProvisionTimeout: cfg.ProvisionTimeout,
		Observer:         m,
		Logger:           log.With("component", "pool"),
	})
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	authConn, err := grpc.NewClient(cfg.AuthAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("bridge: auth client: %w", err)
	}
	defer authConn.Close()
	auth := authv1.NewAuthServiceClient(authConn)
	lis, err := grpcserver.Listen(cfg.Listener, cfg.Addr)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}

	// The pool outlives the connections, which release their nodes while
	// they close.
	var bg sync.WaitGroup
	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopPool()
		bg.Wait()
		log.Info("bridge stopped")
	}()
	bg.Go(func() { p.Run(poolCtx) })
	if cfg.poolStarted != nil {
		cfg.poolStarted(p)
	}
	reg := revocation.NewRegistry()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	bg.Go(func() {
		revocation.Watcher{Auth: auth, Name: cfg.Name, Registry: reg, Logger: log.With("component", "revocations"), Connected: func(up bool) {
			if up {
				m.RevocationStream.Set(1)
			} else {
				m.RevocationStream.Set(0)
			}
		}}.Run(watchCtx)
	})

	ws := wsserver.New(wsserver.Options{
		Auth:           auth,
		Pool:           p,
		Registry:       reg,
		Metrics:        m,
		AuthTimeout:    cfg.AuthTimeout,
		RPCTimeout:     cfg.RPCTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		ReadLimit:      int64(cfg.ReadLimit),
		MaxSDPBytes:    cfg.MaxSDPBytes,
		MaxCandidates:  cfg.MaxCandidates,
		AllowedOrigins: cfg.AllowedOrigins,
		Logger:         log.With("component", "ws"),
	})
	var (
		serving atomic.Bool
		conns   tracker
	)
	serving.Store(true)
	mux := http.NewServeMux()
	mux.HandleFunc("/client", func(w http.ResponseWriter, r *http.Request) {
		if !conns.enter() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		defer conns.leave()
		ws.ServeHTTP(w, r)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !serving.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/metrics", m.Handler())
	// Connections outlive their HTTP request (they are hijacked): their
	// context ends when the bridge shuts down.
	connsCtx, closeConns := context.WithCancel(context.WithoutCancel(ctx))
	defer closeConns()
	srv := &http.Server{
		Handler:           mux,
		BaseContext:       func(net.Listener) context.Context { return connsCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCertFile != "" {
			errc <- srv.ServeTLS(lis, cfg.TLSCertFile, cfg.TLSKeyFile)
			return
		}
		errc <- srv.Serve(lis)
	}()
	log.Info("bridge serving", "addr", lis.Addr().String(), "tls", cfg.TLSCertFile != "", "provisioner", cfg.Provisioner,
		"max_pool_size", cfg.MaxPoolSize, "node_capacity", cfg.NodeCapacity, "warm_nodes", cfg.WarmNodes)

	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("bridge: serve %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	serving.Store(false)
	closeConns()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := conns.closeAndWait(sctx); err != nil {
		log.Warn("connections still open at shutdown", "err", err)
	}
	if serveErr == nil {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("bridge: serve %s: %w", lis.Addr(), err)
		}
	}
	return serveErr
}

// tracker counts the WebSocket handlers, which the HTTP server forgets
// once they hijack their connection, so that shutdown waits for them.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) leave() { t.wg.Done() }

// closeAndWait refuses new handlers and waits for the running ones until
// ctx is done.
func (t *tracker) closeAndWait(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { // ends with the last handler, which the closed connections end
		t.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
