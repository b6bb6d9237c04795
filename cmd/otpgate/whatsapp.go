package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/whatsapp"
	wasim "github.com/otpgate/otpgate/whatsapp/sim"
	"github.com/valyala/fasthttp"
)

// The WhatsApp channel: one whatsapp.Client per configured account (in
// sandbox mode also one on the built-in Cloud API simulator), each an
// engine.Sender named as the account; the webhook on /webhooks/whatsapp
// turns Meta's status callbacks into engine receipts.

// sandboxWhatsAppTTL is the sandbox template's message_send_ttl_seconds.
const sandboxWhatsAppTTL = time.Minute

// waSender adapts a WhatsApp client to engine.Sender. Its errors are
// *whatsapp.Error, which carry the engine's Reason, Permanent, Recipient
// and Unknown.
type waSender struct{ c *whatsapp.Client }

func (s waSender) Send(ctx context.Context, m engine.Outbound) ([]string, error) {
	id, err := s.c.Send(ctx, whatsapp.Message{To: m.To, Code: m.Code, Locale: m.Locale, Ref: m.Ref})
	if err != nil {
		return nil, err
	}
	return []string{id}, nil
}

// startWhatsApp builds the accounts' clients into senders and the webhook;
// in sandbox mode it starts the simulator first. It returns the longest
// message lifetime among the accounts (the engine's MinStepWait).
func (g *gateway) startWhatsApp(cfg *config.Config, senders map[string]engine.Sender, log *slog.Logger) (time.Duration, error) {
	var accounts []whatsapp.Account
	if cfg.Sandbox {
		var rules []wasim.Rule
		for _, r := range cfg.SandboxSim.WhatsAppRules {
			rule, _ := wasim.ParseRule(r) // validated with the config
			rules = append(rules, rule)
		}
		sim, err := wasim.New(wasim.Config{Rules: rules, TemplateTTL: sandboxWhatsAppTTL, Logger: log})
		if err != nil {
			return 0, err
		}
		addr, err := sim.Start("127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		g.wasim = sim
		accounts = append(accounts, whatsapp.Account{Name: config.SandboxWhatsApp, BaseURL: "http://" + addr,
			PhoneNumberID: "100000000000001", Token: "sandbox", AppSecret: "sandbox-app-secret", VerifyToken: "sandbox-verify-token",
			Template: "otp_code", Languages: []string{"en_US", "en", "it", "fr", "de", "es", "pt_BR"},
			MessageTTL: sandboxWhatsAppTTL, Rate: 1000, Timeout: 5 * time.Second})
	}
	for _, w := range cfg.WhatsApp {
		accounts = append(accounts, w.Account())
	}
	var longest time.Duration
	for _, a := range accounts {
		c, err := whatsapp.New(a, nil, log)
		if err != nil {
			return 0, err
		}
		senders[a.Name] = waSender{c}
		longest = max(longest, a.MessageTTL)
	}
	if len(accounts) > 0 {
		g.waHook = whatsapp.NewWebhook(accounts, g.onWhatsAppStatus, log)
	}
	return longest, nil
}

// onWhatsAppStatus turns one status into an engine receipt, recorded
// durably before Meta gets its 200 (Meta sends it again otherwise).
func (g *gateway) onWhatsAppStatus(s whatsapp.Status) error {
	rc := engine.Receipt{Connector: s.Account, MessageID: s.MessageID, Ref: s.Ref, State: s.Status, At: s.At, Durable: true}
	// Meta's timestamps have whole seconds: a fresh status is timed on
	// arrival (send-to-delivered latency in milliseconds); one Meta held
	// back (retried while the gateway was down) keeps Meta's time.
	if now := time.Now().UTC(); s.At.IsZero() || now.Sub(s.At) < 2*time.Second {
		rc.At = now
	}
	switch s.Status {
	case "delivered":
		rc.Delivered, rc.Final = true, true
	case "read":
		rc.Delivered, rc.Read, rc.Final = true, true, true
	case "failed":
		rc.Final = true
		rc.Err = whatsapp.FailureReason(s.ErrorCode)
		rc.State = "failed"
	}
	return g.eng.HandleReceipt(rc)
}

// mountWhatsApp serves the webhook (GET handshake, POST notifications).
func (g *gateway) mountWhatsApp() {
	if g.waHook == nil {
		return
	}
	g.srv.HandleCallback("GET", "/webhooks/whatsapp", "whatsapp_handshake", func(ctx *fasthttp.RequestCtx) {
		a := ctx.QueryArgs()
		status, body := g.waHook.Verify(string(a.Peek("hub.mode")), string(a.Peek("hub.verify_token")), string(a.Peek("hub.challenge")))
		ctx.SetStatusCode(status)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString(body)
	})
	g.srv.HandleCallback("POST", "/webhooks/whatsapp", "whatsapp_callback", func(ctx *fasthttp.RequestCtx) {
		status, msg := g.waHook.Notify(string(ctx.Request.Header.Peek("X-Hub-Signature-256")), ctx.PostBody())
		ctx.SetStatusCode(status)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString(msg)
	})
}

// whatsapp lists what the WhatsApp simulator took for a number, each only
// to the tenant whose verification sent it.
func (i sandboxInbox) whatsapp(tenant, number string) []api.SandboxMessage {
	if i.wa == nil {
		return nil
	}
	var out []api.SandboxMessage
	for _, m := range i.wa.Messages(number) {
		if !ownedBy(i.st, tenant, config.SandboxWhatsApp, m.ID) {
			continue
		}
		out = append(out, api.SandboxMessage{ID: m.ID, Channel: engine.ChannelWhatsApp, From: m.From, To: m.To, Text: m.Text, Status: m.Status, ReceivedAt: m.ReceivedAt})
	}
	return out
}
