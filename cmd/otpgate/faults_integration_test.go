package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/smpp/smsc"
)

// Fault tests: every OTP the API accepts reaches the SMSC, and exactly once
// where the SMSC acknowledged it (a copy the SMSC stored but never answered
// may be sent again; an answered one never is).

// faultYAML: two transceiver binds with short timeouts so faults show fast.
func faultYAML(addr string) string {
	return fmt.Sprintf(`server_key: %s
limits: {number_sends: {max: -1}}
sms: {send_timeout: 4s}
smscs:
  - name: sim
    address: %s
    system_id: otpgate
    password: secret
    window: 10
    binds: [{kind: transceiver, count: 2}]
    submit_timeout: 1s
    reconnect_min: 20ms
    reconnect_max: 200ms
    enquire_link: 1s
`, testKey, addr) + tenantsYAML()
}

// createMany accepts n verifications for numbers base..base+n-1 and returns
// their ids by number.
func createMany(t *testing.T, c client, base, n int) map[string]string {
	ids := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			num := fmt.Sprintf("+1415557%04d", base+i)
			cr := c.create(fmt.Sprintf(`{"number":%q}`, num))
			mu.Lock()
			ids[num] = cr.ID
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	return ids
}

// checkExactlyOnce waits until each verification's SMS is recorded as
// submitted, then checks the copies at the simulators: the acknowledged one
// (the id whose submit_sm_resp the gateway got and recorded) is stored
// exactly once, and at most one other copy exists (sent again because its
// answer was lost with the link).
func checkExactlyOnce(t *testing.T, c client, ids map[string]string, sims ...*smsc.Server) {
	t.Helper()
	for num, id := range ids {
		var msgID string
		eventually(t, 30*time.Second, "submit of "+num, func() bool {
			v := c.get(id)
			if len(v.Messages) > 0 && v.Messages[0].MessageID != "" {
				msgID = v.Messages[0].MessageID
				return true
			}
			return false
		})
		found := 0
		for _, s := range sims {
			for _, m := range s.Messages(num) {
				if m.ID == msgID {
					found++
				}
			}
		}
		if found != 1 {
			t.Fatalf("%s: the acknowledged message %s is stored %d times", num, msgID, found)
		}
		// Other copies are ones whose answer never reached the gateway (the
		// link dropped first): SMPP cannot tell those from unsent ones, so
		// one resend is allowed, and no more.
		copies := 0
		for _, s := range sims {
			copies += len(s.Messages(num))
		}
		if copies > 2 {
			t.Fatalf("%s: %d copies at the SMSCs", num, copies)
		}
	}
}

// TestFaultSMSCKilledWithFullWindow: the SMSC dies with every window slot
// taken (its answers delayed), comes back empty; nothing is lost.
func TestFaultSMSCKilledWithFullWindow(t *testing.T) {
	old := startSim(t, smsc.Config{SubmitDelay: 700 * time.Millisecond})
	addr := old.Addr()
	g := startTestGateway(t, faultYAML(addr), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	ids := createMany(t, c, 0, 40) // 2 binds × window 10 = 20 in flight, 20 waiting
	eventually(t, 5*time.Second, "window full", func() bool { return old.Counters().Submits >= 20 })
	old.Close()
	time.Sleep(100 * time.Millisecond)
	fresh := simAgainAt(t, addr)
	checkExactlyOnce(t, c, ids, old, fresh)
}

// TestFaultThrottling: an SMSC that takes 40 submits a second and answers
// ESME_RTHROTTLED past that; every message is accepted once in the end.
func TestFaultThrottling(t *testing.T) {
	sim := startSim(t, smsc.Config{TPS: 40})
	g := startTestGateway(t, faultYAML(sim.Addr()), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	ids := createMany(t, c, 100, 80)
	checkExactlyOnce(t, c, ids, sim)
	if sim.Counters().Throttled == 0 {
		t.Fatal("the simulator never throttled: the test tested nothing")
	}
}

// TestFaultSMSCNeverAnswers: an SMSC that takes submits and never answers;
// after it is replaced by one that does, every message gets through once.
func TestFaultSMSCNeverAnswers(t *testing.T) {
	mute := startSim(t, smsc.Config{NoResponse: true})
	addr := mute.Addr()
	g := startTestGateway(t, faultYAML(addr), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	ids := createMany(t, c, 200, 20)
	time.Sleep(2500 * time.Millisecond) // submit timeouts, retries on the other bind, engine retries
	for num, id := range ids {
		if v := c.get(id); v.Status != "pending" || strings.Contains(eventTypes(v), "submitted") {
			t.Fatalf("%s: %s %s while the SMSC never answered", num, v.Status, eventTypes(v))
		}
	}
	mute.Close()
	time.Sleep(100 * time.Millisecond)
	good := simAgainAt(t, addr)
	checkExactlyOnce(t, c, ids, good)
}

// TestFaultFlappingLink: the SMSC drops the connection every 7th submit
// (before answering it) under load; nothing is lost, nothing answered twice.
func TestFaultFlappingLink(t *testing.T) {
	sim := startSim(t, smsc.Config{DropEvery: 7})
	g := startTestGateway(t, faultYAML(sim.Addr()), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	ids := createMany(t, c, 300, 60)
	checkExactlyOnce(t, c, ids, sim)
	if sim.Counters().Dropped == 0 {
		t.Fatal("the link never dropped: the test tested nothing")
	}
}

// TestTextsArriveIntact: Bulgarian, Greek and Arabic templates leave as
// UCS-2 and arrive intact (joined from parts when long), "€[^" leave as GSM
// escapes, and a multipart message counts as delivered when every part is.
func TestTextsArriveIntact(t *testing.T) {
	sim := startSim(t, smsc.Config{ReceiptDelay: 5 * time.Millisecond})
	g := startTestGateway(t, faultYAML(sim.Addr()), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	long := "Вашият код за потвърждение е {code}. Не го споделяйте с никого, дори с хора, които казват, че са от нашия екип."
	for i, tc := range []struct{ tmpl, enc string }{
		{"Ο κωδικός σας είναι {code}", "ucs2"},
		{"رمز التحقق الخاص بك هو {code}", "ucs2"},
		{long, "ucs2"},
		{"Code {code} costs 0€ [free] ^_^", "gsm7"},
		{"{code} " + strings.Repeat("a", 1520), "gsm7"}, // 10 parts, the most a message takes
		{"{code} " + strings.Repeat("ж", 660), "ucs2"},  // 10 parts, 1,327 bytes of UTF-8
	} {
		num := fmt.Sprintf("+1415558%04d", i)
		cr := c.create(fmt.Sprintf(`{"number":%q,"template":%q}`, num, tc.tmpl))
		msg := waitMessage(t, sim, num, 1)
		code := codeFrom(t, msg.Text)
		if want := strings.ReplaceAll(tc.tmpl, "{code}", code); msg.Text != want || msg.Encoding != tc.enc {
			t.Fatalf("%s: arrived %q (%s), want %q (%s)", num, msg.Text, msg.Encoding, want, tc.enc)
		}
		wantParts := 1
		switch {
		case tc.tmpl == long:
			wantParts = 2
		case len(tc.tmpl) > 1000:
			wantParts = 10
		}
		if msg.Parts != wantParts {
			t.Fatalf("%s: %d parts, want %d", num, msg.Parts, wantParts)
		}
		eventually(t, 5*time.Second, "delivered", func() bool { return strings.Contains(eventTypes(c.get(cr.ID)), "delivered") })
		if v := c.get(cr.ID); len(v.Messages[0].Parts) != max(wantParts, 0) && wantParts > 1 {
			t.Fatalf("%s: the record keeps %d parts", num, len(v.Messages[0].Parts))
		}
	}
}
