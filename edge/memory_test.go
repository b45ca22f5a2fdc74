package edge_test

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkIdleSessionMemory connects b.N authenticated sessions that then
// sit idle and reports the heap and goroutine stack growth per session. The
// test's client sockets live in the same process, so this is an upper bound.
// Run with -benchtime=2000x.
func BenchmarkIdleSessionMemory(b *testing.B) {
	h := newHarness(b, nil)
	heap0, stack0 := measure()
	clients := make([]*client, 0, b.N)
	for i := range b.N {
		c := dialWith(b, h.addr, nil)
		c.r = nil // no client-side buffer: measure the edge
		c.send("CONNECT", "c", map[string]any{"jwt_token": fmt.Sprintf("tok-%d", i+1)})
		clients = append(clients, c)
	}
	buf := make([]byte, 1024)
	for _, c := range clients {
		n, err := c.conn.Read(buf) // CONNECT_SUCCESS fits in one read
		if err != nil || n == 0 || buf[n-1] != '\n' {
			b.Fatalf("reading CONNECT_SUCCESS: %q, %v", buf[:n], err)
		}
	}
	heap1, stack1 := measure()
	b.ReportMetric(float64(heap1-heap0)/float64(b.N), "heap-B/session")
	b.ReportMetric(float64(stack1-stack0)/float64(b.N), "stack-B/session")
	runtime.KeepAlive(clients)
}

func measure() (heap, stack uint64) {
	for range 4 { // each GC halves an oversized goroutine stack at most once
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}
