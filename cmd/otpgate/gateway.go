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
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/router"
	"github.com/otpgate/otpgate/smpp"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// gateway is one running Otpgate: store, engine, SMPP links, API, and in
// sandbox mode the SMSC simulator. Shutdown stops them in the order that
// loses nothing: HTTP first (in-flight requests finish), then the engine's
// workers, then the SMPP links (unbind), then the store.
type gateway struct {
	cfg     *Config
	log     *slog.Logger
	st      *store.Store
	eng     *engine.Engine
	srv     *api.Server
	ln      net.Listener
	clients []*smpp.Client
	sim     *smsc.Server
	demoKey string // sandbox tenant's API key
	gauges  *metrics.Set
	sandbox sandboxState

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

// sandboxSender is the Inbox of the API in sandbox mode.
type sandboxInbox struct{ s *smsc.Server }

func (i sandboxInbox) Messages(number string) []api.SandboxMessage {
	msgs := i.s.Messages(number)
	out := make([]api.SandboxMessage, len(msgs))
	for k, m := range msgs {
		out[k] = api.SandboxMessage{ID: m.ID, From: m.From, To: m.To, Text: m.Text, Encoding: m.Encoding, ReceivedAt: m.ReceivedAt}
	}
	return out
}

// smppSender adapts an SMPP client to engine.Sender.
type smppSender struct{ c *smpp.Client }

func (s smppSender) Send(ctx context.Context, m engine.Outbound) ([]string, error) {
	sent, err := s.c.Send(ctx, smpp.Message{From: m.From, To: m.To, Text: m.Text})
	if err != nil {
		return nil, classify(err)
	}
	return sent.IDs, nil
}

// smppConfig turns an smscs[] entry into the connector's config.
func smppConfig(s SMSCConf) (smpp.Config, error) {
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
func startGateway(cfg *Config, log *slog.Logger) (g *gateway, err error) {
	g = &gateway{cfg: cfg, log: log, serveErr: make(chan error, 1)}
	opened := g // g is nil on an error return
	defer func() {
		if err != nil {
			opened.abort()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
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
	key, err := decodeServerKey(serverKey)
	if err != nil {
		return nil, fmt.Errorf("server_key: %w", err)
	}
	g.st, err = store.Open(store.Options{
		Dir: filepath.Join(cfg.DataDir, "store"), Sync: store.SyncMode(cfg.Store.Sync),
		SyncInterval: cfg.Store.SyncInterval.D(), Shards: cfg.Store.Shards,
		CacheBytes: int64(cfg.Store.CacheMB) << 20, Logger: log,
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
			eng.SubmitReceipt(engine.Receipt{
				Connector: name, MessageID: r.MessageID, Delivered: r.Delivered, Final: r.Final,
				State: r.Stat, Err: r.Err, At: r.ReceivedAt, AltIDs: cands[min(1, len(cands)):],
			})
		}
	}
	smscs := cfg.SMSCs
	if cfg.Sandbox {
		g.sim, err = smsc.New(smsc.Config{SystemID: "sandbox", Password: "sandbox", Log: log})
		if err != nil {
			return nil, err
		}
		if err := g.sim.Listen("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("sandbox smsc: %w", err)
		}
		smscs = append([]SMSCConf{{Name: "sandbox", Address: g.sim.Addr(), SystemID: "sandbox", Password: "sandbox", EnquireLink: Duration(30 * time.Second)}}, smscs...)
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
	var rules []router.Rule
	for p, to := range cfg.Routes.Prefixes {
		rules = append(rules, router.Rule{Prefix: p, Connector: to})
	}
	rt, err := router.New(rules, cfg.Routes.Default, func(n string) bool { return senders[n] != nil })
	if err != nil {
		return nil, err
	}

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
			return nil, fmt.Errorf("OTPGATE_SANDBOX_KEY: the key is tenant %q's", other)
		}
		keys[api.HashKey(g.demoKey)] = "demo"
		adminKeys = append(adminKeys, api.HashKey(g.sandbox.AdminKey))
	}
	eng, err = engine.New(engine.Config{
		ServerKey: key, Store: g.st, Router: rt, Senders: senders,
		Channels: map[string]bool{engine.ChannelSMS: true},
		Tenants:  tenants, Templates: cfg.Templates, DefaultSenderID: cfg.SMS.DefaultSenderID,
		SendTimeout: cfg.SMS.SendTimeout.D(),
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
			AllowPrivate: cfg.Webhooks.AllowPrivate != nil && *cfg.Webhooks.AllowPrivate, AllowLoopback: cfg.allowLoopback(),
		},
		Limits: engine.Limits{
			NumberSends:  engine.Window{Max: cfg.Limits.NumberSends.Max, Per: cfg.Limits.NumberSends.Per.D()},
			NumberChecks: engine.Window{Max: cfg.Limits.NumberChecks.Max, Per: cfg.Limits.NumberChecks.Per.D()},
		},
	})
	if err != nil {
		return nil, err
	}
	g.eng = eng

	var inbox api.Inbox
	if g.sim != nil {
		inbox = sandboxInbox{g.sim}
	}
	g.srv, err = api.New(api.Config{
		Engine: eng, Keys: keys, Sandbox: inbox, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Logger: log,
		AdminKeys: adminKeys, Rates: rates,
		Ready: func() (bool, []string) { return g.ready(rt) },
	})
	if err != nil {
		return nil, err
	}
	g.ln, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
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
	return g, nil
}

// ready: the store is open and every channel has a connector that can send.
func (g *gateway) ready(rt *router.Router) (bool, []string) {
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
	if _, _, err := g.st.PendingID("", ""); err != nil {
		return false, []string{"store: " + err.Error()}
	}
	return true, nil
}

// Addr is the HTTP listen address.
func (g *gateway) Addr() string { return g.ln.Addr().String() }

// Shutdown drains, each phase with its own share of ctx's time: HTTP stops
// accepting and finishes in-flight requests; the engine stops taking new
// work and finishes sends already started; the SMPP links unbind (receipts
// still arriving are applied); the receipt workers drain; the store closes.
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
		g.eng.StopReceipts()
	case <-lctx.Done():
		errs = append(errs, errors.New("smpp: links did not unbind in time"))
	}
	cancel()
	if g.sim != nil {
		_ = g.sim.Close()
	}
	metrics.UnregisterSet(g.gauges, true)
	if err := g.st.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	return errors.Join(errs...)
}

// abort releases what a failed start opened.
func (g *gateway) abort() {
	if g.ln != nil {
		g.ln.Close()
	}
	if g.sim != nil {
		g.sim.Close()
	}
	if g.gauges != nil {
		metrics.UnregisterSet(g.gauges, true)
	}
	if g.st != nil {
		g.st.Close()
	}
}
