package bench

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d > 0.02 || d < -0.02 {
			t.Errorf("q%.2f = %v, want %v ±2%%", c.q, got, c.want)
		}
	}
	if h.Count() != 10000 || h.Max() != 10*time.Millisecond {
		t.Fatalf("count %d max %v", h.Count(), h.Max())
	}
	var o Histogram
	o.Record(time.Second)
	h.Merge(&o)
	if h.Max() != time.Second || h.Count() != 10001 {
		t.Fatal("merge")
	}
	for v := uint64(0); v < 1<<20; v = v*3/2 + 1 {
		i := bucketOf(v)
		if lowerBound(i) > v || lowerBound(i+1) <= v {
			t.Fatalf("value %d outside its bucket %d [%d,%d)", v, i, lowerBound(i), lowerBound(i+1))
		}
	}
}
