package api

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	b := newBucket(Rate{PerSecond: 10, Burst: 3})
	now := time.Now()
	for i := 0; i < 3; i++ {
		if ok, _ := b.Take(now); !ok {
			t.Fatalf("burst token %d refused", i)
		}
	}
	ok, wait := b.Take(now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over burst: ok=%v wait=%v, want refused for 100ms", ok, wait)
	}
	if ok, _ := b.Take(now.Add(100 * time.Millisecond)); !ok {
		t.Fatal("token not refilled after 100ms")
	}
	// ten seconds refill the burst of 3, not more
	later := now.Add(10 * time.Second)
	for i := 0; i < 3; i++ {
		if ok, _ := b.Take(later); !ok {
			t.Fatalf("refilled burst token %d refused", i)
		}
	}
	if ok, _ := b.Take(later); ok {
		t.Fatal("refill past burst: a fourth token")
	}
	if !sameRate(b, Rate{PerSecond: 10, Burst: 3}) || sameRate(b, Rate{PerSecond: 10}) {
		t.Fatal("sameRate: Burst 3 is not the default burst of 10")
	}
}
