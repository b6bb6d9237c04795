package main

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/router"
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
	Voice  VoiceConf   `yaml:"voice"`
	Routes RoutesConf  `yaml:"routes"`
	// RouteHealth: when a connector is skipped by the router.
	RouteHealth HealthConf `yaml:"route_health"`
	// Templates: name → locale → text with {code}, {brand}, {minutes}.
	// Built-in "default" templates exist for en, it, fr, de, es.
	Templates engine.Templates `yaml:"templates"`
	Tenants   []TenantConf     `yaml:"tenants"`
	Webhooks  WebhooksConf     `yaml:"webhooks"`
	// source: where this config came from and the flags that override it
	// (a reload re-applies them).
	source configSource
	Limits LimitsConf `yaml:"limits"`
	Admin  AdminConf  `yaml:"admin"`
}

type configSource struct {
	path, http, data string
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
	// 1.5 KiB each) so sends, receipts and checks skip a disk read;
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
				return fmt.Errorf("line %d: routes: unknown field %q (the short form has default and prefixes; use a list of routes for more)", n.Content[i].Line, k)
			}
		}
		r.Default, r.Prefixes = short.Default, short.Prefixes
		return nil
	}
	return fmt.Errorf("line %d: routes: want a list of routes or {default, prefixes}", n.Line)
}

// routes turns the config into the router's routes (the short form into
// one route per prefix and a catch-all "default").
func (r RoutesConf) routes() []router.Route {
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

// routeTable is the routing table in force: the configured routes, plus,
// when no route takes voice, one that sends voice through every trunk in
// order.
func (c *Config) routeTable() []router.Route {
	rs := c.Routes.routes()
	voice := false
	for _, r := range rs {
		voice = voice || r.Match.Channel == router.ChannelVoice
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
}

// Duration reads "10s", "5m" from YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration such as 10s or 5m", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 10s or 5m", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME}; an unset NAME is an error.
func expandEnv(b []byte) ([]byte, error) {
	var missing []string
	out := envRef.ReplaceAllFunc(b, func(m []byte) []byte {
		name := string(m[2 : len(m)-1])
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variable %s is not set (the config refers to it)", strings.Join(missing, ", "))
	}
	return out, nil
}

// LoadConfig reads and validates a config file.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses and validates YAML. ${NAME} is expanded in scalar
// values only (not in comments or keys), after parsing, so a secret with
// YAML syntax in it stays one value.
func ParseConfig(raw []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	cfg := &Config{}
	if len(root.Content) > 0 {
		text := raw // decoded as written when there is nothing to expand, so error lines match the file
		if bytes.Contains(raw, []byte("${")) {
			if err := expandNode(&root); err != nil {
				return nil, err
			}
			var err error
			if text, err = yaml.Marshal(&root); err != nil {
				return nil, err
			}
		}
		dec := yaml.NewDecoder(bytes.NewReader(text))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	if err := cfg.finish(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// expandNode replaces ${NAME} in every scalar value under n.
func expandNode(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		v, err := expandEnv([]byte(n.Value))
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		n.Value = string(v)
		n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
		return nil
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue // keys stay as written
		}
		if err := expandNode(c); err != nil {
			return err
		}
	}
	return nil
}

// finish applies defaults and validates; errors name the field.
func (c *Config) finish() error {
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
		return fmt.Errorf("http.max_body_bytes: %d is outside 1024..1048576", c.HTTP.MaxBodyBytes)
	}
	if c.Store.Sync == "" {
		c.Store.Sync = "always"
	}
	switch c.Store.Sync {
	case "always", "batch", "none":
	default:
		return fmt.Errorf("store.sync: %q is not one of always, batch, none", c.Store.Sync)
	}
	if c.Store.Shards < 0 || c.Store.Shards > 65536 {
		return fmt.Errorf("store.shards: %d is outside 1..65536", c.Store.Shards)
	}
	if c.Store.CacheMB < 0 || (c.Store.CacheMB > 0 && c.Store.CacheMB < 48) {
		return fmt.Errorf("store.cache_mb: %d is below 48 (the cache holds Pebble's two 16 MiB memtables besides blocks)", c.Store.CacheMB)
	}
	if c.MemoryLimitMB < -1 || (c.MemoryLimitMB > 0 && c.MemoryLimitMB < 64) {
		return fmt.Errorf("memory_limit_mb: %d is below 64 (-1 for no limit)", c.MemoryLimitMB)
	}
	if c.SMS.MaxSendBacklog < 0 || c.SMS.MaxSendBacklog > 1_000_000 {
		return fmt.Errorf("sms.max_send_backlog: %d is outside 1..1000000", c.SMS.MaxSendBacklog)
	}
	if w := c.SMS.AdmitWait.D(); w < 0 || w > time.Minute {
		return fmt.Errorf("sms.admit_wait: %s is outside 0..1m", w)
	}
	if c.Store.RecordCache < -1 || c.Store.RecordCache > 10_000_000 {
		return fmt.Errorf("store.record_cache: %d is outside -1..10000000 (-1 turns the cache off)", c.Store.RecordCache)
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "json", "text":
	default:
		return fmt.Errorf("log.format: %q is not one of json, text", c.Log.Format)
	}
	if env := os.Getenv("OTPGATE_SERVER_KEY"); env != "" {
		c.ServerKey = env
	}
	if c.ServerKey != "" {
		if _, err := decodeServerKey(c.ServerKey); err != nil {
			return fmt.Errorf("server_key: %w", err)
		}
	} else if !c.Sandbox {
		return errors.New("server_key: required outside sandbox mode (make one with `otpgate key server`, or set OTPGATE_SERVER_KEY)")
	}
	names := map[string]bool{}
	for i, s := range c.SMSCs {
		at := fmt.Sprintf("smscs[%d]", i)
		switch {
		case s.Name == "":
			return fmt.Errorf("%s.name: required", at)
		case s.Name == "sandbox" && c.Sandbox:
			return fmt.Errorf("%s.name: %q is the built-in simulator's name in sandbox mode", at, s.Name)
		case names[s.Name]:
			return fmt.Errorf("%s.name: %q used twice", at, s.Name)
		case s.Address == "":
			return fmt.Errorf("%s.address: required (host:port)", at)
		case !strings.Contains(s.Address, ":"):
			return fmt.Errorf("%s.address: %q is not host:port", at, s.Address)
		case s.SystemID == "":
			return fmt.Errorf("%s.system_id: required", at)
		case len(s.SystemID) > 15:
			return fmt.Errorf("%s.system_id: longer than 15 characters (SMPP limit)", at)
		case len(s.Password) > 8:
			return fmt.Errorf("%s.password: longer than 8 characters (SMPP 3.4 limit)", at)
		case s.Window < 0 || s.Window > 1000:
			return fmt.Errorf("%s.window: %d is outside 1..1000", at, s.Window)
		case s.TPS < 0 || s.BindTPS < 0:
			return fmt.Errorf("%s.tps: negative", at)
		case s.InterfaceVersion < 0 || s.InterfaceVersion > 0xff:
			return fmt.Errorf("%s.interface_version: %d is not a byte", at, s.InterfaceVersion)
		case s.AddrTON < 0 || s.AddrTON > 0xff || s.AddrNPI < 0 || s.AddrNPI > 0xff:
			return fmt.Errorf("%s.addr_ton/addr_npi: not a byte", at)
		}
		switch s.Concat {
		case "", "udh8", "udh16", "sar":
		default:
			return fmt.Errorf("%s.concat: %q is not one of udh8, udh16, sar", at, s.Concat)
		}
		switch s.ReceiptIDs {
		case "", "auto", "same", "hex", "decimal":
		default:
			return fmt.Errorf("%s.receipt_ids: %q is not one of auto, same, hex, decimal", at, s.ReceiptIDs)
		}
		transmit := len(s.Binds) == 0
		for j, b := range s.Binds {
			switch b.Kind {
			case "transceiver", "transmitter":
				transmit = true
			case "receiver":
			default:
				return fmt.Errorf("%s.binds[%d].kind: %q is not one of transceiver, transmitter, receiver", at, j, b.Kind)
			}
			if b.Count < 0 || b.Count > 64 {
				return fmt.Errorf("%s.binds[%d].count: %d is outside 1..64", at, j, b.Count)
			}
		}
		if !transmit {
			return fmt.Errorf("%s.binds: no transmitter or transceiver bind: nothing could be sent", at)
		}
		if s.TLS != nil && s.TLS.CAFile != "" {
			if _, err := os.Stat(s.TLS.CAFile); err != nil {
				return fmt.Errorf("%s.tls.ca_file: %v", at, err)
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
		return fmt.Errorf("sms.send_timeout: %s must exceed twice the longest smscs[].submit_timeout (%s; a timed-out submit is tried once more on another bind) by at least 1s, or a send gives up while the SMSC may still accept it", c.SMS.SendTimeout.D(), maxSubmit)
	}
	if len(names) == 0 {
		return errors.New("smscs: no SMSC configured (name one, or set sandbox: true)")
	}
	if len(c.Routes.List) > 0 && (c.Routes.Default != "" || len(c.Routes.Prefixes) > 0) {
		return errors.New("routes: give a list of routes or the short form, not both")
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
		return fmt.Errorf("routes.default: %q is not a configured SMSC", c.Routes.Default)
	}
	for _, p := range slices.Sorted(maps.Keys(c.Routes.Prefixes)) {
		if to := c.Routes.Prefixes[p]; !names[to] {
			return fmt.Errorf("routes.prefixes[%q]: %q is not a configured SMSC", p, to)
		}
	}
	for i, t := range c.Trunks {
		at := fmt.Sprintf("trunks[%d]", i)
		switch {
		case t.Name == "":
			return fmt.Errorf("%s.name: required", at)
		case names[t.Name] || (c.Sandbox && t.Name == "sandbox-voice"):
			return fmt.Errorf("%s.name: %q is already an SMSC's or a trunk's name", at, t.Name)
		case !strings.Contains(t.Address, ":"):
			return fmt.Errorf("%s.address: %q is not host:port", at, t.Address)
		case t.MaxCalls < 0 || t.CPS < 0:
			return fmt.Errorf("%s: max_calls and cps must not be negative", at)
		}
		switch t.Transport {
		case "", "udp", "tcp", "tls":
		default:
			return fmt.Errorf("%s.transport: %q is not one of udp, tcp, tls", at, t.Transport)
		}
		names[t.Name] = true
	}
	if c.Sandbox {
		names["sandbox-voice"] = true
	}
	if _, err := router.New(c.routeTable(), func(n string) bool { return names[n] }); err != nil {
		return err
	}
	if h := c.RouteHealth; h.MinSamples < 0 || h.ProbeEvery < 0 || (h.Threshold != nil && (*h.Threshold < 0 || *h.Threshold > 1)) {
		return errors.New("route_health: min_samples and probe_every must not be negative, threshold in 0..1")
	}
	if err := c.Templates.Validate("templates"); err != nil {
		return err
	}
	ids := map[string]bool{}
	hashes := map[[32]byte]string{}
	for i, t := range c.Tenants {
		at := fmt.Sprintf("tenants[%d]", i)
		switch {
		case t.ID == "":
			return fmt.Errorf("%s.id: required", at)
		case ids[t.ID]:
			return fmt.Errorf("%s.id: %q used twice", at, t.ID)
		case len(t.APIKeys) == 0:
			return fmt.Errorf("%s.api_keys: at least one key hash (from `otpgate key new`)", at)
		case t.CodeLength != 0 && (t.CodeLength < engine.MinCodeLength || t.CodeLength > engine.MaxCodeLength):
			return fmt.Errorf("%s.code_length: %d is outside 4..10", at, t.CodeLength)
		case t.MaxAttempts != 0 && (t.MaxAttempts < 1 || t.MaxAttempts > 10):
			return fmt.Errorf("%s.max_attempts: %d is outside 1..10", at, t.MaxAttempts)
		case t.TTL != 0 && (t.TTL.D() < 30*time.Second || t.TTL.D() > 24*time.Hour):
			return fmt.Errorf("%s.ttl: %s is outside 30s..24h", at, t.TTL.D())
		}
		switch t.CodeType {
		case "", engine.CodeNumeric, engine.CodeAlpha, engine.CodeAlphanumeric:
		default:
			return fmt.Errorf("%s.code_type: %q is not one of numeric, alpha, alphanumeric", at, t.CodeType)
		}
		switch t.PendingPolicy {
		case "", engine.PolicyReuse, engine.PolicyReject, engine.PolicyReplace:
		default:
			return fmt.Errorf("%s.pending_policy: %q is not one of reuse, reject, replace", at, t.PendingPolicy)
		}
		if c.Sandbox && t.ID == "demo" {
			return fmt.Errorf("%s.id: \"demo\" is the sandbox's own tenant", at)
		}
		for j, k := range t.APIKeys {
			sum, err := api.ParseKeyHash(strings.ToLower(k))
			if err != nil {
				return fmt.Errorf("%s.api_keys[%d]: %v", at, j, err)
			}
			if other, dup := hashes[sum]; dup {
				return fmt.Errorf("%s.api_keys[%d]: the same key hash is already given to tenant %q; a key must name one tenant", at, j, other)
			}
			hashes[sum] = t.ID
			c.Tenants[i].APIKeys[j] = strings.ToLower(k)
		}
		if err := t.Templates.Validate(at + ".templates"); err != nil {
			return err
		}
		ids[t.ID] = true
	}
	if len(c.Tenants) == 0 && !c.Sandbox {
		return errors.New("tenants: no tenant configured")
	}
	for i, t := range c.Tenants {
		if t.RateLimit.PerSecond < 0 || t.RateLimit.Burst < 0 {
			return fmt.Errorf("tenants[%d].rate_limit: negative", i)
		}
		for j, ch := range t.Workflow {
			if ch != engine.ChannelSMS && ch != engine.ChannelVoice {
				return fmt.Errorf("tenants[%d].workflow[%d]: %q is not sms or voice", i, j, ch)
			}
			if ch == engine.ChannelVoice && len(c.Trunks) == 0 && !c.Sandbox {
				return fmt.Errorf("tenants[%d].workflow[%d]: voice needs a SIP trunk (trunks:)", i, j)
			}
		}
		if w := t.NextEventWait.D(); w != 0 && (w < 10*time.Second || w > time.Hour) {
			return fmt.Errorf("tenants[%d].next_event_wait: %s is outside 10s..1h", i, w)
		}
		if t.WebhookSecret != "" && len(t.WebhookSecret) < 16 {
			return fmt.Errorf("tenants[%d].webhook_secret: shorter than 16 characters", i)
		}
	}
	if c.Store.Retention == 0 {
		c.Store.Retention = Duration(168 * time.Hour)
	}
	if c.Store.Retention.D() < time.Second {
		return fmt.Errorf("store.retention: %s is under 1s", c.Store.Retention.D())
	}
	for name, w := range map[string]WindowConf{"limits.number_sends": c.Limits.NumberSends, "limits.number_checks": c.Limits.NumberChecks} {
		if w.Max < -1 {
			return fmt.Errorf("%s.max: %d (use -1 to turn the limit off)", name, w.Max)
		}
		if w.Max > 0 && w.Per.D() <= 0 {
			return fmt.Errorf("%s.per: a window such as 10m is required with max", name)
		}
	}
	for j, k := range c.Admin.APIKeys {
		if _, err := api.ParseKeyHash(strings.ToLower(k)); err != nil {
			return fmt.Errorf("admin.api_keys[%d]: %v", j, err)
		}
		c.Admin.APIKeys[j] = strings.ToLower(k)
	}
	if c.Webhooks.Workers < 0 || c.Webhooks.Workers > 4096 {
		return fmt.Errorf("webhooks.workers: %d is outside 1..4096", c.Webhooks.Workers)
	}
	if w := c.Webhooks.Timeout.D(); w != 0 && (w < 10*time.Millisecond || w > time.Minute) {
		return fmt.Errorf("webhooks.timeout: %s is outside 10ms..1m", w)
	}
	if w := c.Webhooks.MaxAge.D(); w != 0 && w < 100*time.Millisecond {
		return fmt.Errorf("webhooks.max_age: %s is under 100ms", w)
	}
	if lo, hi := c.Webhooks.RetryMin.D(), c.Webhooks.RetryMax.D(); lo != 0 && hi != 0 && hi < lo {
		return fmt.Errorf("webhooks.retry_max: %s is under retry_min %s", hi, lo)
	}
	for i, t := range c.Tenants {
		if r := t.RateLimit.PerSecond; math.IsNaN(r) || math.IsInf(r, 0) || r > 1e6 {
			return fmt.Errorf("tenants[%d].rate_limit.per_second: %v is not a number up to 1000000", i, r)
		}
	}
	return nil
}

func (c *Config) allowLoopback() bool {
	if c.Webhooks.AllowLoopback != nil {
		return *c.Webhooks.AllowLoopback
	}
	return c.Sandbox
}

func decodeServerKey(s string) ([]byte, error) {
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
