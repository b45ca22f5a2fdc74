package ratelimit

import (
	"testing"
	"time"
)

// clock is a fake time source moved by the test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Unix(1_700_000_000, 0)} }
func allowN(l *Limiter, user int64, n int) int {
	got := 0
	for range n {
		if l.Allow(user) {
			got++
		}
	}
	return got
}

func TestBurstThenRefill(t *testing.T) {
	c := newClock()
	l := New(10, 5, c.now)
	if got := allowN(l, 1, 8); got != 5 {
		t.Fatalf("Allow x8 at once with burst 5 = %d allowed, want 5", got)
	}
	if got := allowN(l, 2, 5); got != 5 {
		t.Errorf("another user's Allow x5 = %d allowed, want 5 (buckets are per user)", got)
	}
	c.advance(250 * time.Millisecond) // 2.5 tokens at 10/s
	if got := allowN(l, 1, 5); got != 2 {
		t.Errorf("Allow x5 after 250 ms at 10/s = %d allowed, want 2", got)
	}
	c.advance(time.Hour) // refills to the burst, not beyond
	if got := allowN(l, 1, 10); got != 5 {
		t.Errorf("Allow x10 after an hour = %d allowed, want 5 (the burst)", got)
	}
	c.advance(-time.Minute) // a clock that goes back earns nothing
	if l.Allow(1) {
		t.Errorf("Allow after the clock went back = true, want false")
	}
}

func TestDisabled(t *testing.T) {
	for _, rate := range []float64{0, -1} {
		l := New(rate, 1, nil)
		if got := allowN(l, 1, 1000); got != 1000 || l.Len() != 0 {
			t.Errorf("New(%v, 1): 1000 Allow = %d allowed, %d buckets; want 1000, 0", rate, got, l.Len())
		}
	}
}

func TestBucketsAreDroppedWhenFull(t *testing.T) {
	c := newClock()
	l := New(10, 10, c.now) // an empty bucket refills in 1 s
	for user := range int64(1000) {
		l.Allow(user)
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("after 1000 users sent, Len = %d, want 1000", n)
	}
	c.advance(500 * time.Millisecond)
	l.Allow(1)
	if n := l.Len(); n != 1000 {
		t.Errorf("half a refill later Len = %d, want 1000 (no sweep yet)", n)
	}
	c.advance(600 * time.Millisecond)
	l.Allow(1) // sweeps: every bucket but user 1's is full again
	if n := l.Len(); n != 1 {
		t.Errorf("a refill later Len = %d, want 1", n)
	}
	// A dropped bucket comes back full: nothing is forgiven or lost.
	if got := allowN(l, 7, 11); got != 10 {
		t.Errorf("user 7 after the sweep: Allow x11 = %d allowed, want 10", got)
	}
}
