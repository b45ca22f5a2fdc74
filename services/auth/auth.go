// Package auth is the Switchboard auth service: it verifies the JWTs that the
// Laravel backend issues and the API secret keys of the bridge's clients,
// keeps a user directory, token and user revocations and the keys' hashes in
// its own bbolt file, serves them over gRPC, and streams every revocation to
// the edges and bridges.
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
	"switchboard.dev/platform/backup"
	"switchboard.dev/platform/eventstream"
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
	// DefaultUserRevocationTTL is jwt-auth's default refresh_ttl (14 days)
	// plus its ttl (60 minutes): the longest a login's tokens are accepted.
	DefaultUserRevocationTTL = 337 * time.Hour
	// DefaultWatchBuffer is the live revocations a stream may have pending.
	DefaultWatchBuffer = eventstream.DefaultBuffer
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
	// UserRevocationTTL is how long RevokeUser refuses a user's older
	// tokens before the revocation is forgotten: at least the backend's
	// refresh_ttl plus its ttl, since a refreshed token keeps its login's
	// iat; default DefaultUserRevocationTTL.
	UserRevocationTTL time.Duration
	// WatchBuffer is how many live revocations a WatchRevocations stream
	// may have pending before it is cut (its edge resumes from the log);
	// default DefaultWatchBuffer.
	WatchBuffer int
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
	if cfg.UserRevocationTTL < 0 || cfg.WatchBuffer < 0 {
		return errors.New("auth config: negative user revocation ttl or watch buffer")
	}
	userTTL := cfg.UserRevocationTTL
	if userTTL == 0 {
		userTTL = DefaultUserRevocationTTL
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("auth data dir: %w", err)
	}
	b := eventstream.New[*authv1.Revocation](cfg.WatchBuffer)
	defer b.Close() // ends the streams on the early returns
	st, err := store.Open(filepath.Join(cfg.DataDir, "auth.db"), store.Options{Publish: func(r *authv1.Revocation) { b.Publish([]*authv1.Revocation{r}) }})
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

	srv := server.New(verifier, st, b, server.Options{Leeway: tc.Leeway, Logger: log})
	admin := server.NewAdmin(st, server.AdminOptions{UserRevocationTTL: userTTL, Logger: log})

	// What expired while the service was down goes before the first stream.
	purgeOnce(srv, log)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // before the store closes
	defer cancel()
	wg.Go(func() { purge(ctx, srv, log) })

	log.Info("auth starting", "algo", tc.Algo, "issuers", len(tc.Issuers), "leeway", tc.Leeway, "user_revocation_ttl", userTTL)
	// Closing the broker before the drain ends the WatchRevocations streams
	// (UNAVAILABLE, so edges resume), which GracefulStop would wait for.
	return grpcserver.Serve(ctx, lis, grpcserver.Options{Logger: log, BeforeStop: b.Close}, func(s *grpc.Server) {
		authv1.RegisterAuthServiceServer(s, srv)
		authv1.RegisterAuthAdminServiceServer(s, admin)
		backup.Register(s, st.WriteTo, backup.Options{FileName: "auth.db", SpoolDir: cfg.DataDir, Logger: log})
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
			purgeOnce(srv, log)
		}
	}
}

func purgeOnce(srv *server.Server, log *slog.Logger) {
	n, err := srv.PurgeRevocations()
	switch {
	case err != nil:
		log.Error("purge revocations", "err", err)
	case n != (store.Purged{}):
		log.Info("revocations purged", "tokens", n.Tokens, "users", n.Users, "log_entries", n.Log)
	}
}
