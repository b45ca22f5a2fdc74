// Package requestid carries one request id from the edge to the services:
// the edge puts it on every outgoing gRPC call as the x-request-id metadata,
// the services' gRPC servers (platform/grpcserver) take it into the
// context, and handlers log it with Attr. The id is opaque; the edge makes
// it "<session id>:<n>", its n-th call for that session, so that one
// session's calls are found by prefix in every service's logs.
package requestid

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/metadata"
)

// MetadataKey is the gRPC metadata key of the request id.
const MetadataKey = "x-request-id"

// LogKey is the key of the request id in log records.
const LogKey = "request_id"

// MaxLen bounds an incoming request id: a longer one is cut, so that a
// client cannot make every log line of its calls arbitrarily long.
const MaxLen = 128

type ctxKey struct{}

// Outgoing returns ctx with id as the request id of the gRPC calls made
// with it.
func Outgoing(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, MetadataKey, id)
}

// FromIncoming returns the request id of an incoming gRPC call's metadata,
// cut to MaxLen; "" when there is none.
func FromIncoming(ctx context.Context) string {
	v := metadata.ValueFromIncomingContext(ctx, MetadataKey)
	if len(v) == 0 {
		return ""
	}
	id := v[0]
	if len(id) > MaxLen {
		id = id[:MaxLen]
	}
	return id
}

// With returns ctx carrying id, for FromContext and Attr.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the request id that With put in ctx; "" when none.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Attr returns the request id of ctx as a log attribute, to pass to a
// logger: log.Info("msg", requestid.Attr(ctx)). Without an id the
// attribute is empty, which slog drops.
func Attr(ctx context.Context) slog.Attr {
	id := FromContext(ctx)
	if id == "" {
		return slog.Attr{}
	}
	return slog.String(LogKey, id)
}
