package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/internal/ids"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/rcs"
	rcssim "github.com/otpgate/otpgate/rcs/sim"
	"github.com/otpgate/otpgate/router"
	"github.com/otpgate/otpgate/sip"
	"github.com/otpgate/otpgate/sip/uas"
	"github.com/otpgate/otpgate/smpp"
	"github.com/otpgate/otpgate/smpp/smsc"
	"github.com/otpgate/otpgate/whatsapp"
	wasim "github.com/otpgate/otpgate/whatsapp/sim"
)

// gateway is one running Otpgate: store, engine, SMPP links, API, and in
// sandbox mode the SMSC simulator. Shutdown stops them in the order that
// loses nothing: HTTP first (in-flight requests finish), then the engine's
// workers, then the SMPP links (unbind), then the store.
type gateway struct {
	cfg      *config.Config
	log      *slog.Logger
	st       *store.Store
	eng      *engine.Engine
	srv      *api.Server
	ln       net.Listener
	clients  []*smpp.Client
	sim      *smsc.Server
	demoKey  string // sandbox tenant's API key
	router   *liveRouter
	uas      *uas.Server
	trunks   []*sip.Client
	voicers  map[string]engine.Voicer
	tracker  *router.Tracker
	senders  map[string]engine.Sender
	src      source // the config file and the command line's overrides, for reloads
	unlock   func() // releases the data directory
	reloadMu sync.Mutex
	gauges   *metrics.Set
	sandbox  sandboxState
	facades  facades
	wasim    *wasim.Server     // sandbox: the WhatsApp Cloud API simulator
	waHook   *whatsapp.Webhook // nil without WhatsApp accounts
	rcssim   *rcssim.Server    // sandbox: the RBM API simulator
	rcsHook  *rcs.Webhook      // nil without RCS agents

	engCancel  context.CancelFunc
	linkCancel context.CancelFunc
	wg         sync.WaitGroup
	serveErr   chan error
	engineDone chan struct{}
}

// sandboxState is kept in the data directory so a sandbox restart keeps its
// server key (pending codes stay checkable) and its demo API key.
type sandboxState struct {
	ServerKey     string `json:"server_key"`
	APIKey        string `json:"api_key"`
	AdminKey      string `json:"admin_key"`
	WebhookSecret string `json:"webhook_secret"`
	// VonageApplicationID names the demo tenant's Vonage application; its
	// private key (for Verify v2 JWTs) is in vonage-demo.key beside.
	VonageApplicationID string `json:"vonage_application_id"`
}

func loadSandboxState(dir string) (sandboxState, error) {
	var st sandboxState
	path := filepath.Join(dir, "sandbox.json")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("%s: %w (delete it to start afresh)", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return st, err
	}
	changed := false
	if st.ServerKey == "" {
		st.ServerKey, changed = newServerKey(), true
	}
	if st.APIKey == "" {
		st.APIKey, changed = newAPIKey(), true
	}
	if st.AdminKey == "" {
		st.AdminKey, changed = newAPIKey(), true
	}
	if st.WebhookSecret == "" {
		st.WebhookSecret, changed = newAPIKey(), true
	}
	if st.VonageApplicationID == "" {
		st.VonageApplicationID, changed = ids.UUID(ids.New()), true
	}
	if changed {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return st, err
		}
		b, _ := json.MarshalIndent(st, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return st, err
		}
	}
	return st, nil
}

// owners finds whose verification a connector's message (an SMS, a call)
// belongs to, so a sandbox inbox shows each tenant only its own.
type owners interface {
	Lookup(ix store.Index, a, b string) (string, bool, error)
	Get(id string) (*store.Record, error)
}

// ownedBy reports whether the message msgID on connector belongs to one of
// tenant's verifications. A message not (yet) recorded belongs to nobody:
// the index entry follows the submit's answer within a millisecond.
func ownedBy(o owners, tenant, connector, msgID string) bool {
	id, ok, err := o.Lookup(store.MessageIndex, connector, msgID)
	if err != nil || !ok {
		return false
	}
	r, err := o.Get(id)
	return err == nil && r.Tenant == tenant
}

// sandboxInbox is the API's Inbox in sandbox mode: what the SMSC simulator
// received, each message shown only to the tenant whose verification sent
// it.
type sandboxInbox struct {
	s      *smsc.Server
	wa     *wasim.Server
	rcsSim *rcssim.Server
	st     owners
}

// Messages lists SMS and WhatsApp messages together, newest first.
func (i sandboxInbox) Messages(tenant, number string) []api.SandboxMessage {
	var out []api.SandboxMessage
	for _, m := range i.s.Messages(number) {
		if !ownedBy(i.st, tenant, "sandbox", m.ID) {
			continue
		}
		out = append(out, api.SandboxMessage{ID: m.ID, Channel: engine.ChannelSMS, From: m.From, To: m.To, Text: m.Text, Encoding: m.Encoding, ReceivedAt: m.ReceivedAt})
	}
	out = append(out, i.whatsapp(tenant, number)...)
	out = append(out, i.rcs(tenant, number)...)
	slices.SortStableFunc(out, func(a, b api.SandboxMessage) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	return out
}

// smppSender adapts an SMPP client to engine.Sender.
type smppSender struct{ c *smpp.Client }

func (s smppSender) Send(ctx context.Context, m engine.Outbound) ([]string, error) {
	msg := smpp.Message{From: m.From, To: m.To, Text: m.Text}
	if m.TON >= 0 && m.TON <= 0xff {
		ton := byte(m.TON)
		msg.SourceTON = &ton
	}
	if m.NPI >= 0 && m.NPI <= 0xff {
		npi := byte(m.NPI)
		msg.SourceNPI = &npi
	}
	sent, err := s.c.Send(ctx, msg)
	if err != nil {
		return nil, classify(err)
	}
	return sent.IDs, nil
}

// smppConfig turns an smscs[] entry into the connector's config.
func smppConfig(s config.SMSCConf) (smpp.Config, error) {
	c := smpp.Config{
		Name: s.Name, Addr: s.Address, SystemID: s.SystemID, Password: s.Password, SystemType: s.SystemType,
		Window: s.Window, EnquireLink: s.EnquireLink.D(), SubmitTimeout: s.SubmitTimeout.D(),
		ReconnectMin: s.ReconnectMin.D(), ReconnectMax: s.ReconnectMax.D(),
		InterfaceVersion: byte(s.InterfaceVersion), AddrTON: byte(s.AddrTON), AddrNPI: byte(s.AddrNPI), AddressRange: s.AddressRange,
		TPS: s.TPS, BindTPS: s.BindTPS, Concat: s.Concat, Latin1: s.Latin1, ReceiptIDs: s.ReceiptIDs,
	}
	for _, b := range s.Binds {
		c.Binds = append(c.Binds, smpp.BindSpec{Kind: b.Kind, Count: max(b.Count, 1)})
	}
	if s.TLS != nil {
		host, _, _ := net.SplitHostPort(s.Address)
		tc := &tls.Config{ServerName: cmp.Or(s.TLS.ServerName, host), InsecureSkipVerify: s.TLS.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
		if s.TLS.CAFile != "" {
			pem, err := os.ReadFile(s.TLS.CAFile)
			if err != nil {
				return c, fmt.Errorf("tls.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return c, fmt.Errorf("tls.ca_file %s: no PEM certificate in it", s.TLS.CAFile)
			}
		}
		c.TLS = tc
	}
	return c, nil
}

// sendError is an SMPP failure as the engine sees it: a stable reason a
// tenant may read (never the raw error, which can name SMSC addresses), and
// whether retrying on the same SMSC can help.
type sendError struct {
	err       error
	reason    string
	permanent bool
}

func (e *sendError) Error() string   { return e.err.Error() }
func (e *sendError) Unwrap() error   { return e.err }
func (e *sendError) Reason() string  { return e.reason }
func (e *sendError) Permanent() bool { return e.permanent }

func classify(err error) error {
	var se *smpp.StatusError
	var le *smpp.LinkError
	switch {
	case errors.Is(err, smpp.ErrInvalidMessage):
		return &sendError{err, "invalid_message", true}
	case errors.As(err, &se):
		return &sendError{err, "smsc_rejected " + smpp.StatusName(se.Status), se.Permanent()}
	case errors.Is(err, smpp.ErrTimeout):
		return &sendError{err, "smsc_timeout", false}
	case errors.As(err, &le):
		return &sendError{err, "smsc_link_lost", false}
	case errors.Is(err, smpp.ErrClosed):
		return &sendError{err, "smsc_stopped", false}
	default: // waiting for a bind or a window slot ran out of time
		return &sendError{err, "smsc_unavailable", false}
	}
}

// startGateway opens everything and starts serving.
func startGateway(cfg *config.Config, src source, log *slog.Logger) (g *gateway, err error) {
	g = &gateway{cfg: cfg, log: log, serveErr: make(chan error, 1), src: src}
	opened := g // g is nil on an error return
	defer func() {
		if err != nil {
			opened.abort()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if g.unlock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	serverKey := cfg.ServerKey
	if cfg.Sandbox {
		sb, err := loadSandboxState(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		if serverKey == "" {
			serverKey = sb.ServerKey
		}
		g.demoKey = sb.APIKey
		g.sandbox = sb
		if k := os.Getenv("OTPGATE_SANDBOX_KEY"); k != "" {
			g.demoKey = k
		}
	}
	key, err := config.DecodeServerKey(serverKey)
	if err != nil {
		return nil, fmt.Errorf("server_key: %w", err)
	}
	g.st, err = store.Open(store.Options{
		Dir: filepath.Join(cfg.DataDir, "store"), Sync: store.SyncMode(cfg.Store.Sync),
		SyncInterval: cfg.Store.SyncInterval.D(), Shards: cfg.Store.Shards,
		CacheBytes: int64(cfg.Store.CacheMB) << 20, RecordCache: cfg.Store.RecordCache, Logger: log,
	})
	if err != nil {
		return nil, err
	}

	// gauges that read this gateway's state live in a set of their own,
	// unregistered at shutdown (before the store closes)
	st := g.st
	g.gauges = metrics.NewSet()
	g.gauges.NewGauge(`otpgate_store_disk_bytes`, func() float64 { return float64(st.DiskUsage()) })
	metrics.RegisterSet(g.gauges)

	// SMPP links. Receipts reach the engine once it exists (before any link runs).
	var eng *engine.Engine
	onReceipt := func(name string) func(smpp.Receipt) {
		return func(r smpp.Receipt) {
			cands := r.IDCandidates()
			// applied (and lazily committed: durable within the store's
			// lazy sync delay, 10 ms) before the connector acknowledges
			// the deliver_sm; a crash inside that window loses it
			eng.HandleReceipt(engine.Receipt{
				Connector: name, MessageID: r.MessageID, Delivered: r.Delivered, Final: r.Final,
				State: r.Stat, Err: r.Err, At: r.ReceivedAt, AltIDs: cands[min(1, len(cands)):],
			})
		}
	}
	smscs := cfg.SMSCs
	if cfg.Sandbox {
		var rules []smsc.Rule
		for _, r := range cfg.SandboxSim.SMSCRules {
			rule, _ := smsc.ParseRule(r) // validated with the config
			rules = append(rules, rule)
		}
		g.sim, err = smsc.New(smsc.Config{SystemID: "sandbox", Password: "sandbox", Rules: rules, Log: log})
		if err != nil {
			return nil, err
		}
		if err := g.sim.Listen("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("sandbox smsc: %w", err)
		}
		smscs = append([]config.SMSCConf{{Name: "sandbox", Address: g.sim.Addr(), SystemID: "sandbox", Password: "sandbox", EnquireLink: config.Duration(30 * time.Second)}}, smscs...)
	}
	senders := map[string]engine.Sender{}
	for _, s := range smscs {
		sc, err := smppConfig(s)
		if err != nil {
			return nil, fmt.Errorf("smscs %s: %w", s.Name, err)
		}
		c, err := smpp.NewClient(sc, onReceipt(s.Name), log)
		if err != nil {
			return nil, fmt.Errorf("smscs %s: %w", s.Name, err)
		}
		g.clients = append(g.clients, c)
		senders[s.Name] = smppSender{c}
	}
	g.senders = senders
	g.voicers, err = g.startVoice(cfg, log)
	if err != nil {
		return nil, err
	}
	waTTL, err := g.startWhatsApp(cfg, senders, log)
	if err != nil {
		return nil, err
	}
	if err := g.startRCS(cfg, senders, log); err != nil {
		return nil, err
	}
	g.router = &liveRouter{}
	rt, err := router.New(cfg.RouteTable(), g.known)
	if err != nil {
		return nil, err
	}
	g.router.p.Store(rt)
	g.senders = senders
	g.tracker = router.NewTracker(healthConfig(cfg.RouteHealth))

	tenants, keys, rates, adminKeys, err := g.tenantTables(cfg)
	if err != nil {
		return nil, err
	}
	eng, err = engine.New(engine.Config{
		ServerKey: key, Store: g.st, Router: g.router, Senders: senders, Health: g.tracker,
		Channels:    map[string]bool{engine.ChannelSMS: true, engine.ChannelVoice: len(g.voicers) > 0, engine.ChannelWhatsApp: g.waHook != nil, engine.ChannelRCS: g.rcsHook != nil},
		MinStepWait: map[string]time.Duration{engine.ChannelWhatsApp: waTTL},
		Voice:       g.voicers,
		Tenants:     tenants, Templates: cfg.Templates, DefaultSenderID: cfg.SMS.DefaultSenderID,
		SendTimeout: cfg.SMS.SendTimeout.D(), DispatchLease: cfg.SMS.DispatchLease.D(), Workers: cfg.SMS.Workers,
		MaxSendBacklog: cfg.SMS.MaxSendBacklog, AdmitWait: cfg.SMS.AdmitWait.D(),
		CheckText: func(text string) error {
			if enc, units, segs := smpp.Segments(text); segs > smpp.MaxParts {
				return fmt.Errorf("the message is %d %s units long: %d SMS, more than the %d a message may take; shorten the template", units, enc, segs, smpp.MaxParts)
			}
			return nil
		},
		Logger: log, Phone: phone.NewValidator(0),
		Retention: cfg.Store.Retention.D(),
		Webhooks: engine.WebhookConfig{
			Timeout: cfg.Webhooks.Timeout.D(), MaxAge: cfg.Webhooks.MaxAge.D(),
			RetryMin: cfg.Webhooks.RetryMin.D(), RetryMax: cfg.Webhooks.RetryMax.D(), Workers: cfg.Webhooks.Workers,
			AllowPrivate: cfg.Webhooks.AllowPrivate != nil && *cfg.Webhooks.AllowPrivate, AllowLoopback: cfg.AllowLoopback(),
		},
		Limits: engine.Limits{
			NumberSends:  engine.Window{Max: cfg.Limits.NumberSends.Max, Per: cfg.Limits.NumberSends.Per.D()},
			NumberChecks: engine.Window{Max: cfg.Limits.NumberChecks.Max, Per: cfg.Limits.NumberChecks.Per.D()},
			Velocity:     cfg.Fraud.Velocity.Limits(),
			Lockout: engine.Lockout{WrongCodes: cfg.Fraud.Lockout.WrongCodes, Window: cfg.Fraud.Lockout.Window.D(),
				First: cfg.Fraud.Lockout.First.D(), Max: cfg.Fraud.Lockout.Max.D()},
			GuessRate:      cfg.Fraud.GuessRate.Velocity(),
			CallsPerNumber: cfg.Fraud.Calls.PerNumber.Velocity(), CallsPerPrefix: cfg.Fraud.Calls.PerPrefix.Velocity(),
			CallPrefixDigits: cfg.Fraud.Calls.PerPrefix.Digits,
		},
		Fraud:          cfg.Fraud.Policy(),
		WebhookFormats: webhookFormats,
	})
	if err != nil {
		return nil, locateTenantError(cfg, err)
	}
	g.eng = eng

	var inbox api.Inbox
	if g.sim != nil {
		inbox = sandboxInbox{g.sim, g.wasim, g.rcssim, g.st}
	}
	var callInbox api.CallInbox
	if g.uas != nil {
		callInbox = sandboxCalls{g.uas, g.st}
	}
	g.srv, err = api.New(api.Config{
		Engine: eng, Keys: keys, Sandbox: inbox, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, MaxCallbackBytes: cfg.HTTP.MaxCallbackBytes, Logger: log,
		AdminKeys: adminKeys, Rates: rates, SandboxCalls: callInbox,
		Ready:  func() (bool, []string) { return g.ready() },
		Reload: g.Reload,
	})
	if err != nil {
		return nil, err
	}
	if err := g.mountFacades(cfg, key); err != nil {
		return nil, err
	}
	g.mountWhatsApp()
	g.mountRCS()
	g.ln, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	if g.wasim != nil {
		g.wasim.SetCallbackURL("http://" + g.ln.Addr().String() + "/webhooks/whatsapp")
	}
	if g.rcssim != nil {
		g.rcssim.SetCallbackURL("http://" + g.ln.Addr().String() + "/webhooks/rcs")
	}

	// Start: links, engine, then HTTP.
	linkCtx, linkCancel := context.WithCancel(context.Background())
	g.linkCancel = linkCancel
	for _, c := range g.clients {
		g.wg.Add(1)
		go func(c *smpp.Client) {
			defer g.wg.Done()
			if err := c.Run(linkCtx); err != nil {
				log.Error("smpp link stopped", "smsc", c.Name(), "err", err)
			}
		}(c)
	}
	engCtx, engCancel := context.WithCancel(context.Background())
	g.engCancel = engCancel
	engDone := make(chan struct{})
	go func() {
		defer close(engDone)
		_ = eng.Run(engCtx)
	}()
	g.engineDone = engDone
	go func() { g.serveErr <- g.srv.Serve(g.ln) }()
	g.wg.Add(1)
	go g.watchLinks(linkCtx)
	return g, nil
}

// known: the connectors (SMSCs and trunks) that are running.
func (g *gateway) known(name string) bool { return g.senders[name] != nil || g.voicers[name] != nil }

// liveRouter is the routing table in force; a reload swaps it whole.
type liveRouter struct{ p atomic.Pointer[router.Router] }

func (l *liveRouter) Route(req router.Request, h router.Health) (router.Decision, bool) {
	return l.p.Load().Route(req, h)
}

func healthConfig(h config.HealthConf) router.TrackerConfig {
	tc := router.TrackerConfig{Window: h.Window.D(), MinSamples: h.MinSamples, ProbeEvery: h.ProbeEvery, Threshold: 0.5}
	if h.Threshold != nil {
		tc.Threshold = *h.Threshold
	}
	return tc
}

// watchLinks tells the tracker which connectors have a bound link, and
// exports each connector's routing state, until ctx ends.
func (g *gateway) watchLinks(ctx context.Context) {
	defer g.wg.Done()
	for _, c := range g.clients {
		name := c.Name()
		g.gauges.NewGauge(fmt.Sprintf(`otpgate_route_connector_up{connector=%q}`, name), func() float64 { return b2f(g.tracker.State(name).Up) })
		g.gauges.NewGauge(fmt.Sprintf(`otpgate_route_connector_healthy{connector=%q}`, name), func() float64 { return b2f(g.tracker.State(name).Healthy) })
		g.gauges.NewGauge(fmt.Sprintf(`otpgate_route_connector_success_rate{connector=%q}`, name), func() float64 { return g.tracker.State(name).SuccessRate })
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		for _, c := range g.clients {
			g.tracker.SetUp(c.Name(), c.Bound())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ready: the store is open and every channel has a connector that can send.
func (g *gateway) ready() (bool, []string) {
	bound := 0
	var reasons []string
	for _, c := range g.clients {
		if c.Bound() {
			bound++
		} else {
			reasons = append(reasons, "smsc "+c.Name()+" not bound")
		}
	}
	if bound == 0 {
		return false, append([]string{"sms: no SMSC bound"}, reasons...)
	}
	if _, _, err := g.st.Lookup(store.PendingIndex, "", ""); err != nil {
		return false, []string{"store: " + err.Error()}
	}
	return true, nil
}

// Addr is the HTTP listen address.
func (g *gateway) Addr() string { return g.ln.Addr().String() }

// Shutdown drains, each phase with its own share of ctx's time: HTTP stops
// accepting and finishes in-flight requests; the engine stops taking new
// work and finishes sends already started; the SMPP links unbind (receipts
// still arriving are applied before they are acknowledged); the store closes.
// Whatever a phase could not finish stays in the store and resumes after the
// restart.
func (g *gateway) Shutdown(ctx context.Context) error {
	var errs []error
	phase := func(share float64) (context.Context, context.CancelFunc) {
		d := 30 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			d = time.Until(dl)
		}
		return context.WithTimeout(ctx, time.Duration(float64(d)*share))
	}
	g.srv.Drain()
	delay := time.Second
	g.reloadMu.Lock()
	if g.cfg.HTTP.DrainDelay != nil {
		delay = g.cfg.HTTP.DrainDelay.D()
	}
	g.reloadMu.Unlock()
	select {
	case <-time.After(delay):
	case <-ctx.Done():
	}
	hctx, cancel := phase(0.4)
	if err := g.srv.Shutdown(hctx); err != nil {
		errs = append(errs, fmt.Errorf("http: %w", err))
	}
	cancel()
	g.engCancel()
	ectx, cancel := phase(0.6)
	select {
	case <-g.engineDone:
	case <-ectx.Done():
		errs = append(errs, errors.New("engine: sends did not finish in time"))
	}
	cancel()
	g.linkCancel()
	lctx, cancel := phase(0.8)
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-lctx.Done():
		errs = append(errs, errors.New("smpp: links did not unbind in time"))
	}
	cancel()
	for _, c := range g.trunks {
		_ = c.Close()
	}
	if g.uas != nil {
		_ = g.uas.Close()
	}
	if g.sim != nil {
		_ = g.sim.Close()
	}
	if g.wasim != nil {
		_ = g.wasim.Close()
	}
	if g.rcssim != nil {
		_ = g.rcssim.Close()
	}
	metrics.UnregisterSet(g.gauges, true)
	if err := g.st.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	g.unlock()
	return errors.Join(errs...)
}

// abort releases what a failed start opened.
func (g *gateway) abort() {
	if g.ln != nil {
		g.ln.Close()
	}
	for _, c := range g.trunks {
		c.Close()
	}
	if g.uas != nil {
		g.uas.Close()
	}
	if g.sim != nil {
		g.sim.Close()
	}
	if g.wasim != nil {
		g.wasim.Close()
	}
	if g.rcssim != nil {
		g.rcssim.Close()
	}
	if g.gauges != nil {
		metrics.UnregisterSet(g.gauges, true)
	}
	if g.st != nil {
		g.st.Close()
	}
	if g.unlock != nil {
		g.unlock()
	}
}

// tenantTables builds the engine's tenants and the API's key and rate
// tables from cfg (and, in sandbox mode, the demo tenant).
func (g *gateway) tenantTables(cfg *config.Config) (map[string]*engine.Tenant, map[string]string, map[string]api.Rate, []string, error) {
	tenants := map[string]*engine.Tenant{}
	keys := map[string]string{}
	rates := map[string]api.Rate{}
	adminKeys := append([]string(nil), cfg.Admin.APIKeys...)
	for _, t := range cfg.Tenants {
		tenants[t.ID] = &engine.Tenant{
			ID: t.ID, Brand: t.Brand, SenderID: t.SenderID, CodeLength: t.CodeLength, CodeType: t.CodeType,
			TTL: t.TTL.D(), MaxAttempts: t.MaxAttempts, Template: t.Template, Locale: t.Locale,
			PendingPolicy: t.PendingPolicy, Templates: t.Templates,
			CallbackURL: t.CallbackURL, WebhookSecret: t.WebhookSecret,
			Workflow: t.Workflow, NextEventWait: t.NextEventWait.D(), CustomCodes: t.CustomCodes,
			Fraud: t.Fraud.Policy(), Velocity: t.Fraud.Velocity.Limits(),
		}
		if t.RateLimit.PerSecond > 0 {
			rates[t.ID] = api.Rate{PerSecond: t.RateLimit.PerSecond, Burst: t.RateLimit.Burst}
		}
		for _, k := range t.APIKeys {
			keys[k] = t.ID
		}
	}
	if cfg.Sandbox {
		tenants["demo"] = &engine.Tenant{ID: "demo", Brand: "Demo", WebhookSecret: g.sandbox.WebhookSecret}
		if other, dup := keys[api.HashKey(g.demoKey)]; dup {
			return nil, nil, nil, nil, fmt.Errorf("OTPGATE_SANDBOX_KEY: the key is tenant %q's", other)
		}
		keys[api.HashKey(g.demoKey)] = "demo"
		adminKeys = append(adminKeys, api.HashKey(g.sandbox.AdminKey))
	}
	return tenants, keys, rates, adminKeys, nil
}

// locateTenantError names the config file, line and field of a tenant
// default the engine refuses (tenants[1].templates.otp.en), like every
// other config error.
func locateTenantError(cfg *config.Config, err error) error {
	var te *engine.TenantError
	if !errors.As(err, &te) {
		return err
	}
	for i, t := range cfg.Tenants {
		if t.ID == te.Tenant {
			return cfg.Locate(fmt.Sprintf("tenants[%d].%s", i, te.Field), te.Err)
		}
	}
	return err
}

// Reload re-reads the config (the file, or in the sandbox without one the
// built-in sandbox config) and applies what can change live: the routing
// table, tenants (keys, defaults, templates, rates, webhooks) and admin
// keys. The answer names what changed and now runs, and what changed but
// runs with the old values until a restart. An invalid file changes
// nothing and the error names the file, line and field.
func (g *gateway) Reload() (api.ReloadResult, error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	var res api.ReloadResult
	cfg, err := g.src.load()
	if err != nil {
		return res, err
	}
	// the implicit voice and WhatsApp routes name the trunks and accounts
	// that run: new ones need a restart (said below)
	table := *cfg
	table.Trunks, table.WhatsApp, table.RCS = g.cfg.Trunks, g.cfg.WhatsApp, g.cfg.RCS
	rt, err := router.New(table.RouteTable(), g.known)
	if err != nil {
		return res, fmt.Errorf("%w (a route may only name a connector that is running; new SMSCs, trunks, WhatsApp accounts and RCS agents need a restart)", cfg.Locate("routes", err))
	}
	tenants, keys, rates, adminKeys, err := g.tenantTables(cfg)
	if err != nil {
		return res, err
	}
	// everything that can fail is built before anything is swapped in, so
	// a reload applies whole or not at all
	creds, err := g.facadeCredentials(cfg)
	if err != nil {
		return res, err
	}
	if err := g.srv.CheckAuth(keys, adminKeys); err != nil {
		return res, err
	}
	if err := g.eng.SetTenants(tenants); err != nil {
		return res, locateTenantError(cfg, err)
	}
	if err := g.srv.SetAuth(keys, adminKeys, rates); err != nil {
		return res, err
	}
	g.facades.setCredentials(creds)
	g.router.p.Store(rt)
	old := g.cfg
	for _, c := range []struct {
		name     string
		was, now any
	}{
		{"routes", old.Routes, cfg.Routes}, {"tenants", old.Tenants, cfg.Tenants}, {"admin.api_keys", old.Admin, cfg.Admin},
	} {
		if !reflect.DeepEqual(c.was, c.now) {
			res.Reloaded = append(res.Reloaded, c.name)
		}
	}
	for _, c := range []struct {
		name     string
		was, now any
	}{
		{"sandbox", old.Sandbox, cfg.Sandbox}, {"data_dir", old.DataDir, cfg.DataDir}, {"server_key", old.ServerKey, cfg.ServerKey},
		{"http", old.HTTP, cfg.HTTP}, {"store", old.Store, cfg.Store}, {"log", old.Log, cfg.Log}, {"sms", old.SMS, cfg.SMS},
		{"templates", old.Templates, cfg.Templates}, {"webhooks", old.Webhooks, cfg.Webhooks}, {"limits", old.Limits, cfg.Limits}, {"fraud", old.Fraud, cfg.Fraud},
		{"route_health", old.RouteHealth, cfg.RouteHealth}, {"trunks", old.Trunks, cfg.Trunks}, {"voice", old.Voice, cfg.Voice},
		{"memory_limit_mb", old.MemoryLimitMB, cfg.MemoryLimitMB}, {"whatsapp", old.WhatsApp, cfg.WhatsApp}, {"rcs", old.RCS, cfg.RCS},
		{"sandbox_sim", old.SandboxSim, cfg.SandboxSim},
	} {
		if !reflect.DeepEqual(c.was, c.now) {
			res.NeedsRestart = append(res.NeedsRestart, c.name)
		}
	}
	oldSMSC := map[string]config.SMSCConf{}
	for _, s := range old.SMSCs {
		oldSMSC[s.Name] = s
	}
	for i, s := range cfg.SMSCs {
		if o, ok := oldSMSC[s.Name]; !ok {
			res.NeedsRestart = append(res.NeedsRestart, fmt.Sprintf("smscs[%d] %q (new)", i, s.Name))
		} else if !reflect.DeepEqual(o, s) {
			res.NeedsRestart = append(res.NeedsRestart, fmt.Sprintf("smscs[%d] %q (changed)", i, s.Name))
		}
		delete(oldSMSC, s.Name)
	}
	for name := range oldSMSC {
		res.NeedsRestart = append(res.NeedsRestart, fmt.Sprintf("smscs %q (removed; it keeps running)", name))
	}
	// g.cfg is what runs: the live parts from the file, the rest as started
	// (so the next reload still names them as needing a restart).
	running := *old
	running.Routes, running.Tenants, running.Admin = cfg.Routes, cfg.Tenants, cfg.Admin
	g.cfg = &running
	g.log.Info("config reloaded", "path", g.src.path, "reloaded", strings.Join(res.Reloaded, ", "), "needs_restart", strings.Join(res.NeedsRestart, ", "))
	return res, nil
}
