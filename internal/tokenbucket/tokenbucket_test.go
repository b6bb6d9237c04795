package tokenbucket

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTakeRefillsUpToBurst(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	b := New(10, 3, t0) // 10 a second, 3 at once
	for i := range 3 {
		if ok, _ := b.Take(t0); !ok {
			t.Fatalf("take %d of a full burst refused", i)
		}
	}
	ok, wait := b.Take(t0)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("empty bucket: ok=%v wait=%v, want refused and 100ms", ok, wait)
	}
	if ok, _ := b.Take(t0.Add(100 * time.Millisecond)); !ok {
		t.Fatal("a token earned in 100ms not given")
	}
	// a long pause refills only up to the burst
	t1 := t0.Add(time.Hour)
	for i := range 3 {
		if ok, _ := b.Take(t1); !ok {
			t.Fatalf("take %d after a pause refused", i)
		}
	}
	if ok, _ := b.Take(t1); ok {
		t.Fatal("more than the burst after a pause")
	}
	// a clock that goes back earns nothing and breaks nothing
	if ok, _ := b.Take(t0); ok {
		t.Fatal("a token from a clock going back")
	}
}

func TestReserveOwesAndUnreserveGivesBack(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	b := New(100, 0, t0) // burst at least 1
	if b.Burst() != 1 || b.Rate() != 100 {
		t.Fatalf("rate %v burst %v", b.Rate(), b.Burst())
	}
	if d := b.Reserve(t0); d != 0 {
		t.Fatalf("first reserve waits %v", d)
	}
	if d := b.Reserve(t0); d != 10*time.Millisecond {
		t.Fatalf("second reserve waits %v, want 10ms", d)
	}
	if d := b.Reserve(t0); d != 20*time.Millisecond {
		t.Fatalf("third reserve waits %v, want 20ms (queued behind the second)", d)
	}
	b.Unreserve()
	b.Unreserve()
	if d := b.Reserve(t0); d != 10*time.Millisecond {
		t.Fatalf("after two give-backs a reserve waits %v, want 10ms", d)
	}
	for range 5 {
		b.Unreserve()
	}
	if ok, _ := b.Take(t0); !ok {
		t.Fatal("give-backs did not refill")
	}
	if ok, _ := b.Take(t0); ok {
		t.Fatal("give-backs filled past the burst")
	}
}

func TestWaitSpacesAndGivesBackWhenCanceled(t *testing.T) {
	var none *Bucket
	if err := none.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := New(20, 1, time.Now()) // one every 50ms
	start := time.Now()
	for range 3 {
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("three waits took %v, want at least two spacings of 50ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled wait: %v", err)
	}
	// the canceled wait gave its token back: the next is due one spacing
	// after the last, not two
	if d := b.Reserve(time.Now()); d > 50*time.Millisecond {
		t.Fatalf("next reservation waits %v", d)
	}
}
