package revocation

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/platform/grpcserver"
)

const waitFor = 30 * time.Second

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	var ended []string
	end := func(name string) func() { return func() { ended = append(ended, name) } }
	removeA, ok := r.Add("k1", end("a"))
	if !ok {
		t.Fatal("Add(k1) refused a key never revoked")
	}
	if _, ok := r.Add("k1", end("b")); !ok {
		t.Fatal("Add(k1) refused a second session")
	}
	if _, ok := r.Add("k2", end("c")); !ok {
		t.Fatal("Add(k2) refused")
	}
	removeA()
	if n := r.Revoke("k1"); n != 1 || !slices.Equal(ended, []string{"b"}) {
		t.Errorf("Revoke(k1) = %d ending %v, want 1 ending [b] (a was removed)", n, ended)
	}
	if _, ok := r.Add("k1", end("d")); ok {
		t.Errorf("Add(k1) after its revocation accepted the session")
	}
	if n := r.Revoke("k3"); n != 0 {
		t.Errorf("Revoke(k3) = %d, want 0", n)
	}
	// The revoked keys remembered are bounded.
	for i := range rememberRevoked {
		r.Revoke(fmt.Sprint("x", i))
	}
	if _, ok := r.Add("k1", end("e")); !ok {
		t.Errorf("Add(k1) still refused after %d newer revocations", rememberRevoked)
	}
	if !slices.Equal(ended, []string{"b"}) {
		t.Errorf("sessions ended = %v, want [b]", ended)
	}
}

// fakeAuth streams a fixed log of revocations; each stream sends the
// revocations after the request's after_seq, then breaks.
type fakeAuth struct {
	authv1.UnimplementedAuthServiceServer
	log []*authv1.Revocation

	mu     sync.Mutex
	afters []string // each request's after_seq, "unset" when unset
}

func (f *fakeAuth) WatchRevocations(req *authv1.WatchRevocationsRequest, stream grpc.ServerStreamingServer[authv1.WatchRevocationsResponse]) error {
	f.mu.Lock()
	n := len(f.afters)
	if req.AfterSeq == nil {
		f.afters = append(f.afters, "unset")
	} else {
		f.afters = append(f.afters, fmt.Sprint(req.GetAfterSeq()))
	}
	f.mu.Unlock()
	head := uint64(len(f.log))
	if n == 0 {
		// The first stream starts at the head after one revocation, then
		// the log grows by the rest while it is open.
		if err := stream.Send(&authv1.WatchRevocationsResponse{HeadSeq: 1}); err != nil {
			return err
		}
		if err := stream.Send(&authv1.WatchRevocationsResponse{Revocations: f.log[1:2], HeadSeq: 2}); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "stream cut by the test")
	}
	var evs []*authv1.Revocation
	for _, r := range f.log {
		if r.GetSeq() > req.GetAfterSeq() {
			evs = append(evs, r)
		}
	}
	if err := stream.Send(&authv1.WatchRevocationsResponse{Revocations: evs, HeadSeq: head}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func TestWatcherResumes(t *testing.T) {
	f := &fakeAuth{log: []*authv1.Revocation{
		{Seq: 1, Target: &authv1.Revocation_ApiKeyId{ApiKeyId: "before-start"}},
		{Seq: 2, Target: &authv1.Revocation_ApiKeyId{ApiKeyId: "k2"}},
		{Seq: 3, Target: &authv1.Revocation_TokenId{TokenId: "a-token"}},
		{Seq: 4, Target: &authv1.Revocation_ApiKeyId{ApiKeyId: "k4"}},
	}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- grpcserver.Serve(ctx, lis, grpcserver.Options{}, func(s *grpc.Server) { authv1.RegisterAuthServiceServer(s, f) })
	}()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()

	r := NewRegistry()
	ended := make(chan string, 8)
	for _, k := range []string{"before-start", "k2", "k4"} {
		if _, ok := r.Add(k, func() { ended <- k }); !ok {
			t.Fatalf("Add(%s) refused", k)
		}
	}
	var ups []bool
	var upMu sync.Mutex
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		Watcher{Auth: authv1.NewAuthServiceClient(cc), Name: "test", Registry: r, MinBackoff: time.Millisecond, Connected: func(up bool) {
			upMu.Lock()
			ups = append(ups, up)
			upMu.Unlock()
		}}.Run(wctx)
		close(done)
	}()
	var got []string
	for len(got) < 2 {
		select {
		case k := <-ended:
			got = append(got, k)
		case <-time.After(waitFor):
			t.Fatalf("sessions ended = %v after %v, want [k2 k4]", got, waitFor)
		}
	}
	stop()
	<-done
	if !slices.Equal(got, []string{"k2", "k4"}) {
		t.Errorf("sessions ended = %v, want [k2 k4] (before-start came before the head)", got)
	}
	f.mu.Lock()
	afters := slices.Clone(f.afters)
	f.mu.Unlock()
	if len(afters) < 2 || afters[0] != "unset" || afters[1] != "2" {
		t.Errorf("WatchRevocations after_seq values = %v, want [unset 2 ...]", afters)
	}
	upMu.Lock()
	defer upMu.Unlock()
	if len(ups) < 3 || !ups[0] || ups[1] || !ups[2] {
		t.Errorf("Connected calls = %v, want [true false true ...]", ups)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
