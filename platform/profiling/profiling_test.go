package profiling

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServe(t *testing.T) {
	if err := Serve(context.Background(), "", slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("Serve(no address) = %v, want nil at once", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, lis, slog.New(slog.DiscardHandler)) }()
	resp, err := http.Get("http://" + lis.Addr().String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("GET goroutine profile = %d %.100q, want 200 and the profile", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
	if err := Serve(context.Background(), "not an address", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("Serve(bad address) = nil, want an error")
	}
}
