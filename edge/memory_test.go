package edge_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"switchboard.dev/edge"
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

// TestIdleSessionsHoldNoGoroutine connects authenticated sessions that sit
// idle: on epoll, none holds a goroutine. (With a goroutine per
// connection, the count grows by one per session.)
func TestIdleSessionsHoldNoGoroutine(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) { c.BlockingIO = false })
	const n = 200
	before := runtime.NumGoroutine()
	clients := make([]*client, 0, n)
	for i := range n {
		c := dialWith(t, h.addr, nil)
		c.send("CONNECT", "c", map[string]any{"jwt_token": fmt.Sprintf("tok-%d", i+1)})
		c.expect("CONNECT_SUCCESS", "c")
		clients = append(clients, c)
	}
	// The goroutines that served the CONNECTs end once the sockets drain.
	var extra int
	for range 200 {
		if extra = runtime.NumGoroutine() - before; extra < n/10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if extra >= n/10 {
		t.Errorf("%d idle sessions: %d more goroutines, want well under one each", n, extra)
	}
	clients[0].ping("still served")
	runtime.KeepAlive(clients)
}
