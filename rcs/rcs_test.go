package rcs_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/rcs"
	"github.com/otpgate/otpgate/rcs/sim"
)

var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

// clock is a fake time both sides read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func startSim(t *testing.T, cfg sim.Config) *sim.Server {
	t.Helper()
	cfg.Key = testKey
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func agentOf(s *sim.Server) rcs.Agent {
	return rcs.Agent{Name: "rbm", BaseURL: s.BaseURL(), AgentID: s.AgentID(), Key: s.Key(), ClientToken: s.ClientToken(), Timeout: 2 * time.Second}
}

// TestSendAsGoogleDocumentsIt: the path, query, bearer token and body are
// those of phones.agentMessages.create (testdata/send_request.json); the
// message id is a UUID made from the reference.
func TestSendAsGoogleDocumentsIt(t *testing.T) {
	want, _ := os.ReadFile("testdata/send_request.json")
	var got []byte
	var path, query, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			io.WriteString(w, `{"access_token":"ya29.test","expires_in":3599,"token_type":"Bearer"}`)
			return
		}
		got, _ = io.ReadAll(r.Body)
		path, query, auth = r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization")
		io.WriteString(w, `{"name":"phones/+14155552671/agentMessages/x","sendTime":"2026-01-01T00:00:00Z","contentMessage":{"text":"x"}}`)
	}))
	defer srv.Close()
	a := rcs.Agent{Name: "rbm", BaseURL: srv.URL, TokenURL: srv.URL + "/token", AgentID: "acme-otp@rbm.goog",
		Key: rcs.ServiceAccountKey{ClientEmail: "x@y.iam.gserviceaccount.com", PrivateKey: testKey}, ClientToken: "ct"}
	c, err := rcs.New(a, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Send(context.Background(), rcs.Message{To: "+14155552671", Text: "Your Acme code is 482913.", Ref: "v1.0", TTL: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if id != rcs.MessageID("acme-otp@rbm.goog", "v1.0") || len(id) != 36 || id[14] != '4' {
		t.Errorf("message id %q", id)
	}
	if path != "/v1/phones/+14155552671/agentMessages" || query != "messageId="+id+"&agentId=acme-otp%40rbm.goog" || auth != "Bearer ya29.test" {
		t.Errorf("path %q query %q auth %q", path, query, auth)
	}
	var g, w any
	json.Unmarshal(got, &g)
	json.Unmarshal(want, &w)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("body %s, want %s", got, want)
	}
}

func err2s(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestTokenReusedUntilShortlyBeforeExpiry: one token serves every request
// until a minute before it expires (a clock-driven test: both sides read
// the fake clock), then a new one is fetched; a token the API refuses is
// replaced at once.
func TestTokenReusedUntilShortlyBeforeExpiry(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := startSim(t, sim.Config{Now: clk.now, TokenLifetime: time.Hour})
	c, err := rcs.New(agentOf(s), nil, nil, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	send := func(ref string) {
		t.Helper()
		if _, err := c.Send(context.Background(), rcs.Message{To: "+14155552671", Text: "code 1234", Ref: ref, TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	send("a.0")
	send("b.0")
	clk.add(58 * time.Minute)
	send("c.0")
	if n := s.TokensIssued(); n != 1 || c.TokensFetched() != 1 {
		t.Fatalf("%d tokens issued in 58 minutes, want 1", n)
	}
	clk.add(time.Minute + time.Second) // 59m01s: within a minute of its expiry
	send("d.0")
	if n := s.TokensIssued(); n != 2 {
		t.Fatalf("%d tokens issued after 59 minutes, want 2", n)
	}
	// a token the API refuses (a disabled key, Google's own rotation),
	// though not expired here, is replaced and the send goes through
	s.RevokeTokens()
	send("e.0")
	if n := s.TokensIssued(); n != 3 || c.TokensFetched() != 3 {
		t.Fatalf("%d tokens issued after a revocation, want 3", n)
	}
}

// TestBadKeyIsRefusedAsAnAccountProblem: a grant signed with another key
// is refused by the token endpoint, and the send says why.
func TestBadKeyIsRefusedAsAnAccountProblem(t *testing.T) {
	s := startSim(t, sim.Config{})
	a := agentOf(s)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	a.Key.PrivateKey = other
	c, _ := rcs.New(a, nil, nil, nil)
	_, err := c.Send(context.Background(), rcs.Message{To: "+14155552671", Text: "code 1234", Ref: "a.0"})
	var e *rcs.Error
	if !errors.As(err, &e) || e.Reason() != "rcs_auth" || !e.Permanent() || e.Recipient() {
		t.Fatalf("%v", err)
	}
}

// TestSendOutcomes: a phone without RCS is the recipient's failure (with
// or without the capability check); a refusal is sorted by status; a
// timed-out try is sent again with its id and delivered once.
func TestSendOutcomes(t *testing.T) {
	s := startSim(t, sim.Config{Rules: []sim.Rule{
		{Prefix: "+1555", Action: "no-rcs"},
		{Prefix: "+1666", Action: "refuse", Status: 429},
		{Prefix: "+1667", Action: "refuse", Status: 403},
		{Prefix: "+1777", Action: "no-answer-once"},
	}})
	a := agentOf(s)
	a.Timeout = 300 * time.Millisecond
	c, _ := rcs.New(a, nil, nil, nil)
	ctx := context.Background()
	for _, tt := range []struct {
		to, reason string
		kind       rcs.Kind
	}{
		{"+15551234567", "not_rcs_capable", rcs.KindRecipient},
		{"+16661234567", "rcs_throttled", rcs.KindPassing},
		{"+16671234567", "rcs_not_permitted", rcs.KindAccount},
	} {
		_, err := c.Send(ctx, rcs.Message{To: tt.to, Text: "code 987650", Ref: tt.to + ".0"})
		var e *rcs.Error
		if !errors.As(err, &e) || e.Reason() != tt.reason || e.Kind != tt.kind {
			t.Errorf("%s: %v", tt.to, err)
		}
		if strings.Contains(err2s(err), "987650") {
			t.Errorf("%s: the code in the error %q", tt.to, err)
		}
	}
	// capability check: no request to send, and the answer is cached
	a.CapabilityCheck = true
	cc, _ := rcs.New(a, nil, nil, nil)
	sends, _ := s.Requests()
	for i := 0; i < 2; i++ {
		_, err := cc.Send(ctx, rcs.Message{To: "+15551234567", Text: "code 1234", Ref: "cap.0"})
		var e *rcs.Error
		if !errors.As(err, &e) || !e.Recipient() {
			t.Fatalf("capability check: %v", err)
		}
	}
	if after, checks := s.Requests(); after != sends || checks != 1 {
		t.Fatalf("capability check: %d send requests (want none), %d capability requests (want 1: the answer is kept)", after-sends, checks)
	}
	if _, err := cc.Send(ctx, rcs.Message{To: "+14155552671", Text: "code 1234", Ref: "capok.0"}); err != nil {
		t.Fatalf("a capable phone: %v", err)
	}

	_, err := c.Send(ctx, rcs.Message{To: "+17771234567", Text: "code 1234", Ref: "lost.0", TTL: time.Minute})
	var e *rcs.Error
	if !errors.As(err, &e) || !e.Unknown() {
		t.Fatalf("no answer: %v", err)
	}
	id, err := c.Send(ctx, rcs.Message{To: "+17771234567", Text: "code 1234", Ref: "lost.0", TTL: time.Minute})
	if err != nil || id != rcs.MessageID(a.AgentID, "lost.0") {
		t.Fatalf("the retry: %q %v", id, err)
	}
	if n := len(s.Messages("+17771234567")); n != 1 {
		t.Fatalf("the phone got %d messages, want 1", n)
	}
}

func webhook(got *[]rcs.Status) *rcs.Webhook {
	a := rcs.Agent{Name: "rbm", AgentID: "acme-otp@rbm.goog", ClientToken: "ct-acme"}
	b := rcs.Agent{Name: "rbm2", AgentID: "other@rbm.goog", ClientToken: "ct-other"}
	return rcs.NewWebhook([]rcs.Agent{a, b}, func(s rcs.Status) error { *got = append(*got, s); return nil }, nil)
}

func envelope(data []byte) []byte {
	var env rcs.Envelope
	env.Message.Data = base64.StdEncoding.EncodeToString(data)
	env.Message.MessageID = "14150481888479752"
	env.Subscription = "projects/rbm-partner-gcp/subscriptions/rbm-sub"
	b, _ := json.Marshal(env)
	return b
}

// TestWebhook: the set-up request answered with its secret; Google's
// documented events, signed over the decoded data, become statuses; a
// reply is ignored; a tampered or unsigned event reaches nothing.
func TestWebhook(t *testing.T) {
	var got []rcs.Status
	w := webhook(&got)
	if st, body := w.Handle("", []byte(`{"clientToken":"ct-other","secret":"1234567890"}`)); st != 200 || body != "1234567890" {
		t.Errorf("set-up: %d %q", st, body)
	}
	if st, _ := w.Handle("", []byte(`{"clientToken":"guess","secret":"1"}`)); st != 403 {
		t.Errorf("set-up with a wrong token: %d", st)
	}
	for _, tt := range []struct {
		file, status, reason string
	}{
		{"event_delivered.json", "delivered", ""},
		{"event_ttl_revoked.json", "failed", "rcs_expired"},
	} {
		data, _ := os.ReadFile("testdata/" + tt.file)
		got = nil
		if st, msg := w.Handle(rcs.Sign("ct-acme", data), envelope(data)); st != 200 || len(got) != 1 {
			t.Fatalf("%s: %d %s %+v", tt.file, st, msg, got)
		}
		if g := got[0]; g.Agent != "rbm" || g.MessageID != "4fb0c3a5-8a15-4d5e-9d3f-6a5f1c2b7e10" || g.Status != tt.status || g.Reason != tt.reason || g.At.IsZero() {
			t.Errorf("%s: %+v", tt.file, g)
		}
	}
	got = nil
	reply, _ := os.ReadFile("testdata/user_message.json")
	if st, _ := w.Handle(rcs.Sign("ct-acme", reply), envelope(reply)); st != 200 || len(got) != 0 {
		t.Errorf("a user's reply: %d %+v", st, got)
	}
	data, _ := os.ReadFile("testdata/event_delivered.json")
	tampered := []byte(strings.Replace(string(data), "DELIVERED", "READ", 1))
	for name, c := range map[string]struct{ sig, body string }{
		"tampered":        {rcs.Sign("ct-acme", data), string(envelope(tampered))},
		"another token":   {rcs.Sign("nope", data), string(envelope(data))},
		"unsigned":        {"", string(envelope(data))},
		"signed raw body": {rcs.Sign("ct-acme", envelope(data)), string(envelope(data))},
	} {
		if st, _ := w.Handle(c.sig, []byte(c.body)); st != 401 {
			t.Errorf("%s: %d", name, st)
		}
	}
	if len(got) != 0 {
		t.Errorf("statuses from refused events: %+v", got)
	}
	anySig := rcs.Sign("ct-acme", nil) // well formed: the body is refused before it is checked
	for _, bad := range []string{`{`, `{"message":{"data":"!!"}}`, `{}`, `{"message":{"data":"` + strings.Repeat("A", 64<<10+4) + `"}}`} {
		if st, msg := w.Handle(anySig, []byte(bad)); st != 400 {
			t.Errorf("%.40q: %d %s", bad, st, msg)
		}
	}
	// signed by the agent's token, yet not ours to record: taken (200), so
	// Google does not send it again for days, and nothing recorded
	otherAgent := []byte(strings.Replace(string(data), `"agentId": "acme-otp@rbm.goog"`, `"agentId": "someone-else@rbm.goog"`, 1))
	if string(otherAgent) == string(data) {
		t.Fatal("testdata/event_delivered.json names no agentId to replace")
	}
	for name, ev := range map[string][]byte{"another agent's event": otherAgent, "unreadable event": []byte(`[1,2]`)} {
		if st, msg := w.Handle(rcs.Sign("ct-acme", ev), envelope(ev)); st != 200 || len(got) != 0 {
			t.Errorf("%s: %d %s %+v", name, st, msg, got)
		}
	}
}

// FuzzWebhook: any body, signed or not, gets 200, 400, 401 or 403, never a
// panic.
func FuzzWebhook(f *testing.F) {
	for _, name := range []string{"event_delivered.json", "event_ttl_revoked.json", "user_message.json"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(b)
	}
	f.Add([]byte(`{"clientToken":"ct-acme","secret":"s"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []rcs.Status
		w := webhook(&got)
		for _, body := range [][]byte{envelope(data), data} {
			st, _ := w.Handle(rcs.Sign("ct-acme", data), body)
			if st != 200 && st != 400 && st != 401 && st != 403 {
				t.Fatalf("status %d", st)
			}
		}
		for _, s := range got {
			if s.MessageID == "" {
				t.Fatalf("status %+v", s)
			}
		}
	})
}

func TestValidate(t *testing.T) {
	ok := rcs.Agent{Name: "rbm", AgentID: "acme-otp@rbm.goog", Key: rcs.ServiceAccountKey{ClientEmail: "x@y", PrivateKey: testKey}, ClientToken: "ct"}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, edit := range map[string]func(a *rcs.Agent){
		"name":             func(a *rcs.Agent) { a.Name = "" },
		"base_url":         func(a *rcs.Agent) { a.BaseURL = "rcsbusinessmessaging.googleapis.com" },
		"token_url":        func(a *rcs.Agent) { a.TokenURL = "ftp://x" },
		"agent_id":         func(a *rcs.Agent) { a.AgentID = "a b" },
		"key_file":         func(a *rcs.Agent) { a.Key = rcs.ServiceAccountKey{} },
		"client_token":     func(a *rcs.Agent) { a.ClientToken = " " },
		"capability_cache": func(a *rcs.Agent) { a.CapabilityCache = -time.Second },
		"timeout":          func(a *rcs.Agent) { a.Timeout = time.Hour },
	} {
		a := ok
		edit(&a)
		var fe *rcs.FieldError
		if err := a.Validate(); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
}

func TestServiceAccountKeyRoundTrip(t *testing.T) {
	k := rcs.ServiceAccountKey{ClientEmail: "otp@acme.iam.gserviceaccount.com", PrivateKeyID: "abc", PrivateKey: testKey, TokenURI: "https://oauth2.googleapis.com/token"}
	back, err := rcs.ParseServiceAccountKey(rcs.MarshalServiceAccountKey(k))
	if err != nil || back.ClientEmail != k.ClientEmail || back.PrivateKeyID != "abc" || !back.PrivateKey.Equal(testKey) || back.TokenURI != k.TokenURI {
		t.Fatalf("%+v %v", back, err)
	}
	for _, bad := range []string{`{`, `{"type":"authorized_user"}`, `{"client_email":"x"}`, `{"client_email":"x","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`} {
		if _, err := rcs.ParseServiceAccountKey([]byte(bad)); err == nil {
			t.Errorf("%q read", bad)
		}
	}
}
