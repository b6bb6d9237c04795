package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestFraudGuards: the fraud guards over HTTP, as a tenant meets them: a
// landline gets its voice step only (the SMS step skipped with an event);
// a velocity limit per end user is a 429 with Retry-After, natively and
// through the Twilio facade (DeviceIp); a number whose verifications keep
// failing is locked for that tenant only, and stays locked after a
// restart; every refusal is counted.
func TestFraudGuards(t *testing.T) {
	dir := t.TempDir()
	conf := "sandbox: true\nfraud: {velocity: {client: {count: 2, per: 1h}}, lockout: {wrong_codes: 2}}\n" + tenantsYAML()
	g := startTestGateway(t, conf, dir)
	base := "http://" + g.Addr()
	c := client{t, base, keyAcme}

	t.Run("a landline starts at its voice step", func(t *testing.T) {
		v := c.create(`{"number":"+390212345678","workflow":["sms","voice"]}`)
		got := c.get(v.ID)
		if strings.Join(v.Workflow, ",") != "voice" || got.Messages[0].Channel != "voice" {
			t.Fatalf("workflow %v, first message %+v", v.Workflow, got.Messages[0])
		}
		if !strings.Contains(eventTypes(got), "created,step_skipped") || !strings.Contains(got.Events[1].Detail, "fixed line") {
			t.Errorf("events %s: %+v", eventTypes(got), got.Events)
		}
	})

	t.Run("velocity per end user, native", func(t *testing.T) {
		for i, n := range []string{"+393471111101", "+393471111202"} {
			if st, _, b := c.do("POST", "/v1/verifications", `{"number":"`+n+`","client_ip":"198.51.100.7"}`, nil); st != 202 {
				t.Fatalf("create %d: %d %s", i, st, b)
			}
		}
		st, h, b := c.do("POST", "/v1/verifications", `{"number":"+393471111303","client_ip":"198.51.100.7"}`, nil)
		var p struct{ Code, Detail string }
		json.Unmarshal(b, &p)
		if st != 429 || p.Code != "velocity_limit" || h.Get("Retry-After") == "" || !strings.Contains(p.Detail, "198.51.100.7") {
			t.Fatalf("third create for one end user: %d %s (Retry-After %q)", st, b, h.Get("Retry-After"))
		}
		if st, _, b := c.do("POST", "/v1/verifications", `{"number":"+393471111404","client_ip":"198.51.100.8"}`, nil); st != 202 {
			t.Fatalf("another end user: %d %s", st, b)
		}
	})

	t.Run("velocity per end user, Twilio's DeviceIp", func(t *testing.T) {
		post := func(to string) (int, []byte) {
			form := url.Values{"To": {to}, "Channel": {"sms"}, "DeviceIp": {"203.0.113.9"}}
			req, _ := http.NewRequest("POST", base+"/compat/twilio/v2/Services/VAdemo/Verifications", strings.NewReader(form.Encode()))
			req.SetBasicAuth("ACdemo", g.sandbox.APIKey)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			return resp.StatusCode, buf.Bytes()
		}
		for _, to := range []string{"+393472222101", "+393472222202"} {
			if st, b := post(to); st != 201 {
				t.Fatalf("%s: %d %s", to, st, b)
			}
		}
		if st, b := post("+393472222303"); st != 429 || !bytes.Contains(b, []byte(`"code":20429`)) {
			t.Fatalf("third for one device: %d %s", st, b)
		}
	})

	fail := func(c client, number string) {
		t.Helper()
		v := c.create(`{"number":"` + number + `","max_attempts":1}`)
		if r := c.check(v.ID, "x"); r.Status != "failed" {
			t.Fatalf("a wrong code with one attempt: %+v", r)
		}
	}
	const victim = "+393473333333"
	t.Run("a number locked after failed verifications, for that tenant only", func(t *testing.T) {
		fail(c, victim)
		fail(c, victim)
		st, h, b := c.do("POST", "/v1/verifications", `{"number":"`+victim+`"}`, nil)
		if st != 429 || !bytes.Contains(b, []byte("number_locked")) || h.Get("Retry-After") == "" {
			t.Fatalf("after two failed verifications: %d %s", st, b)
		}
		client{t, base, keyOther}.create(`{"number":"` + victim + `"}`)
	})

	// the lock outlives a restart of the gateway on the same data
	if err := g.Shutdown(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	g = startTestGateway(t, conf, dir)
	c = client{t, "http://" + g.Addr(), keyAcme}
	if st, _, b := c.do("POST", "/v1/verifications", `{"number":"`+victim+`"}`, nil); st != 429 || !bytes.Contains(b, []byte("number_locked")) {
		t.Fatalf("after a restart: %d %s", st, b)
	}

	_, _, body := doRaw(t, "http://"+g.Addr(), "GET", "/metrics", "", "")
	for _, want := range []string{
		`otpgate_fraud_refusals_total{code="velocity_limit"`,
		`otpgate_fraud_refusals_total{code="number_locked"`,
		`otpgate_fraud_skipped_steps_total{code="number_type_not_allowed",channel="sms",country="IT"}`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}
