// Package procs sizes the Go scheduler of a process that fsyncs a store.
//
// A goroutine in fdatasync keeps its P until the runtime's monitor hands the
// P to another thread, and with a single P (a process pinned to one core gets
// GOMAXPROCS=1) every session, stream and RPC of the process waits behind each
// commit. Measured with the standalone pinned to one core: p50 latency 2.6 s
// at 3,000 messages/s with one P, 37 ms with two. Two Ps on one core cost
// nothing when both are busy: the kernel time-slices them; when one sleeps in
// fdatasync the other runs.
package procs

import (
	"runtime"
	"strconv"
)

// MinForStores is the fewest Ps a process that fsyncs a store runs with.
const MinForStores = 2

// Ensure raises GOMAXPROCS to min unless the environment (read through
// getenv) sets GOMAXPROCS explicitly, and returns the value in force.
func Ensure(getenv func(string) string, min int) int {
	if v := getenv("GOMAXPROCS"); v != "" {
		if _, err := strconv.Atoi(v); err == nil {
			return runtime.GOMAXPROCS(0)
		}
	}
	if runtime.GOMAXPROCS(0) < min {
		runtime.GOMAXPROCS(min)
	}
	return runtime.GOMAXPROCS(0)
}
