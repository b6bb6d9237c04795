package httpx

import (
	"testing"
	"time"
)

// TestLoginGuard: the Max-th failure in a window blocks the address until
// the window passes; other addresses are not blocked.
func TestLoginGuard(t *testing.T) {
	g := &LoginGuard{Max: 3, Window: time.Minute}
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if b, _ := g.Blocked("a", now); b {
			t.Fatalf("blocked after %d failures", i)
		}
		g.Failed("a", now.Add(time.Duration(i)*time.Second))
	}
	if b, wait := g.Blocked("a", now.Add(10*time.Second)); !b || wait != 50*time.Second {
		t.Fatalf("after 3 failures: %v %s", b, wait)
	}
	if b, _ := g.Blocked("b", now.Add(10*time.Second)); b {
		t.Fatal("another address is blocked")
	}
	if b, _ := g.Blocked("a", now.Add(time.Minute)); b {
		t.Fatal("still blocked after the window")
	}
}
