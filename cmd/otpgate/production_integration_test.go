package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/smpp/smsc"
)

const hookSecret = "whsec_test_0123456789abcdef"

// hookTenantsYAML: tenant acme signs webhooks; an admin key for /admin.
func hookTenantsYAML() string {
	return fmt.Sprintf(`tenants:
  - id: acme
    api_keys: ["%s"]
    brand: Acme
    webhook_secret: %s
  - id: other
    api_keys: ["%s"]
admin:
  api_keys: ["%s"]
`, api.HashKey(keyAcme), hookSecret, api.HashKey(keyOther), api.HashKey("admin-key-for-tests"))
}

// hookSink is a webhook receiver on loopback. It checks each signature,
// keeps the first arrival of each event id (deliveries are at least once),
// and can fail a share of requests or answer slowly.
type hookSink struct {
	t      *testing.T
	mu     sync.Mutex
	first  map[string]engine.WebhookEvent // by event id
	order  map[string][]int               // verification id → seqs in first-arrival order
	hits   int
	failFn func(n int) (status int, delay time.Duration)
	srv    *httptest.Server
}

func newHookSink(t *testing.T, fail func(n int) (int, time.Duration)) *hookSink {
	s := &hookSink{t: t, first: map[string]engine.WebhookEvent{}, order: map[string][]int{}, failFn: fail}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.hits++
	n := s.hits
	s.mu.Unlock()
	if s.failFn != nil {
		if status, delay := s.failFn(n); status != 0 {
			time.Sleep(delay)
			w.WriteHeader(status)
			return
		}
	}
	if err := engine.VerifySignature(hookSecret, r.Header.Get(engine.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		s.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(400)
		return
	}
	var ev engine.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		s.t.Errorf("webhook body: %v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.first[ev.ID]; !dup {
		s.first[ev.ID] = ev
		_, seqStr, _ := strings.Cut(ev.ID, ".")
		seq, _ := strconv.Atoi(seqStr)
		s.order[ev.Verification.ID] = append(s.order[ev.Verification.ID], seq)
	}
}

func (s *hookSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.first)
}

// checkOrder: every verification's events arrived first in seq order with
// no gap from 0.
func (s *hookSink) checkOrder(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, seqs := range s.order {
		for i, q := range seqs {
			if q != i {
				t.Fatalf("verification %s: webhooks arrived in order %v", id, seqs)
			}
		}
	}
}

// TestWebhooksOverHTTP: signed webhooks reach a loopback receiver in order
// through 500s and slow answers; a callback that never succeeds becomes a
// dead letter the admin endpoint lists; a private callback is refused.
func TestWebhooksOverHTTP(t *testing.T) {
	sink := newHookSink(t, func(n int) (int, time.Duration) {
		switch n % 4 {
		case 1:
			return 500, 0
		case 2:
			return 503, 900 * time.Millisecond // slower than the timeout below
		}
		return 0, 0
	})
	dead := newHookSink(t, func(int) (int, time.Duration) { return 500, 0 })
	sim := startSim(t, smsc.Config{ReceiptDelay: 10 * time.Millisecond})
	conf := "server_key: " + testKey + "\nwebhooks: {allow_loopback: true, timeout: 600ms, retry_min: 20ms, retry_max: 100ms, max_age: 8s}\n" + simYAML(sim.Addr()) + hookTenantsYAML()
	g := startTestGateway(t, conf, t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}

	var ids []string
	for i := 0; i < 5; i++ {
		num := fmt.Sprintf("+1415555%04d", 3000+i)
		cr := c.create(fmt.Sprintf(`{"number":%q,"template":"Code: {code}","callback_url":%q}`, num, sink.srv.URL+"/hook"))
		code := strings.TrimPrefix(waitMessage(t, sim, num, 1).Text, "Code: ")
		eventually(t, 5*time.Second, "receipt", func() bool { return strings.Contains(eventTypes(c.get(cr.ID)), "delivered") })
		c.check(cr.ID, code)
		ids = append(ids, cr.ID)
	}
	// two webhooks each: message.delivered, verification.verified
	eventually(t, 30*time.Second, "10 webhooks", func() bool {
		if sink.count() > 10 {
			sink.mu.Lock()
			t.Errorf("more than 10 distinct webhooks: %v", sink.order)
			sink.mu.Unlock()
			return true
		}
		return sink.count() == 10
	})
	sink.checkOrder(t)
	sink.mu.Lock()
	for _, id := range ids {
		if a, b := sink.first[id+".0"].Type, sink.first[id+".1"].Type; a != "message.delivered" || b != "verification.verified" {
			t.Errorf("%s: webhooks %s, %s", id, a, b)
		}
	}
	sink.mu.Unlock()

	cr := c.create(fmt.Sprintf(`{"number":"+14155553100","callback_url":%q}`, dead.srv.URL))
	c.do("POST", "/v1/verifications/"+cr.ID+"/cancel", "", nil)
	admin := client{t, c.base, "admin-key-for-tests"}
	var dl struct {
		DeadLetters []engine.DeadLetter `json:"dead_letters"`
	}
	// its webhooks (the receipt's, if it came first, and the cancel's) die
	var canceled *engine.DeadLetter
	eventually(t, 20*time.Second, "dead letter", func() bool {
		admin.do("GET", "/admin/webhooks/dead?tenant=acme", "", &dl)
		for i, d := range dl.DeadLetters {
			if strings.Contains(string(d.Body), "verification.canceled") {
				canceled = &dl.DeadLetters[i]
			}
		}
		return canceled != nil
	})
	if d := canceled; !strings.HasPrefix(d.EventID, cr.ID+".") || d.Attempts < 2 || d.LastError == "" || d.Tenant != "acme" {
		t.Fatalf("dead letter %+v", d)
	}
	if dl.DeadLetters[0].DeadAt.Before(dl.DeadLetters[len(dl.DeadLetters)-1].DeadAt) {
		t.Fatal("dead letters not newest first")
	}
	if st, _, _ := c.do("GET", "/admin/webhooks/dead", "", nil); st != 401 {
		t.Fatalf("tenant key on /admin: %d", st)
	}
	// a private address is refused at request time
	st, _, b := c.do("POST", "/v1/verifications", `{"number":"+14155553101","callback_url":"http://10.0.0.1/hook"}`, nil)
	if st != 422 || !strings.Contains(string(b), `"field":"callback_url"`) {
		t.Fatalf("private callback: %d %s", st, b)
	}
	// a tenant without a webhook secret cannot ask for callbacks
	o := client{t, c.base, keyOther}
	if st, _, b := o.do("POST", "/v1/verifications", fmt.Sprintf(`{"number":"+14155553102","callback_url":%q}`, sink.srv.URL), nil); st != 422 {
		t.Fatalf("callback without a secret: %d %s", st, b)
	}
}

// TestIdempotencyOverHTTPAndRestart: the same key and body answer the first
// 202 without a second SMS, also after a restart; another body is a 409.
func TestIdempotencyOverHTTPAndRestart(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	dir := t.TempDir()
	conf := "server_key: " + testKey + "\n" + simYAML(sim.Addr()) + tenantsYAML()
	cfg, err := config.Parse([]byte(conf), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.HTTP.Listen = dir, "127.0.0.1:0"
	g, err := startGateway(cfg, source{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, "http://"+g.Addr())
	post := func(base, key, body string) (int, http.Header, api.CreateResponse, string) {
		req, _ := http.NewRequest("POST", base+"/v1/verifications", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+keyAcme)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var cr api.CreateResponse
		json.Unmarshal(raw, &cr)
		return resp.StatusCode, resp.Header, cr, string(raw)
	}
	body := `{"number":"+14155553200","brand":"Acme","ttl":300}`
	st, _, first, _ := post("http://"+g.Addr(), "order-42", body)
	if st != 202 {
		t.Fatalf("first: %d", st)
	}
	st, hdr, again, _ := post("http://"+g.Addr(), "order-42", body)
	if st != 202 || again.ID != first.ID || !again.ExpiresAt.Equal(first.ExpiresAt) || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %+v %v", st, again, hdr)
	}
	// the same request serialised another way (spacing, key order) is the
	// same request
	resent := "{ \"ttl\": 300,\n  \"brand\": \"Acme\", \"number\": \"+14155553200\" }"
	if st, hdr, again, raw := post("http://"+g.Addr(), "order-42", resent); st != 202 || again.ID != first.ID || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("re-serialised replay: %d %s", st, raw)
	}
	for _, other := range []string{`{"number":"+14155553201","brand":"Acme","ttl":300}`, `{"number":"+14155553200","brand":"Acme","ttl":301}`, `{"number":"+14155553200","brand":"Acme"}`} {
		if st, _, _, raw := post("http://"+g.Addr(), "order-42", other); st != 409 || !strings.Contains(raw, "idempotency_key_reused") {
			t.Fatalf("other body %s: %d %s", other, st, raw)
		}
	}
	waitMessage(t, sim, "+14155553200", 1)
	if err := g.Shutdown(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = "127.0.0.1:0"
	g2, err := startGateway(cfg, source{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g2.Shutdown(ctxTimeout(t, 10*time.Second)) })
	waitReady(t, "http://"+g2.Addr())
	st, _, afterRestart, _ := post("http://"+g2.Addr(), "order-42", body)
	if st != 202 || afterRestart.ID != first.ID {
		t.Fatalf("replay after restart: %d %+v", st, afterRestart)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(sim.Messages("+14155553200")); n != 1 {
		t.Fatalf("%d SMS for one idempotent request, want 1", n)
	}
}

// TestLimitsOverHTTP: the per-number send limit and the tenant's request
// rate answer 429 with a Retry-After and a code naming the limit.
func TestLimitsOverHTTP(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	conf := "server_key: " + testKey + "\nlimits: {number_sends: {max: 2, per: 10m}}\n" + simYAML(sim.Addr()) + fmt.Sprintf(`tenants:
  - id: acme
    api_keys: ["%s"]
    pending_policy: replace
  - id: slow
    api_keys: ["%s"]
    rate_limit: {per_second: 0.5, burst: 2}
`, api.HashKey(keyAcme), api.HashKey(keyOther))
	g := startTestGateway(t, conf, t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	c.create(`{"number":"+14155553300"}`)
	c.create(`{"number":"+14155553300"}`) // replaces: a second send
	st, hdr, b := c.do("POST", "/v1/verifications", `{"number":"+14155553300"}`, nil)
	ra, _ := strconv.Atoi(hdr.Get("Retry-After"))
	if st != 429 || !strings.Contains(string(b), `"code":"number_send_limit"`) || ra < 595 || ra > 600 {
		t.Fatalf("third send: %d Retry-After %q %s", st, hdr.Get("Retry-After"), b)
	}
	if n := len(sim.Messages("+14155553300")); n > 2 {
		t.Fatalf("%d SMS past the limit", n)
	}
	s := client{t, c.base, keyOther}
	for i := 0; i < 2; i++ {
		if st, _, b := s.do("GET", "/v1/verifications/0123456789abcdefghjkmnpqrs", "", nil); st != 404 {
			t.Fatalf("within burst: %d %s", st, b)
		}
	}
	st, hdr, b = s.do("GET", "/v1/verifications/0123456789abcdefghjkmnpqrs", "", nil)
	if st != 429 || !strings.Contains(string(b), `"code":"tenant_rate_limit"`) || hdr.Get("Retry-After") != "2" {
		t.Fatalf("past the burst: %d Retry-After %q %s", st, hdr.Get("Retry-After"), b)
	}
	// another tenant is not slowed by it
	if st, _, _ := c.do("GET", "/v1/verifications/0123456789abcdefghjkmnpqrs", "", nil); st != 404 {
		t.Fatalf("other tenant: %d", st)
	}
}
