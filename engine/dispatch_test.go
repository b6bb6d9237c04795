package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/router"
)

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

// lossyAgent is an RCS agent whose first answer to each message is lost
// (the far end took it): every try is recorded by connector.
type lossyAgent struct {
	name  string
	mu    *sync.Mutex
	tries *[]string       // connector of each try, in order
	seen  map[string]bool // refs answered already
}

type lostAnswer struct{}

func (lostAnswer) Error() string  { return "no answer" }
func (lostAnswer) Unknown() bool  { return true }
func (lostAnswer) Reason() string { return "rcs_timeout" }

func (a lossyAgent) Send(ctx context.Context, m Outbound) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	*a.tries = append(*a.tries, a.name)
	if !a.seen[m.Ref] {
		a.seen[m.Ref] = true
		return nil, lostAnswer{}
	}
	return []string{a.name + ":" + m.Ref}, nil
}

// TestRCSResendStaysOnItsAgent: an RCS send whose answer was lost is sent
// again on the same agent (where its message id makes it a copy), not on
// another agent the weighted route draws, which would deliver it twice.
func TestRCSResendStaysOnItsAgent(t *testing.T) {
	h := newHarness(t)
	rt, err := router.New([]router.Route{
		{Name: "rcs", Match: router.Match{Channel: "rcs"}, Strategy: router.StrategyWeighted,
			Targets: []router.Target{{Connector: "rbm-a", Weight: 1}, {Connector: "rbm-b", Weight: 1}}},
		{Name: "all", Targets: []router.Target{{Connector: "smsc"}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	h.e.cfg.Router = rt
	h.e.cfg.Channels = map[string]bool{ChannelSMS: true, ChannelRCS: true}
	var all []string
	h.e.cfg.Senders = map[string]Sender{"smsc": h.smsc,
		"rbm-a": lossyAgent{"rbm-a", &mu, &all, seen}, "rbm-b": lossyAgent{"rbm-b", &mu, &all, seen}}
	for i := 0; i < 20; i++ {
		mu.Lock()
		all = all[:0]
		mu.Unlock()
		c, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: fmt.Sprintf("+3934712345%02d", i), Channel: "rcs"})
		if err != nil {
			t.Fatal(err)
		}
		h.drain()
		h.advanceClock(time.Minute) // the retry's back-off
		h.e.runDue(context.Background(), 100)
		h.drain()
		mu.Lock()
		got := slices.Clone(all)
		mu.Unlock()
		if len(got) != 2 || got[0] != got[1] {
			t.Fatalf("verification %d: tries on %v; want two on one agent", i, got)
		}
		v, _ := h.e.Get(context.Background(), "acme", c.ID)
		if v.Messages[0].State != MsgSubmitted {
			t.Fatalf("verification %d: message %+v", i, v.Messages[0])
		}
	}
}
