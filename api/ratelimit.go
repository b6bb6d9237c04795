package api

import (
	"math"
	"time"

	"github.com/otpgate/otpgate/internal/tokenbucket"
)

// Rate is a token bucket's refill rate and size.
type Rate struct {
	PerSecond float64 // tokens added per second; 0 means no limit
	Burst     int     // bucket size; default PerSecond rounded up
}

// burst is r's bucket size.
func (r Rate) burst() float64 {
	if r.Burst >= 1 {
		return float64(r.Burst)
	}
	return math.Max(1, math.Ceil(r.PerSecond))
}

// newBucket returns one tenant's token bucket, full. Requests per second
// are held per gateway node, in memory: this limit shapes traffic, it is
// not an abuse counter that must survive a restart (those live in the
// engine's store).
func newBucket(r Rate) *tokenbucket.Bucket {
	return tokenbucket.New(r.PerSecond, r.burst(), time.Now())
}

// sameRate reports whether b was made for r.
func sameRate(b *tokenbucket.Bucket, r Rate) bool {
	return b.Rate() == r.PerSecond && b.Burst() == r.burst()
}
