package grpcserver

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

func start(t *testing.T, opts Options) (addr string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	lis, err := Listen(nil, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, lis, opts, func(*grpc.Server) {}) }()
	t.Cleanup(cancel)
	return lis.Addr().String(), cancel, errc
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestHealthAndReflection(t *testing.T) {
	addr, _, _ := start(t, Options{})
	cc := dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Check() = %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Check() status = %v, want SERVING", resp.GetStatus())
	}

	stream, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	r, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection Recv() = %v", err)
	}
	names := map[string]bool{}
	for _, s := range r.GetListServicesResponse().GetService() {
		names[s.GetName()] = true
	}
	if !names["grpc.health.v1.Health"] {
		t.Errorf("reflection lists %v, want grpc.health.v1.Health among them", names)
	}
}

func TestShutdownGoesNotServingAndCutsStreams(t *testing.T) {
	var beforeStop bool
	addr, cancel, done := start(t, Options{ShutdownTimeout: 200 * time.Millisecond, BeforeStop: func() { beforeStop = true }})
	cc := dial(t, addr)
	ctx, cancelWatch := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelWatch()

	// An open Watch stream would hold GracefulStop forever; the timeout must cut it.
	watch, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch first = %v, %v; want SERVING", r, err)
	}
	cancel()
	sawNotServing := false
	for i := 0; i < 5; i++ {
		r, err := watch.Recv()
		if err != nil {
			break
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			sawNotServing = true
		}
	}
	if !sawNotServing {
		t.Error("Watch never reported NOT_SERVING during shutdown")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve() = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if !beforeStop {
		t.Error("BeforeStop was not called")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("listener still accepts after shutdown")
	}
}
