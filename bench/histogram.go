package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in log-linear buckets: 64 sub-buckets per
// power of two, so any value is kept within 1/64 (1.6%) of its size, from
// 1 ns to about 9 minutes, in a fixed 40 KiB. Not safe for concurrent use:
// each worker keeps its own and they are merged.
type Histogram struct {
	counts [40 * subBuckets]uint64
	n      uint64
	max    time.Duration
	sum    time.Duration
}

const subBits = 6
const subBuckets = 1 << subBits

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - subBits // ≥ 1
	idx := exp*subBuckets + int(v>>uint(exp-1)) - subBuckets
	return idx
}

// lowerBound is the smallest value of bucket i.
func lowerBound(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i / subBuckets
	sub := i%subBuckets + subBuckets
	return uint64(sub) << uint(exp-1)
}

// Record adds one value.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := bucketOf(uint64(d))
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds o into h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average value.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the value at q (0..1), the midpoint of its bucket.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo := lowerBound(i)
			hi := lowerBound(i + 1)
			v := time.Duration((lo + hi) / 2)
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }
