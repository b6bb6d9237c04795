package api

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	b := newBucket(Rate{PerSecond: 10, Burst: 3})
	now := time.Unix(0, 0)
	for i := 0; i < 3; i++ {
		if ok, _ := b.take(now); !ok {
			t.Fatalf("burst token %d refused", i)
		}
	}
	ok, wait := b.take(now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over burst: ok=%v wait=%v, want refused for 100ms", ok, wait)
	}
	if ok, _ := b.take(now.Add(100 * time.Millisecond)); !ok {
		t.Fatal("token not refilled after 100ms")
	}
	if ok, _ := b.take(now.Add(10 * time.Second)); !ok || b.tokens > 3 {
		t.Fatalf("refill past burst: %v", b.tokens)
	}
}
