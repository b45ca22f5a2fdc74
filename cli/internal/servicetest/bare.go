package servicetest

import (
	"testing"

	"switchboard.dev/cli/internal/bare"
)

// StartBare serves the bare fanout server (package bare) on a loopback
// port until the test ends: the edge that sbload's tests drive.
func StartBare(t testing.TB, opts bare.Options) *bare.Server {
	t.Helper()
	srv, err := bare.Listen("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}
