package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// TestFlowOverSMPP runs the whole flow over HTTP and a real SMPP link to the
// simulator: request, SMS at the SMSC, receipt as an event, wrong code,
// right code, reuse of a verified code.
func TestFlowOverSMPP(t *testing.T) {
	sim := startSim(t, smsc.Config{ReceiptDelay: 20 * time.Millisecond})
	g := startTestGateway(t, "server_key: "+testKey+"\n"+simYAML(sim.Addr())+tenantsYAML(), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}

	cr := c.create(`{"number":"+14155552671","template":"Code: {code}","sender_id":"Acme"}`)
	if cr.Status != "pending" || cr.Number != "+14155552671" || cr.Country != "US" || cr.MaxAttempts != 5 || len(cr.ID) < 20 {
		t.Fatalf("create answer %+v", cr)
	}
	if d := time.Until(cr.ExpiresAt); d < 9*time.Minute || d > 11*time.Minute {
		t.Fatalf("expires_at %v: want about 10 minutes ahead", cr.ExpiresAt)
	}
	msg := waitMessage(t, sim, "+14155552671", 1)
	if msg.From != "Acme" || msg.Encoding != "gsm7" || !strings.HasPrefix(msg.Text, "Code: ") {
		t.Fatalf("SMS at the SMSC: %+v", msg)
	}
	code := strings.TrimPrefix(msg.Text, "Code: ")
	if len(code) != 6 {
		t.Fatalf("code %q is not 6 digits", code)
	}

	// the receipt becomes an event
	var v api.Verification
	eventually(t, 5*time.Second, "delivered event", func() bool {
		v = c.get(cr.ID)
		return strings.Contains(eventTypes(v), "delivered")
	})
	if v.Messages[0].MessageID != msg.ID || v.Messages[0].Connector != "sim" || v.Messages[0].State != "delivered" {
		t.Fatalf("message record %+v, SMSC id %s", v.Messages[0], msg.ID)
	}
	_, _, raw := c.do("GET", "/v1/verifications/"+cr.ID, "", nil)
	mustNotContain(t, "GET answer", raw, code)

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if r := c.check(cr.ID, wrong); r.Verified || r.Status != "pending" || r.AttemptsLeft != 4 {
		t.Fatalf("wrong code: %+v", r)
	}
	if r := c.check(cr.ID, code); !r.Verified || r.Status != "verified" {
		t.Fatalf("right code: %+v", r)
	}
	// the same code again within a minute (a retry after a lost answer):
	// the same yes; another code: no
	if r := c.check(cr.ID, code); !r.Verified || r.Reason != "already_verified" || r.AttemptsLeft != 0 {
		t.Fatalf("code checked again: %+v", r)
	}
	if r := c.check(cr.ID, wrong); r.Verified || r.Reason != "already_verified" {
		t.Fatalf("another code after the success: %+v", r)
	}
	if got := eventTypes(c.get(cr.ID)); got != "created,submitted,delivered,check_failed,verified,retry_closed" {
		t.Fatalf("events %s", got)
	}
	// another tenant sees nothing
	o := client{t, c.base, keyOther}
	if st, _, b := o.do("GET", "/v1/verifications/"+cr.ID, "", nil); st != 404 {
		t.Fatalf("other tenant GET: %d %s", st, b)
	}
	if st, _, b := o.do("POST", "/v1/verifications/"+cr.ID+"/check", `{"code":"`+code+`"}`, nil); st != 404 {
		t.Fatalf("other tenant check: %d %s", st, b)
	}
	// metrics name what happened (counters are per process: other tests add to them)
	_, _, m := c.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`otpgate_verifications_total{event="created",tenant="acme",country="US"} `,
		`otpgate_verifications_total{event="verified",tenant="acme",country="US"} `,
		`otpgate_sms_receipts_total{connector="sim",state="delivered"} `,
		`otpgate_http_requests_total{endpoint="create",status="202"}`,
		`otpgate_store_commit_duration_seconds_bucket{le=`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestMaxAttemptsAndCancel: wrong codes use up attempts, after which even
// the right code fails; cancel ends a pending one.
func TestMaxAttemptsAndCancel(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	g := startTestGateway(t, "server_key: "+testKey+"\n"+simYAML(sim.Addr())+tenantsYAML(), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}

	cr := c.create(`{"number":"+14155552672","max_attempts":2,"template":"Code: {code}"}`)
	code := strings.TrimPrefix(waitMessage(t, sim, "+14155552672", 1).Text, "Code: ")
	c.check(cr.ID, "WRONG1")
	if r := c.check(cr.ID, "WRONG2"); r.Status != "failed" || r.AttemptsLeft != 0 || r.Reason != "max_attempts" {
		t.Fatalf("second wrong code: %+v", r)
	}
	if r := c.check(cr.ID, code); r.Verified || r.Status != "failed" {
		t.Fatalf("right code after max attempts: %+v", r)
	}

	cr = c.create(`{"number":"+14155552673"}`)
	var v api.Verification
	if st, _, b := c.do("POST", "/v1/verifications/"+cr.ID+"/cancel", "", &v); st != 200 || v.Status != "canceled" {
		t.Fatalf("cancel: %d %s", st, b)
	}
	if st, _, b := c.do("POST", "/v1/verifications/"+cr.ID+"/cancel", "", nil); st != 409 || !strings.Contains(string(b), `"code":"not_pending"`) {
		t.Fatalf("second cancel: %d %s", st, b)
	}
}

// TestUndeliveredLeavesPending: an UNDELIV receipt is an event; the
// verification stays pending and its code still works.
func TestUndeliveredLeavesPending(t *testing.T) {
	sim := startSim(t, smsc.Config{ReceiptDelay: 10 * time.Millisecond, UndeliveredShare: 1})
	g := startTestGateway(t, "server_key: "+testKey+"\n"+simYAML(sim.Addr())+tenantsYAML(), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	cr := c.create(`{"number":"+14155552674","template":"Code: {code}"}`)
	code := strings.TrimPrefix(waitMessage(t, sim, "+14155552674", 1).Text, "Code: ")
	eventually(t, 5*time.Second, "undelivered event", func() bool {
		return strings.Contains(eventTypes(c.get(cr.ID)), "undelivered")
	})
	v := c.get(cr.ID)
	if v.Status != "pending" || v.Messages[0].State != "undelivered" {
		t.Fatalf("after UNDELIV: status %s message %s", v.Status, v.Messages[0].State)
	}
	if r := c.check(cr.ID, code); !r.Verified {
		t.Fatalf("check after UNDELIV: %+v", r)
	}
}

// TestPendingReused: a second request for the same number returns the
// pending verification and sends no second SMS.
func TestPendingReused(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	g := startTestGateway(t, "server_key: "+testKey+"\n"+simYAML(sim.Addr())+tenantsYAML(), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	a := c.create(`{"number":"+14155552675"}`)
	b := c.create(`{"number":"+1 415 555 2675"}`)
	if a.ID != b.ID || !b.Reused {
		t.Fatalf("second request: %+v, first %s", b, a.ID)
	}
	waitMessage(t, sim, "+14155552675", 1)
	time.Sleep(100 * time.Millisecond)
	if n := len(sim.Messages("+14155552675")); n != 1 {
		t.Fatalf("%d SMS sent, want 1", n)
	}
	// another tenant's request for the same number is its own
	o := client{t, c.base, keyOther}
	if r := o.create(`{"number":"+14155552675"}`); r.ID == a.ID {
		t.Fatal("tenants share a pending verification")
	}
}

// TestSMSCDownThenUp: a verification accepted while the SMSC is down is
// sent once it comes up (the link reconnects; the send waits or retries).
func TestSMSCDownThenUp(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	addr := sim.Addr()
	sim.Close()
	g := func() *gateway {
		cfg, err := config.Parse([]byte("server_key: "+testKey+"\n"+simYAML(addr)+tenantsYAML()), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg.DataDir, cfg.HTTP.Listen = t.TempDir(), "127.0.0.1:0"
		g, err := startGateway(cfg, source{}, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Shutdown(ctxTimeout(t, 10*time.Second)) })
		return g
	}()
	c := client{t, "http://" + g.Addr(), keyAcme}
	if st, _, _ := c.do("GET", "/readyz", "", nil); st != 503 {
		t.Fatalf("readyz with the only SMSC down: %d, want 503", st)
	}
	cr := c.create(`{"number":"+14155552676","template":"Code: {code}"}`)
	time.Sleep(200 * time.Millisecond)
	sim2 := simAgainAt(t, addr)
	code := strings.TrimPrefix(waitMessage(t, sim2, "+14155552676", 1).Text, "Code: ")
	if r := c.check(cr.ID, code); !r.Verified {
		t.Fatalf("check: %+v", r)
	}
}

// TestConcurrentChecksOverHTTP: 30 wrong checks at once never grant more
// than max_attempts tries.
func TestConcurrentChecksOverHTTP(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	g := startTestGateway(t, "server_key: "+testKey+"\nlimits: {number_checks: {max: -1}}\n"+simYAML(sim.Addr())+tenantsYAML(), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	cr := c.create(`{"number":"+14155552677","max_attempts":3}`)
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c.check(cr.ID, fmt.Sprintf("X%05d", i))
		}(i)
	}
	wg.Wait()
	v := c.get(cr.ID)
	if v.Attempts != 3 || v.Status != "failed" {
		t.Fatalf("after 30 concurrent wrong checks: attempts %d status %s", v.Attempts, v.Status)
	}
}

// TestSandboxInbox: with no config the sandbox runs, its inbox lists what
// the built-in SMSC received, newest first, and the code checks.
func TestSandboxInbox(t *testing.T) {
	t.Setenv("OTPGATE_SANDBOX_KEY", "sandbox-test-key")
	g := startTestGateway(t, "sandbox: true\n", t.TempDir())
	c := client{t, "http://" + g.Addr(), "sandbox-test-key"}
	first := c.create(`{"number":"+393471234567"}`)
	c.do("POST", "/v1/verifications/"+first.ID+"/cancel", "", nil)
	second := c.create(`{"number":"+393471234567","locale":"en"}`)
	var inbox api.SandboxMessages
	eventually(t, 5*time.Second, "two messages in the inbox", func() bool {
		c.do("GET", "/v1/sandbox/messages?number=%2B393471234567", "", &inbox)
		return len(inbox.Messages) == 2
	})
	if !strings.HasPrefix(inbox.Messages[0].Text, "Your Demo verification code") || !strings.HasPrefix(inbox.Messages[1].Text, "Il tuo codice") {
		t.Fatalf("inbox not newest first or wrong locale: %+v", inbox.Messages)
	}
	if r := c.check(second.ID, codeFrom(t, inbox.Messages[0].Text)); !r.Verified {
		t.Fatalf("check with the inbox code: %+v", r)
	}
	if st, _, _ := c.do("GET", "/v1/sandbox/messages", "", nil); st != 422 {
		t.Fatalf("inbox without number: %d", st)
	}
	if st, _, _ := (client{t, c.base, ""}).do("GET", "/v1/sandbox/messages?number=%2B393471234567", "", nil); st != 401 {
		t.Fatalf("inbox without key: %d", st)
	}
}

// TestSandboxInboxIsPerTenant: the sandbox inbox, call list and recordings
// show a tenant only its own verifications' messages and calls (they hold
// codes), whatever number it asks for; an empty or partial number is a
// 422 naming the field, never the whole inbox.
func TestSandboxInboxIsPerTenant(t *testing.T) {
	t.Setenv("OTPGATE_SANDBOX_KEY", "sandbox-test-key")
	g := startTestGateway(t, "sandbox: true\n"+tenantsYAML(), t.TempDir())
	demo := client{t, "http://" + g.Addr(), "sandbox-test-key"}
	acme := client{t, demo.base, keyAcme}
	shared, demoOnly := "+393471234501", "+393471234502"
	demo.create(`{"number":"` + shared + `"}`)
	demo.create(`{"number":"` + demoOnly + `"}`)
	acme.create(`{"number":"` + shared + `","template":"acme {code}"}`)
	inbox := func(c client, number string) []api.SandboxMessage {
		var in api.SandboxMessages
		if st, _, b := c.do("GET", "/v1/sandbox/messages?number="+url.QueryEscape(number), "", &in); st != 200 {
			t.Fatalf("inbox %s: %d %s", number, st, b)
		}
		return in.Messages
	}
	eventually(t, 5*time.Second, "each tenant's SMS in its inbox", func() bool {
		return len(inbox(demo, shared)) == 1 && len(inbox(acme, shared)) == 1 && len(inbox(demo, demoOnly)) == 1
	})
	if m := inbox(acme, shared)[0]; !strings.HasPrefix(m.Text, "acme ") {
		t.Fatalf("acme sees %q", m.Text)
	}
	if m := inbox(demo, shared)[0]; strings.HasPrefix(m.Text, "acme ") {
		t.Fatalf("demo sees acme's SMS %q", m.Text)
	}
	if got := inbox(acme, demoOnly); len(got) != 0 {
		t.Fatalf("acme sees another tenant's number's messages: %+v", got)
	}
	for _, q := range []string{"", "?number=", "?number=+", "?number=%2B", "?number=%20", "?number=%2B39", "?number=abc", "?number=%2B3934712345%25"} {
		st, _, b := acme.do("GET", "/v1/sandbox/messages"+q, "", nil)
		var p api.Problem
		_ = json.Unmarshal(b, &p)
		if st != 422 || p.Field != "number" || strings.Contains(string(b), "acme ") {
			t.Fatalf("inbox%s: %d %s, want 422 naming number", q, st, b)
		}
		if st, _, _ := acme.do("GET", "/v1/sandbox/calls"+q, "", nil); st != 422 {
			t.Fatalf("calls%s: %d, want 422", q, st)
		}
	}
	// an unencoded '+' arrives as a space and still means '+'
	if st, _, b := acme.do("GET", "/v1/sandbox/messages?number=+"+shared[1:], "", nil); st != 200 || !strings.Contains(string(b), "acme ") {
		t.Fatalf("unencoded +: %d %s", st, b)
	}

	// calls: demo's call is not in acme's list, and its recording is not
	// acme's to play
	call := demo.create(`{"number":"+393471234503","channel":"voice"}`)
	var calls struct{ Calls []api.SandboxCall }
	eventually(t, 10*time.Second, "demo's call listed", func() bool {
		demo.do("GET", "/v1/sandbox/calls?number=%2B393471234503", "", &calls)
		return len(calls.Calls) == 1
	})
	if st, _, _ := demo.do("GET", calls.Calls[0].AudioURL, "", nil); st != 200 {
		t.Fatalf("demo's own recording: %d", st)
	}
	var other struct{ Calls []api.SandboxCall }
	acme.do("GET", "/v1/sandbox/calls?number=%2B393471234503", "", &other)
	if len(other.Calls) != 0 {
		t.Fatalf("acme sees demo's call: %+v", other.Calls)
	}
	if st, _, b := acme.do("GET", calls.Calls[0].AudioURL, "", nil); st != 404 {
		t.Fatalf("acme plays demo's recording: %d %d bytes", st, len(b))
	}
	demo.do("POST", "/v1/verifications/"+call.ID+"/cancel", "", nil)
}

// TestNoSandboxPathOutsideSandbox: the inbox does not exist in production mode.
func TestNoSandboxPathOutsideSandbox(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	g := startTestGateway(t, "server_key: "+testKey+"\n"+simYAML(sim.Addr())+tenantsYAML(), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	st, _, b := c.do("GET", "/v1/sandbox/messages?number=%2B14155552671", "", nil)
	var p api.Problem
	_ = json.Unmarshal(b, &p)
	if st != 404 || p.Code != "not_found" {
		t.Fatalf("sandbox path outside sandbox: %d %s", st, b)
	}
}

// TestSandboxAdminKey: the admin key the sandbox prints is good for every
// admin endpoint its banner lists, reload included (it re-reads the
// sandbox's own config: nothing changed, nothing to restart).
func TestSandboxAdminKey(t *testing.T) {
	dir := t.TempDir()
	src := source{http: "127.0.0.1:0", data: dir}
	cfg, err := src.load()
	if err != nil {
		t.Fatal(err)
	}
	g, err := startGateway(cfg, src, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Shutdown(ctxTimeout(t, 10*time.Second)) })
	waitReady(t, "http://"+g.Addr())
	var banner bytes.Buffer
	g.writeBanner(&banner)
	if !strings.Contains(banner.String(), g.uas.Addr()) || !strings.Contains(banner.String(), filepath.Join(dir, "sandbox.json")) {
		t.Fatalf("banner lacks the SIP simulator or sandbox.json:\n%s", banner.String())
	}
	endpoints := regexp.MustCompile(`(GET|POST) (http://\S+/admin/\S+)`).FindAllStringSubmatch(banner.String(), -1)
	if len(endpoints) < 2 {
		t.Fatalf("banner lists %d admin endpoints:\n%s", len(endpoints), banner.String())
	}
	for _, e := range endpoints {
		req, _ := http.NewRequest(e[1], e[2], nil)
		req.Header.Set("Authorization", "Bearer "+g.sandbox.AdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s with the printed admin key: %d %s", e[1], e[2], resp.StatusCode, b)
		}
		if strings.HasSuffix(e[2], "/admin/reload") && string(b) != `{"reloaded":[],"needs_restart":[]}` {
			t.Fatalf("sandbox reload: %s", b)
		}
	}
}

// TestSecondGatewayOnTheSameDataDir: a second gateway on a data directory
// in use says another process holds it.
func TestSecondGatewayOnTheSameDataDir(t *testing.T) {
	dir := t.TempDir()
	startTestGateway(t, "sandbox: true\n", dir)
	cfg, err := config.Sandbox()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.HTTP.Listen = dir, "127.0.0.1:0"
	g, err := startGateway(cfg, source{}, quietLog())
	if err == nil {
		g.Shutdown(ctxTimeout(t, 5*time.Second))
		t.Fatal("a second gateway opened the same data directory")
	}
	if want := fmt.Sprintf("data_dir %s: another process holds it (pid %d)", dir, os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to say %q", err, want)
	}
}

// TestRecordsHaveNoZeroTimes: times that have not happened (a message not
// yet delivered) are left out of records, not printed as year 1.
func TestRecordsHaveNoZeroTimes(t *testing.T) {
	sim := startSim(t, smsc.Config{ReceiptDelay: time.Hour})
	g := startTestGateway(t, "server_key: "+testKey+"\n"+simYAML(sim.Addr())+tenantsYAML(), t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	id := c.create(`{"number":"+14155552672"}`).ID
	waitMessage(t, sim, "+14155552672", 1)
	eventually(t, 5*time.Second, "submitted", func() bool { return c.get(id).Messages[0].State == "submitted" })
	_, _, raw := c.do("GET", "/v1/verifications/"+id, "", nil)
	if bytes.Contains(raw, []byte("0001-01-01")) || !bytes.Contains(raw, []byte(`"submitted_at"`)) || bytes.Contains(raw, []byte(`"done_at"`)) {
		t.Fatalf("record with zero times: %s", raw)
	}
}
