// Package config owns the one YAML file of a deployment: its model (every
// field with its default and its trade-off, in the comment beside it), its
// loading (${ENV} expansion, strict field names with "did you mean", types
// checked field by field) and its validation. Every error it returns is an
// *Error that reads FILE:LINE: path.to.field: what is wrong, so a newcomer
// finds where a field is checked in validate.go and where it is in the file
// from the message alone. cmd/otpgate only loads and wires.
package config

import (
	"cmp"
	"fmt"
	"time"

	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/engine/fraud"
	"github.com/otpgate/otpgate/rcs"
	"github.com/otpgate/otpgate/whatsapp"
	"gopkg.in/yaml.v3"
)

// Config is the one YAML file of a deployment. Every field has a default
// (given in its comment); `${NAME}` anywhere in the file is replaced by the
// environment variable NAME (an unset variable is an error), so secrets can
// stay out of the file.
type Config struct {
	// Sandbox runs the built-in SMSC simulator as connector "sandbox" (the
	// default route unless routes.default names another) and serves
	// /v1/sandbox/messages. Default false; true when no config file is given.
	Sandbox bool `yaml:"sandbox"`
	// SandboxSim: how the sandbox's built-in simulators answer, to try a
	// failover or a fallback without a real network. Sandbox only.
	SandboxSim SandboxSimConf `yaml:"sandbox_sim"`
	// DataDir holds the store. Default ./otpgate-data.
	DataDir string `yaml:"data_dir"`
	// ServerKey: base64 of 32 random bytes (`otpgate key server`). Codes are
	// hashed and sealed under keys derived from it: changing it makes every
	// pending code uncheckable. The environment variable OTPGATE_SERVER_KEY
	// overrides it. Required outside sandbox mode (the sandbox keeps one in
	// its data directory).
	ServerKey string `yaml:"server_key"`
	// MemoryLimitMB is the soft limit of the Go runtime's memory: near it
	// the garbage collector runs more often (more CPU) to stay under it.
	// Pebble's block cache (store.cache_mb) is outside it (a build without
	// cgo keeps the cache in Go memory, and the limit grows by cache_mb),
	// so the process's resident size is about this plus cache_mb. Default 320
	// (with the default cache: under 512 MiB resident with 10 million
	// stored verifications); -1: no limit; GOMEMLIMIT in the environment
	// overrides it.
	MemoryLimitMB int        `yaml:"memory_limit_mb"`
	HTTP          HTTPConfig `yaml:"http"`
	Store         StoreConf  `yaml:"store"`
	Log           LogConfig  `yaml:"log"`
	SMS           SMSConfig  `yaml:"sms"`
	SMSCs         []SMSCConf `yaml:"smscs"`
	// Trunks: SIP trunks for voice steps; a route with match.channel voice
	// picks among them (without one, every trunk in order).
	Trunks []TrunkConf `yaml:"trunks"`
	// WhatsApp: WhatsApp Business phone numbers for whatsapp steps; a
	// route with match.channel whatsapp picks among them (without one,
	// every account in order).
	WhatsApp []WhatsAppConf `yaml:"whatsapp"`
	// RCS: RCS Business Messaging agents for rcs steps; a route with
	// match.channel rcs picks among them (without one, every agent in
	// order).
	RCS    []RCSConf  `yaml:"rcs"`
	Voice  VoiceConf  `yaml:"voice"`
	Routes RoutesConf `yaml:"routes"`
	// RouteHealth: when a connector is skipped by the router.
	RouteHealth HealthConf `yaml:"route_health"`
	// Templates: name → locale → text with {code}, {brand}, {minutes}.
	// Built-in "default" templates exist for en, it, fr, de, es.
	Templates engine.Templates `yaml:"templates"`
	Tenants   []TenantConf     `yaml:"tenants"`
	Webhooks  WebhooksConf     `yaml:"webhooks"`
	Limits    LimitsConf       `yaml:"limits"`
	// Fraud: the gateway's geo permissions and number types, for every
	// tenant (a tenant's own fraud: narrows them). Default: every country,
	// premium-rate and shared-cost numbers refused, fixed lines voice only.
	Fraud FraudConf `yaml:"fraud"`
	Admin AdminConf `yaml:"admin"`

	// lines: where each field is in the file, for errors found after
	// loading (Locate).
	lines *index
}

// SandboxSimConf sets the rules of the sandbox's simulators.
type SandboxSimConf struct {
	// SMSCRules: as `otpgate smsc-sim --rule`, e.g. "+1555=receipt:UNDELIV"
	// (every SMS to +1555… reported undelivered). Default none: every SMS
	// delivered.
	SMSCRules []string `yaml:"smsc_rules"`
	// SIPRules: as `otpgate sip-sim --rule`, e.g. "+1666=busy". Default
	// none: every call answered.
	SIPRules []string `yaml:"sip_rules"`
	// WhatsAppRules: as `otpgate wa-sim --rule`, e.g.
	// "+1555=not-on-whatsapp". Default none: every message delivered.
	WhatsAppRules []string `yaml:"whatsapp_rules"`
	// RCSRules: as `otpgate rcs-sim --rule`, e.g. "+1555=no-rcs".
	// Default none: every phone takes RCS and every message is delivered.
	RCSRules []string `yaml:"rcs_rules"`
}

// WebhooksConf configures webhook delivery.
type WebhooksConf struct {
	Timeout  Duration `yaml:"timeout"`   // one attempt; default 5s
	MaxAge   Duration `yaml:"max_age"`   // then dead letter; default 24h
	RetryMin Duration `yaml:"retry_min"` // back-off start; default 1s
	RetryMax Duration `yaml:"retry_max"` // back-off cap; default 10m
	Workers  int      `yaml:"workers"`   // deliveries at once; default 32
	// AllowPrivate, AllowLoopback: callback URLs on private (RFC 1918, ULA)
	// or loopback addresses. Default false (true for loopback in sandbox
	// mode). Link-local addresses are never allowed.
	AllowPrivate  *bool `yaml:"allow_private"`
	AllowLoopback *bool `yaml:"allow_loopback"`
}

// LimitsConf holds the per-number limits (all tenants together).
type LimitsConf struct {
	NumberSends  WindowConf `yaml:"number_sends"`  // default 5 per 10m
	NumberChecks WindowConf `yaml:"number_checks"` // default 15 per 10m
}

// FraudConf is one party's geo permissions and number types (see
// fraud.Policy for how a number is judged).
type FraudConf struct {
	// Allow and Deny: ISO countries ("IT") and E.164 prefixes ("+3934");
	// the most specific entry naming a number decides; with an Allow list,
	// what no entry names is refused. Default: both empty (everywhere).
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// Channels: a channel's own lists (sms, voice, whatsapp, rcs), asked
	// first for its steps, e.g. {voice: {deny: ["+882", "+883"]}}.
	Channels map[string]GeoConf `yaml:"channels"`
	// DenyNumberTypes: types refused on every channel; default
	// [premium_rate, shared_cost] ([] allows every type).
	DenyNumberTypes []string `yaml:"deny_number_types"`
	// VoiceOnlyNumberTypes: types that get voice steps only; default
	// [fixed_line] ([] lets SMS go to landlines).
	VoiceOnlyNumberTypes []string `yaml:"voice_only_number_types"`
	// Velocity: creates per tenant and country, number prefix and end
	// user (client_ip, client_ref), each a token bucket; a tenant's
	// replace the gateway's one by one. Defaults: country 20 a second
	// (burst 200), prefix of 8 digits 10 a minute (burst 20), client 1 a
	// minute (burst 5).
	Velocity VelocityConf `yaml:"velocity"`
	// Lockout (the gateway's only): a number whose codes keep being
	// guessed wrong is locked for that tenant. Default: 15 wrong codes
	// within 24h lock it for 15m, each next lock twice as long, at most
	// 24h; wrong_codes: -1 turns lockouts off.
	Lockout LockoutConf `yaml:"lockout"`
	// GuessRate (the gateway's only): wrong codes one tenant's checks may
	// give, all numbers together. Default 50 a second, burst 500.
	GuessRate BucketConf `yaml:"guess_rate"`
	// Calls (the gateway's only): voice calls to one number and to one
	// range, all tenants together (toll fraud). Defaults: per_number 3 an
	// hour, per_prefix 20 an hour over 8 digits.
	Calls CallsConf `yaml:"calls"`
}

// CallsConf limits voice calls.
type CallsConf struct {
	PerNumber BucketConf `yaml:"per_number"`
	PerPrefix BucketConf `yaml:"per_prefix"`
}

// LockoutConf configures the lockouts of numbers.
type LockoutConf struct {
	WrongCodes int      `yaml:"wrong_codes"`
	Window     Duration `yaml:"window"`
	First      Duration `yaml:"first"`
	Max        Duration `yaml:"max"`
}

// VelocityConf is the velocity limits; a limit left out takes the
// gateway's, then the default.
type VelocityConf struct {
	Country BucketConf `yaml:"country"`
	Prefix  BucketConf `yaml:"prefix"`
	Client  BucketConf `yaml:"client"`
}

// BucketConf is count creates per per on average, burst at once; off: true
// turns the limit off; digits (prefix only) is the range's length.
type BucketConf struct {
	Count  int      `yaml:"count"`
	Per    Duration `yaml:"per"`
	Burst  int      `yaml:"burst"`
	Digits int      `yaml:"digits"`
	Off    bool     `yaml:"off"`
}

// Velocity is r as the engine's bucket (zero when r is left out).
func (r BucketConf) Velocity() engine.Velocity {
	switch {
	case r.Off:
		return engine.Velocity{Rate: -1}
	case r.Count == 0:
		return engine.Velocity{}
	}
	return engine.Velocity{Rate: float64(r.Count) / r.Per.D().Seconds(), Burst: cmp.Or(r.Burst, r.Count)}
}

// Limits is v as the engine's.
func (v VelocityConf) Limits() engine.VelocityLimits {
	return engine.VelocityLimits{Country: v.Country.Velocity(), Prefix: v.Prefix.Velocity(), PrefixDigits: v.Prefix.Digits, Client: v.Client.Velocity()}
}

func (v VelocityConf) check(at string) error {
	for _, r := range []struct {
		name string
		r    BucketConf
	}{{"country", v.Country}, {"prefix", v.Prefix}, {"client", v.Client}} {
		p := at + ".velocity." + r.name
		switch {
		case r.r.Off && (r.r.Count != 0 || r.r.Burst != 0):
			return errf(p, "off: true with count or burst; give one or the other")
		case r.r.Count < 0 || r.r.Burst < 0:
			return errf(p, "count and burst must be positive")
		case r.r.Count > 0 && r.r.Per.D() <= 0:
			return errf(p+".per", "required with count: the time count creates are spread over, e.g. 1m")
		case r.r.Count == 0 && !r.r.Off && (r.r.Per != 0 || r.r.Burst != 0):
			return errf(p+".count", "required: how many creates per per")
		case r.r.Per.D() > 30*24*time.Hour:
			return errf(p+".per", "%s is longer than 30 days", r.r.Per.D())
		case r.r.Digits != 0 && (r.name != "prefix" || r.r.Digits < 3 || r.r.Digits > 15):
			return errf(p+".digits", "%d: only prefix has digits, 3 to 15 (country code included)", r.r.Digits)
		}
	}
	return nil
}

// GeoConf is a channel's allow and deny lists.
type GeoConf struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

// Policy is the fraud policy f configures.
func (f FraudConf) Policy() fraud.Policy {
	p := fraud.Policy{Geo: fraud.Geo{Allow: f.Allow, Deny: f.Deny}, DenyTypes: f.DenyNumberTypes, VoiceOnlyTypes: f.VoiceOnlyNumberTypes}
	if len(f.Channels) > 0 {
		p.Channels = map[string]fraud.Geo{}
		for ch, g := range f.Channels {
			p.Channels[ch] = fraud.Geo{Allow: g.Allow, Deny: g.Deny}
		}
	}
	return p
}

// WindowConf is "at most max per per"; max -1 turns the limit off.
type WindowConf struct {
	Max int      `yaml:"max"`
	Per Duration `yaml:"per"`
}

// AdminConf configures /admin/….
type AdminConf struct {
	// APIKeys: hashes of admin keys ("sha256:…", from `otpgate key new`).
	// Without any, /admin/… is not served.
	APIKeys []string `yaml:"api_keys"`
}

// RateConf is a token bucket.
type RateConf struct {
	PerSecond float64 `yaml:"per_second"` // 0: no limit
	Burst     int     `yaml:"burst"`      // default per_second rounded up
}

// HTTPConfig configures the API listener.
type HTTPConfig struct {
	Listen       string `yaml:"listen"`         // default 127.0.0.1:8080
	MaxBodyBytes int    `yaml:"max_body_bytes"` // default 16384
	// MaxCallbackBytes bounds a channel provider's callback (Meta's
	// batched status notifications reach 3 MB, and one refused is refused
	// again on every retry). Default 4194304; 65536..16777216. The server
	// buffers up to this much of any request before routing it, so it is
	// also the most one request can make it hold.
	MaxCallbackBytes int `yaml:"max_callback_bytes"`
	// DrainDelay: on SIGTERM, /readyz answers 503 for this long before the
	// listener closes, so a load balancer stops sending first (connections
	// still queued in the kernel when a listener closes are reset). Default
	// 1s; 0 closes at once.
	DrainDelay *Duration `yaml:"drain_delay"`
}

// StoreConf configures engine/store.
type StoreConf struct {
	Sync         string   `yaml:"sync"`          // always (default) | batch | none
	SyncInterval Duration `yaml:"sync_interval"` // WAL fsync period under batch; default 10ms
	Shards       int      `yaml:"shards"`        // logical shards; default 256
	CacheMB      int      `yaml:"cache_mb"`      // Pebble block cache incl. 2 memtables of 16 MiB; at least 48; default 128
	// RecordCache: decoded records of recent writes kept in memory (about
	// 1.3 KiB each) so sends, receipts and checks skip a disk read;
	// default 65536; -1 turns it off.
	RecordCache int `yaml:"record_cache"`
	// Retention: how long ended verifications and dead-lettered webhooks
	// are kept (for GET, audit) before they are deleted. Default 168h.
	Retention Duration `yaml:"retention"`
}

// LogConfig configures log/slog.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
	Format string `yaml:"format"` // json (default) | text
}

// SMSConfig holds SMS defaults.
type SMSConfig struct {
	DefaultSenderID string   `yaml:"default_sender_id"` // default "Otpgate"
	SendTimeout     Duration `yaml:"send_timeout"`      // one send attempt; default 15s
	// MaxSendBacklog: sends queued or under way beyond which creates wait
	// (back-pressure); default 2048. AdmitWait: how long a create waits
	// for a place before 503 overloaded; default 2s.
	MaxSendBacklog int      `yaml:"max_send_backlog"`
	AdmitWait      Duration `yaml:"admit_wait"`
	// DispatchLease: a message handed to an SMSC whose "submitted" was not
	// yet durable when the process died is sent again this long after it
	// was handed over (it may have reached the SMSC: one duplicate at
	// most). Shorter re-sends sooner after a crash; it must exceed
	// send_timeout, or a send still waiting for its SMSC would be started
	// again beside it. Messages never handed to a connector go out at once
	// after a restart, whatever this says. Default twice send_timeout
	// (50s with the defaults).
	DispatchLease Duration `yaml:"dispatch_lease"`
	// Workers: messages being sent at once (each waits for its connector's
	// answer, up to send_timeout). More keeps many slow SMSCs busy; each
	// costs a goroutine. Messages beyond them wait in the send queue, and
	// after a crash those go out at once (they were never handed to a
	// connector). Default 256.
	Workers int `yaml:"workers"`
}

// SMSCConf is one SMSC link.
type SMSCConf struct {
	Name          string   `yaml:"name"`           // required, unique
	Address       string   `yaml:"address"`        // host:port, required
	SystemID      string   `yaml:"system_id"`      // required
	Password      string   `yaml:"password"`       // use ${ENV} to keep it out of the file
	SystemType    string   `yaml:"system_type"`    // default ""
	Window        int      `yaml:"window"`         // outstanding submit_sm; default 10
	EnquireLink   Duration `yaml:"enquire_link"`   // default 30s
	SubmitTimeout Duration `yaml:"submit_timeout"` // wait for submit_sm_resp; default 10s
	ReconnectMin  Duration `yaml:"reconnect_min"`  // default 500ms
	ReconnectMax  Duration `yaml:"reconnect_max"`  // default 30s
	// Binds: kinds and counts of binds to open; default one transceiver.
	// Transmitters need a receiver (or a transceiver) for receipts.
	Binds            []BindConf `yaml:"binds"`
	InterfaceVersion int        `yaml:"interface_version"` // default 0x34
	AddrTON          int        `yaml:"addr_ton"`          // bind addr_ton; default 0
	AddrNPI          int        `yaml:"addr_npi"`          // bind addr_npi; default 0
	AddressRange     string     `yaml:"address_range"`     // bind address_range; default ""
	TPS              float64    `yaml:"tps"`               // submits per second to this SMSC; 0: no limit
	BindTPS          float64    `yaml:"bind_tps"`          // per bind; 0: no limit
	// Concat: how long texts are split: udh8 (default), udh16, sar.
	Concat string `yaml:"concat"`
	// Latin1: send non-GSM text that fits ISO-8859-1 as data_coding 3
	// instead of UCS-2 (only where the SMSC supports it). Default false.
	Latin1 bool `yaml:"latin1"`
	// ReceiptIDs: how this SMSC spells message ids in receipts: auto
	// (default: try as given, then hex/decimal conversions), same, hex, decimal.
	ReceiptIDs string   `yaml:"receipt_ids"`
	TLS        *TLSConf `yaml:"tls"`
}

// TrunkConf is one SIP trunk.
type TrunkConf struct {
	Name        string   `yaml:"name"`         // required, unique among SMSCs and trunks
	Address     string   `yaml:"address"`      // host:port, required
	Transport   string   `yaml:"transport"`    // udp (default) | tcp | tls
	Username    string   `yaml:"username"`     // digest credentials for 401/407
	Password    string   `yaml:"password"`     // use ${ENV}
	From        string   `yaml:"from"`         // caller id; default "otpgate"
	Domain      string   `yaml:"domain"`       // for the URIs; default the trunk host
	MaxCalls    int      `yaml:"max_calls"`    // concurrent calls; default 100
	CPS         float64  `yaml:"cps"`          // calls per second; 0: no cap
	RingTimeout Duration `yaml:"ring_timeout"` // default 30s
	LocalIP     string   `yaml:"local_ip"`     // RTP/Contact address; default the outbound interface
}

// WhatsAppConf is one WhatsApp Business phone number on Meta's Cloud API
// (see whatsapp.Account for each field's meaning and default).
type WhatsAppConf struct {
	Name          string `yaml:"name"`            // required, unique among all connectors
	BaseURL       string `yaml:"base_url"`        // default https://graph.facebook.com
	APIVersion    string `yaml:"api_version"`     // default v23.0
	PhoneNumberID string `yaml:"phone_number_id"` // required: the number's id, not the number
	Token         string `yaml:"token"`           // required; use ${ENV}
	AppSecret     string `yaml:"app_secret"`      // required; use ${ENV}
	VerifyToken   string `yaml:"verify_token"`    // required; use ${ENV}
	// Template: the approved authentication template's name; Languages:
	// the languages it is approved in (the first is the fallback).
	Template  string   `yaml:"template"`
	Languages []string `yaml:"languages"`
	// Templates: another template name for a language of Languages, where
	// that language's template has its own name.
	Templates map[string]string `yaml:"templates"`
	// MessageTTL: the template's message_send_ttl_seconds as set at Meta,
	// 30s..15m; required. A WhatsApp step waits at least this long before
	// the next step.
	MessageTTL Duration `yaml:"message_ttl"`
	Rate       float64  `yaml:"rate"`    // messages a second; default 80
	Timeout    Duration `yaml:"timeout"` // one send request; default 10s
}

// Account is the connector's account (defaults not yet applied).
func (w WhatsAppConf) Account() whatsapp.Account {
	return whatsapp.Account{Name: w.Name, BaseURL: w.BaseURL, APIVersion: w.APIVersion, PhoneNumberID: w.PhoneNumberID,
		Token: w.Token, AppSecret: w.AppSecret, VerifyToken: w.VerifyToken, Template: w.Template, Languages: w.Languages, Templates: w.Templates,
		MessageTTL: w.MessageTTL.D(), Rate: w.Rate, Timeout: w.Timeout.D()}
}

// RCSConf is one RCS Business Messaging agent (see rcs.Agent for each
// field's meaning and default).
type RCSConf struct {
	Name     string `yaml:"name"`      // required, unique among all connectors
	BaseURL  string `yaml:"base_url"`  // default https://rcsbusinessmessaging.googleapis.com
	TokenURL string `yaml:"token_url"` // default the key's token_uri, else https://oauth2.googleapis.com/token
	AgentID  string `yaml:"agent_id"`  // required
	// KeyFile: the service account's JSON key (required); its path is
	// read at start and at reload checks.
	KeyFile     string `yaml:"key_file"`
	ClientToken string `yaml:"client_token"` // required: the webhook's client token; use ${ENV}
	// CapabilityCheck: ask whether a phone takes RCS before sending, and
	// keep the answer for CapabilityCache (default 1h).
	CapabilityCheck bool     `yaml:"capability_check"`
	CapabilityCache Duration `yaml:"capability_cache"`
	Rate            float64  `yaml:"rate"`    // messages a second; default 0: no limit
	Timeout         Duration `yaml:"timeout"` // one request; default 10s

	key rcs.ServiceAccountKey // read from KeyFile by validation
}

// Agent is the connector's agent (defaults not yet applied), with the key
// validation read.
func (r RCSConf) Agent() rcs.Agent {
	return rcs.Agent{Name: r.Name, BaseURL: r.BaseURL, TokenURL: r.TokenURL, AgentID: r.AgentID, Key: r.key,
		ClientToken: r.ClientToken, CapabilityCheck: r.CapabilityCheck, CapabilityCache: r.CapabilityCache.D(),
		Rate: r.Rate, Timeout: r.Timeout.D()}
}

// VoiceConf configures what calls say.
type VoiceConf struct {
	// TTSCommand: per language, a command that speaks the brand name before
	// the code (argv with {text} and {out}; without {out} it writes WAV to
	// stdout), e.g. en: [flite, -voice, kal16, -t, "{text}", -o, "{out}"].
	// Default none: calls read the code from the built-in prompts only.
	TTSCommand map[string][]string `yaml:"tts_command"`
}

// BindConf is one kind of bind and how many of it.
type BindConf struct {
	Kind  string `yaml:"kind"`  // transceiver | transmitter | receiver
	Count int    `yaml:"count"` // default 1
}

// TLSConf turns on TLS to an SMSC.
type TLSConf struct {
	CAFile             string `yaml:"ca_file"`              // PEM roots; default the system's
	ServerName         string `yaml:"server_name"`          // default the address's host
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"` // never in production
}

// RoutesConf is the routing table. In YAML it is either a list of routes
// (RouteConf), or the short form `{default: SMSC, prefixes: {"+39": SMSC}}`
// which becomes one failover route per prefix plus a catch-all.
type RoutesConf struct {
	List []RouteConf
	// Short form, kept for small set-ups.
	Default  string
	Prefixes map[string]string
}

// RouteConf is one route: which messages it takes and where they go.
type RouteConf struct {
	Name  string `yaml:"name"` // required, unique
	Match struct {
		Countries  []string `yaml:"countries"`   // ISO 3166-1 alpha-2
		Prefixes   []string `yaml:"prefixes"`    // E.164 prefixes; the longest match ranks the route
		Senders    []string `yaml:"senders"`     // exact sender ids or patterns with * and ?
		SenderKind string   `yaml:"sender_kind"` // alphanumeric | numeric | "" (any)
		Tenants    []string `yaml:"tenants"`
		Channel    string   `yaml:"channel"` // sms (default) | voice
	} `yaml:"match"`
	// Targets: the SMSCs, in failover order; weight for strategy weighted,
	// cost per message for least_cost.
	Targets []struct {
		Connector string  `yaml:"connector"`
		Weight    int     `yaml:"weight"`
		Cost      float64 `yaml:"cost"`
	} `yaml:"targets"`
	Strategy  string `yaml:"strategy"`   // failover (default) | weighted | least_cost
	Sender    string `yaml:"sender"`     // replaces the sender on this route
	SourceTON *int   `yaml:"source_ton"` // originator TON on this route
	SourceNPI *int   `yaml:"source_npi"` // originator NPI on this route
}

// UnmarshalYAML reads the list form or the short form.
func (r *RoutesConf) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		return n.Decode(&r.List)
	case yaml.MappingNode:
		var short struct {
			Default  string            `yaml:"default"`
			Prefixes map[string]string `yaml:"prefixes"`
		}
		if err := n.Decode(&short); err != nil {
			return err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "default" && k != "prefixes" {
				return fmt.Errorf("unknown field %q (the short form has default and prefixes; use a list of routes for more)", k)
			}
		}
		r.Default, r.Prefixes = short.Default, short.Prefixes
		return nil
	}
	return fmt.Errorf("want a list of routes or {default, prefixes}")
}

// HealthConf tunes how connectors are judged for routing.
type HealthConf struct {
	Window     Duration `yaml:"window"`      // sliding window of receipts; default 5m
	MinSamples int      `yaml:"min_samples"` // receipts needed before the rate counts; default 20
	Threshold  *float64 `yaml:"threshold"`   // success rate under which a connector is skipped; default 0.5; 0 turns it off
	ProbeEvery int      `yaml:"probe_every"` // a skipped connector still gets one message in this many; default 20
}

// TenantConf is one tenant.
type TenantConf struct {
	ID      string   `yaml:"id"`       // required, unique
	APIKeys []string `yaml:"api_keys"` // "sha256:<hex>" from `otpgate key new`; at least one
	Brand   string   `yaml:"brand"`    // {brand} in templates; default the id
	// SenderID: alphanumeric (≤11) or numeric originator; default sms.default_sender_id.
	SenderID      string           `yaml:"sender_id"`
	CodeLength    int              `yaml:"code_length"`    // 4..10; default 6
	CodeType      string           `yaml:"code_type"`      // numeric (default) | alpha | alphanumeric
	TTL           Duration         `yaml:"ttl"`            // 30s..24h; default 10m
	MaxAttempts   int              `yaml:"max_attempts"`   // 1..10; default 5
	Template      string           `yaml:"template"`       // template name; default "default"
	Locale        string           `yaml:"locale"`         // when the number's country names none; default en
	PendingPolicy string           `yaml:"pending_policy"` // reuse (default) | reject | replace
	Templates     engine.Templates `yaml:"templates"`      // the tenant's own, searched first
	// CallbackURL gets the tenant's webhooks when a request names none.
	CallbackURL string `yaml:"callback_url"`
	// WebhookSecret signs the tenant's webhooks (Otpgate-Signature);
	// required for callbacks. Use ${ENV}.
	WebhookSecret string `yaml:"webhook_secret"`
	// RateLimit: the tenant's requests per second. Default: none.
	RateLimit RateConf `yaml:"rate_limit"`
	// Workflow: the steps of a verification when a request names none;
	// default [sms]. NextEventWait: the wait between steps; default 2m.
	Workflow      []string `yaml:"workflow"`
	NextEventWait Duration `yaml:"next_event_wait"`
	// CustomCodes lets the tenant's requests choose the code (Twilio's
	// CustomCode, Vonage's pin_code and code). Default false: a chosen code
	// is only as strong as whoever chose it.
	CustomCodes bool `yaml:"custom_codes"`
	// Fraud: the tenant's own geo permissions and number types, judged
	// after the gateway's (fraud:); a number must pass both.
	Fraud FraudConf `yaml:"fraud"`
	// Vonage: the tenant's credentials for the Vonage Verify facades
	// (/compat/vonage, v1 and v2). Default none: the facade refuses them.
	Vonage *VonageConf `yaml:"vonage"`
	// Twilio: the tenant's credentials for the Twilio Verify facade
	// (/compat/twilio). Default none.
	Twilio *TwilioConf `yaml:"twilio"`
	// SMSCX: the tenant's credentials for the SMS.CX facade
	// (/compat/smscx). Default none.
	SMSCX *SMSCXConf `yaml:"smscx"`
	// MessageCentral: the tenant's customer for the Message Central
	// VerifyNow facade (/compat/messagecentral). Default none. (The
	// NexCode facade takes the tenant's api_keys and needs nothing here.)
	MessageCentral *MessageCentralConf `yaml:"messagecentral"`
}

// SMSCXConf is a tenant's SMS.CX account, as its clients present it: OAuth2
// applications, X-API-KEY keys, or both.
type SMSCXConf struct {
	// Applications get access tokens (POST /oauth/token) with their
	// client id and secret.
	Applications []SMSCXAppConf `yaml:"applications"`
	// APIKeyHashes: the hashes ("sha256:…", `otpgate key hash KEY`) of the
	// keys clients send as X-API-KEY.
	APIKeyHashes []string `yaml:"api_key_hashes"`
}

// SMSCXAppConf is one SMS.CX OAuth2 application.
type SMSCXAppConf struct {
	ID         string `yaml:"id"`          // the client id; unique among tenants; required
	SecretHash string `yaml:"secret_hash"` // "sha256:…" of the client secret; required
	// TokenTTL: how long its access tokens live; 1m..8760h, default 24h.
	// SMS.CX also offers tokens that never expire; a leaked one would be
	// good forever, so a year is the most here.
	TokenTTL Duration `yaml:"token_ttl"`
}

// MessageCentralConf is a tenant's Message Central customer, as its
// clients present it.
type MessageCentralConf struct {
	// CustomerID: the customerId clients send; unique among tenants;
	// required.
	CustomerID string `yaml:"customer_id"`
	// KeyHash: the hash ("sha256:…") of the password whose base64 clients
	// send as key (`otpgate key hash PASSWORD`).
	KeyHash string `yaml:"key_hash"`
	// TokenTTL: how long an authToken lives; 1m..8760h, default 168h (7
	// days, as Message Central's).
	TokenTTL Duration `yaml:"token_ttl"`
	// OTPTTL: how long a code is valid (the answer's timeout); 30s..24h,
	// default 60s (Message Central's example).
	OTPTTL Duration `yaml:"otp_ttl"`
}

// VonageConf is a tenant's Vonage account, as its clients present it.
type VonageConf struct {
	// APIKey: the api_key clients send; unique among tenants; required.
	APIKey string `yaml:"api_key"`
	// APISecretHash: the hash of the api_secret ("sha256:…", from
	// `otpgate key hash SECRET`); the secret itself is never stored.
	APISecretHash string `yaml:"api_secret_hash"`
	// Applications: Verify v2 clients sign JWTs (RS256) with an
	// application's private key; each is checked with its public key.
	Applications []VonageAppConf `yaml:"applications"`
}

// VonageAppConf is one Vonage application (Verify v2 JWT auth).
type VonageAppConf struct {
	ID string `yaml:"id"` // the application_id claim; unique; required
	// PublicKey (PEM) or PublicKeyFile: the RSA public key that checks
	// the application's JWTs; one of them is required.
	PublicKey     string `yaml:"public_key"`
	PublicKeyFile string `yaml:"public_key_file"`
}

// TwilioConf is a tenant's Twilio account, as its clients present it.
type TwilioConf struct {
	// AccountSID: "AC…", the Basic user of clients that use the auth
	// token; unique among tenants; required.
	AccountSID string `yaml:"account_sid"`
	// AuthTokenHash: the hash of the auth token ("sha256:…").
	AuthTokenHash string `yaml:"auth_token_hash"`
	// APIKeys: "SK…" API keys and their secrets' hashes, the Basic
	// credentials of clients that use API keys.
	APIKeys []TwilioKeyConf `yaml:"api_keys"`
	// Services: the Verify services ("VA…") of the account; at least one.
	Services []TwilioServiceConf `yaml:"services"`
}

// TwilioKeyConf is one Twilio API key.
type TwilioKeyConf struct {
	SID        string `yaml:"sid"`         // "SK…"; unique among tenants
	SecretHash string `yaml:"secret_hash"` // "sha256:…" of the key's secret
}

// TwilioServiceConf is one Twilio Verify service and its defaults.
type TwilioServiceConf struct {
	SID          string `yaml:"sid"`           // "VA…"; unique among tenants
	FriendlyName string `yaml:"friendly_name"` // the brand in messages; default the tenant's
	CodeLength   int    `yaml:"code_length"`   // 4..10; default 6 (Twilio's)
}

// Duration reads "10s", "5m" from YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("want a duration such as 10s or 5m")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as 10s or 5m", s)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
