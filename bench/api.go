package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/valyala/fasthttp"
)

// API modes.
const (
	ModeCreate      = "create"       // POST /v1/verifications
	ModeCreateCheck = "create-check" // create, wait for the SMS at the simulator, check the code
	ModeE2E         = "e2e"          // create-check, timing each leg: API answer, SMS at the SMSC, check
)

// Legs keeps per-leg latencies of the e2e mode.
type Legs struct {
	mu      sync.Mutex
	h       map[string]*Histogram
	started map[string]time.Time // number → when its create was sent, until its receipt is stored
}

// NewLegs returns empty leg histograms.
func NewLegs() *Legs { return &Legs{h: map[string]*Histogram{}, started: map[string]time.Time{}} }

// start notes when the create for number was sent.
func (l *Legs) start(number string, at time.Time) {
	l.mu.Lock()
	l.started[number] = at
	l.mu.Unlock()
}

// ReceiptStored records the receipt legs of number's message: the SMSC
// wrote the receipt at sent, and the gateway acknowledged it (which it does
// once the receipt is stored) at acked.
func (l *Legs) ReceiptStored(number string, sent, acked time.Time) {
	l.mu.Lock()
	t0, ok := l.started[number]
	delete(l.started, number)
	l.mu.Unlock()
	l.record("4 receipt deliver_sm to stored (deliver_sm_resp)", acked.Sub(sent))
	if ok {
		l.record("5 request to receipt stored", acked.Sub(t0))
	}
}

// DeliveredStored records the legs of a WhatsApp or RCS message's delivered
// status: accepted is when the API (simulator) took the message,
// sent when it posted the callback, taken when the gateway answered it
// 200 (which it does once the status is stored).
func (l *Legs) DeliveredStored(number string, accepted, sent, taken time.Time) {
	l.mu.Lock()
	t0, ok := l.started[number]
	delete(l.started, number)
	l.mu.Unlock()
	l.record("4 delivered callback to stored (its 200)", taken.Sub(sent))
	l.record("6 send accepted to delivered stored", taken.Sub(accepted))
	if ok {
		l.record("5 request to delivered stored", taken.Sub(t0))
	}
}

func (l *Legs) record(leg string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h[leg] == nil {
		l.h[leg] = &Histogram{}
	}
	l.h[leg].Record(d)
}

// Reset forgets what was recorded (after the warm-up).
func (l *Legs) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.h = map[string]*Histogram{}
	l.started = map[string]time.Time{}
}

// Summary is "leg: p50 … p99 …" for each leg, for reports.
func (l *Legs) Summary() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]string{}
	for k, h := range l.h {
		out["leg "+k] = fmt.Sprintf("p50 %.2f ms, p99 %.2f ms (%d)", ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), h.Count())
	}
	return out
}

// APIConfig configures the api scenario.
type APIConfig struct {
	URL  string // gateway base URL, "http://127.0.0.1:8080"
	Key  string // tenant API key
	Mode string // ModeCreate (default) or ModeCreateCheck
	// Codes gives the code sent to a number (ModeCreateCheck): the
	// simulator the bench owns reads it off the SMS.
	Codes *CodeInbox
	// Conns bounds open connections; default 64.
	Conns int
	// Legs records per-leg latencies in ModeE2E.
	Legs *Legs
	// Channel of the verifications: sms (default), whatsapp or rcs.
	Channel string
}

// APIOp returns the operation of the api scenario. Each op uses a number
// not used before in this process (Italian mobile numbers from a random
// start), so every create makes a new verification and a new SMS.
func APIOp(cfg APIConfig) (Op, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeCreate
	}
	if cfg.Mode != ModeCreate && cfg.Mode != ModeCreateCheck && cfg.Mode != ModeE2E {
		return nil, fmt.Errorf("bench api: mode %q is not create, create-check or e2e", cfg.Mode)
	}
	if cfg.Mode != ModeCreate && cfg.Codes == nil {
		return nil, errors.New("bench api: " + cfg.Mode + " needs a code inbox")
	}
	if cfg.Mode == ModeE2E && cfg.Legs == nil {
		cfg.Legs = NewLegs()
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 64
	}
	base := strings.TrimSuffix(cfg.URL, "/")
	addr := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: cfg.Conns, ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Second, IsTLS: strings.HasPrefix(base, "https://")}
	authz := "Bearer " + cfg.Key
	leg2 := "2 202 to submit_sm at the SMSC"
	switch cfg.Channel {
	case "whatsapp":
		leg2 = "2 202 to the message at the Cloud API"
	case "rcs":
		leg2 = "2 202 to the message at the RBM API"
	}
	var seq atomic.Uint64
	seq.Store(rand.Uint64N(5_000_000))
	post := func(ctx context.Context, path string, body []byte, want int, out any) error {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(base + path)
		req.Header.SetMethod("POST")
		req.Header.Set("Authorization", authz)
		req.Header.SetContentType("application/json")
		req.SetBody(body)
		if err := hc.Do(req, resp); err != nil {
			return err
		}
		if resp.StatusCode() != want {
			return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode(), truncate(resp.Body(), 200))
		}
		if out != nil {
			return json.Unmarshal(resp.Body(), out)
		}
		return nil
	}
	return func(ctx context.Context, _ int) error {
		number := fmt.Sprintf("+39347%07d", seq.Add(1)%10_000_000)
		body := `{"number":"` + number + `","template":"{code}"}`
		switch cfg.Channel {
		case "whatsapp": // the account's template: the code is a parameter
			body = `{"number":"` + number + `","channel":"whatsapp"}`
		case "rcs": // a text message, as an SMS
			body = `{"number":"` + number + `","channel":"rcs","template":"{code}"}`
		}
		var cr api.CreateResponse
		t0 := time.Now()
		if cfg.Mode == ModeE2E {
			cfg.Legs.start(number, t0) // until its receipt is stored
		}
		if err := post(ctx, "/v1/verifications", []byte(body), 202, &cr); err != nil {
			return err
		}
		t1 := time.Now()
		if cfg.Mode == ModeCreate {
			return nil
		}
		code, at, err := cfg.Codes.CodeAt(ctx, number)
		if err != nil {
			return err
		}
		t3 := time.Now()
		var res api.CheckResponse
		if err := post(ctx, "/v1/verifications/"+cr.ID+"/check", []byte(`{"code":"`+code+`"}`), 200, &res); err != nil {
			return err
		}
		if cfg.Legs != nil {
			cfg.Legs.record("1 api answer", t1.Sub(t0))
			cfg.Legs.record(leg2, at.Sub(t1))
			cfg.Legs.record("3 check", time.Since(t3))
		}
		if !res.Verified {
			return fmt.Errorf("check of %s: not verified (%s)", cr.ID, res.Reason)
		}
		return nil
	}, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// CodeInbox hands codes read off SMS texts at the simulator to the bench
// workers that wait for them. Messages nobody waits for are kept briefly.
type CodeInbox struct {
	mu      sync.Mutex
	waiters map[string]chan arrival
	early   map[string]arrival
	// Timeout for one wait; default 10s.
	Timeout time.Duration
}

// NewCodeInbox returns an empty inbox.
func NewCodeInbox() *CodeInbox {
	return &CodeInbox{waiters: map[string]chan arrival{}, early: map[string]arrival{}, Timeout: 10 * time.Second}
}

type arrival struct {
	code string
	at   time.Time
}

// Deliver takes one SMS; text is the code (the bench asks for the template "{code}").
func (c *CodeInbox) Deliver(number, text string) {
	a := arrival{text, time.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.waiters[number]; ok {
		delete(c.waiters, number)
		ch <- a
		return
	}
	if len(c.early) > 1_000_000 {
		clear(c.early)
	}
	c.early[number] = a
}

// Code waits for the SMS to number.
func (c *CodeInbox) Code(ctx context.Context, number string) (string, error) {
	code, _, err := c.CodeAt(ctx, number)
	return code, err
}

// CodeAt waits for the SMS to number and says when it reached the SMSC.
func (c *CodeInbox) CodeAt(ctx context.Context, number string) (string, time.Time, error) {
	c.mu.Lock()
	if a, ok := c.early[number]; ok {
		delete(c.early, number)
		c.mu.Unlock()
		return a.code, a.at, nil
	}
	ch := make(chan arrival, 1)
	c.waiters[number] = ch
	c.mu.Unlock()
	t := time.NewTimer(c.Timeout)
	defer t.Stop()
	select {
	case a := <-ch:
		return a.code, a.at, nil
	case <-t.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	delete(c.waiters, number)
	c.mu.Unlock()
	select {
	case a := <-ch:
		return a.code, a.at, nil
	default:
	}
	if ctx.Err() != nil {
		return "", time.Time{}, ctx.Err()
	}
	return "", time.Time{}, fmt.Errorf("no SMS to %s within %s", number, c.Timeout)
}
