package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"

	"switchboard.dev/platform/grpcserver"
)

func TestLoopback(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{":9102", "127.0.0.1:9102", false},
		{"0.0.0.0:9102", "127.0.0.1:9102", false},
		{"[::]:9102", "127.0.0.1:9102", false},
		{"127.0.0.1:9101", "127.0.0.1:9101", false},
		{"10.1.2.3:80", "10.1.2.3:80", false},
		{"chatd:9102", "chatd:9102", false},
		{"[::1]:9102", "[::1]:9102", false},
		{"9102", "", true},
	}
	for _, tt := range tests {
		got, err := Loopback(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("Loopback(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestCheck(t *testing.T) {
	lis, err := grpcserver.Listen(nil, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- grpcserver.Serve(ctx, lis, grpcserver.Options{}, func(*grpc.Server) {}) }()
	t.Cleanup(func() { cancel(); <-done })
	_, port, _ := net.SplitHostPort(lis.Addr().String())

	if err := Check(context.Background(), ":"+port); err != nil {
		t.Errorf("Check(:%s) of a serving server = %v, want nil", port, err)
	}
	down := freeAddr(t)
	if err := Check(context.Background(), down); err == nil {
		t.Errorf("Check(%s) with nothing listening = nil, want an error", down)
	}
}

func TestCheckHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewTLSServer(srv.Config.Handler)
	t.Cleanup(tlsSrv.Close)
	tests := []struct {
		url     string
		healthy bool
	}{
		{srv.URL + "/healthz", true},
		{tlsSrv.URL + "/healthz", true}, // a certificate not made for loopback
		{tlsSrv.URL + "/other", false},
		{srv.URL + "/other", false},
		{"http://" + freeAddr(t) + "/healthz", false},
	}
	for _, tt := range tests {
		if err := CheckHTTP(context.Background(), tt.url); (err == nil) != tt.healthy {
			t.Errorf("CheckHTTP(%s) = %v, want healthy %v", tt.url, err, tt.healthy)
		}
	}
}

func TestCheckTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := CheckTCP(context.Background(), l.Addr().String()); err != nil {
		t.Errorf("CheckTCP(%s) of a listener = %v, want nil", l.Addr(), err)
	}
	down := freeAddr(t)
	if err := CheckTCP(context.Background(), down); err == nil {
		t.Errorf("CheckTCP(%s) with nothing listening = nil, want an error", down)
	}
}

func TestCommand(t *testing.T) {
	ok := func(context.Context) error { return nil }
	sick := errors.New("sick")
	tests := []struct {
		args    []string
		check   func(context.Context) error
		handled bool
		err     error
	}{
		{nil, ok, false, nil},
		{[]string{"healthcheck"}, ok, true, nil},
		{[]string{"healthcheck"}, func(context.Context) error { return sick }, true, sick},
		{[]string{"serve"}, ok, true, ErrUsage},
		{[]string{"healthcheck", "extra"}, ok, true, ErrUsage},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		handled, err := Command(ctx, tt.args, tt.check)
		cancel()
		if handled != tt.handled || !errors.Is(err, tt.err) {
			t.Errorf("Command(%q) = %v, %v; want %v, %v", tt.args, handled, err, tt.handled, tt.err)
		}
	}
}
