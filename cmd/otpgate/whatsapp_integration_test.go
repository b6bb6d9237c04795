package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/smpp/smsc"
	"github.com/otpgate/otpgate/whatsapp"
	wasim "github.com/otpgate/otpgate/whatsapp/sim"
)

// The sandbox's WhatsApp account, as startWhatsApp makes it.
const (
	sandboxAppSecret = "sandbox-app-secret"
	sandboxPhoneID   = "100000000000001"
)

// inboxMessage waits for a message of channel to number in the sandbox
// inbox (with status, when given) and returns it.
func inboxMessage(t *testing.T, c client, number, channel, status string) api.SandboxMessage {
	t.Helper()
	var found api.SandboxMessage
	eventually(t, 10*time.Second, fmt.Sprintf("a %s message to %s (%s)", channel, number, status), func() bool {
		var box api.SandboxMessages
		c.do("GET", "/v1/sandbox/messages?number="+strings.ReplaceAll(number, "+", "%2B"), "", &box)
		for _, m := range box.Messages {
			if m.Channel == channel && (status == "" || m.Status == status) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// statusBody is a status callback for wamid as Meta writes it.
func statusBody(wamid, ref, status string) []byte {
	n := whatsapp.Notification{Object: "whatsapp_business_account"}
	var v whatsapp.Value
	v.MessagingProduct = "whatsapp"
	v.Metadata.PhoneNumberID = sandboxPhoneID
	v.Statuses = []whatsapp.StatusItem{{ID: wamid, Status: status, Timestamp: fmt.Sprint(time.Now().Unix()), RecipientID: "393471234569", BizOpaqueCallbackData: ref}}
	n.Entry = []whatsapp.Entry{{ID: "1", Changes: []whatsapp.Change{{Field: "messages", Value: v}}}}
	b, _ := json.Marshal(n)
	return b
}

func postCallback(t *testing.T, base, sig string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/webhooks/whatsapp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestWhatsAppSandbox: the sandbox's WhatsApp account on its simulator,
// end to end over HTTP both ways (sends to the simulator, Meta-signed
// status callbacks back to /webhooks/whatsapp).
func TestWhatsAppSandbox(t *testing.T) {
	conf := "sandbox: true\nsandbox_sim: {whatsapp_rules: [\"+1415555=not-on-whatsapp\", \"+393471234569=silent\"]}\n" + tenantsYAML()
	g := startTestGateway(t, conf, t.TempDir())
	base := "http://" + g.Addr()
	c := client{t, base, keyAcme}

	t.Run("delivered, then the code checks", func(t *testing.T) {
		v := c.create(`{"number":"+393471234567","channel":"whatsapp"}`)
		m := inboxMessage(t, c, "+393471234567", "whatsapp", "delivered")
		eventually(t, 5*time.Second, "delivered recorded", func() bool { return eventTypes(c.get(v.ID)) == "created,submitted,sent,delivered" })
		got := c.get(v.ID)
		if got.Messages[0].Channel != "whatsapp" || got.Messages[0].Connector != "sandbox-whatsapp" || got.Messages[0].MessageID != m.ID {
			t.Errorf("message %+v, inbox %s", got.Messages[0], m.ID)
		}
		if r := c.check(v.ID, codeFrom(t, m.Text)); !r.Verified {
			t.Fatalf("check: %+v", r)
		}
		// the other tenant does not see it
		var box api.SandboxMessages
		client{t, base, keyOther}.do("GET", "/v1/sandbox/messages?number=%2B393471234567", "", &box)
		if len(box.Messages) != 0 {
			t.Errorf("another tenant sees %+v", box.Messages)
		}
	})

	t.Run("not a WhatsApp user: the SMS follows at once", func(t *testing.T) {
		start := time.Now()
		v := c.create(`{"number":"+14155550100","workflow":["whatsapp","sms"]}`)
		sms := inboxMessage(t, c, "+14155550100", "sms", "")
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("the SMS took %s; the step's wait is 2m", d)
		}
		got := c.get(v.ID)
		if got.Messages[0].State != "failed" || got.Step != 1 || !strings.Contains(eventTypes(got), "failed,step,submitted") {
			t.Errorf("verification %s: %+v", eventTypes(got), got.Messages)
		}
		wa := inboxMessage(t, c, "+14155550100", "whatsapp", "")
		if codeFrom(t, wa.Text) != codeFrom(t, sms.Text) {
			t.Errorf("WhatsApp said %q, the SMS %q: not one code", wa.Text, sms.Text)
		}
		if r := c.check(v.ID, codeFrom(t, sms.Text)); !r.Verified {
			t.Fatalf("check: %+v", r)
		}
	})

	t.Run("tampered and replayed callbacks change nothing", func(t *testing.T) {
		v := c.create(`{"number":"+393471234569","channel":"whatsapp"}`)
		m := inboxMessage(t, c, "+393471234569", "whatsapp", "sent") // silent: never delivered
		eventually(t, 5*time.Second, "sent recorded", func() bool { return eventTypes(c.get(v.ID)) == "created,submitted,sent" })
		before := c.get(v.ID)
		ref := fmt.Sprintf("%s.0", v.ID)

		genuine := statusBody(m.ID, ref, "delivered")
		tampered := bytes.Replace(statusBody(m.ID, ref, "sent"), []byte(`"sent"`), []byte(`"read"`), 1)
		for name, call := range map[string]struct {
			sig  string
			body []byte
		}{
			"tampered after signing":     {whatsapp.Sign([]byte(sandboxAppSecret), statusBody(m.ID, ref, "sent")), tampered},
			"signed with another secret": {whatsapp.Sign([]byte("not-the-secret"), genuine), genuine},
			"unsigned":                   {"", genuine},
		} {
			if st := postCallback(t, base, call.sig, call.body); st != 401 {
				t.Errorf("%s: %d, want 401", name, st)
			}
		}
		if after := c.get(v.ID); eventTypes(after) != eventTypes(before) || after.Messages[0].State != "submitted" {
			t.Fatalf("a refused callback changed the verification: %s %+v", eventTypes(after), after.Messages[0])
		}

		// Meta's own (signed) delivered status is taken once; its replay,
		// and a replay of the older "sent", change nothing
		sig := whatsapp.Sign([]byte(sandboxAppSecret), genuine)
		if st := postCallback(t, base, sig, genuine); st != 200 {
			t.Fatalf("genuine callback: %d", st)
		}
		delivered := c.get(v.ID)
		if delivered.Messages[0].State != "delivered" || eventTypes(delivered) != "created,submitted,sent,delivered" {
			t.Fatalf("after the genuine callback: %s %+v", eventTypes(delivered), delivered.Messages[0])
		}
		sent := statusBody(m.ID, ref, "sent")
		for i := 0; i < 3; i++ {
			postCallback(t, base, sig, genuine)
			postCallback(t, base, whatsapp.Sign([]byte(sandboxAppSecret), sent), sent)
		}
		if after := c.get(v.ID); eventTypes(after) != eventTypes(delivered) || after.UpdatedAt != delivered.UpdatedAt {
			t.Fatalf("a replay changed the verification: %s", eventTypes(after))
		}
	})

	t.Run("a batch over 1 MiB is taken", func(t *testing.T) {
		n := whatsapp.Notification{Object: "whatsapp_business_account"}
		var v whatsapp.Value
		v.MessagingProduct = "whatsapp"
		v.Metadata.PhoneNumberID = sandboxPhoneID
		for i := 0; len(v.Statuses) < 12000; i++ {
			v.Statuses = append(v.Statuses, whatsapp.StatusItem{ID: fmt.Sprintf("wamid.elsewhere.%06d", i), Status: "delivered",
				Timestamp: fmt.Sprint(time.Now().Unix()), RecipientID: "393471234567"})
		}
		n.Entry = []whatsapp.Entry{{ID: "1", Changes: []whatsapp.Change{{Field: "messages", Value: v}}}}
		body, _ := json.Marshal(n)
		if len(body) <= 1<<20 {
			t.Fatalf("the batch is only %d bytes", len(body))
		}
		if st := postCallback(t, base, whatsapp.Sign([]byte(sandboxAppSecret), body), body); st != 200 {
			t.Fatalf("a %d-byte batch: %d", len(body), st)
		}
	})

	t.Run("the handshake", func(t *testing.T) {
		st, _, body := doRaw(t, base, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=sandbox-verify-token&hub.challenge=1158201444", "", "")
		if st != 200 || string(body) != "1158201444" {
			t.Errorf("handshake: %d %q", st, body)
		}
		if st, _, _ := doRaw(t, base, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1", "", ""); st != 403 {
			t.Errorf("wrong verify token: %d", st)
		}
	})

	t.Run("metrics per channel", func(t *testing.T) {
		_, _, body := doRaw(t, base, "GET", "/metrics", "", "")
		for _, want := range []string{
			`otpgate_messages_total{channel="whatsapp",state="delivered"}`,
			`otpgate_messages_total{channel="whatsapp",state="failed"}`,
			`otpgate_message_failures_total{channel="whatsapp",reason="not_on_whatsapp"}`,
			`otpgate_message_delivery_seconds_count{channel="whatsapp"}`,
			`otpgate_whatsapp_callbacks_total{result="bad_signature"}`,
		} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("/metrics has no %s", want)
			}
		}
	})
}

// TestWhatsAppKill9BeforeItsStatus: the gateway dies (kill -9) after
// WhatsApp took its messages and before their statuses came; Meta (here
// the simulator, a process of its own) retries the callbacks, and after
// the restart each finds its verification: one delivered (its code
// checks), one failed (not a WhatsApp user: the SMS step follows). No
// WhatsApp message is sent twice.
func TestWhatsAppKill9BeforeItsStatus(t *testing.T) {
	smscSim := startSim(t, smsc.Config{})
	wa, err := wasim.New(wasim.Config{DeliverAfter: 1500 * time.Millisecond, Logger: quietLog(), Rules: []wasim.Rule{
		{Prefix: "+1415555", Action: "not-on-whatsapp"},
		{Prefix: "+4479", Action: "no-answer"}, // taken, never answered: only the mark and the ref know it
	}})
	if err != nil {
		t.Fatal(err)
	}
	waAddr, err := wa.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wa.Close() })

	dir := t.TempDir()
	addr := freeAddr(t)
	wa.SetCallbackURL("http://" + addr + "/webhooks/whatsapp")
	cfgPath := filepath.Join(dir, "otpgate.yaml")
	conf := fmt.Sprintf(`server_key: %s
data_dir: %s
http: {listen: %q}
log: {level: warn}
%swhatsapp:
  - name: wa
    base_url: http://%s
    phone_number_id: "100000000000001"
    token: sandbox
    app_secret: sandbox-app-secret
    verify_token: vt
    template: otp_code
    languages: [en_US]
    message_ttl: 60s
    timeout: 20s
%s`, testKey, filepath.Join(dir, "data"), addr, simYAML(smscSim.Addr()), waAddr, tenantsYAML())
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := startProcess(t, cfgPath, addr)
	c := client{t, "http://" + addr, keyAcme}

	ok := c.create(`{"number":"+393471234567","channel":"whatsapp"}`)
	fails := c.create(`{"number":"+14155550199","workflow":["whatsapp","sms"]}`)
	lost := c.create(`{"number":"+447911123456","workflow":["whatsapp","sms"]}`)
	eventually(t, 5*time.Second, "the three messages taken", func() bool { return wa.Taken() == 3 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	time.Sleep(2 * time.Second) // the statuses come while the gateway is down, and are retried

	startProcess(t, cfgPath, addr)
	eventually(t, 20*time.Second, "the delivered status recorded after the restart", func() bool {
		return c.get(ok.ID).Messages[0].State == "delivered"
	})
	msgs := wa.Messages("+393471234567")
	if r := c.check(ok.ID, codeFrom(t, msgs[0].Text)); !r.Verified {
		t.Fatalf("check: %+v", r)
	}
	sms := waitMessage(t, smscSim, "+14155550199", 1)
	v := c.get(fails.ID)
	if v.Messages[0].State != "failed" || v.Step != 1 {
		t.Fatalf("the failed WhatsApp step: %s %+v", eventTypes(v), v.Messages)
	}
	if r := c.check(fails.ID, codeFrom(t, sms.Text)); !r.Verified {
		t.Fatalf("check of the SMS code: %+v", r)
	}
	// the send killed before its answer: its status finds it by ref
	eventually(t, 20*time.Second, "the unanswered message's status recorded after the restart", func() bool {
		return c.get(lost.ID).Messages[0].State == "delivered"
	})
	if v := c.get(lost.ID); v.Step != 0 || !strings.Contains(eventTypes(v), "submitted,sent,delivered") {
		t.Errorf("the unanswered message: %s %+v", eventTypes(v), v.Messages)
	}
	if r := c.check(lost.ID, codeFrom(t, wa.Messages("+447911123456")[0].Text)); !r.Verified {
		t.Fatalf("check of the unanswered message's code: %+v", r)
	}
	if wa.Taken() != 3 {
		t.Errorf("WhatsApp took %d messages; a restart must not send one again", wa.Taken())
	}
}
