// Package profiling serves the Go runtime's profiles (net/http/pprof) on an
// address of the operator's choice, off unless configured: a CPU profile of
// a running binary under load is how its costs are found
// (docs/benchmarks.md).
package profiling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Serve serves /debug/pprof/ on addr until ctx is done. An empty addr
// serves nothing and returns at once. Bind it to loopback or a private
// network: profiles disclose the program's internals.
func Serve(ctx context.Context, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("profiling: listen %s: %w", addr, err)
	}
	return serve(ctx, lis, log)
}

func serve(ctx context.Context, lis net.Listener, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	defer stop()
	log.Info("profiling served", "addr", lis.Addr().String())
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("profiling: %w", err)
	}
	return nil
}
