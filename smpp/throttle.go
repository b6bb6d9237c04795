package smpp

import (
	"context"
	"time"

	"github.com/otpgate/otpgate/internal/tokenbucket"
)

// newBucket returns the token bucket for tps submits a second, or nil for
// no limit. Its burst is max(1, tps/20): at most tps·t + tps/20 submits in
// any t.
func newBucket(tps float64) *tokenbucket.Bucket {
	if tps <= 0 {
		return nil
	}
	return tokenbucket.New(tps, tps/20, time.Now())
}

// reserve takes a token of b (nil: no limit) and says how long to wait
// before using it.
func reserve(b *tokenbucket.Bucket) time.Duration {
	if b == nil {
		return 0
	}
	return b.Reserve(time.Now())
}

// waitTokens takes a token from each bucket, waiting as long as the slowest
// asks. When ctx ends first, the tokens are given back and ctx's error
// returned.
func waitTokens(ctx context.Context, buckets ...*tokenbucket.Bucket) error {
	var d time.Duration
	for _, b := range buckets {
		d = max(d, reserve(b))
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
			if b != nil {
				b.Unreserve()
			}
		}
		return ctx.Err()
	}
}
