// Command sbbare runs the bare in-memory NDJSON fanout server (package
// bare) that the benchmarks compare Switchboard with: the same protocol
// for sbload, none of Switchboard's store, services or limits. It serves
// until SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/cli/internal/bare"
	"switchboard.dev/platform/envflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var addr, secret string
	set := envflag.New("sbbare", io.Discard, getenv)
	set.String(&addr, "addr", "BARE_ADDR", "127.0.0.1:22346", "TCP address to serve")
	fs := set.FlagSet()
	fs.StringVar(&secret, "secret", "", "HMAC secret of the HS256 tokens (env JWT_SECRET)")
	if code, ok := set.ParseCommand(args, stdout, stderr); !ok {
		return code
	}
	if secret == "" {
		secret = getenv("JWT_SECRET")
	}
	if secret == "" {
		fmt.Fprintln(stderr, "sbbare: --secret or JWT_SECRET is required")
		return 2
	}
	srv, err := bare.Listen(addr, bare.Options{Secret: secret, QuietJoins: true})
	if err != nil {
		fmt.Fprintf(stderr, "sbbare: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "sbbare: serving on %s\n", srv.Addr())
	<-ctx.Done()
	srv.Close()
	return 0
}
