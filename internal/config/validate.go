package config

import (
	"cmp"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/engine/fraud"
	"github.com/otpgate/otpgate/rcs"
	rcssim "github.com/otpgate/otpgate/rcs/sim"
	"github.com/otpgate/otpgate/router"
	"github.com/otpgate/otpgate/sip/uas"
	"github.com/otpgate/otpgate/smpp/smsc"
	"github.com/otpgate/otpgate/whatsapp"
	wasim "github.com/otpgate/otpgate/whatsapp/sim"
)

// finish applies defaults and validates. Every error is an *Error naming
// the field's path; parse adds the file and line.
func (c *Config) finish(opts Options) error {
	if c.DataDir == "" {
		c.DataDir = "./otpgate-data"
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:8080"
	}
	if c.HTTP.MaxBodyBytes == 0 {
		c.HTTP.MaxBodyBytes = 16 << 10
	}
	if c.HTTP.MaxBodyBytes < 1024 || c.HTTP.MaxBodyBytes > 1<<20 {
		return errf("http.max_body_bytes", "%d is outside 1024..1048576", c.HTTP.MaxBodyBytes)
	}
	if c.HTTP.MaxCallbackBytes == 0 {
		c.HTTP.MaxCallbackBytes = 4 << 20
	}
	if c.HTTP.MaxCallbackBytes < 64<<10 || c.HTTP.MaxCallbackBytes > 16<<20 {
		return errf("http.max_callback_bytes", "%d is outside 65536..16777216", c.HTTP.MaxCallbackBytes)
	}
	if c.Store.Sync == "" {
		c.Store.Sync = "always"
	}
	switch c.Store.Sync {
	case "always", "batch", "none":
	default:
		return errf("store.sync", "%q is not one of always, batch, none", c.Store.Sync)
	}
	if c.Store.Shards < 0 || c.Store.Shards > 65536 {
		return errf("store.shards", "%d is outside 1..65536", c.Store.Shards)
	}
	if c.Store.CacheMB < 0 || (c.Store.CacheMB > 0 && c.Store.CacheMB < 48) {
		return errf("store.cache_mb", "%d is below 48 (the cache holds Pebble's two 16 MiB memtables besides blocks)", c.Store.CacheMB)
	}
	if c.MemoryLimitMB < -1 || (c.MemoryLimitMB > 0 && c.MemoryLimitMB < 64) {
		return errf("memory_limit_mb", "%d is below 64 (-1 for no limit)", c.MemoryLimitMB)
	}
	if c.SMS.MaxSendBacklog < 0 || c.SMS.MaxSendBacklog > 1_000_000 {
		return errf("sms.max_send_backlog", "%d is outside 1..1000000", c.SMS.MaxSendBacklog)
	}
	if c.SMS.Workers < 0 || c.SMS.Workers > 65536 {
		return errf("sms.workers", "%d is outside 1..65536", c.SMS.Workers)
	}
	if w := c.SMS.AdmitWait.D(); w < 0 || w > time.Minute {
		return errf("sms.admit_wait", "%s is outside 0..1m", w)
	}
	if c.Store.RecordCache < -1 || c.Store.RecordCache > 10_000_000 {
		return errf("store.record_cache", "%d is outside -1..10000000 (-1 turns the cache off)", c.Store.RecordCache)
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		return errf("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "json", "text":
	default:
		return errf("log.format", "%q is not one of json, text", c.Log.Format)
	}
	if (len(c.SandboxSim.SMSCRules) > 0 || len(c.SandboxSim.SIPRules) > 0 || len(c.SandboxSim.WhatsAppRules) > 0 || len(c.SandboxSim.RCSRules) > 0) && !c.Sandbox {
		return errf("sandbox_sim", "rules of the sandbox's simulators, but sandbox is off")
	}
	for i, r := range c.SandboxSim.SMSCRules {
		if _, err := smsc.ParseRule(r); err != nil {
			return errf(fmt.Sprintf("sandbox_sim.smsc_rules[%d]", i), "%v", err)
		}
	}
	for i, r := range c.SandboxSim.SIPRules {
		if _, err := uas.ParseRule(r); err != nil {
			return errf(fmt.Sprintf("sandbox_sim.sip_rules[%d]", i), "%v", err)
		}
	}
	for i, r := range c.SandboxSim.WhatsAppRules {
		if _, err := wasim.ParseRule(r); err != nil {
			return errf(fmt.Sprintf("sandbox_sim.whatsapp_rules[%d]", i), "%v", err)
		}
	}
	for i, r := range c.SandboxSim.RCSRules {
		if _, err := rcssim.ParseRule(r); err != nil {
			return errf(fmt.Sprintf("sandbox_sim.rcs_rules[%d]", i), "%v", err)
		}
	}
	// Credentials and secrets are checked for serving only: `otpgate
	// route` reads the file for its routing table, without the
	// environment they come from.
	creds := !opts.RoutingOnly
	if env := os.Getenv("OTPGATE_SERVER_KEY"); env != "" && creds {
		c.ServerKey = env
	}
	if c.ServerKey != "" && creds {
		if _, err := DecodeServerKey(c.ServerKey); err != nil {
			return errf("server_key", "%v", err)
		}
	} else if !c.Sandbox && !opts.RoutingOnly {
		return errf("server_key", "required outside sandbox mode (make one with `otpgate key server`, or set OTPGATE_SERVER_KEY)")
	}
	names := map[string]bool{}
	for i, s := range c.SMSCs {
		at := fmt.Sprintf("smscs[%d]", i)
		switch {
		case s.Name == "":
			return errf(at+".name", "required")
		case s.Name == "sandbox" && c.Sandbox:
			return errf(at+".name", "%q is the built-in simulator's name in sandbox mode", s.Name)
		case names[s.Name]:
			return errf(at+".name", "%q used twice", s.Name)
		case s.Address == "":
			return errf(at+".address", "required (host:port)")
		case !strings.Contains(s.Address, ":"):
			return errf(at+".address", "%q is not host:port", s.Address)
		case creds && s.SystemID == "":
			return errf(at+".system_id", "required")
		case creds && len(s.SystemID) > 15:
			return errf(at+".system_id", "longer than 15 characters (SMPP limit)")
		case creds && len(s.Password) > 8:
			return errf(at+".password", "longer than 8 characters (SMPP 3.4 limit)")
		case s.Window < 0 || s.Window > 1000:
			return errf(at+".window", "%d is outside 1..1000", s.Window)
		case s.TPS < 0 || s.BindTPS < 0:
			return errf(at+".tps", "negative")
		case s.InterfaceVersion < 0 || s.InterfaceVersion > 0xff:
			return errf(at+".interface_version", "%d is not a byte", s.InterfaceVersion)
		case s.AddrTON < 0 || s.AddrTON > 0xff || s.AddrNPI < 0 || s.AddrNPI > 0xff:
			return errf(at+".addr_ton/addr_npi", "not a byte")
		}
		switch s.Concat {
		case "", "udh8", "udh16", "sar":
		default:
			return errf(at+".concat", "%q is not one of udh8, udh16, sar", s.Concat)
		}
		switch s.ReceiptIDs {
		case "", "auto", "same", "hex", "decimal":
		default:
			return errf(at+".receipt_ids", "%q is not one of auto, same, hex, decimal", s.ReceiptIDs)
		}
		transmit := len(s.Binds) == 0
		for j, b := range s.Binds {
			switch b.Kind {
			case "transceiver", "transmitter":
				transmit = true
			case "receiver":
			default:
				return errf(fmt.Sprintf("%s.binds[%d].kind", at, j), "%q is not one of transceiver, transmitter, receiver", b.Kind)
			}
			if b.Count < 0 || b.Count > 64 {
				return errf(fmt.Sprintf("%s.binds[%d].count", at, j), "%d is outside 1..64", b.Count)
			}
		}
		if !transmit {
			return errf(at+".binds", "no transmitter or transceiver bind: nothing could be sent")
		}
		if s.TLS != nil && s.TLS.CAFile != "" {
			if _, err := os.Stat(s.TLS.CAFile); err != nil {
				return errf(at+".tls.ca_file", "%v", err)
			}
		}
		names[s.Name] = true
	}
	if c.Sandbox {
		names["sandbox"] = true
	}
	// A submit that times out is tried once more on another bind, so one
	// send may wait two submit timeouts.
	var maxSubmit time.Duration
	if c.Sandbox || len(c.SMSCs) == 0 {
		maxSubmit = 10 * time.Second // the connector's default
	}
	for _, s := range c.SMSCs {
		maxSubmit = max(maxSubmit, cmp.Or(s.SubmitTimeout.D(), 10*time.Second))
	}
	if c.SMS.SendTimeout == 0 {
		c.SMS.SendTimeout = Duration(2*maxSubmit + 5*time.Second)
	}
	if c.SMS.SendTimeout.D() < 2*maxSubmit+time.Second {
		return errf("sms.send_timeout", "%s must exceed twice the longest smscs[].submit_timeout (%s; a timed-out submit is tried once more on another bind) by at least 1s, or a send gives up while the SMSC may still accept it", c.SMS.SendTimeout.D(), maxSubmit)
	}
	if c.SMS.DispatchLease == 0 {
		c.SMS.DispatchLease = 2 * c.SMS.SendTimeout
	}
	if c.SMS.DispatchLease.D() <= c.SMS.SendTimeout.D() {
		return errf("sms.dispatch_lease", "%s must exceed sms.send_timeout (%s), or a send still waiting for its SMSC would be started again beside it", c.SMS.DispatchLease.D(), c.SMS.SendTimeout.D())
	}
	if len(names) == 0 {
		return errf("smscs", "no SMSC configured (name one, or set sandbox: true)")
	}
	if len(c.Routes.List) > 0 && (c.Routes.Default != "" || len(c.Routes.Prefixes) > 0) {
		return errf("routes", "give a list of routes or the short form, not both")
	}
	if len(c.Routes.List) == 0 && c.Routes.Default == "" {
		switch {
		case c.Sandbox:
			c.Routes.Default = "sandbox"
		case len(c.SMSCs) == 1:
			c.Routes.Default = c.SMSCs[0].Name
		}
	}
	if c.Routes.Default != "" && !names[c.Routes.Default] {
		return errf("routes.default", "%q is not a configured SMSC", c.Routes.Default)
	}
	for _, p := range slices.Sorted(maps.Keys(c.Routes.Prefixes)) {
		if to := c.Routes.Prefixes[p]; !names[to] {
			return errf(fmt.Sprintf("routes.prefixes[%q]", p), "%q is not a configured SMSC", to)
		}
	}
	for i, t := range c.Trunks {
		at := fmt.Sprintf("trunks[%d]", i)
		switch {
		case t.Name == "":
			return errf(at+".name", "required")
		case names[t.Name] || (c.Sandbox && t.Name == "sandbox-voice"):
			return errf(at+".name", "%q is already an SMSC's or a trunk's name", t.Name)
		case !strings.Contains(t.Address, ":"):
			return errf(at+".address", "%q is not host:port", t.Address)
		case t.MaxCalls < 0 || t.CPS < 0:
			return errf(at, "max_calls and cps must not be negative")
		}
		switch t.Transport {
		case "", "udp", "tcp", "tls":
		default:
			return errf(at+".transport", "%q is not one of udp, tcp, tls", t.Transport)
		}
		names[t.Name] = true
	}
	if c.Sandbox {
		names["sandbox-voice"] = true
	}
	if err := c.validateWhatsApp(names, creds); err != nil {
		return err
	}
	if err := c.validateRCS(names, creds); err != nil {
		return err
	}
	if _, err := router.New(c.RouteTable(), func(n string) bool { return names[n] }); err != nil {
		return pathError(err)
	}
	if err := c.validateRouteChannels(); err != nil {
		return err
	}
	if h := c.RouteHealth; h.MinSamples < 0 || h.ProbeEvery < 0 || (h.Threshold != nil && (*h.Threshold < 0 || *h.Threshold > 1)) {
		return errf("route_health", "min_samples and probe_every must not be negative, threshold in 0..1")
	}
	if err := c.Templates.Validate("templates"); err != nil {
		return pathError(err)
	}
	ids := map[string]bool{}
	hashes := map[[32]byte]string{}
	for i, t := range c.Tenants {
		at := fmt.Sprintf("tenants[%d]", i)
		switch {
		case t.ID == "":
			return errf(at+".id", "required")
		case ids[t.ID]:
			return errf(at+".id", "%q used twice", t.ID)
		case creds && len(t.APIKeys) == 0:
			return errf(at+".api_keys", "at least one key hash (from `otpgate key new`)")
		case t.CodeLength != 0 && (t.CodeLength < engine.MinCodeLength || t.CodeLength > engine.MaxCodeLength):
			return errf(at+".code_length", "%d is outside 4..10", t.CodeLength)
		case t.MaxAttempts != 0 && (t.MaxAttempts < 1 || t.MaxAttempts > 10):
			return errf(at+".max_attempts", "%d is outside 1..10", t.MaxAttempts)
		case t.TTL != 0 && (t.TTL.D() < 30*time.Second || t.TTL.D() > 24*time.Hour):
			return errf(at+".ttl", "%s is outside 30s..24h", t.TTL.D())
		}
		switch t.CodeType {
		case "", engine.CodeNumeric, engine.CodeAlpha, engine.CodeAlphanumeric:
		default:
			return errf(at+".code_type", "%q is not one of numeric, alpha, alphanumeric", t.CodeType)
		}
		switch t.PendingPolicy {
		case "", engine.PolicyReuse, engine.PolicyReject, engine.PolicyReplace:
		default:
			return errf(at+".pending_policy", "%q is not one of reuse, reject, replace", t.PendingPolicy)
		}
		if c.Sandbox && t.ID == "demo" {
			return errf(at+".id", "\"demo\" is the sandbox's own tenant")
		}
		for j, k := range t.APIKeys {
			if !creds {
				break
			}
			sum, err := api.ParseKeyHash(strings.ToLower(k))
			if err != nil {
				return errf(fmt.Sprintf("%s.api_keys[%d]", at, j), "%v", err)
			}
			if other, dup := hashes[sum]; dup {
				return errf(fmt.Sprintf("%s.api_keys[%d]", at, j), "the same key hash is already given to tenant %q; a key must name one tenant", other)
			}
			hashes[sum] = t.ID
			c.Tenants[i].APIKeys[j] = strings.ToLower(k)
		}
		if err := t.Templates.Validate(at + ".templates"); err != nil {
			return pathError(err)
		}
		ids[t.ID] = true
	}
	if len(c.Tenants) == 0 && !c.Sandbox {
		return errf("tenants", "no tenant configured")
	}
	for i, t := range c.Tenants {
		if t.RateLimit.PerSecond < 0 || t.RateLimit.Burst < 0 {
			return errf(fmt.Sprintf("tenants[%d].rate_limit", i), "negative")
		}
		for j, ch := range t.Workflow {
			at := fmt.Sprintf("tenants[%d].workflow[%d]", i, j)
			switch {
			case !slices.Contains(router.Channels, ch):
				return errf(at, "%q is not one of %s", ch, strings.Join(router.Channels, ", "))
			case ch == engine.ChannelVoice && len(c.Trunks) == 0 && !c.Sandbox:
				return errf(at, "voice needs a SIP trunk (trunks:)")
			case ch == engine.ChannelWhatsApp && len(c.WhatsApp) == 0 && !c.Sandbox:
				return errf(at, "whatsapp needs a WhatsApp account (whatsapp:)")
			case ch == engine.ChannelRCS && len(c.RCS) == 0 && !c.Sandbox:
				return errf(at, "rcs needs an RCS agent (rcs:)")
			}
		}
		if w := t.NextEventWait.D(); w != 0 && (w < 10*time.Second || w > time.Hour) {
			return errf(fmt.Sprintf("tenants[%d].next_event_wait", i), "%s is outside 10s..1h", w)
		}
		if j := slices.Index(t.Workflow, engine.ChannelWhatsApp); j >= 0 && j < len(t.Workflow)-1 {
			// the step after WhatsApp starts no earlier than the
			// message's lifetime: it must start before the code expires
			life := time.Duration(0)
			for _, w := range c.WhatsApp {
				life = max(life, w.MessageTTL.D())
			}
			if ttl := cmp.Or(t.TTL.D(), 10*time.Minute); ttl <= life+5*time.Second {
				return errf(fmt.Sprintf("tenants[%d].ttl", i), "%s leaves no time for the step after whatsapp, which waits the message's lifetime (message_ttl %s) first; give a longer ttl, or put whatsapp last", ttl, life)
			}
		}
		if creds && t.WebhookSecret != "" && len(t.WebhookSecret) < 16 {
			return errf(fmt.Sprintf("tenants[%d].webhook_secret", i), "shorter than 16 characters")
		}
	}
	if c.Store.Retention == 0 {
		c.Store.Retention = Duration(168 * time.Hour)
	}
	if c.Store.Retention.D() < time.Second {
		return errf("store.retention", "%s is under 1s", c.Store.Retention.D())
	}
	var pe *fraud.PolicyError
	if err := c.Fraud.Policy().Check(); errors.As(err, &pe) {
		return errf("fraud."+pe.Field, "%s", pe.Problem)
	}
	if err := c.Fraud.Velocity.check("fraud"); err != nil {
		return err
	}
	if err := (VelocityConf{Client: c.Fraud.GuessRate}).check("fraud"); err != nil {
		var ce *Error
		if errors.As(err, &ce) { // the same rules, under its own name
			return errf(strings.Replace(ce.Path, "fraud.velocity.client", "fraud.guess_rate", 1), "%s", ce.Msg)
		}
		return err
	}
	if c.Fraud.Calls.PerNumber.Digits != 0 {
		return errf("fraud.calls.per_number.digits", "only per_prefix has digits")
	}
	for name, b := range map[string]BucketConf{"per_number": c.Fraud.Calls.PerNumber, "per_prefix": c.Fraud.Calls.PerPrefix} {
		if err := (VelocityConf{Prefix: b}).check("fraud"); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				return errf(strings.Replace(ce.Path, "fraud.velocity.prefix", "fraud.calls."+name, 1), "%s", ce.Msg)
			}
			return err
		}
	}
	lo := c.Fraud.Lockout
	switch {
	case lo.WrongCodes < -1 || lo.WrongCodes > 1000:
		return errf("fraud.lockout.wrong_codes", "%d is outside 1..1000 (-1 turns lockouts off)", lo.WrongCodes)
	case lo.Window < 0 || lo.First < 0 || lo.Max < 0:
		return errf("fraud.lockout", "window, first and max must be positive durations")
	case lo.First.D() > 0 && lo.Max.D() > 0 && lo.First.D() > lo.Max.D():
		return errf("fraud.lockout.first", "%s is longer than max %s", lo.First.D(), lo.Max.D())
	}
	for i, t := range c.Tenants {
		at := fmt.Sprintf("tenants[%d].fraud", i)
		if err := t.Fraud.Policy().Check(); errors.As(err, &pe) {
			return errf(at+"."+pe.Field, "%s", pe.Problem)
		}
		if err := t.Fraud.Velocity.check(at); err != nil {
			return err
		}
		if t.Fraud.Lockout != (LockoutConf{}) || t.Fraud.GuessRate != (BucketConf{}) || t.Fraud.Calls != (CallsConf{}) {
			return errf(at, "lockout, guess_rate and calls are the gateway's (fraud: at the top), not a tenant's")
		}
	}
	for name, w := range map[string]WindowConf{"limits.number_sends": c.Limits.NumberSends, "limits.number_checks": c.Limits.NumberChecks} {
		if w.Max < -1 {
			return errf(name+".max", "%d (use -1 to turn the limit off)", w.Max)
		}
		if w.Max > 0 && w.Per.D() <= 0 {
			return errf(name+".per", "a window such as 10m is required with max")
		}
	}
	for j, k := range c.Admin.APIKeys {
		if !creds {
			break
		}
		if _, err := api.ParseKeyHash(strings.ToLower(k)); err != nil {
			return errf(fmt.Sprintf("admin.api_keys[%d]", j), "%v", err)
		}
		c.Admin.APIKeys[j] = strings.ToLower(k)
	}
	if c.Webhooks.Workers < 0 || c.Webhooks.Workers > 4096 {
		return errf("webhooks.workers", "%d is outside 1..4096", c.Webhooks.Workers)
	}
	if w := c.Webhooks.Timeout.D(); w != 0 && (w < 10*time.Millisecond || w > time.Minute) {
		return errf("webhooks.timeout", "%s is outside 10ms..1m", w)
	}
	if w := c.Webhooks.MaxAge.D(); w != 0 && w < 100*time.Millisecond {
		return errf("webhooks.max_age", "%s is under 100ms", w)
	}
	if lo, hi := c.Webhooks.RetryMin.D(), c.Webhooks.RetryMax.D(); lo != 0 && hi != 0 && hi < lo {
		return errf("webhooks.retry_max", "%s is under retry_min %s", hi, lo)
	}
	if creds {
		if err := c.validateVendors(); err != nil {
			return err
		}
	}
	for i, t := range c.Tenants {
		if r := t.RateLimit.PerSecond; math.IsNaN(r) || math.IsInf(r, 0) || r > 1e6 {
			return errf(fmt.Sprintf("tenants[%d].rate_limit.per_second", i), "%v is not a number up to 1000000", r)
		}
	}
	return nil
}

// AllowLoopback: whether webhooks may go to loopback addresses (the
// sandbox's default).
func (c *Config) AllowLoopback() bool {
	if c.Webhooks.AllowLoopback != nil {
		return *c.Webhooks.AllowLoopback
	}
	return c.Sandbox
}

// DecodeServerKey reads a server key: base64 (any of the four alphabets) of
// engine.ServerKeyLen bytes.
func DecodeServerKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(strings.TrimSpace(s)); err == nil {
			if len(b) != engine.ServerKeyLen {
				return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), engine.ServerKeyLen)
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64 (make one with `otpgate key server`)")
}

// pathError turns an error of another package that reads "path: what"
// (the router's, the templates') into an *Error for that path; its first
// line only, when it lists several.
// validateWhatsApp checks the WhatsApp accounts (each as
// whatsapp.Account.Validate says, with its name unique among connectors
// and its phone number id among accounts) and adds their names to names.
// Without creds (`otpgate route`) the secrets are not required.
func (c *Config) validateWhatsApp(names map[string]bool, creds bool) error {
	ids := map[string]int{}
	for i, w := range c.WhatsApp {
		at := fmt.Sprintf("whatsapp[%d]", i)
		switch {
		case names[w.Name] || (c.Sandbox && w.Name == SandboxWhatsApp):
			return errf(at+".name", "%q is already another connector's name", w.Name)
		}
		if j, dup := ids[w.PhoneNumberID]; dup && w.PhoneNumberID != "" {
			return errf(at+".phone_number_id", "%q is also whatsapp[%d]'s", w.PhoneNumberID, j)
		}
		a := w.Account().WithDefaults()
		if !creds {
			a.Token, a.AppSecret, a.VerifyToken = cmp.Or(a.Token, "-"), cmp.Or(a.AppSecret, "-"), cmp.Or(a.VerifyToken, "-")
		}
		if err := a.Validate(); err != nil {
			var fe *whatsapp.FieldError
			if errors.As(err, &fe) {
				return errf(at+"."+fe.Field, "%s", fe.Problem)
			}
			return errf(at, "%v", err)
		}
		ids[w.PhoneNumberID] = i
		if w.Name != "" {
			names[w.Name] = true
		}
	}
	if c.Sandbox {
		names[SandboxWhatsApp] = true
	}
	return nil
}

// validateRouteChannels: a route sends its channel through connectors of
// that channel only (an SMSC cannot place a call, nor a WhatsApp account
// send an SMS).
func (c *Config) validateRouteChannels() error {
	kind := map[string]string{}
	for _, s := range c.SMSCs {
		kind[s.Name] = router.ChannelSMS
	}
	for _, t := range c.Trunks {
		kind[t.Name] = router.ChannelVoice
	}
	for _, w := range c.WhatsApp {
		kind[w.Name] = router.ChannelWhatsApp
	}
	for _, r := range c.RCS {
		kind[r.Name] = router.ChannelRCS
	}
	if c.Sandbox {
		kind["sandbox"], kind["sandbox-voice"], kind[SandboxWhatsApp], kind[SandboxRCS] = router.ChannelSMS, router.ChannelVoice, router.ChannelWhatsApp, router.ChannelRCS
	}
	for i, r := range c.Routes.List {
		ch := cmp.Or(r.Match.Channel, router.ChannelSMS)
		for j, t := range r.Targets {
			if k, ok := kind[t.Connector]; ok && k != ch {
				return errf(fmt.Sprintf("routes[%d].targets[%d].connector", i, j), "%q sends %s, but the route takes channel %s", t.Connector, k, ch)
			}
		}
	}
	return nil // the short form names SMSCs only (checked above)
}

// validateRCS checks the RCS agents (each as rcs.Agent.Validate says,
// with its key file read, its name unique among connectors) and adds their
// names to names. Without creds (`otpgate route`) the key file and the
// client token are not required.
func (c *Config) validateRCS(names map[string]bool, creds bool) error {
	agentIDs := map[string]int{}
	for i := range c.RCS {
		r := &c.RCS[i]
		at := fmt.Sprintf("rcs[%d]", i)
		if names[r.Name] || (c.Sandbox && r.Name == SandboxRCS) {
			return errf(at+".name", "%q is already another connector's name", r.Name)
		}
		if j, dup := agentIDs[r.AgentID]; dup && r.AgentID != "" {
			return errf(at+".agent_id", "%q is also rcs[%d]'s (one agent, one connector)", r.AgentID, j)
		}
		agentIDs[r.AgentID] = i
		if creds {
			if r.KeyFile == "" {
				return errf(at+".key_file", "required: the service account's JSON key file")
			}
			b, err := os.ReadFile(r.KeyFile)
			if err != nil {
				return errf(at+".key_file", "%v", err)
			}
			if r.key, err = rcs.ParseServiceAccountKey(b); err != nil {
				return errf(at+".key_file", "%s: %v", r.KeyFile, err)
			}
		}
		a := r.Agent().WithDefaults()
		if !creds {
			a.Key = rcs.ServiceAccountKey{ClientEmail: "-", PrivateKey: &rsa.PrivateKey{}}
			a.ClientToken = cmp.Or(a.ClientToken, "-")
		}
		if err := a.Validate(); err != nil {
			var fe *rcs.FieldError
			if errors.As(err, &fe) {
				return errf(at+"."+fe.Field, "%s", fe.Problem)
			}
			return errf(at, "%v", err)
		}
		if r.Name != "" {
			names[r.Name] = true
		}
	}
	if c.Sandbox {
		names[SandboxRCS] = true
	}
	return nil
}

// SandboxRCS is the name of the sandbox's RCS agent (the simulator's).
const SandboxRCS = "sandbox-rcs"

// SandboxWhatsApp is the name of the sandbox's WhatsApp account (the
// simulator's).
const SandboxWhatsApp = "sandbox-whatsapp"

func pathError(err error) *Error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	path, what, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(path, " \t") {
		return &Error{Msg: msg}
	}
	return &Error{Path: path, Msg: what}
}

// validateVendors checks the tenants' vendor credentials: each present
// key well formed and unique among tenants (a credential names one
// tenant), secrets as hashes, public keys that parse.
func (c *Config) validateVendors() error {
	seen := map[string]string{} // "kind:id" → path of its first use
	unique := func(path, kind, id string) error {
		if first, dup := seen[kind+":"+id]; dup {
			return errf(path, "%q is already %s; a credential names one tenant", id, first)
		}
		seen[kind+":"+id] = path
		return nil
	}
	hash := func(path, h string) error {
		if h == "" {
			return errf(path, "required (the hash of the secret, from `otpgate key hash`)")
		}
		if _, err := api.ParseKeyHash(h); err != nil {
			return errf(path, "%v", err)
		}
		return nil
	}
	for i, t := range c.Tenants {
		at := fmt.Sprintf("tenants[%d]", i)
		if v := t.Vonage; v != nil {
			switch {
			case v.APIKey == "":
				return errf(at+".vonage.api_key", "required")
			case len(v.APIKey) > 64:
				return errf(at+".vonage.api_key", "longer than 64 characters")
			}
			if err := unique(at+".vonage.api_key", "vonage key", v.APIKey); err != nil {
				return err
			}
			if c.Sandbox && v.APIKey == "demo" {
				return errf(at+".vonage.api_key", `"demo" is the sandbox tenant's`)
			}
			if err := hash(at+".vonage.api_secret_hash", v.APISecretHash); err != nil {
				return err
			}
			for j, app := range v.Applications {
				p := fmt.Sprintf("%s.vonage.applications[%d]", at, j)
				if app.ID == "" {
					return errf(p+".id", "required (the application_id of the JWTs)")
				}
				if err := unique(p+".id", "vonage application", app.ID); err != nil {
					return err
				}
				if _, err := app.Key(); err != nil {
					return errf(p, "%v", err)
				}
			}
		}
		if tw := t.Twilio; tw != nil {
			if !strings.HasPrefix(tw.AccountSID, "AC") {
				return errf(at+".twilio.account_sid", "%q does not start with AC", tw.AccountSID)
			}
			if c.Sandbox && tw.AccountSID == "ACdemo" {
				return errf(at+".twilio.account_sid", `"ACdemo" is the sandbox tenant's`)
			}
			if err := unique(at+".twilio.account_sid", "twilio account", tw.AccountSID); err != nil {
				return err
			}
			if err := hash(at+".twilio.auth_token_hash", tw.AuthTokenHash); err != nil {
				return err
			}
			for j, k := range tw.APIKeys {
				p := fmt.Sprintf("%s.twilio.api_keys[%d]", at, j)
				if !strings.HasPrefix(k.SID, "SK") {
					return errf(p+".sid", "%q does not start with SK", k.SID)
				}
				if err := unique(p+".sid", "twilio key", k.SID); err != nil {
					return err
				}
				if err := hash(p+".secret_hash", k.SecretHash); err != nil {
					return err
				}
			}
			if len(tw.Services) == 0 {
				return errf(at+".twilio.services", "at least one Verify service (sid: VA…)")
			}
			for j, sv := range tw.Services {
				p := fmt.Sprintf("%s.twilio.services[%d]", at, j)
				if !strings.HasPrefix(sv.SID, "VA") {
					return errf(p+".sid", "%q does not start with VA", sv.SID)
				}
				if c.Sandbox && sv.SID == "VAdemo" {
					return errf(p+".sid", `"VAdemo" is the sandbox tenant's`)
				}
				if err := unique(p+".sid", "twilio service", sv.SID); err != nil {
					return err
				}
				if sv.CodeLength != 0 && (sv.CodeLength < engine.MinCodeLength || sv.CodeLength > engine.MaxCodeLength) {
					return errf(p+".code_length", "%d is outside 4..10", sv.CodeLength)
				}
				if len(sv.FriendlyName) > 32 {
					return errf(p+".friendly_name", "longer than 32 bytes")
				}
			}
		}
		if sx := t.SMSCX; sx != nil {
			if len(sx.Applications) == 0 && len(sx.APIKeyHashes) == 0 {
				return errf(at+".smscx", "neither applications nor api_key_hashes: no client could reach it")
			}
			for j, app := range sx.Applications {
				p := fmt.Sprintf("%s.smscx.applications[%d]", at, j)
				switch {
				case app.ID == "":
					return errf(p+".id", "required (the OAuth2 client id)")
				case len(app.ID) > 128:
					return errf(p+".id", "longer than 128 characters")
				case c.Sandbox && app.ID == "demo":
					return errf(p+".id", `"demo" is the sandbox tenant's`)
				}
				if err := unique(p+".id", "smscx application", app.ID); err != nil {
					return err
				}
				if err := hash(p+".secret_hash", app.SecretHash); err != nil {
					return err
				}
				if d := app.TokenTTL.D(); d != 0 && (d < time.Minute || d > 8760*time.Hour) {
					return errf(p+".token_ttl", "%s is outside 1m..8760h", d)
				}
			}
			for j, h := range sx.APIKeyHashes {
				p := fmt.Sprintf("%s.smscx.api_key_hashes[%d]", at, j)
				if err := hash(p, h); err != nil {
					return err
				}
				sum, _ := api.ParseKeyHash(h) // parsed above: the same key written twice differently is one key
				if err := unique(p, "smscx api key", fmt.Sprintf("%x", sum)); err != nil {
					return err
				}
			}
		}
		if mc := t.MessageCentral; mc != nil {
			p := at + ".messagecentral"
			switch {
			case mc.CustomerID == "":
				return errf(p+".customer_id", "required")
			case len(mc.CustomerID) > 128:
				return errf(p+".customer_id", "longer than 128 characters")
			case c.Sandbox && mc.CustomerID == "demo":
				return errf(p+".customer_id", `"demo" is the sandbox tenant's`)
			}
			if err := unique(p+".customer_id", "messagecentral customer", mc.CustomerID); err != nil {
				return err
			}
			if err := hash(p+".key_hash", mc.KeyHash); err != nil {
				return err
			}
			if d := mc.TokenTTL.D(); d != 0 && (d < time.Minute || d > 8760*time.Hour) {
				return errf(p+".token_ttl", "%s is outside 1m..8760h", d)
			}
			if d := mc.OTPTTL.D(); d != 0 && (d < 30*time.Second || d > 24*time.Hour) {
				return errf(p+".otp_ttl", "%s is outside 30s..24h", d)
			}
		}
	}
	return nil
}
