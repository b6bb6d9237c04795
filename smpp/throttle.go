package smpp

import (
	"context"
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens a second, holding at most burst.
// A nil *bucket never waits.
type bucket struct {
	rate  float64 // tokens per second
	burst float64

	mu     sync.Mutex
	tokens float64 // may go negative: tokens promised to waiters
	last   time.Time
}

// newBucket returns a bucket for tps submits a second, or nil for no limit.
// Its burst is max(1, tps/20): at most tps·t + tps/20 submits in any t.
func newBucket(tps float64) *bucket {
	if tps <= 0 {
		return nil
	}
	burst := tps / 20
	if burst < 1 {
		burst = 1
	}
	return &bucket{rate: tps, burst: burst, tokens: burst, last: time.Now()}
}

// reserve takes one token and returns how long to wait before using it.
func (b *bucket) reserve() time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// unreserve gives back a token taken by reserve and not used.
func (b *bucket) unreserve() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.tokens++
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	b.mu.Unlock()
}

// wait takes a token from each bucket, waiting as long as the slowest asks.
// When ctx ends first, the tokens are given back and ctx's error returned.
func waitTokens(ctx context.Context, buckets ...*bucket) error {
	var d time.Duration
	for _, b := range buckets {
		d = max(d, b.reserve())
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		for _, b := range buckets {
			b.unreserve()
		}
		return ctx.Err()
	}
}
