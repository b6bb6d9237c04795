// Package tokenbucket owns the token bucket the gateway uses for every rate
// cap: tenants' request rates (api), submits per SMSC and per bind (smpp),
// calls per second per SIP trunk (sip) and the simulator's TPS
// (smpp/smsc). Each caller chooses its burst; the bucket only keeps the
// count.
package tokenbucket

import (
	"context"
	"sync"
	"time"
)

// Bucket refills at Rate tokens a second up to Burst. Safe for concurrent
// use. Invariant: tokens ≤ burst; tokens may go below zero only by
// Reserve (tokens promised to waiters).
type Bucket struct {
	rate, burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// New returns a full bucket of rate tokens a second holding at most burst
// (at least 1), as of now.
func New(rate, burst float64, now time.Time) *Bucket {
	burst = max(burst, 1)
	return &Bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// Rate and Burst are what the bucket was made with.
func (b *Bucket) Rate() float64  { return b.rate }
func (b *Bucket) Burst() float64 { return b.burst }

// refill adds the tokens earned since the last call; a clock that went
// back earns nothing. b.mu must be held.
func (b *Bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// Take takes one token if there is one; if not, it takes none and says how
// long until there is.
func (b *Bucket) Take(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// Reserve takes one token now, owed if need be, and returns how long to
// wait before using it (0: at once). Give it back with Unreserve when it is
// not used.
func (b *Bucket) Reserve(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// Unreserve gives back a token taken by Reserve and not used.
func (b *Bucket) Unreserve() {
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+1)
	b.mu.Unlock()
}

// Wait takes a token, waiting until it is due; when ctx ends first, the
// token is given back and ctx's error returned. A nil *Bucket never waits.
func (b *Bucket) Wait(ctx context.Context) error {
	if b == nil {
		return nil
	}
	d := b.Reserve(time.Now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.Unreserve()
		return ctx.Err()
	}
}
