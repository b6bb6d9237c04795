package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// twoSMSCs: SMSCs "a" and "b" pointing at the given simulators.
func twoSMSCs(a, b string) string {
	return fmt.Sprintf(`server_key: %s
limits: {number_sends: {max: -1}}
sms: {send_timeout: 3s}
admin: {api_keys: ["%s"]}
smscs:
  - {name: a, address: %s, system_id: otpgate, password: secret, submit_timeout: 1s, reconnect_min: 20ms, reconnect_max: 100ms}
  - {name: b, address: %s, system_id: otpgate, password: secret, submit_timeout: 1s, reconnect_min: 20ms, reconnect_max: 100ms}
`, testKey, api.HashKey("admin-key-for-tests"), a, b) + tenantsYAML()
}

func connectorOf(t *testing.T, c client, id string) string {
	var conn string
	eventually(t, 15*time.Second, "submitted", func() bool {
		v := c.get(id)
		if len(v.Messages) > 0 && v.Messages[0].State != "queued" {
			conn = v.Messages[0].Connector
			return true
		}
		return false
	})
	return conn
}

// TestFailoverOnPermanentError: SMSC a refuses the destination
// (ESME_RINVDSTADR); the message moves to b, and the events say so.
func TestFailoverOnPermanentError(t *testing.T) {
	a := startSim(t, smsc.Config{Rules: []smsc.Rule{{Prefix: "+1415", Status: 0x0B}, {Prefix: "+1416", Status: 0x0B}}})
	b := startSim(t, smsc.Config{Rules: []smsc.Rule{{Prefix: "+1416", Status: 0x0B}}})
	conf := twoSMSCs(a.Addr(), b.Addr()) + "routes:\n  - {name: us, match: {prefixes: [\"+1\"]}, targets: [{connector: a}, {connector: b}]}\n"
	g := startTestGateway(t, conf, t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	cr := c.create(`{"number":"+14155559900"}`)
	if got := connectorOf(t, c, cr.ID); got != "b" {
		t.Fatalf("sent via %s, want b", got)
	}
	v := c.get(cr.ID)
	if ev := eventTypes(v); !strings.Contains(ev, "failover,submitted") {
		t.Fatalf("events %s", ev)
	}
	if len(b.Messages("+14155559900")) != 1 || len(a.Messages("+14155559900")) != 0 {
		t.Fatal("the message is not at b once")
	}
	// refused for good by every route: the SMS step, and with it the
	// verification, fails
	cr = c.create(`{"number":"+14165559901"}`)
	eventually(t, 10*time.Second, "failed", func() bool { return c.get(cr.ID).Status == "failed" })
	if ev := eventTypes(c.get(cr.ID)); ev != "created,failover,send_failed,failed" {
		t.Fatalf("events %s", ev)
	}
}

// TestFailoverWhenEveryBindIsDown: SMSC a is down; after the send timeout
// the message goes to b.
func TestFailoverWhenEveryBindIsDown(t *testing.T) {
	dead := startSim(t, smsc.Config{})
	deadAddr := dead.Addr()
	dead.Close()
	b := startSim(t, smsc.Config{})
	conf := twoSMSCs(deadAddr, b.Addr()) + "routes:\n  - {name: all, targets: [{connector: a}, {connector: b}]}\n"
	cfg, err := config.Parse([]byte(conf), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.HTTP.Listen = t.TempDir(), "127.0.0.1:0"
	g, err := startGateway(cfg, source{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Shutdown(ctxTimeout(t, 10*time.Second)) })
	waitReady(t, "http://"+g.Addr()) // ready: b is bound though a is down
	c := client{t, "http://" + g.Addr(), keyAcme}
	cr := c.create(`{"number":"+14155559910"}`)
	if got := connectorOf(t, c, cr.ID); got != "b" {
		t.Fatalf("sent via %s, want b", got)
	}
}

// TestLeastCostAndSenderRewrite: least_cost picks the cheaper SMSC; the
// route rewrites an alphanumeric sender for a country that refuses them.
func TestLeastCostAndSenderRewrite(t *testing.T) {
	a := startSim(t, smsc.Config{})
	b := startSim(t, smsc.Config{})
	conf := twoSMSCs(a.Addr(), b.Addr()) + `routes:
  - name: us-cheap
    match: {countries: [US]}
    strategy: least_cost
    targets: [{connector: a, cost: 0.02}, {connector: b, cost: 0.005}]
    sender: "14155550000"
`
	g := startTestGateway(t, conf, t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	cr := c.create(`{"number":"+14155559920","sender_id":"Acme"}`)
	if got := connectorOf(t, c, cr.ID); got != "b" {
		t.Fatalf("sent via %s, want b (cheaper)", got)
	}
	if m := waitMessage(t, b, "+14155559920", 1); m.From != "+14155550000" {
		t.Fatalf("sender %q, want the rewritten +14155550000", m.From)
	}
}

// TestUnhealthyRouteSkipped: SMSC a's receipts all say UNDELIV; once its
// success rate is under the threshold, new messages go to b, except probes.
func TestUnhealthyRouteSkipped(t *testing.T) {
	a := startSim(t, smsc.Config{ReceiptDelay: time.Millisecond, UndeliveredShare: 1})
	b := startSim(t, smsc.Config{ReceiptDelay: time.Millisecond})
	conf := twoSMSCs(a.Addr(), b.Addr()) + `route_health: {min_samples: 5, threshold: 0.5, probe_every: 10}
routes:
  - {name: all, targets: [{connector: a}, {connector: b}]}
`
	g := startTestGateway(t, conf, t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	for i := 0; i < 5; i++ { // five undelivered receipts from a
		cr := c.create(fmt.Sprintf(`{"number":"+1415555%04d"}`, 9930+i))
		eventually(t, 5*time.Second, "receipt", func() bool { return strings.Contains(eventTypes(c.get(cr.ID)), "undelivered") })
	}
	eventually(t, 5*time.Second, "a judged unhealthy", func() bool {
		sa, sb := g.tracker.State("a"), g.tracker.State("b")
		return sa.Up && !sa.Healthy && sb.Up && sb.Healthy
	})
	viaB := 0
	for i := 0; i < 20; i++ {
		cr := c.create(fmt.Sprintf(`{"number":"+1415555%04d"}`, 9950+i))
		if connectorOf(t, c, cr.ID) == "b" {
			viaB++
		}
	}
	if viaB < 16 || viaB == 20 {
		t.Fatalf("%d of 20 via b: want most, but a probe or two still via a", viaB)
	}
	_, _, m := c.do("GET", "/metrics", "", nil)
	if !bytes.Contains(m, []byte(`otpgate_route_connector_healthy{connector="a"} 0`)) {
		t.Fatalf("metrics do not show a as unhealthy")
	}
}

// TestReloadRoutes: POST /admin/reload swaps a valid routing table in
// without a restart; an invalid file is refused, naming the field, and the
// running table stays.
func TestReloadRoutes(t *testing.T) {
	a := startSim(t, smsc.Config{})
	b := startSim(t, smsc.Config{})
	dir := t.TempDir()
	path := filepath.Join(dir, "otpgate.yaml")
	base := twoSMSCs(a.Addr(), b.Addr())
	write := func(routes string) {
		if err := os.WriteFile(path, []byte(base+routes), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("routes: {default: a}\n")
	src := source{path: path, http: "127.0.0.1:0", data: dir} // as --config, --http and --data set it
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
	c := client{t, "http://" + g.Addr(), keyAcme}
	admin := client{t, c.base, "admin-key-for-tests"}
	if got := connectorOf(t, c, c.create(`{"number":"+14155559960"}`).ID); got != "a" {
		t.Fatalf("before reload via %s", got)
	}
	write("routes: {default: b}\nlog: {level: warn}\n")
	var res api.ReloadResult
	if st, _, raw := admin.do("POST", "/admin/reload", "", &res); st != 200 {
		t.Fatalf("reload: %d %s", st, raw)
	}
	if strings.Join(res.Reloaded, ",") != "routes" || strings.Join(res.NeedsRestart, ",") != "log" {
		t.Fatalf("reload answer %+v: want exactly what changed", res)
	}
	res = api.ReloadResult{}
	if st, _, raw := admin.do("POST", "/admin/reload", "", &res); st != 200 || len(res.Reloaded) != 0 || strings.Join(res.NeedsRestart, ",") != "log" {
		t.Fatalf("reload of an unchanged file: %d %s", st, raw)
	}
	if got := connectorOf(t, c, c.create(`{"number":"+14155559961"}`).ID); got != "b" {
		t.Fatalf("after reload via %s, want b", got)
	}
	// a new WhatsApp account needs a restart, and says so; the rest applies
	write("routes: {default: b}\nlog: {level: warn}\nwhatsapp:\n  - {name: wa, phone_number_id: \"1065\", token: t, app_secret: s, verify_token: v, template: otp, languages: [en_US], message_ttl: 1m}\n")
	res = api.ReloadResult{}
	if st, _, raw := admin.do("POST", "/admin/reload", "", &res); st != 200 || strings.Join(res.NeedsRestart, ",") != "log,whatsapp" {
		t.Fatalf("reload with a new WhatsApp account: %d %s", st, raw)
	}
	write("routes:\n  - {name: x, targets: [{connector: nosuch}]}\n")
	st, _, raw := admin.do("POST", "/admin/reload", "", nil)
	if st != 422 || !strings.Contains(string(raw), "invalid_config") ||
		!strings.Contains(string(raw), path+`:17: routes[0].targets[0].connector: \"nosuch\" is not a defined connector`) {
		t.Fatalf("invalid reload: %d %s", st, raw)
	}
	if got := connectorOf(t, c, c.create(`{"number":"+14155559962"}`).ID); got != "b" {
		t.Fatalf("after a refused reload via %s, want b still", got)
	}
	if st, _, _ := c.do("POST", "/admin/reload", "", nil); st != 401 {
		t.Fatalf("tenant key on /admin/reload: %d", st)
	}
}

// TestSIGHUPReload: the same through the signal, on the real binary.
func TestSIGHUPReload(t *testing.T) {
	a := startSim(t, smsc.Config{})
	b := startSim(t, smsc.Config{})
	dir := t.TempDir()
	addr := freeAddr(t)
	path := filepath.Join(dir, "otpgate.yaml")
	base := fmt.Sprintf("data_dir: %s\nhttp: {listen: %q}\nlog: {level: warn}\n", filepath.Join(dir, "data"), addr) + twoSMSCs(a.Addr(), b.Addr())
	os.WriteFile(path, []byte(base+"routes: {default: a}\n"), 0o600)
	cmd := startProcess(t, path, addr)
	c := client{t, "http://" + addr, keyAcme}
	if got := connectorOf(t, c, c.create(`{"number":"+14155559970"}`).ID); got != "a" {
		t.Fatalf("before SIGHUP via %s", got)
	}
	os.WriteFile(path, []byte(base+"routes: {default: b}\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "route to b after SIGHUP", func() bool {
		return connectorOf(t, c, c.create(fmt.Sprintf(`{"number":"+1415555%04d"}`, 9971+time.Now().Nanosecond()%20)).ID) == "b"
	})
}

// TestRouteCommand: `otpgate route` prints the decision, the rule and the
// fallbacks.
func TestRouteCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	// the SMSC password comes from the environment, which route does not need
	os.WriteFile(path, []byte(strings.Replace(twoSMSCs("127.0.0.1:1", "127.0.0.1:2"), "password: secret", `password: "${NOT_SET_IN_ROUTE_TEST}"`, 1)+`routes:
  - {name: it-acme, match: {prefixes: ["+39"], tenants: [acme]}, targets: [{connector: b}, {connector: a}]}
  - {name: it, match: {prefixes: ["+39"]}, targets: [{connector: a}]}
`), 0o600)
	var out bytes.Buffer
	if err := runRoute([]string{"+393471234567", "--tenant", "acme", "--config", path}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"it-acme", "send via:  b", "fall back: a", "+393471234567 (IT)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	runRoute([]string{"+393471234567", "--config", path}, &out)
	if !strings.Contains(out.String(), `"it"`) || !strings.Contains(out.String(), "fall back: none") {
		t.Fatalf("other tenant:\n%s", out.String())
	}
	out.Reset()
	runRoute([]string{"+14155552671", "--config", path}, &out)
	if !strings.Contains(out.String(), "no route") {
		t.Fatalf("unrouted number:\n%s", out.String())
	}
	if err := runRoute([]string{"+39", "--config", path}, &out); err == nil {
		t.Fatal("a bad number was explained")
	}
}
