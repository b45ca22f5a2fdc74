package grpcserver

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"switchboard.dev/platform/requestid"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the logged records named "rpc".
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "rpc" {
			out = append(out, m)
		}
	}
	return out
}

// echoDesc is a test service whose methods fail with the request id their
// handler sees in its context, with the code of the request's metadata.
var echoDesc = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(_ any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			req := new(emptypb.Empty)
			if err := dec(req); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) { return nil, echoError(ctx) }
			return in(ctx, req, &grpc.UnaryServerInfo{FullMethod: "/test.Echo/Unary"}, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		ServerStreams: true,
		Handler:       func(_ any, ss grpc.ServerStream) error { return echoError(ss.Context()) },
	}},
}

// echoError fails with the code the caller asked for in its "code"
// metadata (a number), the message being the request id in ctx.
func echoError(ctx context.Context) error {
	code := codes.Internal
	if v := metadataValue(ctx, "code"); v == "5" {
		code = codes.NotFound
	}
	return status.Error(code, "id="+requestid.FromContext(ctx))
}

func TestRequestIDAndLogging(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lis, err := Listen(nil, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, lis, Options{Logger: log}, func(s *grpc.Server) { s.RegisterService(&echoDesc, struct{}{}) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	cc := dial(t, lis.Addr().String())

	tests := []struct {
		name, method, id, code string
		wantCode               codes.Code
		wantLevel              string
	}{
		{"unary internal", "/test.Echo/Unary", "edge-1-7:1", "", codes.Internal, "WARN"},
		{"unary not found", "/test.Echo/Unary", "edge-1-7:2", "5", codes.NotFound, "DEBUG"},
		{"stream internal", "/test.Echo/Stream", "edge-1-7:3", "", codes.Internal, "WARN"},
		{"without an id", "/test.Echo/Unary", "", "5", codes.NotFound, "DEBUG"},
		{"id cut to MaxLen", "/test.Echo/Unary", strings.Repeat("x", requestid.MaxLen+10), "5", codes.NotFound, "DEBUG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			callCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tt.id != "" {
				callCtx = requestid.Outgoing(callCtx, tt.id)
			}
			if tt.code != "" {
				callCtx = withMetadata(callCtx, "code", tt.code)
			}
			before := len(logs.records(t))
			var err error
			if strings.HasSuffix(tt.method, "Stream") {
				var s grpc.ClientStream
				s, err = cc.NewStream(callCtx, &echoDesc.Streams[0], tt.method)
				if err == nil {
					err = s.RecvMsg(new(emptypb.Empty))
				}
			} else {
				err = cc.Invoke(callCtx, tt.method, &emptypb.Empty{}, new(emptypb.Empty))
			}
			wantID := tt.id[:min(len(tt.id), requestid.MaxLen)]
			if st := status.Convert(err); st.Code() != tt.wantCode || st.Message() != "id="+wantID {
				t.Errorf("%s with id %q = %v, want code %v and the handler seeing id %q", tt.method, tt.id, err, tt.wantCode, wantID)
			}
			recs := logs.records(t)[before:]
			if len(recs) != 1 {
				t.Fatalf("%s logged %d rpc records, want 1: %v", tt.method, len(recs), recs)
			}
			r := recs[0]
			if r["level"] != tt.wantLevel || r["method"] != tt.method || r["code"] != tt.wantCode.String() || r["duration"] == nil {
				t.Errorf("%s record = %v, want level %s, method, code %v and duration", tt.method, r, tt.wantLevel, tt.wantCode)
			}
			if got, _ := r[requestid.LogKey].(string); got != wantID {
				t.Errorf("%s record request_id = %q, want %q", tt.method, got, wantID)
			}
		})
	}

	t.Run("info level logs nothing per call", func(t *testing.T) {
		var quiet syncBuffer
		l := slog.New(slog.NewJSONHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelInfo}))
		addr, _, _ := start(t, Options{Logger: l})
		callCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := healthpb.NewHealthClient(dial(t, addr)).Check(callCtx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("Check() = %v", err)
		}
		if recs := quiet.records(t); len(recs) != 0 {
			t.Errorf("a successful call logged %v at info level, want nothing", recs)
		}
	})
}

func withMetadata(ctx context.Context, k, v string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, k, v)
}

func metadataValue(ctx context.Context, k string) string {
	if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 {
		return v[0]
	}
	return ""
}
