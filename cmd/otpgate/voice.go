package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/sip"
	"github.com/otpgate/otpgate/sip/uas"
	"github.com/otpgate/otpgate/tts"
)

// sipVoicer is a voice connector: it renders the code with tts and places
// the call on one SIP trunk. It implements engine.Voicer.
type sipVoicer struct {
	c      *sip.Client
	tts    *tts.Renderer
	speech tts.Engine // optional: speaks the brand
}

func (v sipVoicer) Call(ctx context.Context, vc engine.VoiceCall) (engine.VoiceResult, error) {
	render := func(law tts.Law) ([]byte, error) {
		if v.speech != nil && vc.Brand != "" {
			return v.tts.RenderWith(ctx, v.speech, vc.Brand, vc.Code, vc.Locale, law)
		}
		return v.tts.Render(vc.Code, vc.Locale, law)
	}
	mu, err := render(tts.MuLaw)
	if err != nil {
		return engine.VoiceResult{Outcome: engine.MsgFailed}, &sendError{err, "tts_failed", true}
	}
	al, err := render(tts.ALaw)
	if err != nil {
		return engine.VoiceResult{Outcome: engine.MsgFailed}, &sendError{err, "tts_failed", true}
	}
	start := time.Now()
	res, err := v.c.Place(ctx, sip.Call{CallID: vc.ID, To: vc.To, Audio: mu, AudioALaw: al})
	out := engine.VoiceResult{CallID: res.CallID, Outcome: string(res.Outcome), Language: tts.Language(vc.Locale)}
	if !res.Answered.IsZero() {
		out.Answered = res.Answered.Sub(start)
		if !res.Ended.IsZero() {
			out.Talk = res.Ended.Sub(res.Answered)
		}
	}
	if out.Outcome == "" {
		out.Outcome = engine.MsgFailed
	}
	return out, err
}

// startVoice starts the trunks (and, in sandbox mode, the SIP simulator as
// trunk "sandbox-voice") and returns the voice connectors by name.
func (g *gateway) startVoice(cfg *config.Config, log *slog.Logger) (map[string]engine.Voicer, error) {
	r, err := tts.New(tts.Options{})
	if err != nil {
		return nil, err
	}
	var speech tts.Engine
	if len(cfg.Voice.TTSCommand) > 0 {
		speech = &tts.CommandEngine{Cmd: cfg.Voice.TTSCommand}
	}
	trunks := cfg.Trunks
	if cfg.Sandbox {
		var rules []uas.Rule
		for _, r := range cfg.SandboxSim.SIPRules {
			rule, _ := uas.ParseRule(r) // validated with the config
			rules = append(rules, rule)
		}
		g.uas, err = uas.New(uas.Config{Rules: rules, Log: log})
		if err != nil {
			return nil, err
		}
		if err := g.uas.Listen("udp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("sandbox sip: %w", err)
		}
		trunks = append([]config.TrunkConf{{Name: "sandbox-voice", Address: g.uas.Addr(), LocalIP: "127.0.0.1", RingTimeout: config.Duration(20 * time.Second)}}, trunks...)
	}
	voicers := map[string]engine.Voicer{}
	for _, t := range trunks {
		c, err := sip.NewClient(sip.Trunk{
			Name: t.Name, Addr: t.Address, Transport: t.Transport, Username: t.Username, Password: t.Password,
			From: t.From, Domain: t.Domain, MaxCalls: t.MaxCalls, CPS: t.CPS, RingTimeout: t.RingTimeout.D(), LocalIP: t.LocalIP,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("trunks %s: %w", t.Name, err)
		}
		g.trunks = append(g.trunks, c)
		voicers[t.Name] = sipVoicer{c: c, tts: r, speech: speech}
	}
	return voicers, nil
}

// sandboxCalls is the API's CallInbox in sandbox mode: the calls the SIP
// simulator took, each shown (and played) only to the tenant whose
// verification placed it.
type sandboxCalls struct {
	s  *uas.Server
	st owners
}

func (c sandboxCalls) Calls(tenant, number string) []api.SandboxCall {
	var out []api.SandboxCall
	for _, r := range c.s.Calls(number) {
		if !ownedBy(c.st, tenant, "sandbox-voice", r.ID) {
			continue
		}
		out = append(out, api.SandboxCall{ID: r.ID, From: r.From, To: r.To, Outcome: r.Outcome, Codec: r.Codec,
			Started: r.Started, Answered: r.Answered, Ended: r.Ended, Seconds: float64(len(r.Audio)) / 8000,
			AudioURL: "/v1/sandbox/calls/" + r.ID + "/audio.wav"})
	}
	return out
}

func (c sandboxCalls) CallAudio(tenant, id string) ([]byte, bool) {
	r, ok := c.s.Call(id)
	if !ok || !ownedBy(c.st, tenant, "sandbox-voice", id) {
		return nil, false
	}
	law := tts.MuLaw
	if r.Codec == "PCMA" {
		law = tts.ALaw
	}
	return tts.WAV(r.Audio, law), true
}
