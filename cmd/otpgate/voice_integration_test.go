package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/sip/uas"
	"github.com/otpgate/otpgate/smpp/smsc"
	"github.com/otpgate/otpgate/tts"
)

// voiceYAML: one SMSC (the simulator at smscAddr) and one SIP trunk (the
// SIP simulator at sipAddr).
func voiceYAML(smscAddr, sipAddr string) string {
	return fmt.Sprintf(`server_key: %s
limits: {number_sends: {max: -1}}
smscs: [{name: sim, address: %s, system_id: otpgate, password: secret}]
trunks: [{name: trunk, address: %s, local_ip: 127.0.0.1, ring_timeout: 5s}]
`, testKey, smscAddr, sipAddr) + tenantsYAML()
}

func startUAS(t *testing.T, cfg uas.Config) *uas.Server {
	t.Helper()
	s, err := uas.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("udp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitCall waits for an ended call to number at the SIP simulator.
func waitCall(t *testing.T, s *uas.Server, number string, d time.Duration) uas.CallRecord {
	t.Helper()
	var rec uas.CallRecord
	eventually(t, d, "a finished call to "+number, func() bool {
		calls := s.Calls(number)
		if len(calls) > 0 && !calls[0].Ended.IsZero() {
			rec = calls[0]
			return true
		}
		return false
	})
	return rec
}

// TestUndeliveredSMSLeadsToACall: with next_event_wait ten minutes, only the
// failed receipt can start the voice step. The call reads the same code as
// the SMS, and its recording is byte for byte what tts renders for it.
func TestUndeliveredSMSLeadsToACall(t *testing.T) {
	sim := startSim(t, smsc.Config{ReceiptDelay: 10 * time.Millisecond, UndeliveredShare: 1})
	sipSim := startUAS(t, uas.Config{})
	g := startTestGateway(t, voiceYAML(sim.Addr(), sipSim.Addr()), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	cr := c.create(`{"number":"+14155552690","workflow":["sms","voice"],"next_event_wait":600,"locale":"en","template":"Code: {code}","code_length":4}`)
	code := strings.TrimPrefix(waitMessage(t, sim, "+14155552690", 1).Text, "Code: ")
	rec := waitCall(t, sipSim, "+14155552690", 30*time.Second)
	r, err := tts.New(tts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.Render(code, "en", tts.MuLaw)
	if rec.Codec != "PCMU" || !bytes.Equal(rec.Audio, want) || rec.SeqGaps != 0 {
		t.Fatalf("recording: codec %s, %d bytes (want %d), equal %v, gaps %d", rec.Codec, len(rec.Audio), len(want), bytes.Equal(rec.Audio, want), rec.SeqGaps)
	}
	eventually(t, 5*time.Second, "call answered event", func() bool { return strings.Contains(eventTypes(c.get(cr.ID)), "call_answered") })
	if ev := eventTypes(c.get(cr.ID)); !strings.HasPrefix(ev, "created,submitted,undelivered,step,call_started,call_answered") {
		t.Fatalf("events %s", ev)
	}
	if res := c.check(cr.ID, code); !res.Verified {
		t.Fatalf("the code of both steps: %+v", res)
	}
}

// TestNextEventWaitDecidesTheCall: a check before the wait means no call;
// no check within a short wait leads to one.
func TestNextEventWaitDecidesTheCall(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	sipSim := startUAS(t, uas.Config{})
	g := startTestGateway(t, voiceYAML(sim.Addr(), sipSim.Addr()), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	// verified in time: no call, ever
	a := c.create(`{"number":"+14155552691","workflow":["sms","voice"],"next_event_wait":10,"template":"Code: {code}"}`)
	code := strings.TrimPrefix(waitMessage(t, sim, "+14155552691", 1).Text, "Code: ")
	if r := c.check(a.ID, code); !r.Verified {
		t.Fatal(r)
	}
	// not checked: the call comes after next_event_wait (10 s)
	b := c.create(`{"number":"+14155552692","workflow":["sms","voice"],"next_event_wait":10}`)
	eventually(t, 20*time.Second, "a call after the wait", func() bool { return len(sipSim.Calls("+14155552692")) > 0 })
	eventually(t, 5*time.Second, "call_started event", func() bool { return strings.Contains(eventTypes(c.get(b.ID)), "call_started") })
	if ev := eventTypes(c.get(b.ID)); !strings.Contains(ev, "step,call_started") {
		t.Fatalf("events %s", ev)
	}
	if n := len(sipSim.Calls("+14155552691")); n != 0 {
		t.Fatalf("%d calls to a verified number", n)
	}
}

// TestBusyAndVerifiedHangsUp: a busy number ends the step with that
// outcome; a ringing call is hung up when the code is verified.
func TestBusyAndVerifiedHangsUp(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	sipSim := startUAS(t, uas.Config{Rules: []uas.Rule{{Prefix: "+1415555269", Action: "busy"}, {Prefix: "+1415555268", Action: "no_answer"}}})
	g := startTestGateway(t, voiceYAML(sim.Addr(), sipSim.Addr()), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	busy := c.create(`{"number":"+14155552693","channel":"voice"}`)
	eventually(t, 10*time.Second, "busy", func() bool { return strings.Contains(eventTypes(c.get(busy.ID)), "call_busy") })

	ring := c.create(`{"number":"+14155552680","workflow":["sms","voice"],"next_event_wait":10,"template":"Code: {code}"}`)
	code := strings.TrimPrefix(waitMessage(t, sim, "+14155552680", 1).Text, "Code: ")
	eventually(t, 20*time.Second, "ringing", func() bool { return len(sipSim.Calls("+14155552680")) > 0 })
	if r := c.check(ring.ID, code); !r.Verified {
		t.Fatal(r)
	}
	rec := waitCall(t, sipSim, "+14155552680", 10*time.Second)
	if !rec.Answered.IsZero() || rec.Ended.Sub(rec.Started) > 4*time.Second {
		t.Fatalf("the ringing call was not hung up at once: %+v", rec)
	}
}
