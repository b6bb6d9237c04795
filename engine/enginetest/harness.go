// Package enginetest is the contract suite of the engine's Store: the
// engine's behaviour tests (the lifecycle of verifications as data,
// tenants kept apart, concurrent checks, receipts that overtake their
// submit) and the store's own promises (one pending verification per
// number, atomic changes, limits, indexes, deadlines, the outbox, keyed
// values, purge), run against any Store a factory makes. engine/store's
// Pebble backend runs it (engine/contract_test.go); another backend runs
// the same suite unchanged to stand in for it. Its fakes (an SMSC, a
// voice trunk) record what the engine asked of them.
package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/router"
)

// NewStore makes an empty store for one test and closes it when the test
// ends (t.Cleanup).
type NewStore func(t *testing.T) engine.Store

// FakeSMSC records messages; it is the harness's SMS connector. The n-th
// message has the id "m<n>" (or "m<n>-<part>" with Parts > 1).
type FakeSMSC struct {
	mu    sync.Mutex
	Msgs  []engine.Outbound
	Fail  error // when set, every send fails with it
	N     int
	Parts int // > 1: answer with that many part ids
}

// PermanentError is a refusal the engine does not try again.
type PermanentError struct{}

func (PermanentError) Error() string   { return "destination refused" }
func (PermanentError) Permanent() bool { return true }

// Send records m.
func (f *FakeSMSC) Send(ctx context.Context, m engine.Outbound) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail != nil {
		return nil, f.Fail
	}
	f.N++
	f.Msgs = append(f.Msgs, m)
	if f.Parts > 1 {
		ids := make([]string, f.Parts)
		for i := range ids {
			ids[i] = fmt.Sprintf("m%d-%d", f.N, i+1)
		}
		return ids, nil
	}
	return []string{fmt.Sprintf("m%d", f.N)}, nil
}

// FakeVoice is the harness's voice trunk: it answers with Outcome at once,
// or waits for its context (a call ringing until hung up) when Outcome is
// "ring"; engine.MsgFailed makes the trunk fail.
type FakeVoice struct {
	mu      sync.Mutex
	Outcome string
	Calls   []engine.VoiceCall
	HungUp  int
}

// Call records c and answers it.
func (f *FakeVoice) Call(ctx context.Context, c engine.VoiceCall) (engine.VoiceResult, error) {
	f.mu.Lock()
	f.Calls = append(f.Calls, c)
	out := f.Outcome
	n := len(f.Calls)
	f.mu.Unlock()
	if out == "ring" {
		<-ctx.Done()
		f.mu.Lock()
		f.HungUp++
		f.mu.Unlock()
		return engine.VoiceResult{CallID: fmt.Sprintf("c%d", n), Outcome: engine.MsgNoAnswer}, nil
	}
	if out == engine.MsgFailed {
		return engine.VoiceResult{}, trunkDown{}
	}
	return engine.VoiceResult{CallID: fmt.Sprintf("c%d", n), Outcome: out, Talk: 12 * time.Second, Language: "en"}, nil
}

type trunkDown struct{}

func (trunkDown) Error() string  { return "trunk down" }
func (trunkDown) Reason() string { return "trunk_unavailable" }

// FakeChat is the harness's WhatsApp account: it records messages and
// answers with ids "w<n>", or fails as Mode says: "throttled" (a passing
// refusal), "pair-rate" (one that asks for 6 s), "not-a-user" (refused for the recipient, for good), "template"
// (refused for this account, for good), "timeout"
// (the far end took the message, but its answer never came).
type FakeChat struct {
	mu   sync.Mutex
	Msgs []engine.Outbound
	IDs  []string
	Mode string
	// Before, when set, runs inside Send after the far end took the
	// message and before Send answers (a status callback that overtakes
	// the send's answer).
	Before func(m engine.Outbound, id string)
}

// Send records m and answers as Mode says.
func (f *FakeChat) Send(ctx context.Context, m engine.Outbound) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.Mode {
	case "throttled":
		return nil, chatError{reason: "whatsapp_throttled"}
	case "pair-rate":
		return nil, chatError{reason: "whatsapp_throttled", after: 6 * time.Second}
	case "not-a-user":
		return nil, chatError{reason: "not_on_whatsapp", permanent: true, recipient: true}
	case "template":
		return nil, chatError{reason: "whatsapp_template", permanent: true}
	}
	f.Msgs = append(f.Msgs, m)
	f.IDs = append(f.IDs, fmt.Sprintf("w%d", len(f.Msgs)))
	if f.Before != nil {
		f.mu.Unlock()
		f.Before(m, f.IDs[len(f.IDs)-1])
		f.mu.Lock()
	}
	if f.Mode == "timeout" {
		return nil, chatError{reason: "whatsapp_timeout", unknown: true}
	}
	return []string{f.IDs[len(f.IDs)-1]}, nil
}

// Last is the last message the account took and its id.
func (f *FakeChat) Last() (engine.Outbound, string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.Msgs) == 0 {
		return engine.Outbound{}, "", false
	}
	return f.Msgs[len(f.Msgs)-1], f.IDs[len(f.IDs)-1], true
}

type chatError struct {
	reason                        string
	permanent, recipient, unknown bool
	after                         time.Duration
}

func (e chatError) Error() string   { return "whatsapp: " + e.reason }
func (e chatError) Reason() string  { return e.reason }
func (e chatError) Permanent() bool { return e.permanent }
func (e chatError) Recipient() bool { return e.recipient }
func (e chatError) Unknown() bool   { return e.unknown }

func (e chatError) RetryAfter() time.Duration { return e.after }

// ChatMinStepWait is the harness's MinStepWait for WhatsApp steps.
const ChatMinStepWait = 3 * time.Minute

// Harness is an engine on a store of the factory's, with a fake SMSC and
// voice trunk, a fake clock, and tenants "acme" (template "CODE {code}
// END", so codes are easy to read) and "other". The engine is stepped by
// the test (Send, RunDue), never run.
type Harness struct {
	T     *testing.T
	E     *engine.Engine
	St    engine.Store
	SMSC  *FakeSMSC
	Voice *FakeVoice
	// Chat and Chat2 are the WhatsApp accounts "wa" and "wa2", routed in
	// that order.
	Chat, Chat2 *FakeChat
	Tenant      *engine.Tenant
	// First and Last are the ids of the first and the last verification
	// created in the harness.
	First, Last string

	mu  sync.Mutex
	now time.Time
}

// Options configure a harness.
type Options struct {
	// Limits of the engine; zero windows are none.
	Limits engine.Limits
	// Webhooks and Retention of the engine's config.
	Webhooks  engine.WebhookConfig
	Retention time.Duration
}

// New starts a harness on a store newStore makes.
func New(t *testing.T, newStore NewStore, o Options) *Harness {
	t.Helper()
	h := &Harness{T: t, SMSC: &FakeSMSC{}, Voice: &FakeVoice{Outcome: engine.MsgAnswered}, Chat: &FakeChat{}, Chat2: &FakeChat{}, now: time.Unix(1_800_000_000, 0)}
	h.St = newStore(t)
	rt, err := router.New([]router.Route{
		{Name: "all", Targets: []router.Target{{Connector: "smsc"}}},
		{Name: "voice", Match: router.Match{Channel: "voice"}, Targets: []router.Target{{Connector: "trunk"}}},
		{Name: "whatsapp", Match: router.Match{Channel: "whatsapp"}, Targets: []router.Target{{Connector: "wa"}, {Connector: "wa2"}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Limits.NumberSends.Max == 0 {
		o.Limits.NumberSends.Max = -1
	}
	if o.Limits.NumberChecks.Max == 0 {
		o.Limits.NumberChecks.Max = -1
	}
	if o.Limits.Velocity == (engine.VelocityLimits{}) {
		off := engine.Velocity{Rate: -1}
		o.Limits.Velocity = engine.VelocityLimits{Country: off, Prefix: off, Client: off}
	}
	h.Tenant = &engine.Tenant{ID: "acme", Template: "plain", Templates: engine.Templates{"plain": {"en": "CODE {code} END"}}}
	h.E, err = engine.New(engine.Config{
		ServerKey: bytes.Repeat([]byte{1}, 32), Store: h.St, Router: rt,
		Senders:     map[string]engine.Sender{"smsc": h.SMSC, "wa": h.Chat, "wa2": h.Chat2},
		Channels:    map[string]bool{engine.ChannelSMS: true, engine.ChannelVoice: true, engine.ChannelWhatsApp: true},
		MinStepWait: map[string]time.Duration{engine.ChannelWhatsApp: ChatMinStepWait},
		Voice:       map[string]engine.Voicer{"trunk": h.Voice},
		Tenants:     map[string]*engine.Tenant{"acme": h.Tenant, "other": {ID: "other"}},
		Now:         h.Clock, Logger: slog.New(slog.DiscardHandler),
		Limits: o.Limits, Webhooks: o.Webhooks, Retention: o.Retention,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Send runs the queued sends (and webhook deliveries) now.
func (h *Harness) Send() { h.E.Step(context.Background()) }

// Clock is the harness's time; Advance moves it.
func (h *Harness) Clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

// Advance moves the clock by d.
func (h *Harness) Advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

// LastCode is the code of the last SMS (or, with none, of the last call).
func (h *Harness) LastCode() string {
	h.T.Helper()
	h.SMSC.mu.Lock()
	defer h.SMSC.mu.Unlock()
	if len(h.SMSC.Msgs) == 0 {
		if m, _, ok := h.Chat.Last(); ok {
			return m.Code
		}
		h.Voice.mu.Lock()
		defer h.Voice.mu.Unlock()
		if n := len(h.Voice.Calls); n > 0 {
			return h.Voice.Calls[n-1].Code
		}
		h.T.Fatal("no SMS sent and no call placed")
	}
	text := h.SMSC.Msgs[len(h.SMSC.Msgs)-1].Text
	code, ok := strings.CutPrefix(text, "CODE ")
	if !ok {
		return text // a template of the case's own
	}
	return strings.TrimSuffix(code, " END")
}

// Create creates a verification of tenant acme and remembers its id.
func (h *Harness) Create(req engine.CreateRequest) (*engine.Created, error) {
	if req.Tenant == "" {
		req.Tenant = "acme"
	}
	c, err := h.E.Create(context.Background(), req)
	if err == nil && !c.Reused && !c.Replayed {
		if h.First == "" {
			h.First = c.ID
		}
		h.Last = c.ID
	}
	return c, err
}
