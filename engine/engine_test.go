package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
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
	return newHarnessLimits(t, Limits{NumberSends: Window{Max: -1}, NumberChecks: Window{Max: -1}})
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

func TestLifecycleData(t *testing.T) {
	f, err := os.Open("testdata/lifecycle.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var h *harness
	name := ""
	cases := 0
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cmd, want, _ := strings.Cut(text, " -> ")
		fields := strings.Fields(cmd)
		at := fmt.Sprintf("line %d (%s)", line, name)
		if fields[0] == "case" {
			name = fields[1]
			h = newHarness(t)
			cases++
			continue
		}
		if fields[0] == "limits" { // limits sends=N/DUR checks=N/DUR: a fresh engine with these limits
			l := Limits{NumberSends: Window{Max: -1}, NumberChecks: Window{Max: -1}}
			for k, v := range kv(fields[1:]) {
				n, per, _ := strings.Cut(v, "/")
				w := Window{}
				w.Max, _ = strconv.Atoi(n)
				w.Per, _ = time.ParseDuration(per)
				if k == "sends" {
					l.NumberSends = w
				} else {
					l.NumberChecks = w
				}
			}
			h = newHarnessLimits(t, l)
			continue
		}
		h.step(at, fields, strings.TrimSpace(want))
	}
	if cases < 10 {
		t.Fatalf("only %d cases read", cases)
	}
}

func kv(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func (h *harness) step(at string, fields []string, want string) {
	t := h.t
	ctx := context.Background()
	args := kv(fields[1:])
	switch fields[0] {
	case "tenant":
		h.tenant.PendingPolicy = args["policy"]
		h.tenant.CustomCodes = args["custom_codes"] == "true"
	case "create":
		req := CreateRequest{Tenant: "acme", Number: "+393471234567"}
		for k, v := range args {
			switch k {
			case "number":
				req.Number = v
			case "country":
				req.Country = v
			case "max_attempts":
				req.MaxAttempts, _ = strconv.Atoi(v)
			case "code_length":
				req.CodeLength, _ = strconv.Atoi(v)
			case "code_type":
				req.CodeType = v
			case "ttl":
				n, _ := strconv.Atoi(v)
				req.TTL = time.Duration(n) * time.Second
			case "channel":
				req.Channel = v
			case "workflow":
				req.Workflow = strings.Split(v, ",")
			case "template":
				req.Template = strings.ReplaceAll(v, "_", " ")
			case "sender_id":
				req.SenderID = v
			case "brand": // Go escapes allowed: \u202e
				b, err := strconv.Unquote(`"` + v + `"`)
				if err != nil {
					t.Fatalf("%s: brand: %v", at, err)
				}
				req.Brand = b
			case "locale":
				req.Locale = v
			case "next_event_wait":
				n, _ := strconv.Atoi(v)
				req.NextEventWait = time.Duration(n) * time.Second
			case "policy":
				req.PendingPolicy = v
			case "code":
				req.Code = v
			case "step_waits":
				for _, w := range strings.Split(v, ",") {
					d, err := time.ParseDuration(w)
					if err != nil {
						t.Fatalf("%s: step_waits: %v", at, err)
					}
					req.StepWaits = append(req.StepWaits, d)
				}
			case "idem":
				req.IdempotencyKey = v
			case "body":
				req.BodyHash = []byte(v)
			default:
				t.Fatalf("%s: unknown create field %s", at, k)
			}
		}
		v, err := h.e.Create(ctx, req)
		reused := err == nil && v.Reused
		got := "ok"
		switch {
		case err != nil:
			var fe *FieldError
			var ce *ConcurrentError
			var le *LimitError
			switch {
			case errors.As(err, &le):
				got = fmt.Sprintf("error %s retry=%s", le.Code, le.RetryAfter)
			case errors.As(err, new(*IdempotencyError)):
				got = "error idempotency_key_reused"
			case errors.As(err, &fe):
				got = "error " + fe.Code + " " + fe.Field
			case errors.As(err, &ce):
				got = "error concurrent_verification"
			default:
				got = "error " + err.Error()
			}
		case reused && v.Resent:
			got = "resent"
		case reused:
			got = "reused"
		case v.Replayed:
			got = "replayed " + map[bool]string{true: "same-id", false: "other-id"}[v.ID == h.last]
		}
		if want == "" {
			want = "ok"
		}
		if strings.TrimSpace(got) != want {
			t.Fatalf("%s: create = %q, want %q", at, got, want)
		}
		if err == nil && !reused && !v.Replayed {
			if h.first == "" {
				h.first = v.ID
			}
			h.last = v.ID
		}
	case "send":
		switch {
		case len(fields) > 1 && fields[1] == "fail":
			h.smsc.fail = errors.New("link down")
		case len(fields) > 1 && fields[1] == "permanent":
			h.smsc.fail = permErr{}
		default:
			h.smsc.fail = nil
		}
		h.drain()
	case "sent":
		n, _ := strconv.Atoi(fields[1])
		if h.smsc.n != n {
			t.Fatalf("%s: sent %d, want %d", at, h.smsc.n, n)
		}
	case "receipt": // receipt delivered|undelivered [part=N] [as=decimal]
		r, _ := h.st.Get(h.last)
		m := r.Messages[len(r.Messages)-1]
		mid := m.MessageID
		if p, ok := args["part"]; ok {
			n, _ := strconv.Atoi(p)
			mid = m.Parts[n-1].ID
		}
		rc := Receipt{Connector: m.Connector, MessageID: mid, Delivered: fields[1] == "delivered", Final: true, State: strings.ToUpper(fields[1])}
		if args["as"] == "alias" { // reported under another spelling, the stored one among the alternatives
			rc.MessageID, rc.AltIDs = "ALIAS-"+mid, []string{"nope", mid}
		}
		h.e.HandleReceipt(rc)
	case "parts":
		h.smsc.parts, _ = strconv.Atoi(fields[1])
	case "voice": // the fake trunk's next outcomes
		h.voice.mu.Lock()
		h.voice.outcome = fields[1]
		h.voice.mu.Unlock()
	case "calls": // calls placed so far (waits for running ones to record)
		n, _ := strconv.Atoi(fields[1])
		deadline := time.Now().Add(2 * time.Second)
		for {
			h.drain() // steps that a call's outcome started
			h.voice.mu.Lock()
			got := len(h.voice.calls)
			h.voice.mu.Unlock()
			if got == n || time.Now().After(deadline) {
				if got != n {
					t.Fatalf("%s: %d calls, want %d", at, got, n)
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // the outcome's Update
	case "hungup":
		n, _ := strconv.Atoi(fields[1])
		deadline := time.Now().Add(2 * time.Second)
		for {
			h.voice.mu.Lock()
			got := h.voice.hungUp
			h.voice.mu.Unlock()
			if got == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d calls hung up, want %d", at, got, n)
			}
			time.Sleep(time.Millisecond)
		}
	case "next":
		_, err := h.e.Next(ctx, "acme", h.last)
		got := "ok"
		switch {
		case errors.Is(err, ErrNoNextStep):
			got = "no_next_step"
		case errors.Is(err, ErrNotPending):
			got = "not_pending"
		case err != nil:
			got = err.Error()
		}
		if got != want {
			t.Fatalf("%s: next = %s, want %s", at, got, want)
		}
	case "check":
		code := fields[1]
		switch code {
		case "right":
			code = h.lastCode()
		case "right-lower-spaced":
			c := strings.ToLower(h.lastCode())
			code = c[:3] + " " + c[3:]
		case "wrong":
			code = "ZZZZZZZZZZZZ"
		}
		res, err := h.e.Check(ctx, "acme", h.last, code)
		var le *LimitError
		if errors.As(err, &le) {
			if got := fmt.Sprintf("error %s retry=%s", le.Code, le.RetryAfter); got != want {
				t.Fatalf("%s: check = %q, want %q", at, got, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: check: %v", at, err)
		}
		for k, v := range kv(strings.Fields(want)) {
			var got string
			switch k {
			case "verified":
				got = strconv.FormatBool(res.Verified)
			case "status":
				got = res.Status
			case "left":
				got = strconv.Itoa(res.AttemptsLeft)
			case "reason":
				got = res.Reason
			}
			if got != v {
				t.Fatalf("%s: check %s = %s, want %s (%+v)", at, k, got, v, res)
			}
		}
	case "approve":
		_, err := h.e.Approve(ctx, "acme", h.last)
		got := "ok"
		if errors.Is(err, ErrNotPending) {
			got = "not_pending"
		} else if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Fatalf("%s: approve = %s, want %s", at, got, want)
		}
	case "find-pending":
		v, err := h.e.FindPending(ctx, "acme", fields[1], "")
		got := "none"
		if err == nil {
			got = map[bool]string{true: "last", false: v.ID}[v.ID == h.last]
		} else if !errors.Is(err, ErrNotFound) {
			got = err.Error()
		}
		if got != want {
			t.Fatalf("%s: find-pending = %s, want %s", at, got, want)
		}
	case "record-left":
		v, err := h.e.Get(ctx, "acme", h.last)
		if err != nil || strconv.Itoa(v.AttemptsLeft) != fields[1] {
			t.Fatalf("%s: the record's attempts_left = %d (%v), want %s", at, v.AttemptsLeft, err, fields[1])
		}
	case "advance":
		d, err := time.ParseDuration(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		h.advanceClock(d)
	case "tick":
		h.e.RunDue(ctx, 1000)
	case "cancel":
		_, err := h.e.Cancel(ctx, "acme", h.last)
		got := "ok"
		if errors.Is(err, ErrNotPending) {
			got = "not_pending"
		} else if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Fatalf("%s: cancel = %s, want %s", at, got, want)
		}
	case "status", "first-status":
		id := h.last
		if fields[0] == "first-status" {
			id = h.first
		}
		r, err := h.st.Get(id)
		if err != nil || r.Status != fields[1] {
			t.Fatalf("%s: status = %v %v, want %s", at, r.Status, err, fields[1])
		}
		if r.Status != StatusPending {
			kinds := []string{}
			for _, d := range r.Deadlines {
				kinds = append(kinds, d.Kind)
			}
			if r.CodeSealed != nil || strings.Join(kinds, ",") != deadlinePurge {
				t.Fatalf("%s: ended record keeps a sealed code (%v) or timers other than the purge: %v", at, r.CodeSealed != nil, kinds)
			}
		}
	case "same-code": // the last call read the code of the SMS
		h.voice.mu.Lock()
		c := h.voice.calls[len(h.voice.calls)-1].Code
		h.voice.mu.Unlock()
		h.smsc.mu.Lock()
		text := h.smsc.msgs[len(h.smsc.msgs)-1].Text
		h.smsc.mu.Unlock()
		if !strings.Contains(text, c) {
			t.Fatalf("%s: call read %q, SMS was %q", at, c, text)
		}
	case "event-detail": // event-detail TYPE TEXT: the last event of TYPE says TEXT (underscores for spaces)
		r, _ := h.st.Get(h.last)
		want := strings.ReplaceAll(fields[2], "_", " ")
		for i := len(r.Events) - 1; i >= 0; i-- {
			if r.Events[i].Type == fields[1] {
				if !strings.Contains(r.Events[i].Detail, want) {
					t.Fatalf("%s: %s event says %q, want it to say %q", at, fields[1], r.Events[i].Detail, want)
				}
				return
			}
		}
		t.Fatalf("%s: no %s event", at, fields[1])
	case "same-sms-code": // the last two SMS hold the same code
		h.smsc.mu.Lock()
		n := len(h.smsc.msgs)
		a, b := h.smsc.msgs[n-2].Text, h.smsc.msgs[n-1].Text
		h.smsc.mu.Unlock()
		if a != b {
			t.Fatalf("%s: resent SMS %q, first %q", at, b, a)
		}
	case "gone":
		if _, err := h.st.Get(h.last); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: record still there: %v", at, err)
		}
	case "events":
		r, _ := h.st.Get(h.last)
		var types []string
		for _, e := range r.Events {
			types = append(types, e.Type)
		}
		if got := strings.Join(types, ","); got != fields[1] {
			t.Fatalf("%s: events = %s, want %s", at, got, fields[1])
		}
	default:
		t.Fatalf("%s: unknown step %q", at, fields[0])
	}
}

// TestOtherTenantSeesNothing: a tenant never sees or checks another's.
func TestOtherTenantSeesNothing(t *testing.T) {
	h := newHarness(t)
	v, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: "+393471234567"})
	if err != nil {
		t.Fatal(err)
	}
	h.drain()
	ctx := context.Background()
	if _, err := h.e.Get(ctx, "other", v.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get by other tenant: %v", err)
	}
	if _, err := h.e.Check(ctx, "other", v.ID, h.lastCode()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("check by other tenant: %v", err)
	}
	if _, err := h.e.Cancel(ctx, "other", v.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel by other tenant: %v", err)
	}
	if res, _ := h.e.Check(ctx, "acme", v.ID, h.lastCode()); !res.Verified {
		t.Fatal("the other tenant's attempts touched the record")
	}
}

// TestNoCodeInRecord: the stored record never holds the code in clear.
func TestNoCodeInRecord(t *testing.T) {
	h := newHarness(t)
	v, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: "+393471234567", CodeLength: 10})
	if err != nil {
		t.Fatal(err)
	}
	h.drain()
	code := h.lastCode()
	r, _ := h.st.Get(v.ID)
	raw, _ := encodeForTest(r)
	if bytes.Contains(raw, []byte(code)) {
		t.Fatal("stored record contains the code")
	}
}

// TestReceiptBeforeSubmitRecorded: a receipt that overtakes the record of
// its submit is applied once the submit is recorded.
func TestReceiptBeforeSubmitRecorded(t *testing.T) {
	h := newHarness(t)
	v, _ := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: "+393471234567"})
	h.e.HandleReceipt(Receipt{Connector: "smsc", MessageID: "m1", Delivered: true, Final: true, State: "DELIVRD"})
	h.drain()
	r, _ := h.st.Get(v.ID)
	if r.Messages[0].State != MsgDelivered {
		t.Fatalf("message state %s, want delivered", r.Messages[0].State)
	}
}

// TestConcurrentChecksNeverExceedMaxAttempts races many wrong checks.
func TestConcurrentChecksNeverExceedMaxAttempts(t *testing.T) {
	h := newHarness(t)
	v, _ := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: "+393471234567", MaxAttempts: 3})
	h.drain()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := h.e.Check(context.Background(), "acme", v.ID, "000000x")
			if err != nil {
				t.Error(err)
			}
			if res.Reason == "wrong_code" || (res.Reason == "max_attempts" && res.Status == StatusFailed && res.AttemptsLeft == 0) {
				mu.Lock()
				wrong++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r, _ := h.st.Get(v.ID)
	if r.Attempts != 3 || r.Status != StatusFailed {
		t.Fatalf("attempts=%d status=%s after 40 concurrent wrong checks; want 3, failed", r.Attempts, r.Status)
	}
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
