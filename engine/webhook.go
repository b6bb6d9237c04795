package engine

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/otpgate/otpgate/engine/store"
)

// Webhooks. Every status change and delivery receipt of a verification with
// a callback URL adds an item to the record's outbox in the same store
// commit as the change (see store/outbox.go). A "webhook" deadline on the
// record schedules its oldest item; the timer loop hands it to the webhook
// workers, which POST it signed, then record the outcome: delivered (next
// item), retry later (exponential back-off with jitter), or dead letter
// once the item is older than WebhookConfig.MaxAge. One item at a time per
// verification keeps their order; the API never waits for a receiver.

// WebhookConfig configures webhook delivery. Zero values take the defaults.
type WebhookConfig struct {
	// Timeout for one delivery attempt. Default 5s.
	Timeout time.Duration
	// MaxAge: an item not delivered this long after it was made becomes a
	// dead letter. Default 24h.
	MaxAge time.Duration
	// RetryMin, RetryMax bound the back-off between attempts (doubling,
	// with ±25% jitter). Defaults 1s and 10m.
	RetryMin, RetryMax time.Duration
	// Workers delivering at once. Default 32.
	Workers int
	// AllowPrivate allows callback URLs on private (RFC 1918, ULA) addresses;
	// AllowLoopback on loopback. Both default false: a tenant must not make
	// the gateway call into the operator's own network. Link-local
	// (cloud metadata) addresses are never allowed.
	AllowPrivate, AllowLoopback bool
	// Client, when set, replaces the HTTP client (tests). Its transport
	// should apply the same address checks.
	Client *http.Client
}

func (w *WebhookConfig) defaults() {
	if w.Timeout <= 0 {
		w.Timeout = 5 * time.Second
	}
	if w.MaxAge <= 0 {
		w.MaxAge = 24 * time.Hour
	}
	if w.RetryMin <= 0 {
		w.RetryMin = time.Second
	}
	if w.RetryMax < w.RetryMin {
		w.RetryMax = 10 * time.Minute
	}
	if w.Workers <= 0 {
		w.Workers = 32
	}
}

const deadlineWebhook = "webhook"

// SignatureHeader carries the webhook signature: "t=<unix seconds>,v1=<hex
// HMAC-SHA256 over "<t>.<body>" with the tenant's webhook secret>".
const SignatureHeader = "Otpgate-Signature"

// Sign returns the SignatureHeader value for body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a SignatureHeader value against body, refusing
// timestamps more than tolerance away from now (replays).
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("signature header is not t=…,v1=…")
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature timestamp %s is outside the tolerance", t.UTC().Format(time.RFC3339))
	}
	want := Sign(secret, t, body)
	if !hmac.Equal([]byte(want[strings.Index(want, "v1=")+3:]), []byte(sig)) {
		return errors.New("signature does not match")
	}
	return nil
}

// WebhookEvent is the JSON body of a webhook. It never holds the code.
type WebhookEvent struct {
	ID           string          `json:"id"`   // "<verification id>.<seq>": unique, for de-duplication
	Type         string          `json:"type"` // verification.verified|failed|expired|canceled, message.delivered|undelivered|failed
	CreatedAt    time.Time       `json:"created_at"`
	Verification WebhookVerif    `json:"verification"`
	Message      *WebhookMessage `json:"message,omitempty"`
	Detail       string          `json:"detail,omitempty"`
}

// WebhookVerif is the verification as a webhook shows it.
type WebhookVerif struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Number      string    `json:"number"`
	Country     string    `json:"country"`
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"max_attempts"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// WebhookMessage is the message a receipt or a send failure is about.
type WebhookMessage struct {
	Channel   string `json:"channel"`
	Connector string `json:"connector,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	State     string `json:"state"`
	Error     string `json:"error,omitempty"`
}

// notify adds a webhook for r to its outbox (inside an Update function) and
// makes sure its delivery is scheduled.
func (e *Engine) notify(r *store.Record, typ string, now time.Time, m *store.Message, detail string) {
	if r.CallbackURL == "" {
		return
	}
	ev := WebhookEvent{
		ID: fmt.Sprintf("%s.%d", r.ID, r.HookSeq), Type: typ, CreatedAt: now, Detail: detail,
		Verification: WebhookVerif{ID: r.ID, Status: r.Status, Number: r.Number, Country: r.Country,
			Attempts: r.Attempts, MaxAttempts: r.MaxAttempts, ExpiresAt: r.ExpiresAt},
	}
	if m != nil {
		ev.Message = &WebhookMessage{Channel: m.Channel, Connector: m.Connector, MessageID: m.MessageID, State: m.State, Error: m.Error}
	}
	var body []byte
	if format := e.cfg.WebhookFormats[r.API]; format != nil {
		var send bool
		if body, send = format(typ, ev.ID, e.view(r)); !send {
			return
		}
	} else {
		body, _ = json.Marshal(ev)
	}
	r.AddHook(store.Hook{URL: r.CallbackURL, Body: body, CreatedAt: now})
	if !slices.ContainsFunc(r.Deadlines, func(d store.Deadline) bool { return d.Kind == deadlineWebhook }) {
		r.Deadlines = append(r.Deadlines, store.Deadline{At: now, Kind: deadlineWebhook})
	}
	webhooksQueued.Inc()
}

var (
	webhooksQueued    = metrics.NewCounter(`otpgate_webhooks_queued_total`)
	webhookDelivered  = metrics.NewCounter(`otpgate_webhook_deliveries_total{result="delivered"}`)
	webhookRetried    = metrics.NewCounter(`otpgate_webhook_deliveries_total{result="retry"}`)
	webhookDead       = metrics.NewCounter(`otpgate_webhook_deliveries_total{result="dead_letter"}`)
	webhookAttemptDur = metrics.NewPrometheusHistogram(`otpgate_webhook_attempt_duration_seconds`)
)

// hookJob is one claimed delivery: the verification and the time of the
// webhook deadline its claim set. A job whose deadline the record no longer
// holds is stale (a copy left in the queue after the claim ran out, or the
// item was handled meanwhile) and is dropped, so a delivery never runs
// twice at once nor ahead of its back-off.
type hookJob struct {
	id string
	at time.Time
}

func (e *Engine) webhookWorker(ctx context.Context) {
	defer e.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-e.hookQueue:
			// like sends, a started delivery finishes (bounded by the timeout)
			e.deliver(context.WithoutCancel(ctx), j)
		}
	}
}

func (e *Engine) enqueueHook(j hookJob) {
	select {
	case e.hookQueue <- j:
	default: // saturated: the claim runs out and the timer loop queues it again
	}
}

// hookLease is how long a claimed delivery may take before the timer loop
// claims it again.
func (e *Engine) hookLease() time.Duration { return e.cfg.Webhooks.Timeout + 5*time.Second }

func hasDeadline(r *store.Record, kind string, at time.Time) bool {
	return slices.ContainsFunc(r.Deadlines, func(d store.Deadline) bool { return d.Kind == kind && d.At.Equal(at) })
}

// deliver posts the head item of the job's verification and records the
// outcome.
func (e *Engine) deliver(ctx context.Context, j hookJob) {
	r, err := e.st.Get(j.id)
	if err != nil || !r.HooksPending() || !hasDeadline(r, deadlineWebhook, j.at) {
		return
	}
	id := j.id
	h, err := e.hooks.Hook(id, r.HookHead)
	if err != nil {
		// A missing or corrupt head would block the rest for ever: skip it.
		e.log.Error("webhook: head item unreadable; skipping it", "id", id, "seq", r.HookHead, "err", err)
		seq := r.HookHead
		now := e.now()
		_, _ = e.update(id, func(r *store.Record) error {
			if r.HookHead != seq {
				return store.ErrNoChange
			}
			r.HookHead = seq + 1
			dropDeadlines(r, deadlineWebhook)
			if r.HooksPending() {
				r.Deadlines = append(r.Deadlines, store.Deadline{At: now, Kind: deadlineWebhook})
			}
			return nil
		})
		return
	}
	var perr error
	t, ok := (*e.tenants.Load())[r.Tenant]
	if !ok || t.WebhookSecret == "" {
		// nothing to sign with: no receiver would accept it, so retrying is pointless
		perr = errors.New("the tenant has no webhook secret (any more)")
		h.CreatedAt = time.Time{} // dead-letter at once
	} else {
		start := time.Now()
		perr = e.post(ctx, h, t.WebhookSecret)
		webhookAttemptDur.UpdateDuration(start)
	}
	now := e.now()
	dead := perr != nil && now.Sub(h.CreatedAt) >= e.cfg.Webhooks.MaxAge
	var next time.Time
	_, err = e.update(id, func(r *store.Record) error {
		next = time.Time{}
		// The outcome is recorded while the item is still the head, even if
		// its claim ran out meanwhile (a slow attempt): dropping it would let
		// slow attempts supersede each other for ever.
		if r.HookHead != h.Seq {
			return store.ErrNoChange // handled meanwhile
		}
		dropDeadlines(r, deadlineWebhook)
		switch {
		case perr == nil:
			r.HookDone(*h)
		case dead:
			h.Attempts++
			h.LastError = perr.Error()
			r.HookDead(*h, now)
		default:
			h.Attempts++
			h.LastError = perr.Error()
			r.HookRetry(*h)
			r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(jitter(backoff(e.cfg.Webhooks.RetryMin, e.cfg.Webhooks.RetryMax, h.Attempts))), Kind: deadlineWebhook})
			return nil
		}
		if r.HooksPending() {
			// the next item goes at once: claimed here, queued below
			next = now.Add(e.hookLease())
			r.Deadlines = append(r.Deadlines, store.Deadline{At: next, Kind: deadlineWebhook})
		}
		return nil
	})
	if err != nil {
		e.log.Error("webhook: recording the outcome failed; it will be sent again", "id", id, "seq", h.Seq, "err", err)
		return
	}
	switch {
	case perr == nil:
		webhookDelivered.Inc()
	case dead:
		webhookDead.Inc()
		e.log.Warn("webhook dead-lettered", "id", id, "seq", h.Seq, "attempts", h.Attempts, "err", perr)
	default:
		webhookRetried.Inc()
		e.log.Info("webhook attempt failed; will retry", "id", id, "seq", h.Seq, "attempts", h.Attempts, "err", perr)
	}
	if !next.IsZero() {
		e.enqueueHook(hookJob{id, next})
	}
}

// jitter spreads d by ±25% so retries of many receivers do not align.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1))
}

func (e *Engine) post(ctx context.Context, h *store.Hook, secret string) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Webhooks.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(h.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "otpgate-webhook/1")
	req.Header.Set("Otpgate-Event-Id", fmt.Sprintf("%s.%d", h.ID, h.Seq))
	req.Header.Set("Otpgate-Delivery-Attempt", strconv.Itoa(h.Attempts+1))
	req.Header.Set(SignatureHeader, Sign(secret, e.now(), h.Body))
	resp, err := e.httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// newWebhookClient is an HTTP client that refuses to connect to addresses
// the config does not allow, checked on the resolved address at connect
// time (so DNS cannot smuggle a private address in), and never follows
// redirects.
func newWebhookClient(cfg WebhookConfig) *http.Client {
	dialer := &net.Dialer{
		Timeout: cfg.Timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return err
			}
			return allowedAddr(ip, cfg)
		},
	}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     60 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Special-purpose ranges a webhook never goes to, whatever the config:
// "this network", shared address space (carrier NAT; some clouds' metadata),
// benchmarking, reserved, and the AWS IPv6 metadata address.
var neverRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// allowedAddr says whether a webhook may go to ip.
func allowedAddr(ip netip.Addr, cfg WebhookConfig) error {
	ip = ip.Unmap()
	// addresses that carry an IPv4 address inside are judged by it
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		return allowedAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), cfg)
	}
	if ip.Is6() && sixTo4.Contains(ip) {
		b := ip.As16()
		return allowedAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), cfg)
	}
	for _, p := range neverRanges {
		if p.Contains(ip) {
			return fmt.Errorf("callback address %s is in the special-purpose range %s", ip, p)
		}
	}
	switch {
	case ip.IsLoopback():
		if !cfg.AllowLoopback {
			return fmt.Errorf("callback address %s is loopback, which the config does not allow", ip)
		}
	case ip.IsPrivate():
		if !cfg.AllowPrivate {
			return fmt.Errorf("callback address %s is private, which the config does not allow", ip)
		}
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsMulticast(), ip.IsUnspecified(), ip.IsInterfaceLocalMulticast(),
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("callback address %s is link-local, multicast, broadcast or unspecified", ip)
	}
	return nil
}

// checkCallbackURL refuses a callback URL at request time when it is not
// http(s) or names an address (or localhost) the config does not allow.
// Names are checked again, resolved, when the webhook is sent.
func checkCallbackURL(raw string, cfg WebhookConfig) error {
	if len(raw) > 2048 {
		return errors.New("longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return allowedAddr(ip, cfg)
	}
	if h := strings.ToLower(host); (h == "localhost" || strings.HasSuffix(h, ".localhost")) && !cfg.AllowLoopback {
		return errors.New("localhost is loopback, which the config does not allow")
	}
	return nil
}

// DeadLetter is a webhook that could not be delivered in time.
type DeadLetter struct {
	EventID   string          `json:"event_id"`
	Tenant    string          `json:"tenant"`
	URL       string          `json:"url"`
	Body      json.RawMessage `json:"body"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	DeadAt    time.Time       `json:"dead_at"`
}

// DeadLetters lists dead-lettered webhooks, newest first, of one tenant
// ("" for all), at most limit.
func (e *Engine) DeadLetters(tenant string, limit int) ([]DeadLetter, error) {
	hs, err := e.st.DeadHooks(tenant, limit)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, len(hs))
	for i, h := range hs {
		out[i] = DeadLetter{EventID: fmt.Sprintf("%s.%d", h.ID, h.Seq), Tenant: h.Tenant, URL: h.URL, Body: h.Body,
			Attempts: h.Attempts, LastError: h.LastError, CreatedAt: h.CreatedAt, DeadAt: h.DeadAt}
	}
	return out, nil
}
