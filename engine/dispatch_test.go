package engine

import "testing"

// TestAskedAgainWhileClaimedRunsAgain: a verification enqueued while its
// send is still under way (a status callback started its next step) is
// dispatched again as soon as that send releases it, not when its
// dispatch deadline comes.
func TestAskedAgainWhileClaimedRunsAgain(t *testing.T) {
	h := newHarness(t)
	h.drain()
	if !h.e.claim("v1") {
		t.Fatal("first claim refused")
	}
	if h.e.claim("v1") || h.e.claim("v1") {
		t.Fatal("a second claim while the first holds")
	}
	if len(h.e.queue) != 0 {
		t.Fatal("queued before the release")
	}
	h.e.release("v1")
	if len(h.e.queue) != 1 || <-h.e.queue != "v1" {
		t.Fatal("not enqueued again once released")
	}
	h.e.gate.done()
	// a claim nobody asked for again is released quietly
	h.e.claim("v2")
	h.e.release("v2")
	if len(h.e.queue) != 0 {
		t.Fatal("enqueued again though nobody asked")
	}
}
