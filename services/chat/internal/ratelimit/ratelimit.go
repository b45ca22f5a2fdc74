// Package ratelimit limits how fast each user may send, with a token bucket
// per user kept in memory.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter holds one token bucket per user: a bucket holds at most burst
// tokens, refills at rate tokens per second, and each allowed message takes
// one. A bucket that is full again is dropped, since a new bucket starts
// full: the map holds only the users who sent within about the time a
// bucket takes to refill. Its methods are safe for concurrent use; a nil
// *Limiter allows everything.
type Limiter struct {
	rate   float64
	burst  float64
	refill time.Duration // time an empty bucket takes to fill
	now    func() time.Time

	mu        sync.Mutex
	buckets   map[int64]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// New returns a limiter of rate messages per second in bursts of burst,
// reading the time from now (nil means time.Now). A rate of 0 or less
// returns nil: no limit.
func New(rate float64, burst int, now func() time.Time) *Limiter {
	if rate <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	burst = max(burst, 1)
	return &Limiter{
		rate:    rate,
		burst:   float64(burst),
		refill:  time.Duration(float64(burst) / rate * float64(time.Second)),
		now:     now,
		buckets: make(map[int64]*bucket),
	}
}

// Allow takes a token from user's bucket and reports whether there was one.
func (l *Limiter) Allow(user int64) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.refill {
		l.sweep(now)
	}
	b := l.buckets[user]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[user] = b
	}
	l.fill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Len returns how many buckets the limiter holds.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// fill adds the tokens earned since b was last computed. A clock that
// goes back earns nothing.
func (l *Limiter) fill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
}

// sweep drops the buckets that are full again. It runs at most once per
// refill time, so its cost spreads over the calls in between.
func (l *Limiter) sweep(now time.Time) {
	for user, b := range l.buckets {
		l.fill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, user)
		}
	}
	l.lastSweep = now
}
