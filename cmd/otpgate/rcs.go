package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/rcs"
	rcssim "github.com/otpgate/otpgate/rcs/sim"
	"github.com/valyala/fasthttp"
)

// The RCS channel: one rcs.Client per configured agent (in sandbox mode
// also one on the built-in RBM simulator), each an engine.Sender named as
// the agent; the webhook on /webhooks/rcs turns Google's events into
// engine receipts. A message's id is made from its engine reference, so
// the engine's retry of a send whose answer was lost reuses it and the
// API ignores the copy.

// rcsSender adapts an RCS client to engine.Sender; its errors are
// *rcs.Error, which carry the engine's Reason, Permanent, Recipient and
// Unknown.
type rcsSender struct{ c *rcs.Client }

func (s rcsSender) Send(ctx context.Context, m engine.Outbound) ([]string, error) {
	id, err := s.c.Send(ctx, rcs.Message{To: m.To, Text: m.Text, Ref: m.Ref, TTL: m.Useful})
	if err != nil {
		return nil, err
	}
	return []string{id}, nil
}

// startRCS builds the agents' clients into senders and the webhook; in
// sandbox mode it starts the simulator first.
func (g *gateway) startRCS(cfg *config.Config, senders map[string]engine.Sender, log *slog.Logger) error {
	var agents []rcs.Agent
	if cfg.Sandbox {
		var rules []rcssim.Rule
		for _, r := range cfg.SandboxSim.RCSRules {
			rule, _ := rcssim.ParseRule(r) // validated with the config
			rules = append(rules, rule)
		}
		// a client token of this run's: nobody else on the machine can
		// sign events the sandbox takes
		sim, err := rcssim.New(rcssim.Config{Rules: rules, Logger: log, ClientToken: "sandbox-" + rand.Text()})
		if err != nil {
			return err
		}
		if _, err := sim.Start("127.0.0.1:0"); err != nil {
			return err
		}
		g.rcssim = sim
		agents = append(agents, rcs.Agent{Name: config.SandboxRCS, BaseURL: sim.BaseURL(), AgentID: sim.AgentID(),
			Key: sim.Key(), ClientToken: sim.ClientToken(), Timeout: 5 * time.Second})
	}
	for _, r := range cfg.RCS {
		agents = append(agents, r.Agent())
	}
	for _, a := range agents {
		c, err := rcs.New(a, nil, log, nil)
		if err != nil {
			return err
		}
		senders[a.Name] = rcsSender{c}
	}
	if len(agents) > 0 {
		g.rcsHook = rcs.NewWebhook(agents, g.onRCSStatus, log)
	}
	return nil
}

// onRCSStatus turns one event into an engine receipt, recorded durably
// before Google gets its 200 (Google sends it again otherwise).
func (g *gateway) onRCSStatus(s rcs.Status) error {
	rc := engine.Receipt{Connector: s.Agent, MessageID: s.MessageID, State: s.Status, At: s.At, Durable: true, Final: true}
	switch s.Status {
	case "delivered":
		rc.Delivered = true
	case "read":
		rc.Delivered, rc.Read = true, true
	case "failed":
		rc.Err = s.Reason
	}
	// Google's times are exact: they stand, except one ahead of this
	// clock (skew), which would put the event before its own send
	if now := time.Now().UTC(); rc.At.IsZero() || rc.At.After(now) {
		rc.At = now
	}
	return g.eng.HandleReceipt(rc)
}

// mountRCS serves the webhook (the set-up request and the events).
func (g *gateway) mountRCS() {
	if g.rcsHook == nil {
		return
	}
	g.srv.HandleCallback("POST", "/webhooks/rcs", "rcs_callback", func(ctx *fasthttp.RequestCtx) {
		status, body := g.rcsHook.Handle(string(ctx.Request.Header.Peek("X-Goog-Signature")), ctx.PostBody())
		ctx.SetStatusCode(status)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString(body)
	})
}

// rcs lists what the RCS simulator took for a number, each only to the
// tenant whose verification sent it.
func (i sandboxInbox) rcs(tenant, number string) []api.SandboxMessage {
	if i.rcsSim == nil {
		return nil
	}
	var out []api.SandboxMessage
	for _, m := range i.rcsSim.Messages(number) {
		if !ownedBy(i.st, tenant, config.SandboxRCS, m.ID) {
			continue
		}
		out = append(out, api.SandboxMessage{ID: m.ID, Channel: engine.ChannelRCS, From: m.AgentID, To: m.To, Text: m.Text, Status: m.Status, ReceivedAt: m.ReceivedAt})
	}
	return out
}
