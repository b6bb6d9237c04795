package api

import (
	"math"
	"sync"
	"time"
)

// Rate is a token bucket's refill rate and size.
type Rate struct {
	PerSecond float64 // tokens added per second; 0 means no limit
	Burst     int     // bucket size; default PerSecond rounded up
}

// bucket is one tenant's token bucket. Requests per second are held per
// gateway node, in memory: this limit shapes traffic, it is not an abuse
// counter that must survive a restart (those live in the engine's store).
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(r Rate) *bucket {
	b := float64(r.Burst)
	if b < 1 {
		b = math.Max(1, math.Ceil(r.PerSecond))
	}
	return &bucket{rate: r.PerSecond, burst: b, tokens: b}
}

// same reports whether b was made for r.
func (b *bucket) same(r Rate) bool {
	n := newBucket(r)
	return n.rate == b.rate && n.burst == b.burst
}

// take takes one token, or says how long until one is there.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
