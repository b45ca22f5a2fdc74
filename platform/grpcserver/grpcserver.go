// Package grpcserver serves a gRPC server the way every Switchboard service
// does: with grpc.health.v1 and reflection registered, the caller's request
// id (package requestid) in every handler's context, each finished call
// logged at debug level (warned on Internal, Unknown and DataLoss), and a
// graceful shutdown that cannot hang on open streams.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// DefaultShutdownTimeout bounds the graceful part of a shutdown: after it,
// remaining RPCs and streams are cut.
const DefaultShutdownTimeout = 5 * time.Second

// Options configure Serve.
type Options struct {
	// Logger receives lifecycle records; nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds GracefulStop; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ServerOptions are passed to grpc.NewServer, after the request id and
	// logging interceptors (add more with grpc.ChainUnaryInterceptor).
	ServerOptions []grpc.ServerOption
	// BeforeStop, when set, runs after health turns NOT_SERVING and before
	// the server drains, for example to end server streams so that
	// GracefulStop does not wait for them.
	BeforeStop func()
}

// Serve serves on lis until ctx is done, then shuts down: health goes
// NOT_SERVING, in-flight RPCs drain for at most the shutdown timeout, and the
// rest are cut. register adds the service's own implementations. Serve closes
// lis and returns nil after a shutdown caused by ctx.
func Serve(ctx context.Context, lis net.Listener, opts Options, register func(*grpc.Server)) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	// The logging interceptors come first: they are the outermost, so they
	// time and see what any interceptor of the service does.
	srvOpts := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unaryInterceptor(log)),
		grpc.ChainStreamInterceptor(streamInterceptor(log)),
	}, opts.ServerOptions...)
	srv := grpc.NewServer(srvOpts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	register(srv)
	for name := range srv.GetServiceInfo() {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("grpc serving", "addr", lis.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("grpc serve %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	hs.Shutdown() // every service NOT_SERVING
	if opts.BeforeStop != nil {
		opts.BeforeStop()
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		log.Warn("grpc graceful stop timed out; stopping", "timeout", timeout)
		srv.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("grpc serve %s: %w", lis.Addr(), err)
	}
	log.Info("grpc stopped", "addr", lis.Addr().String())
	return nil
}

// Listen returns lis when it is set, else a TCP listener on addr. Services
// take an optional listener in their Config so that tests and the standalone
// can bind 127.0.0.1:0 first and learn the port.
func Listen(lis net.Listener, addr string) (net.Listener, error) {
	if lis != nil {
		return lis, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return l, nil
}
