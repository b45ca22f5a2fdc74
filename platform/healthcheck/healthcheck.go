// Package healthcheck is the client side of the binaries' `healthcheck`
// subcommand, which container health checks run inside the container (the
// images are FROM scratch: no shell, no curl): a gRPC service asks its own
// grpc.health.v1, the bridge its HTTP /healthz, the edge whether its TCP
// port accepts connections.
package healthcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Timeout bounds each check when its context has no earlier deadline.
const Timeout = 3 * time.Second

// Loopback turns a listen address into one to dial from the same host (or
// container): an unspecified or missing host (":9102", "0.0.0.0:9102",
// "[::]:9102") becomes the IPv4 loopback, a named or specific host is kept.
func Loopback(listenAddr string) (string, error) {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listenAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// withTimeout bounds ctx by Timeout.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, Timeout)
}

// Check asks the grpc.health.v1 service at listenAddr (a listen address, see
// Loopback) for the server's overall status and returns nil when it is
// SERVING.
func Check(ctx context.Context, listenAddr string) error {
	addr, err := Loopback(listenAddr)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("health %s: %w", addr, err)
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health %s: %w", addr, err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health %s: %v", addr, s)
	}
	return nil
}

// CheckHTTP gets url (http or https) and returns nil when it answers 200
// OK. An https certificate is not verified: the check dials the process's
// own port on loopback, which the certificate (made for the public name)
// does not name, and verifying it would prove nothing about health.
func CheckHTTP(ctx context.Context, url string) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health %s: %w", url, err)
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
		DisableKeepAlives: true,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health %s: %s", url, resp.Status)
	}
	return nil
}

// CheckTCP returns nil when listenAddr (see Loopback) accepts a TCP
// connection, which it closes at once: for the edge, which speaks no gRPC.
func CheckTCP(ctx context.Context, listenAddr string) error {
	addr, err := Loopback(listenAddr)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("health %s: %w", addr, err)
	}
	return conn.Close()
}

// ErrUsage is returned by Command for arguments it does not know.
var ErrUsage = errors.New("unknown command")

// Command runs the subcommand named by args, the positional arguments left
// after a binary's flags: none means serve (Command returns false), and
// "healthcheck" runs check and returns true with its result.
func Command(ctx context.Context, args []string, check func(context.Context) error) (bool, error) {
	switch {
	case len(args) == 0:
		return false, nil
	case len(args) == 1 && args[0] == "healthcheck":
		return true, check(ctx)
	}
	return true, fmt.Errorf("%w %q (want no argument, or healthcheck)", ErrUsage, args[0])
}
