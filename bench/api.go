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
)

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
}

// APIOp returns the operation of the api scenario. Each op uses a number
// not used before in this process (Italian mobile numbers from a random
// start), so every create makes a new verification and a new SMS.
func APIOp(cfg APIConfig) (Op, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeCreate
	}
	if cfg.Mode != ModeCreate && cfg.Mode != ModeCreateCheck {
		return nil, fmt.Errorf("bench api: mode %q is not create or create-check", cfg.Mode)
	}
	if cfg.Mode == ModeCreateCheck && cfg.Codes == nil {
		return nil, errors.New("bench api: create-check needs a code inbox")
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 64
	}
	base := strings.TrimSuffix(cfg.URL, "/")
	addr := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: cfg.Conns, ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Second, IsTLS: strings.HasPrefix(base, "https://")}
	authz := "Bearer " + cfg.Key
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
		var cr api.CreateResponse
		if err := post(ctx, "/v1/verifications", []byte(body), 202, &cr); err != nil {
			return err
		}
		if cfg.Mode == ModeCreate {
			return nil
		}
		code, err := cfg.Codes.Code(ctx, number)
		if err != nil {
			return err
		}
		var res api.CheckResponse
		if err := post(ctx, "/v1/verifications/"+cr.ID+"/check", []byte(`{"code":"`+code+`"}`), 200, &res); err != nil {
			return err
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
	waiters map[string]chan string
	early   map[string]string
	// Timeout for one wait; default 10s.
	Timeout time.Duration
}

// NewCodeInbox returns an empty inbox.
func NewCodeInbox() *CodeInbox {
	return &CodeInbox{waiters: map[string]chan string{}, early: map[string]string{}, Timeout: 10 * time.Second}
}

// Deliver takes one SMS; text is the code (the bench asks for the template "{code}").
func (c *CodeInbox) Deliver(number, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.waiters[number]; ok {
		delete(c.waiters, number)
		ch <- text
		return
	}
	if len(c.early) > 1_000_000 {
		clear(c.early)
	}
	c.early[number] = text
}

// Code waits for the SMS to number.
func (c *CodeInbox) Code(ctx context.Context, number string) (string, error) {
	c.mu.Lock()
	if code, ok := c.early[number]; ok {
		delete(c.early, number)
		c.mu.Unlock()
		return code, nil
	}
	ch := make(chan string, 1)
	c.waiters[number] = ch
	c.mu.Unlock()
	t := time.NewTimer(c.Timeout)
	defer t.Stop()
	select {
	case code := <-ch:
		return code, nil
	case <-t.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	delete(c.waiters, number)
	c.mu.Unlock()
	select {
	case code := <-ch:
		return code, nil
	default:
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return "", fmt.Errorf("no SMS to %s within %s", number, c.Timeout)
}
