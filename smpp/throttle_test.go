package smpp

import (
	"context"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	tests := []struct {
		tps   float64
		burst int // reservations that need no wait
	}{
		{1, 1},
		{10, 1},
		{100, 5},
		{1000, 50},
	}
	for _, tt := range tests {
		b := newBucket(tt.tps)
		for i := 0; i < tt.burst; i++ {
			if d := reserve(b); d != 0 {
				t.Fatalf("tps %v: reservation %d waits %v, want none within the burst", tt.tps, i+1, d)
			}
		}
		// The next ones are spaced 1/tps apart (give or take the time the
		// loop itself takes).
		step := time.Duration(float64(time.Second) / tt.tps)
		for i := 1; i <= 5; i++ {
			d := reserve(b)
			want := time.Duration(i) * step
			if d < want-step/2 || d > want {
				t.Fatalf("tps %v: reservation %d past the burst waits %v, want about %v", tt.tps, i, d, want)
			}
		}
		b.Unreserve()
		if d := reserve(b); d < 4*step || d > 5*step {
			t.Fatalf("tps %v: after giving one back the next waits %v, want about %v", tt.tps, d, 5*step)
		}
	}
	if newBucket(0) != nil || reserve(newBucket(0)) != 0 {
		t.Fatal("TPS 0 must mean no bucket and no wait")
	}
}

func TestWaitTokensCanceled(t *testing.T) {
	b := newBucket(1)
	if err := waitTokens(context.Background(), b, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := waitTokens(ctx, b); err != context.DeadlineExceeded || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("waitTokens = %v after %v, want the deadline at once", err, time.Since(start))
	}
	// The canceled wait gave its token back: the next waits about a second
	// (since the first reservation), not two.
	if d := reserve(b); d > time.Second {
		t.Fatalf("next reservation waits %v", d)
	}
}
