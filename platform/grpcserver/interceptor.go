package grpcserver

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard.dev/platform/requestid"
)

// unaryInterceptor puts the call's request id into its context and logs the
// finished call (see logCall).
func unaryInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		if id := requestid.FromIncoming(ctx); id != "" {
			ctx = requestid.With(ctx, id)
		}
		resp, err := handler(ctx, req)
		logCall(ctx, log, info.FullMethod, start, err)
		return resp, err
	}
}

// streamInterceptor is unaryInterceptor for streams: the handler sees the
// request id in its stream's context.
func streamInterceptor(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		ctx := ss.Context()
		if id := requestid.FromIncoming(ctx); id != "" {
			ctx = requestid.With(ctx, id)
			ss = &idStream{ServerStream: ss, ctx: ctx}
		}
		err := handler(srv, ss)
		logCall(ctx, log, info.FullMethod, start, err)
		return err
	}
}

// idStream is a server stream whose context carries the request id.
type idStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the stream's context with the request id.
func (s *idStream) Context() context.Context { return s.ctx }

// logCall logs a finished call: a warning when it failed with a code that
// means a bug or a broken store (Internal, Unknown, DataLoss), else a debug
// record, built only when debug is enabled: nothing per call at info.
func logCall(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	level := slog.LevelDebug
	code := status.Code(err)
	switch code {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		level = slog.LevelWarn
	}
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", time.Since(start)),
		requestid.Attr(ctx),
	}
	if level == slog.LevelWarn {
		attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
	}
	log.LogAttrs(ctx, level, "rpc", attrs...)
}
