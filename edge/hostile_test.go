package edge_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard.dev/edge"
)

// probeWait is how long probe waits for a refusal, which the edge writes
// at accept, before it sends a PING.
const probeWait = 300 * time.Millisecond

// probe dials the edge from local (nil: any address) and tells whether it
// admitted the connection: a refused one is answered ERROR
// TOO_MANY_CONNECTIONS at once and closed; an admitted one answers a PING
// NOT_AUTHENTICATED. The admitted connection is returned, open.
func (h *harness) probe(local net.Addr) (*client, bool) {
	h.t.Helper()
	c := dialWith(h.t, h.addr, &net.Dialer{LocalAddr: local})
	c.conn.SetReadDeadline(time.Now().Add(probeWait))
	if _, err := c.r.Peek(1); err != nil {
		// Nothing yet: admitted, or a refusal late on a loaded machine.
		// (The write may fail if the edge has closed the connection.)
		io.WriteString(c.conn, `{"action":"PING","seq_id":"probe"}`+"\n")
	}
	e, err := c.read()
	switch {
	case err != nil:
		h.t.Fatalf("probe: %v", err)
	case e.Action == "ERROR" && e.str("error_code") == "NOT_AUTHENTICATED" && e.str("original_seq_id") == "probe":
		return c, true
	}
	if e.Action != "ERROR" || e.str("error_code") != "TOO_MANY_CONNECTIONS" || e.str("original_seq_id") != "" {
		h.t.Fatalf("probe: got %s, want ERROR NOT_AUTHENTICATED or TOO_MANY_CONNECTIONS", e.raw)
	}
	c.expectClosed()
	return nil, false
}

func loopback(last byte) net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, last)} }

func TestConnectionsPerIP(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) { c.MaxConnsPerIP = 3 })
	// Authenticated or not, three connections from 127.0.0.1 fill its
	// share.
	a := h.connect(1)
	h.connect(2)
	if _, ok := h.probe(nil); !ok {
		t.Fatal("the third connection from 127.0.0.1 was refused, want admitted")
	}
	if _, ok := h.probe(nil); ok {
		t.Fatal("a fourth connection from 127.0.0.1 was admitted, want refused")
	}
	a.ping("still served")
	// Another source address has its own share.
	for range 3 {
		if _, ok := h.probe(loopback(2)); !ok {
			t.Fatal("a connection from 127.0.0.2 was refused, want admitted")
		}
	}
	// A connection that ends gives its place back.
	a.conn.Close()
	h.waitFor("127.0.0.1's place back after a connection ended", func() bool {
		_, ok := h.probe(nil)
		return ok
	})
	if !h.logs.contains("connections refused: too many") {
		t.Error("no log record of the refusals")
	}
}

func TestUnauthenticatedConnections(t *testing.T) {
	const authTimeout = 2 * time.Second
	h := newHarness(t, func(c *edge.Config) {
		c.MaxUnauthenticated = 3
		c.AuthTimeout = authTimeout
	})
	// Authenticated connections do not count.
	for id := range int64(5) {
		h.connect(id + 1)
	}
	var waiting []*client
	for range 3 {
		c, ok := h.probe(nil)
		if !ok {
			t.Fatalf("unauthenticated connection %d of 3 refused, want admitted", len(waiting)+1)
		}
		waiting = append(waiting, c)
	}
	// From any address.
	if _, ok := h.probe(loopback(3)); ok {
		t.Fatal("a fourth unauthenticated connection was admitted, want refused")
	}
	// A successful CONNECT makes room.
	waiting[0].send("CONNECT", "c", map[string]any{"jwt_token": "tok-9"})
	waiting[0].expect("CONNECT_SUCCESS", "c")
	last, ok := h.probe(nil)
	if !ok {
		t.Fatal("a connection after a CONNECT succeeded was refused, want admitted")
	}
	// So does the auth timeout.
	for _, c := range append(waiting[1:], last) {
		c.expectClosed()
	}
	for range 3 {
		if _, ok := h.probe(nil); !ok {
			t.Fatal("a connection after the auth timeout closed the others was refused, want admitted")
		}
	}
	waiting[0].ping("still served")
}

// TestConnectLineLimit: before CONNECT, a line may be 16 KiB at most, so
// that an unauthenticated connection cannot make the edge hold a 1 MiB
// line; after CONNECT, EDGE_MAX_FRAME_BYTES applies.
func TestConnectLineLimit(t *testing.T) {
	h := newHarness(t, nil)
	c := h.dial()
	pingPad := func(seq string, n int) string {
		return `{"action":"PING","seq_id":"` + seq + `","data":{"pad":"` + strings.Repeat("p", n) + `"}}`
	}
	c.sendRaw(pingPad("big", 16<<10))
	c.expectError("INVALID_DATA", "", "")
	c.sendRaw(pingPad("small", 1000))
	c.expectError("NOT_AUTHENTICATED", "small", "PING")
	c.send("CONNECT", "c", map[string]any{"jwt_token": "tok-1"})
	c.expect("CONNECT_SUCCESS", "c")
	c.sendRaw(pingPad("big", 512<<10))
	c.expect("PONG", "big")
}

// heapPeak samples the live heap (what the last GC marked reachable)
// until stop is called, which returns its highest growth over the live
// heap after a GC at the start. Garbage is not counted: the process's
// heap in use is at most about twice its live heap (GOGC=100).
func heapPeak() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > base && v-base > peak {
				peak = v - base
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// TestHostileInput: clients sending oversized lines, deep JSON, invalid
// UTF-8 or a flood of pipelined PINGs each get their errors (or every
// PONG: a client that reads is served at its pace, never dropped), the
// edge stays usable for them and the others, and its live heap grows by
// at most 4 MiB a client however much they send: a line's buffer is
// bounded by EDGE_MAX_FRAME_BYTES (1 MiB; it doubles as it grows, and the
// GC counts a buffer being dropped), the answers by half the queue before
// the edge stops reading. The heap measured is the whole test process's,
// clients included: an upper bound.
func TestHostileInput(t *testing.T) {
	const clients = 4
	for _, tc := range []struct {
		name  string
		line  []byte // a hostile line, its "\n" included
		count int    // sent by each client
		code  string // the answer to each
		bound uint64 // of the live heap's growth
	}{
		{"1 MiB lines", []byte(`{"action":"PING","data":{"pad":"` + strings.Repeat("x", 1<<20) + "\"}}\n"),
			16, "INVALID_DATA", clients * 4 << 20},
		{"deep JSON", append(bytes.Repeat([]byte(`{"a":[`), 100_000), '\n'),
			16, "INVALID_DATA", clients * 4 << 20},
		{"invalid UTF-8", append(append([]byte(`{"action":"PING","seq_id":"u","data":{"x":"`), bytes.Repeat([]byte{0xff, 0xfe}, 32<<10)...), "\"}}\n"...),
			64, "INVALID_DATA", clients * 1 << 20},
		{"PING flood, reading", bytes.Repeat([]byte(`{"action":"PING","seq_id":"flood"}`+"\n"), 100),
			20_000, "PONG", clients * 2 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			bystander := h.connect(100)
			conns := make([]*client, clients)
			writes, answers := tc.count, tc.count
			if n := bytes.Count(tc.line, []byte("\n")); n > 1 { // PINGs, n a write
				writes, answers = tc.count/n, tc.count/n*n
			}
			for i := range conns {
				conns[i] = h.connect(int64(i + 1))
			}
			stop := heapPeak()
			var wg sync.WaitGroup
			errs := make(chan error, 2*clients)
			for _, c := range conns {
				wg.Go(func() { // writes
					c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
					for range writes {
						if _, err := c.conn.Write(tc.line); err != nil {
							errs <- fmt.Errorf("write: %v", err)
							return
						}
					}
				})
				wg.Go(func() { // reads every answer
					for n := range answers {
						e, err := c.read()
						if err != nil || e.Action != tc.code && e.str("error_code") != tc.code {
							errs <- fmt.Errorf("answer %d of %d: %s, %v; want %s", n+1, answers, e.raw, err, tc.code)
							return
						}
					}
				})
			}
			wg.Wait()
			peak := stop()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for i, c := range conns {
				c.ping(fmt.Sprint("after-", i))
			}
			bystander.ping("bystander")
			t.Logf("%d clients × %d writes of %d bytes: live heap grew by at most %.1f MiB (bound %d MiB)",
				clients, writes, len(tc.line), float64(peak)/(1<<20), tc.bound>>20)
			if peak > tc.bound {
				t.Errorf("the live heap grew by %.1f MiB, want at most %d MiB", float64(peak)/(1<<20), tc.bound>>20)
			}
		})
	}
}

// TestPingFloodNotReading: a client that floods PINGs and never reads
// the PONGs is read no further once half its queue is full (its writes
// then block), and is closed when its socket has been full for the write
// timeout; the edge's heap grows by about its queue (its envelopes and
// their slices, 4 times its bytes at most), however much is sent, and the
// others are served meanwhile.
func TestPingFloodNotReading(t *testing.T) {
	const queueBytes = 256 << 10
	h := newHarness(t, func(c *edge.Config) {
		c.OutboundQueueBytes = queueBytes
		c.WriteTimeout = time.Second
	})
	bystander := h.connect(2)
	flood := dialWith(t, h.addr, stuckDialer)
	flood.send("CONNECT", "c", map[string]any{"jwt_token": "tok-1"})
	flood.expect("CONNECT_SUCCESS", "c")
	stop := heapPeak()
	ping := bytes.Repeat([]byte(`{"action":"PING","seq_id":"flood"}`+"\n"), 100)
	flood.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	var err error
	sent := 0
	for ; sent < 1_000_000 && err == nil; sent += 100 {
		_, err = flood.conn.Write(ping)
		if sent%10_000 == 0 {
			bystander.ping(fmt.Sprint("bystander-", sent))
		}
	}
	peak := stop()
	if err == nil {
		t.Fatalf("%d PINGs written and never read, and the edge did not close the connection", sent)
	}
	if !h.logs.contains(`"timeout":true`) && !h.logs.contains("slow consumer") {
		t.Errorf("the flooding connection ended (%v) without a record of why", err)
	}
	bystander.ping("bystander")
	t.Logf("closed after %d PINGs written (write: %v); live heap grew by at most %.1f MiB", sent, err, float64(peak)/(1<<20))
	if bound := uint64(4 * queueBytes); peak > bound {
		t.Errorf("the live heap grew by %.1f MiB, want at most %d KiB (4 times the %d KiB queue)", float64(peak)/(1<<20), bound>>10, queueBytes>>10)
	}
}

// TestSilentConnections: connections that never send CONNECT are closed
// at the auth timeout, not before, and what they held comes back: a
// second wave of them leaves the edge's goroutines and memory where the
// first left them. (The live heap measured is the whole test process's.)
func TestSilentConnections(t *testing.T) {
	const (
		n           = 2000
		authTimeout = 2 * time.Second
	)
	h := newHarness(t, func(c *edge.Config) {
		c.AuthTimeout = authTimeout
		c.Logger = slog.New(slog.DiscardHandler) // the test's log buffer would grow with each session
	})
	goroutines := runtime.NumGoroutine()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	inUse := func() int64 { // the live heap
		runtime.GC()
		runtime.GC() // the second empties the sync.Pools
		metrics.Read(live)
		return int64(live[0].Value.Uint64())
	}
	wave := func() (held int64) {
		before := inUse()
		conns := make([]net.Conn, 0, n)
		dialed := make([]time.Time, 0, n)
		defer func() {
			for _, conn := range conns {
				conn.Close()
			}
		}()
		for i := range n {
			conn, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			conns, dialed = append(conns, conn), append(dialed, time.Now())
		}
		// Accepted in order: once the last is served, all are.
		last := dialWith(t, h.addr, nil)
		last.send("PING", "last", map[string]any{})
		last.expectError("NOT_AUTHENTICATED", "last", "PING")
		held = inUse() - before
		var wg sync.WaitGroup
		var closed, early atomic.Int64
		for i, conn := range conns {
			wg.Go(func() {
				conn.SetReadDeadline(time.Now().Add(authTimeout + 10*time.Second))
				var b [1]byte
				if n, err := conn.Read(b[:]); n == 0 && err == io.EOF {
					closed.Add(1)
					// The edge's clock starts at accept, a little after the dial.
					if time.Since(dialed[i]) < authTimeout-100*time.Millisecond {
						early.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if closed.Load() != n || early.Load() != 0 {
			t.Fatalf("%d of %d silent connections closed by the edge with nothing sent (%d before the auth timeout), want all, none early",
				closed.Load(), n, early.Load())
		}
		last.expectClosed()
		return held
	}
	held := wave()
	h.waitFor("the first wave's goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines+5 })
	after1 := inUse()
	wave()
	h.waitFor("the second wave's goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines+5 })
	after2 := inUse()
	t.Logf("%d silent connections held %.0f bytes of live heap each (client sockets included); after the second wave %+d bytes",
		n, float64(held)/n, after2-after1)
	// A session, or anything of one, kept per connection would show as a
	// growth of about what they held.
	if after2-after1 > held/3 {
		t.Errorf("the live heap grew by %d KiB over a second wave of %d silent connections, which held %d KiB: want under a third of it",
			(after2-after1)>>10, n, held>>10)
	}
	h.connect(1).ping("served")
}
