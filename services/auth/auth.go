// Package auth is the Switchboard auth service: it verifies the JWTs that the
// Laravel backend issues, keeps a user directory and token revocations in its
// own bbolt file, and serves both over gRPC.
package auth

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

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/platform/grpcserver"
	"switchboard.dev/services/auth/internal/server"
	"switchboard.dev/services/auth/internal/store"
	"switchboard.dev/services/auth/internal/token"
)

// Defaults of Config.
const (
	DefaultAddr          = "127.0.0.1:9101"
	DefaultAlgo          = "HS256"
	DefaultMaxTokenBytes = token.DefaultMaxTokenBytes
)

// purgeInterval is how often expired revocations are forgotten.
const purgeInterval = time.Minute

// Config configures the auth service. The zero value of each field is its
// default, except that a key is always needed.
type Config struct {
	// Listener, when set, is served instead of listening on Addr. Run
	// closes it.
	Listener net.Listener
	// Addr is the gRPC address; default DefaultAddr.
	Addr string
	// DataDir holds the bbolt file auth.db; it is created 0o700. Required.
	DataDir string
	// Algo is the one accepted JWT algorithm (JWT_ALGO): HS256, HS384,
	// HS512, RS256, RS384, RS512, ES256, ES384 or ES512; default DefaultAlgo.
	Algo string
	// Secret is JWT_SECRET as raw bytes (never base64-decoded); required for
	// HS algorithms.
	Secret []byte
	// PublicKeyPath is the PEM public key file (JWT_PUBLIC_KEY); required for
	// RS and ES algorithms, of the matching key type.
	PublicKeyPath string
	// Issuers lists the accepted iss values; empty accepts any.
	Issuers []string
	// Leeway tolerates clock skew on exp and nbf; default 0 as jwt-auth.
	Leeway time.Duration
	// MaxTokenBytes refuses longer tokens before parsing; default
	// DefaultMaxTokenBytes.
	MaxTokenBytes int
	// Logger receives the service's records; nil discards them.
	Logger *slog.Logger
}

// tokenConfig validates cfg's token settings, reading the public key file.
func tokenConfig(cfg Config) (token.Config, error) {
	tc := token.Config{
		Algo:          cfg.Algo,
		Secret:        cfg.Secret,
		Issuers:       cfg.Issuers,
		Leeway:        cfg.Leeway,
		MaxTokenBytes: cfg.MaxTokenBytes,
	}
	if tc.Algo == "" {
		tc.Algo = DefaultAlgo
	}
	if len(tc.Algo) == 5 && (tc.Algo[:2] == "RS" || tc.Algo[:2] == "ES") {
		if cfg.PublicKeyPath == "" {
			return tc, fmt.Errorf("algorithm %s needs a public key file", tc.Algo)
		}
		pem, err := os.ReadFile(cfg.PublicKeyPath)
		if err != nil {
			return tc, fmt.Errorf("read public key: %w", err)
		}
		tc.PublicKeyPEM = pem
	}
	return tc, nil
}

// Run validates cfg, opens the store, and serves the AuthService and
// AuthAdminService until ctx is done; it then shuts the server down, closes
// the store and returns nil. It returns an error at once for a bad config.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.Listener != nil {
		// Serve closes it on the normal path; this covers the early returns.
		defer cfg.Listener.Close()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tc, err := tokenConfig(cfg)
	if err != nil {
		return fmt.Errorf("auth config: %w", err)
	}
	verifier, err := token.New(tc)
	if err != nil {
		return fmt.Errorf("auth config: %w", err)
	}
	if cfg.DataDir == "" {
		return errors.New("auth config: no data dir")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("auth data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "auth.db"))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close auth store: %w", cerr)
		}
	}()
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	lis, err := grpcserver.Listen(cfg.Listener, addr)
	if err != nil {
		return err
	}

	srv := server.New(verifier, st, server.Options{Leeway: tc.Leeway, Logger: log})
	admin := server.NewAdmin(st, log)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // before the store closes
	defer cancel()
	wg.Go(func() { purge(ctx, srv, log) })

	log.Info("auth starting", "algo", tc.Algo, "issuers", len(tc.Issuers), "leeway", tc.Leeway)
	return grpcserver.Serve(ctx, lis, grpcserver.Options{Logger: log}, func(s *grpc.Server) {
		authv1.RegisterAuthServiceServer(s, srv)
		authv1.RegisterAuthAdminServiceServer(s, admin)
	})
}

// purge forgets expired revocations every purgeInterval until ctx is done.
func purge(ctx context.Context, srv *server.Server, log *slog.Logger) {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := srv.PurgeRevocations()
			if err != nil {
				log.Error("purge revocations", "err", err)
			} else if n > 0 {
				log.Info("revocations purged", "count", n)
			}
		}
	}
}
