package sim_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/rcs"
	"github.com/otpgate/otpgate/rcs/sim"
)

// rig is a simulator, a client of it, and the connector's webhook taking
// its events over loopback.
type rig struct {
	sim    *sim.Server
	client *rcs.Client
	mu     sync.Mutex
	got    []rcs.Status
	hook   *httptest.Server
}

func newRig(t *testing.T, cfg sim.Config) *rig {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	r := &rig{sim: s}
	a := rcs.Agent{Name: "rbm", BaseURL: s.BaseURL(), AgentID: s.AgentID(), Key: s.Key(), ClientToken: s.ClientToken()}
	if r.client, err = rcs.New(a, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	w := rcs.NewWebhook([]rcs.Agent{a}, func(st rcs.Status) error {
		r.mu.Lock()
		r.got = append(r.got, st)
		r.mu.Unlock()
		return nil
	}, nil)
	r.hook = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		st, body := w.Handle(req.Header.Get("X-Goog-Signature"), b)
		rw.WriteHeader(st)
		io.WriteString(rw, body)
	}))
	s.SetCallbackURL(r.hook.URL)
	t.Cleanup(func() { s.Close(); r.hook.Close() })
	return r
}

func (r *rig) wait(t *testing.T, id, want string) []rcs.Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		var got []string
		var sts []rcs.Status
		for _, s := range r.got {
			if s.MessageID == id {
				got, sts = append(got, s.Status), append(sts, s)
			}
		}
		r.mu.Unlock()
		if strings.Join(got, ",") == want {
			return sts
		}
		if time.Now().After(deadline) {
			t.Fatalf("events of %s: %v, want %s", id, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEvents(t *testing.T) {
	r := newRig(t, sim.Config{ReadAfter: 10 * time.Millisecond, MaxTTL: 300 * time.Millisecond, Rules: []sim.Rule{
		{Prefix: "+4477", Action: "read"},
		{Prefix: "+4478", Action: "offline", Delay: time.Hour},
		{Prefix: "+4479", Action: "unrevoked"},
		{Prefix: "+4470", Action: "offline", Delay: 100 * time.Millisecond},
	}})
	ctx := context.Background()
	if err := r.sim.VerifyWebhook(ctx); err != nil {
		t.Fatalf("the webhook's set-up: %v", err)
	}
	id, err := r.client.Send(ctx, rcs.Message{To: "+447700900123", Text: "Your code is 482913.", Ref: "a.0", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r.wait(t, id, "delivered,read")
	inbox := r.sim.Messages("+447700900123")
	if len(inbox) != 1 || inbox[0].Text != "Your code is 482913." || inbox[0].Status != "read" {
		t.Errorf("inbox %+v", inbox)
	}
	for _, tt := range []struct{ to, want, reason string }{
		{"+447800900123", "failed", "rcs_expired"},           // offline past the TTL: revoked
		{"+447900900123", "failed", "rcs_expired_unrevoked"}, // the revocation failed
		{"+447000900123", "delivered", ""},                   // back online within it
	} {
		id, err := r.client.Send(ctx, rcs.Message{To: tt.to, Text: "code 1234", Ref: tt.to, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if sts := r.wait(t, id, tt.want); sts[0].Reason != tt.reason {
			t.Errorf("%s: %+v", tt.to, sts[0])
		}
	}
}

// TestAPIChecks: a bad token, another agent id, a bad number or a missing
// message id are refused as the API refuses them.
func TestAPIChecks(t *testing.T) {
	r := newRig(t, sim.Config{})
	for _, tt := range []struct {
		name, path, auth string
		status           int
	}{
		{"no token", "/v1/phones/+14155552671/agentMessages?messageId=m1&agentId=" + r.sim.AgentID(), "", 401},
		{"another agent", "/v1/phones/+14155552671/agentMessages?messageId=m1&agentId=nope@rbm.goog", "token", 403},
		{"a bad number", "/v1/phones/14155552671/agentMessages?messageId=m1&agentId=" + r.sim.AgentID(), "token", 400},
		{"no message id", "/v1/phones/%2B14155552671/agentMessages?agentId=" + r.sim.AgentID(), "token", 400},
	} {
		req, _ := http.NewRequest("POST", r.sim.BaseURL()+tt.path, strings.NewReader(`{"contentMessage":{"text":"x"}}`))
		if tt.auth != "" {
			// a token from a real grant: the client fetches one by sending
			r.client.Send(context.Background(), rcs.Message{To: "+14155552699", Text: "x", Ref: "warm"})
			req.Header.Set("Authorization", "Bearer "+r.sim.LastToken())
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}
}

func TestParseRule(t *testing.T) {
	for _, in := range []string{"+1555=no-rcs", "44=offline:1m30s", "+1=refuse:429", "+7=read", "+8=no-answer-once", "+9=silent", "+0=unrevoked", "+2=deliver"} {
		r, err := sim.ParseRule(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if again, err := sim.ParseRule(r.String()); err != nil || again != r {
			t.Errorf("%q round trip: %+v %v", in, again, err)
		}
	}
	for _, in := range []string{"", "+1555", "=read", "+1a=read", "+1=explode", "+1=refuse", "+1=refuse:200", "+1=offline", "+1=read:2"} {
		if _, err := sim.ParseRule(in); err == nil {
			t.Errorf("%q read without an error", in)
		}
	}
}
