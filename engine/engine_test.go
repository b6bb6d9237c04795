package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/router"
)

// fakeSMSC records messages; it is the Sender of the tests.
type fakeSMSC struct {
	mu    sync.Mutex
	msgs  []Outbound
	fail  error
	n     int
	parts int // >1: answer with that many part ids
}

type permErr struct{}

func (permErr) Error() string   { return "destination refused" }
func (permErr) Permanent() bool { return true }

func (f *fakeSMSC) Send(ctx context.Context, m Outbound) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	f.n++
	f.msgs = append(f.msgs, m)
	if f.parts > 1 {
		ids := make([]string, f.parts)
		for i := range ids {
			ids[i] = fmt.Sprintf("m%d-%d", f.n, i+1)
		}
		return ids, nil
	}
	return []string{fmt.Sprintf("m%d", f.n)}, nil
}

type harness struct {
	t       *testing.T
	e       *Engine
	st      *store.Store
	smsc    *fakeSMSC
	now     time.Time
	tenant  *Tenant
	first   string // id of the first verification of the case
	last    string
	code    string // the code of the last verification, read from the last SMS
	limits  Limits
	voice   *fakeVoice
	clockMu sync.Mutex
}

// fakeVoice is the Voicer of the tests: it answers with outcome at once,
// or waits for its context (a call ringing until hung up) when outcome is
// "ring".
type fakeVoice struct {
	mu      sync.Mutex
	outcome string
	calls   []VoiceCall
	hungUp  int
}

func (f *fakeVoice) Call(ctx context.Context, c VoiceCall) (VoiceResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	out := f.outcome
	n := len(f.calls)
	f.mu.Unlock()
	if out == "ring" {
		<-ctx.Done()
		f.mu.Lock()
		f.hungUp++
		f.mu.Unlock()
		return VoiceResult{CallID: fmt.Sprintf("c%d", n), Outcome: MsgNoAnswer}, nil
	}
	if out == MsgFailed {
		return VoiceResult{}, reasonError{errors.New("trunk down"), "trunk_unavailable"}
	}
	return VoiceResult{CallID: fmt.Sprintf("c%d", n), Outcome: out, Talk: 12 * time.Second, Language: "en"}, nil
}

func newHarness(t *testing.T) *harness {
	return newHarnessLimits(t, Limits{NumberSends: Window{Max: -1}, NumberChecks: Window{Max: -1}, Velocity: velocityOff})
}

func newHarnessLimits(t *testing.T, l Limits) *harness {
	h := &harness{t: t, smsc: &fakeSMSC{}, now: time.Unix(1_800_000_000, 0), limits: l}
	st, err := store.Open(store.Options{Dir: t.TempDir(), Sync: store.SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.st = st
	rt, _ := router.New([]router.Route{
		{Name: "all", Targets: []router.Target{{Connector: "smsc"}}},
		{Name: "voice", Match: router.Match{Channel: "voice"}, Targets: []router.Target{{Connector: "trunk"}}},
	}, nil)
	h.voice = &fakeVoice{outcome: MsgAnswered}
	h.tenant = &Tenant{ID: "acme", Template: "plain", Templates: Templates{"plain": {"en": "CODE {code} END"}}}
	e, err := New(Config{
		ServerKey: bytes.Repeat([]byte{1}, 32), Store: st, Router: rt,
		Senders: map[string]Sender{"smsc": h.smsc},
		Voice:   map[string]Voicer{"trunk": h.voice},
		Tenants: map[string]*Tenant{"acme": h.tenant, "other": {ID: "other"}},
		Now:     h.clock,
		Logger:  slog.New(slog.DiscardHandler),
		Limits:  h.limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

// velocityOff turns every velocity limit off (tests that create many
// verifications in one range; velocity_test.go tests the limits).
var velocityOff = VelocityLimits{Country: Velocity{Rate: -1}, Prefix: Velocity{Rate: -1}, Client: Velocity{Rate: -1}}

// drain runs queued sends synchronously.
func (h *harness) drain() {
	for {
		select {
		case id := <-h.e.queue:
			h.e.dispatch(context.Background(), id)
			h.e.gate.done()
		default:
			return
		}
	}
}

func (h *harness) lastCode() string {
	h.smsc.mu.Lock()
	defer h.smsc.mu.Unlock()
	if len(h.smsc.msgs) == 0 {
		h.voice.mu.Lock()
		defer h.voice.mu.Unlock()
		if n := len(h.voice.calls); n > 0 {
			return h.voice.calls[n-1].Code
		}
		h.t.Fatal("no SMS sent and no call placed")
	}
	text := h.smsc.msgs[len(h.smsc.msgs)-1].Text
	code, ok := strings.CutPrefix(text, "CODE ")
	if !ok {
		return text // a template of the case's own
	}
	return strings.TrimSuffix(code, " END")
}

// TestTimerBacklog: a backlog of due deadlines is worked off in parallel,
// and Run still stops promptly when its context ends mid-backlog.
func TestTimerBacklog(t *testing.T) {
	h := newHarness(t)
	var last string
	for i := 0; i < 1500; i++ {
		v, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: fmt.Sprintf("+39347%07d", i), TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		last = v.ID
	}
	h.drain()
	h.advanceClock(2 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.e.Run(ctx); close(done) }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with a backlog of due deadlines")
	}
	// A second run works the rest off completely.
	for h.e.RunDue(context.Background(), 1024) > 0 {
	}
	due, _, _ := h.st.Due(h.clock(), 10)
	if len(due) != 0 {
		t.Fatalf("%d deadlines left", len(due))
	}
	if v, _ := h.st.Get(last); v.Status != StatusExpired {
		t.Fatalf("status %s", v.Status)
	}
}

// TestVoiceUnavailableWithoutTrunks: without voice connectors a voice step
// is refused with channel_unavailable.
func TestVoiceUnavailableWithoutTrunks(t *testing.T) {
	h := newHarness(t)
	h.e.cfg.Channels = map[string]bool{ChannelSMS: true}
	for _, req := range []CreateRequest{{Channel: "voice"}, {Workflow: []string{"sms", "voice"}}} {
		req.Tenant, req.Number = "acme", "+393471234567"
		_, err := h.e.Create(context.Background(), req)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Code != "channel_unavailable" {
			t.Fatalf("%+v: %v", req, err)
		}
	}
}

// clock and advanceClock guard the fake time: call goroutines read it.
func (h *harness) clock() time.Time {
	h.clockMu.Lock()
	defer h.clockMu.Unlock()
	return h.now
}

func (h *harness) advanceClock(d time.Duration) {
	h.clockMu.Lock()
	h.now = h.now.Add(d)
	h.clockMu.Unlock()
}
