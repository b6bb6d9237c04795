package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint on loopback that fails the first `fail`
// requests with 500 and records every body it accepts.
type receiver struct {
	mu     sync.Mutex
	fail   int
	seen   int
	bodies []string
	sigs   []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seen++
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(500)
		return
	}
	rc.bodies = append(rc.bodies, string(b))
	rc.sigs = append(rc.sigs, r.Header.Get(SignatureHeader))
}

func (h *harness) drainHooks() {
	for {
		select {
		case j := <-h.e.hookQueue:
			h.e.deliver(context.Background(), j)
		default:
			return
		}
	}
}

// pump runs timers and webhook deliveries, moving the clock by step, n times.
func (h *harness) pump(n int, step time.Duration) {
	for i := 0; i < n; i++ {
		h.e.RunDue(context.Background(), 1000)
		h.drainHooks()
		h.advanceClock(step)
	}
}

func webhookHarness(t *testing.T, rc *receiver) (*harness, string) {
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	h := newHarness(t)
	h.tenant.WebhookSecret = "s3cret"
	h.e.cfg.Webhooks.AllowLoopback = true
	h.e.httpc = newWebhookClient(h.e.cfg.Webhooks)
	return h, srv.URL + "/hooks"
}

func TestWebhooksRetriedInOrderSignedWithoutCode(t *testing.T) {
	rc := &receiver{fail: 2}
	h, url := webhookHarness(t, rc)
	ctx := context.Background()
	v, err := h.e.Create(ctx, CreateRequest{Tenant: "acme", Number: "+393471234567", CallbackURL: url})
	if err != nil {
		t.Fatal(err)
	}
	h.last = v.ID
	h.drain()
	code := h.lastCode()
	r, _ := h.st.Get(v.ID)
	h.e.HandleReceipt(Receipt{Connector: "smsc", MessageID: r.Messages[0].MessageID, Delivered: true, Final: true, State: "DELIVRD"})
	if res, _ := h.e.Check(ctx, "acme", v.ID, code); !res.Verified {
		t.Fatal("not verified")
	}
	h.pump(40, 5*time.Second)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bodies) != 2 || rc.seen != 4 {
		t.Fatalf("receiver saw %d requests, accepted %d; want 4 and 2 (two 500s first)", rc.seen, len(rc.bodies))
	}
	var types []string
	for i, b := range rc.bodies {
		var ev WebhookEvent
		if err := json.Unmarshal([]byte(b), &ev); err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
		if strings.Contains(b, code) {
			t.Fatalf("webhook body holds the code: %s", b)
		}
		if err := VerifySignature("s3cret", rc.sigs[i], []byte(b), h.clock(), 24*time.Hour); err != nil {
			t.Fatalf("signature: %v", err)
		}
		if VerifySignature("wrong", rc.sigs[i], []byte(b), h.clock(), 24*time.Hour) == nil {
			t.Fatal("signature verifies with another secret")
		}
	}
	if got := strings.Join(types, ","); got != "message.delivered,verification.verified" {
		t.Fatalf("webhooks in order %s", got)
	}
	r, _ = h.st.Get(v.ID)
	if r.HooksPending() {
		t.Fatal("outbox not empty")
	}
}

func TestWebhookDeadLetter(t *testing.T) {
	rc := &receiver{fail: 1 << 30}
	h, url := webhookHarness(t, rc)
	h.e.cfg.Webhooks.MaxAge = time.Hour
	ctx := context.Background()
	v, _ := h.e.Create(ctx, CreateRequest{Tenant: "acme", Number: "+393471234567", CallbackURL: url})
	h.drain()
	h.e.Cancel(ctx, "acme", v.ID)
	h.pump(200, time.Minute) // 200 minutes of retries, capped at 10 minutes apart
	dead, err := h.st.DeadHooks("acme", 10)
	if err != nil || len(dead) != 1 || !strings.Contains(string(dead[0].Body), "verification.canceled") || dead[0].Attempts < 5 {
		t.Fatalf("dead letters %+v %v", dead, err)
	}
	if other, _ := h.st.DeadHooks("other", 10); len(other) != 0 {
		t.Fatal("dead letter listed for another tenant")
	}
}

func TestCallbackURLChecks(t *testing.T) {
	cfg := WebhookConfig{}
	for u, ok := range map[string]bool{
		"https://hooks.example.com/x":  true,
		"http://127.0.0.1:9/x":         false,
		"http://localhost/x":           false,
		"http://10.1.2.3/x":            false,
		"http://[::1]/x":               false,
		"http://169.254.169.254/":      false,
		"http://100.100.100.200/":      false,
		"http://[64:ff9b::a9fe:a9fe]/": false,
		"http://[2002:a9fe:a9fe::1]/":  false,
		"http://0.1.2.3/":              false,
		"http://[fd00:ec2::254]/":      false,
		"http://93.184.216.34/":        true,
		"ftp://example.com/":           false,
		"https://user:pw@example.com":  false,
		"/relative":                    false,
	} {
		if err := checkCallbackURL(u, cfg); (err == nil) != ok {
			t.Errorf("checkCallbackURL(%q) = %v, want ok=%v", u, err, ok)
		}
	}
	if err := checkCallbackURL("http://127.0.0.1:9/x", WebhookConfig{AllowLoopback: true}); err != nil {
		t.Errorf("loopback refused though allowed: %v", err)
	}
	if err := checkCallbackURL("http://169.254.169.254/", WebhookConfig{AllowLoopback: true, AllowPrivate: true}); err == nil {
		t.Error("link-local allowed")
	}
	// at delivery time the resolved address is checked too
	h := newHarness(t)
	srv := httptest.NewServer(&receiver{})
	defer srv.Close()
	h.e.httpc = newWebhookClient(WebhookConfig{Timeout: time.Second})
	req, _ := http.NewRequest("POST", srv.URL, nil)
	if _, err := h.e.httpc.Do(req); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("delivery to loopback: %v", err)
	}
}

// TestWebhookEachItemOnce: with a healthy receiver every item is posted
// exactly once, though deliveries chain directly and the timer loop runs
// between them.
func TestWebhookEachItemOnce(t *testing.T) {
	rc := &receiver{}
	h, url := webhookHarness(t, rc)
	ctx := context.Background()
	v, _ := h.e.Create(ctx, CreateRequest{Tenant: "acme", Number: "+393471234567", CallbackURL: url})
	h.drain()
	r, _ := h.st.Get(v.ID)
	h.e.HandleReceipt(Receipt{Connector: "smsc", MessageID: r.Messages[0].MessageID, Delivered: true, Final: true, State: "DELIVRD"})
	h.e.Cancel(ctx, "acme", v.ID)
	for i := 0; i < 10; i++ {
		h.e.RunDue(ctx, 100)
		// deliver one job at a time, running the timers between deliveries
		select {
		case j := <-h.e.hookQueue:
			h.e.deliver(ctx, j)
		default:
		}
		h.advanceClock(time.Second) // within the claim's lease
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.seen != 2 || len(rc.bodies) != 2 {
		t.Fatalf("receiver saw %d posts for 2 webhooks", rc.seen)
	}
}

// TestPurgeWaitsForWebhooks: retention does not delete a record whose
// webhooks are still owed; they are delivered or dead-lettered first.
func TestPurgeWaitsForWebhooks(t *testing.T) {
	rc := &receiver{fail: 1 << 30}
	h, url := webhookHarness(t, rc)
	h.e.cfg.Retention = time.Minute
	h.e.cfg.Webhooks.MaxAge = time.Hour
	ctx := context.Background()
	v, _ := h.e.Create(ctx, CreateRequest{Tenant: "acme", Number: "+393471234567", CallbackURL: url})
	h.drain()
	h.e.Cancel(ctx, "acme", v.ID)
	h.pump(20, 10*time.Second) // past the retention, webhook still failing
	if _, err := h.st.Get(v.ID); err != nil {
		t.Fatalf("record purged with a webhook owed: %v", err)
	}
	h.pump(150, time.Minute) // past max_age: dead letter, then the purge
	if dead, _ := h.st.DeadHooks("acme", 10); len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	if _, err := h.st.Get(v.ID); err == nil {
		t.Fatal("record kept after its webhook was dead-lettered and the retention passed")
	}
}

// TestWebhookFormats: a verification made through an API with a webhook
// format of its own gets its webhooks in that shape (and only those the
// format sends), through the same outbox, signed the same way.
func TestWebhookFormats(t *testing.T) {
	rc := &receiver{}
	h, url := webhookHarness(t, rc)
	h.e.cfg.WebhookFormats = map[string]WebhookFormat{"acmeapi": func(typ, eventID string, v *View) ([]byte, bool) {
		if !strings.HasPrefix(typ, "verification.") {
			return nil, false // this API reports status changes only
		}
		return []byte(`{"event":"` + typ + `","id":"` + v.ID + `","status":"` + v.Status + `","seq":"` + eventID + `"}`), true
	}}
	ctx := context.Background()
	v, err := h.e.Create(ctx, CreateRequest{Tenant: "acme", Number: "+393471234567", CallbackURL: url, API: "acmeapi", NumericID: true})
	if err != nil {
		t.Fatal(err)
	}
	h.last = v.ID
	h.drain()
	r, _ := h.st.Get(v.ID)
	h.e.HandleReceipt(Receipt{Connector: "smsc", MessageID: r.Messages[0].MessageID, Delivered: true, Final: true, State: "DELIVRD"})
	if res, _ := h.e.Check(ctx, "acme", v.ID, h.lastCode()); !res.Verified {
		t.Fatal("not verified")
	}
	h.pump(5, time.Second)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	want := `{"event":"verification.verified","id":"` + v.ID + `","status":"verified","seq":"` + v.ID + `.0"}`
	if len(rc.bodies) != 1 || rc.bodies[0] != want {
		t.Fatalf("bodies %q, want only %s", rc.bodies, want)
	}
	if err := VerifySignature("s3cret", rc.sigs[0], []byte(rc.bodies[0]), h.clock(), time.Hour); err != nil {
		t.Fatal(err)
	}
	// the numeric id was given and finds the verification
	view, err := h.e.Get(ctx, "acme", v.ID)
	if err != nil || view.Seq != 1 {
		t.Fatalf("seq %d %v", view.Seq, err)
	}
	if got, err := h.e.BySeq(ctx, "acme", 1); err != nil || got.ID != v.ID {
		t.Fatalf("BySeq: %v %v", got, err)
	}
	if _, err := h.e.BySeq(ctx, "other", 1); err != ErrNotFound {
		t.Fatalf("another tenant's number 1: %v", err)
	}
}
