package config

import (
	"maps"
	"slices"

	"github.com/otpgate/otpgate/router"
)

// Routes turns the config into the router's routes (the short form into
// one route per prefix and a catch-all "default").
func (r RoutesConf) Routes() []router.Route {
	var out []router.Route
	for _, rc := range r.List {
		rt := router.Route{Name: rc.Name, Strategy: rc.Strategy, Sender: rc.Sender, SourceTON: rc.SourceTON, SourceNPI: rc.SourceNPI,
			Match: router.Match{Countries: rc.Match.Countries, Prefixes: rc.Match.Prefixes, Senders: rc.Match.Senders,
				SenderKind: rc.Match.SenderKind, Tenants: rc.Match.Tenants, Channel: rc.Match.Channel}}
		for _, t := range rc.Targets {
			rt.Targets = append(rt.Targets, router.Target{Connector: t.Connector, Weight: t.Weight, Cost: t.Cost})
		}
		out = append(out, rt)
	}
	prefixes := slices.Sorted(maps.Keys(r.Prefixes))
	for _, p := range prefixes {
		out = append(out, router.Route{Name: "prefix " + p, Match: router.Match{Prefixes: []string{p}}, Targets: []router.Target{{Connector: r.Prefixes[p]}}})
	}
	if r.Default != "" {
		out = append(out, router.Route{Name: "default", Targets: []router.Target{{Connector: r.Default}}})
	}
	return out
}

// RouteTable is the routing table in force: the configured routes, plus,
// for voice, WhatsApp and RCS when no route takes them, one that sends
// through every trunk (account, agent) in order.
func (c *Config) RouteTable() []router.Route {
	rs := c.Routes.Routes()
	voice, wa, rcsRoute := false, false, false
	for _, r := range rs {
		voice = voice || r.Match.Channel == router.ChannelVoice
		wa = wa || r.Match.Channel == router.ChannelWhatsApp
		rcsRoute = rcsRoute || r.Match.Channel == router.ChannelRCS
	}
	if !rcsRoute {
		var ts []router.Target
		if c.Sandbox {
			ts = append(ts, router.Target{Connector: SandboxRCS})
		}
		for _, r := range c.RCS {
			ts = append(ts, router.Target{Connector: r.Name})
		}
		if len(ts) > router.MaxTargets {
			ts = ts[:router.MaxTargets]
		}
		if len(ts) > 0 {
			rs = append(rs, router.Route{Name: "rcs (every agent)", Match: router.Match{Channel: router.ChannelRCS}, Targets: ts})
		}
	}
	if !wa {
		var ts []router.Target
		if c.Sandbox {
			ts = append(ts, router.Target{Connector: SandboxWhatsApp})
		}
		for _, w := range c.WhatsApp {
			ts = append(ts, router.Target{Connector: w.Name})
		}
		if len(ts) > router.MaxTargets {
			ts = ts[:router.MaxTargets]
		}
		if len(ts) > 0 {
			rs = append(rs, router.Route{Name: "whatsapp (every account)", Match: router.Match{Channel: router.ChannelWhatsApp}, Targets: ts})
		}
	}
	if !voice {
		var ts []router.Target
		if c.Sandbox {
			ts = append(ts, router.Target{Connector: "sandbox-voice"})
		}
		for _, t := range c.Trunks {
			ts = append(ts, router.Target{Connector: t.Name})
		}
		if len(ts) > router.MaxTargets {
			ts = ts[:router.MaxTargets]
		}
		if len(ts) > 0 {
			rs = append(rs, router.Route{Name: "voice (every trunk)", Match: router.Match{Channel: router.ChannelVoice}, Targets: ts})
		}
	}
	return rs
}
