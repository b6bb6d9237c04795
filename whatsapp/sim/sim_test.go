package sim_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/whatsapp"
	"github.com/otpgate/otpgate/whatsapp/sim"
)

// rig is a simulator, a client of it and a webhook taking its callbacks
// (over real loopback HTTP both ways).
type rig struct {
	sim      *sim.Server
	client   *whatsapp.Client
	mu       sync.Mutex
	statuses []whatsapp.Status
	hook     *httptest.Server
}

func newRig(t *testing.T, cfg sim.Config, acct func(a *whatsapp.Account)) *rig {
	t.Helper()
	r := &rig{}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.sim = s
	a := whatsapp.Account{Name: "wa", BaseURL: "http://" + addr, PhoneNumberID: "100000000000001", Token: "sandbox",
		AppSecret: "sandbox-app-secret", VerifyToken: "vt", Template: "otp_code", Languages: []string{"en_US", "it"},
		MessageTTL: time.Minute, Rate: 10000, Timeout: 2 * time.Second}
	if acct != nil {
		acct(&a)
	}
	r.client, err = whatsapp.New(a, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := whatsapp.NewWebhook([]whatsapp.Account{a}, func(st whatsapp.Status) error {
		r.mu.Lock()
		r.statuses = append(r.statuses, st)
		r.mu.Unlock()
		return nil
	}, nil)
	r.hook = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		status, msg := w.Notify(req.Header.Get("X-Hub-Signature-256"), body)
		rw.WriteHeader(status)
		io.WriteString(rw, msg)
	}))
	s.SetCallbackURL(r.hook.URL)
	t.Cleanup(func() { s.Close(); r.hook.Close() })
	return r
}

// waitStatuses waits for the statuses of wamid to be want (in order).
func (r *rig) waitStatuses(t *testing.T, wamid, want string) []whatsapp.Status {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		r.mu.Lock()
		var got []string
		var sts []whatsapp.Status
		for _, s := range r.statuses {
			if s.MessageID == wamid {
				got = append(got, s.Status)
				sts = append(sts, s)
			}
		}
		r.mu.Unlock()
		if strings.Join(got, ",") == want {
			return sts
		}
		if time.Now().After(deadline) {
			t.Fatalf("statuses of %s: %v, want %s", wamid, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliveredAndReadWithTheRef(t *testing.T) {
	r := newRig(t, sim.Config{Rules: []sim.Rule{{Prefix: "+4477", Action: "read"}}, ReadAfter: 10 * time.Millisecond}, nil)
	id, err := r.client.Send(context.Background(), whatsapp.Message{To: "+393471234567", Code: "482913", Locale: "it", Ref: "v1.0"})
	if err != nil {
		t.Fatal(err)
	}
	sts := r.waitStatuses(t, id, "sent,delivered")
	if sts[1].Ref != "v1.0" || sts[1].Recipient != "393471234567" || sts[1].At.IsZero() {
		t.Errorf("status %+v", sts[1])
	}
	inbox := r.sim.Messages("+393471234567")
	if len(inbox) != 1 || !strings.Contains(inbox[0].Text, "482913") || inbox[0].Language != "it" || inbox[0].ID != id || inbox[0].Status != "delivered" {
		t.Errorf("inbox %+v", inbox)
	}
	id, err = r.client.Send(context.Background(), whatsapp.Message{To: "+447700900123", Code: "1234", Ref: "v2.0"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitStatuses(t, id, "sent,delivered,read")
}

func TestRulesAndRefusals(t *testing.T) {
	r := newRig(t, sim.Config{Rules: []sim.Rule{
		{Prefix: "+1555", Action: "not-on-whatsapp"},
		{Prefix: "+1666", Action: "refuse", Code: 131042},
		{Prefix: "+1777", Action: "fail", Code: 131049},
		{Prefix: "+1888", Action: "offline", Delay: 2 * time.Minute}, // past the 60 s TTL: dropped
		{Prefix: "+1999", Action: "no-answer"},
	}}, func(a *whatsapp.Account) { a.Timeout = 200 * time.Millisecond })
	ctx := context.Background()

	id, err := r.client.Send(ctx, whatsapp.Message{To: "+15551234567", Code: "1234", Ref: "a.0"})
	if err != nil {
		t.Fatalf("the Cloud API takes a message to a number not on WhatsApp: %v", err)
	}
	if sts := r.waitStatuses(t, id, "failed"); sts[0].ErrorCode != 131026 || sts[0].Ref != "a.0" {
		t.Errorf("failed status %+v", sts[0])
	}
	if whatsapp.FailureReason(131026) != "not_on_whatsapp" {
		t.Error("131026 is not read as not_on_whatsapp")
	}

	_, err = r.client.Send(ctx, whatsapp.Message{To: "+16661234567", Code: "1234"})
	var e *whatsapp.Error
	if !errors.As(err, &e) || e.Code != 131042 || !e.Permanent() || e.Recipient() {
		t.Errorf("refuse:131042 → %v", err)
	}

	id, _ = r.client.Send(ctx, whatsapp.Message{To: "+17771234567", Code: "1234"})
	if sts := r.waitStatuses(t, id, "failed"); sts[0].ErrorCode != 131049 {
		t.Errorf("fail:131049 → %+v", sts[0])
	}

	id, _ = r.client.Send(ctx, whatsapp.Message{To: "+18881234567", Code: "1234"})
	r.waitStatuses(t, id, "sent")

	// no answer: the client cannot tell; the statuses still come, with the ref
	_, err = r.client.Send(ctx, whatsapp.Message{To: "+19991234567", Code: "1234", Ref: "lost.0"})
	if !errors.As(err, &e) || !e.Unknown() {
		t.Fatalf("no-answer → %v", err)
	}
	inbox := r.sim.Messages("+19991234567")
	if len(inbox) != 1 {
		t.Fatalf("inbox %+v", inbox)
	}
	if sts := r.waitStatuses(t, inbox[0].ID, "sent,delivered"); sts[1].Ref != "lost.0" {
		t.Errorf("status %+v", sts[1])
	}
}

// TestChecksTheRequestAsMetaDoes: token, phone number id, template,
// language, parameters and number format are checked, with Meta's codes.
func TestChecksTheRequestAsMetaDoes(t *testing.T) {
	tests := []struct {
		name string
		edit func(a *whatsapp.Account)
		to   string
		code int
	}{
		{"wrong token", func(a *whatsapp.Account) { a.Token = "nope" }, "+393471234567", 190},
		{"unknown phone number id", func(a *whatsapp.Account) { a.PhoneNumberID = "42" }, "+393471234567", 100},
		{"unknown template", func(a *whatsapp.Account) { a.Template = "nope" }, "+393471234567", 132001},
		{"language not approved", func(a *whatsapp.Account) { a.Languages = []string{"ja"} }, "+393471234567", 132001},
		{"number without +", nil, "393471234567", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, sim.Config{}, tt.edit)
			_, err := r.client.Send(context.Background(), whatsapp.Message{To: tt.to, Code: "1234"})
			var e *whatsapp.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("got %v, want code %d", err, tt.code)
			}
			if r.sim.Taken() != 0 {
				t.Error("a refused message was taken")
			}
		})
	}
}

func TestThroughputAndPairRate(t *testing.T) {
	r := newRig(t, sim.Config{Rate: 5, PairBurst: 3}, nil)
	ctx := context.Background()
	codes := map[int]int{}
	for i := 0; i < 4; i++ {
		_, err := r.client.Send(ctx, whatsapp.Message{To: "+393471234567", Code: "1234"})
		var e *whatsapp.Error
		if errors.As(err, &e) {
			codes[e.Code]++
			if e.Reason() != "whatsapp_throttled" || e.Permanent() {
				t.Errorf("pair rate: %v", err)
			}
		}
	}
	if codes[131056] != 1 {
		t.Errorf("a fourth message in a burst of 3 to one user: %v", codes)
	}
	for i := 0; i < 10; i++ {
		r.client.Send(ctx, whatsapp.Message{To: "+39347123450" + string(rune('0'+i)), Code: "1234"})
	}
	if r.sim.Taken() > 6 {
		t.Errorf("took %d messages at 5 a second", r.sim.Taken())
	}
}

// TestCallbacksAreRetriedUntilTaken: a callback the gateway did not take
// (it was down) comes again, as Meta's do.
func TestCallbacksAreRetriedUntilTaken(t *testing.T) {
	r := newRig(t, sim.Config{}, nil)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	r.sim.SetCallbackURL(down.URL)
	id, err := r.client.Send(context.Background(), whatsapp.Message{To: "+393471234567", Code: "1234"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	r.sim.SetCallbackURL(r.hook.URL)
	r.waitStatuses(t, id, "sent,delivered")
}

func TestParseRule(t *testing.T) {
	for _, in := range []string{"+1555=not-on-whatsapp", "44=fail:131049", "+49=offline:1m30s", "+1=refuse:130429", "+7=read", "+8=no-answer", "+9=silent", "+0=deliver"} {
		r, err := sim.ParseRule(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if again, err := sim.ParseRule(r.String()); err != nil || again != r {
			t.Errorf("%q round trip: %+v %v", in, again, err)
		}
	}
	for _, in := range []string{"", "+1555", "=read", "+1a=read", "+1=explode", "+1=fail", "+1=fail:x", "+1=offline", "+1=offline:-1s", "+1=read:2"} {
		if _, err := sim.ParseRule(in); err == nil {
			t.Errorf("%q read without an error", in)
		}
	}
}
