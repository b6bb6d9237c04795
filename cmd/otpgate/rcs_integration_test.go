package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/rcs"
	rcssim "github.com/otpgate/otpgate/rcs/sim"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// rcsEvent is one event as Google pushes it: the envelope (body) and the
// decoded data its signature covers.
type rcsEvent struct{ body, data []byte }

// rcsEnvelope is eventType for messageID, as the sandbox agent's.
func rcsEnvelope(t *testing.T, messageID, eventType string) rcsEvent {
	t.Helper()
	data, err := json.Marshal(rcs.Event{AgentID: "otpgate-sandbox@rbm.goog", SenderPhoneNumber: "+393471234569",
		EventType: eventType, EventID: "MxTest" + eventType, MessageID: messageID, SendTime: time.Now().UTC().Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	var env rcs.Envelope
	env.Message.Data = base64.StdEncoding.EncodeToString(data)
	env.Message.MessageID = "1"
	env.Subscription = "projects/test/subscriptions/rbm"
	body, _ := json.Marshal(env)
	return rcsEvent{body, data}
}

func postRCS(t *testing.T, base, sig string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/webhooks/rcs", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Goog-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestRCSSandbox: the sandbox's RCS agent on its simulator, end to end over
// HTTP both ways (OAuth token, sends, Google-signed events back to
// /webhooks/rcs).
func TestRCSSandbox(t *testing.T) {
	conf := "sandbox: true\nsandbox_sim: {rcs_rules: [\"+1415555=no-rcs\", \"+393471234569=silent\", \"+393471234568=read\"]}\n" + tenantsYAML()
	g := startTestGateway(t, conf, t.TempDir())
	base := "http://" + g.Addr()
	c := client{t, base, keyAcme}

	t.Run("the webhook set-up", func(t *testing.T) {
		if err := g.rcssim.VerifyWebhook(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatalf("the simulator's set-up request: %v", err)
		}
		if st := postRCS(t, base, "", []byte(`{"clientToken":"guess","secret":"x"}`)); st != 403 {
			t.Errorf("a wrong client token: %d, want 403", st)
		}
	})

	t.Run("delivered, then the code checks", func(t *testing.T) {
		v := c.create(`{"number":"+393471234567","channel":"rcs"}`)
		m := inboxMessage(t, c, "+393471234567", "rcs", "delivered")
		eventually(t, 5*time.Second, "delivered recorded", func() bool { return eventTypes(c.get(v.ID)) == "created,submitted,delivered" })
		got := c.get(v.ID)
		if got.Messages[0].Channel != "rcs" || got.Messages[0].Connector != "sandbox-rcs" || got.Messages[0].MessageID != m.ID {
			t.Errorf("message %+v, inbox %s", got.Messages[0], m.ID)
		}
		if r := c.check(v.ID, codeFrom(t, m.Text)); !r.Verified {
			t.Fatalf("check: %+v", r)
		}
		var box struct{ Messages []json.RawMessage }
		client{t, base, keyOther}.do("GET", "/v1/sandbox/messages?number=%2B393471234567", "", &box)
		if len(box.Messages) != 0 {
			t.Errorf("another tenant sees %s", box.Messages)
		}
	})

	t.Run("read", func(t *testing.T) {
		v := c.create(`{"number":"+393471234568","channel":"rcs"}`)
		inboxMessage(t, c, "+393471234568", "rcs", "read")
		eventually(t, 5*time.Second, "read recorded", func() bool { return c.get(v.ID).Messages[0].State == "read" })
	})

	t.Run("no RCS on the phone: the SMS follows at once", func(t *testing.T) {
		start := time.Now()
		v := c.create(`{"number":"+14155550100","workflow":["rcs","sms"]}`)
		sms := inboxMessage(t, c, "+14155550100", "sms", "")
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("the SMS took %s", d)
		}
		got := c.get(v.ID)
		if got.Messages[0].State != "failed" || got.Step != 1 {
			t.Errorf("verification %s: %+v", eventTypes(got), got.Messages)
		}
		if r := c.check(v.ID, codeFrom(t, sms.Text)); !r.Verified {
			t.Fatalf("check: %+v", r)
		}
	})

	t.Run("tampered and replayed events change nothing", func(t *testing.T) {
		v := c.create(`{"number":"+393471234569","channel":"rcs"}`)
		m := inboxMessage(t, c, "+393471234569", "rcs", "") // silent: never an event
		eventually(t, 5*time.Second, "submitted", func() bool { return eventTypes(c.get(v.ID)) == "created,submitted" })
		before := c.get(v.ID)

		genuine := rcsEnvelope(t, m.ID, "DELIVERED")
		tampered := rcsEnvelope(t, m.ID, "READ").body // under the DELIVERED event's signature
		for name, call := range map[string]struct {
			sig  string
			body []byte
		}{
			"data replaced after signing":      {rcs.Sign(g.rcssim.ClientToken(), genuine.data), tampered},
			"signed with another client token": {rcs.Sign("not-the-token", genuine.data), genuine.body},
			"unsigned":                         {"", genuine.body},
		} {
			if st := postRCS(t, base, call.sig, call.body); st != 401 {
				t.Errorf("%s: %d, want 401", name, st)
			}
		}
		if after := c.get(v.ID); eventTypes(after) != eventTypes(before) || after.Messages[0].State != "submitted" {
			t.Fatalf("a refused event changed the verification: %s %+v", eventTypes(after), after.Messages[0])
		}
		sig := rcs.Sign(g.rcssim.ClientToken(), genuine.data)
		if st := postRCS(t, base, sig, genuine.body); st != 200 {
			t.Fatalf("the genuine event: %d", st)
		}
		delivered := c.get(v.ID)
		if delivered.Messages[0].State != "delivered" {
			t.Fatalf("after the genuine event: %s %+v", eventTypes(delivered), delivered.Messages[0])
		}
		for i := 0; i < 3; i++ {
			postRCS(t, base, sig, genuine.body)
		}
		if after := c.get(v.ID); eventTypes(after) != eventTypes(delivered) || after.UpdatedAt != delivered.UpdatedAt {
			t.Fatalf("a replay changed the verification: %s", eventTypes(after))
		}
		if st := postRCS(t, base, sig, []byte(`{"message":{"data":"%%%"}}`)); st != 400 {
			t.Errorf("data that is not base64: %d, want 400", st)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		_, _, body := doRaw(t, base, "GET", "/metrics", "", "")
		for _, want := range []string{
			`otpgate_messages_total{channel="rcs",state="delivered"}`,
			`otpgate_messages_total{channel="rcs",state="read"}`,
			`otpgate_message_failures_total{channel="rcs",reason="not_rcs_capable"}`,
			`otpgate_rcs_callbacks_total{result="bad_signature"}`,
			`otpgate_rcs_sends_total{agent="sandbox-rcs",result="accepted"}`,
		} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("/metrics has no %s", want)
			}
		}
	})
}

// TestRCSAgent: a configured agent (key file, token endpoint, its own
// simulator): a send whose answer never comes is tried again with the same
// message id, and the phone gets it once; with capability_check a phone
// without RCS gets its SMS with no send tried.
func TestRCSAgent(t *testing.T) {
	smscSim := startSim(t, smsc.Config{})
	sim, err := rcssim.New(rcssim.Config{Logger: quietLog(), Rules: []rcssim.Rule{
		{Prefix: "+4479", Action: "no-answer-once"},
		{Prefix: "+1415555", Action: "no-rcs"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "rbm-key.json")
	if err := os.WriteFile(keyFile, rcs.MarshalServiceAccountKey(sim.Key()), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`server_key: %s
log: {level: warn}
%srcs:
  - name: rbm
    base_url: %s
    agent_id: %s
    key_file: %s
    client_token: %s
    capability_check: true
    timeout: 300ms
%s`, testKey, simYAML(smscSim.Addr()), sim.BaseURL(), sim.AgentID(), keyFile, sim.ClientToken(), tenantsYAML())
	g := startTestGateway(t, conf, filepath.Join(dir, "data"))
	sim.SetCallbackURL("http://" + g.Addr() + "/webhooks/rcs")
	c := client{t, "http://" + g.Addr(), keyAcme}

	t.Run("a lost answer: sent again with its id, taken once", func(t *testing.T) {
		v := c.create(`{"number":"+447911123456","channel":"rcs"}`)
		eventually(t, 20*time.Second, "delivered after the retry", func() bool { return c.get(v.ID).Messages[0].State == "delivered" })
		msgs := sim.Messages("+447911123456")
		if len(msgs) != 1 || sim.Repeats() != 1 {
			t.Fatalf("the phone got %d messages (want 1), the agent %d repeated sends (want 1)", len(msgs), sim.Repeats())
		}
		if got := c.get(v.ID); got.Messages[0].MessageID != msgs[0].ID {
			t.Errorf("the verification's message id %q, the agent's %q", got.Messages[0].MessageID, msgs[0].ID)
		}
		if r := c.check(v.ID, codeFrom(t, msgs[0].Text)); !r.Verified {
			t.Fatalf("check: %+v", r)
		}
	})

	t.Run("capability check: no RCS, no send, the SMS at once", func(t *testing.T) {
		before, checksBefore := sim.Requests()
		v := c.create(`{"number":"+14155550123","workflow":["rcs","sms"]}`)
		sms := waitMessage(t, smscSim, "+14155550123", 1)
		if after, checks := sim.Requests(); after != before || checks != checksBefore+1 {
			t.Errorf("%d send requests for a phone the capability check said has no RCS (want 0), %d checks (want 1)", after-before, checks-checksBefore)
		}
		got := c.get(v.ID)
		if got.Messages[0].State != "failed" || !strings.Contains(eventTypes(got), "failed,step") {
			t.Errorf("verification %s: %+v", eventTypes(got), got.Messages)
		}
		if r := c.check(v.ID, codeFrom(t, sms.Text)); !r.Verified {
			t.Fatalf("check: %+v", r)
		}
	})

	if n := sim.TokensIssued(); n != 1 {
		t.Errorf("%d OAuth tokens fetched; one lasts an hour", n)
	}
}
