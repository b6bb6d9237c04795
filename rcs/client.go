package rcs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/otpgate/otpgate/internal/tokenbucket"
)

// Client sends codes from one agent. Safe for concurrent use.
type Client struct {
	agent  Agent
	base   string
	http   *http.Client
	tokens *tokens
	bucket *tokenbucket.Bucket // nil: no rate
	log    *slog.Logger
	now    func() time.Time

	capMu sync.Mutex
	caps  map[string]capability // E.164 → the last answer
}

type capability struct {
	ok    bool
	until time.Time
}

// New checks a (after defaults) and returns its client. hc may be nil (a
// client of the agent's own); now may be nil (time.Now).
func New(a Agent, hc *http.Client, log *slog.Logger, now func() time.Time) (*Client, error) {
	a = a.WithDefaults()
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("rcs agent %q: %w", a.Name, err)
	}
	if log == nil {
		log = slog.Default()
	}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: tr}
	}
	if now == nil {
		now = time.Now
	}
	c := &Client{agent: a, base: strings.TrimRight(a.BaseURL, "/"), http: hc, log: log.With("rcs", a.Name), now: now,
		tokens: &tokens{key: a.Key, url: a.TokenURL, http: hc, now: now, timeout: a.Timeout}, caps: map[string]capability{}}
	if a.Rate > 0 {
		c.bucket = tokenbucket.New(a.Rate, max(1, a.Rate/10), time.Now())
	}
	return c, nil
}

// Agent returns the client's agent (defaults applied).
func (c *Client) Agent() Agent { return c.agent }

// TokensFetched is how many access tokens the client has fetched.
func (c *Client) TokensFetched() int { return c.tokens.count() }

// Message is one code to send.
type Message struct {
	To   string // E.164 with "+"
	Text string // the text with the code in it; never logged
	// Ref names the message for good: its message id is made from it (and
	// the agent), so every try of one message has one id.
	Ref string
	// TTL is how long the message may wait for the phone; past it Google
	// revokes it. At least 10 s (Google's advice), at most 15 days.
	TTL time.Duration
}

// MessageID is the RBM message id of ref: a UUID (version 4 layout) made
// from the agent id and ref, so a retry of a message reuses its id and the
// API ignores the copy.
func MessageID(agentID, ref string) string {
	h := sha256.Sum256([]byte("otpgate rcs message\x00" + agentID + "\x00" + ref))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Send sends m as an agent message and returns its message id once the
// API accepted it. A phone that cannot take RCS is an *Error of
// KindRecipient (the step fails at once); a try whose answer did not come
// may be repeated: its id is the same.
func (c *Client) Send(ctx context.Context, m Message) (string, error) {
	if m.Ref == "" {
		return "", c.err(KindAccount, "no reference to make a message id from", 0, nil)
	}
	if len([]rune(m.Text)) > 3072 {
		return "", c.err(KindAccount, "a text over 3072 characters", 0, nil)
	}
	id := MessageID(c.agent.AgentID, m.Ref)
	if err := c.bucket.Wait(ctx); err != nil {
		return "", c.err(KindPassing, "waiting for the agent's rate", 0, err)
	}
	if c.agent.CapabilityCheck {
		if ok, known := c.capable(ctx, m.To); known && !ok {
			c.count("not_rcs_capable")
			return "", &Error{Agent: c.agent.Name, Kind: KindRecipient, Status: 404, Title: "the phone cannot take RCS (capability check)", reason: "not_rcs_capable"}
		}
	}
	ttl := min(max(m.TTL, 10*time.Second), 15*24*time.Hour)
	body, _ := json.Marshal(AgentMessage{ContentMessage: ContentMessage{Text: m.Text}, MessageTrafficType: "AUTHENTICATION",
		TTL: fmt.Sprintf("%ds", int64(ttl/time.Second))})
	u := fmt.Sprintf("%s/v1/phones/%s/agentMessages?messageId=%s&agentId=%s", c.base, url.PathEscape(m.To), url.QueryEscape(id), url.QueryEscape(c.agent.AgentID))
	start := time.Now()
	status, raw, err := c.call(ctx, http.MethodPost, u, body)
	if err != nil {
		c.count("error")
		return "", err
	}
	switch {
	case status == http.StatusOK, status == http.StatusConflict:
		// 409 ALREADY_EXISTS: an earlier try of this very message got
		// through (its answer was lost): it is sent, once
		c.countSince("accepted", start)
		return id, nil
	}
	e := c.apiError(status, raw)
	c.count(e.Reason())
	level := slog.LevelWarn // the agent's own problem: someone must look
	if e.Kind != KindAccount {
		level = slog.LevelDebug // the phone's, or a passing one: counted
	}
	c.log.Log(ctx, level, "RBM API refused a message", "status", status, "reason", e.Reason(), "title", e.Title)
	return "", e
}

// call makes one authenticated request, fetching a new token and trying
// once more when the API says the token is not good.
func (c *Client) call(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	for try := 0; ; try++ {
		tok, err := c.tokens.get(ctx)
		if err != nil {
			var te *tokenError
			if errors.As(err, &te) && te.status >= 400 && te.status < 500 {
				return 0, nil, &Error{Agent: c.agent.Name, Kind: KindAccount, Status: te.status, Title: err.Error(), reason: "rcs_auth"}
			}
			return 0, nil, c.err(KindPassing, "no access token", 0, err)
		}
		rctx, cancel := context.WithTimeout(ctx, c.agent.Timeout)
		req, err := http.NewRequestWithContext(rctx, method, u, bytes.NewReader(body))
		if err != nil {
			cancel()
			return 0, nil, c.err(KindAccount, "building the request", 0, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			cancel()
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				return 0, nil, c.err(KindPassing, "connecting to the RBM API", 0, err)
			}
			return 0, nil, c.err(KindUnknown, "no answer from the RBM API", 0, err)
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		cancel()
		if err != nil {
			return 0, nil, c.err(KindUnknown, "reading the answer", resp.StatusCode, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 0 {
			c.tokens.drop(tok)
			continue
		}
		return resp.StatusCode, raw, nil
	}
}

// capable asks (or remembers) whether number can take RCS; known is false
// when the answer is neither yes nor no (an error: the send decides).
func (c *Client) capable(ctx context.Context, number string) (ok, known bool) {
	now := c.now()
	c.capMu.Lock()
	if cp, hit := c.caps[number]; hit && now.Before(cp.until) {
		c.capMu.Unlock()
		return cp.ok, true
	}
	c.capMu.Unlock()
	u := fmt.Sprintf("%s/v1/phones/%s/capabilities?requestId=%s&agentId=%s", c.base, url.PathEscape(number),
		url.QueryEscape(MessageID(c.agent.AgentID, "capabilities "+number+" "+now.String())), url.QueryEscape(c.agent.AgentID))
	status, _, err := c.call(ctx, http.MethodGet, u, nil)
	if err != nil || (status != http.StatusOK && status != http.StatusNotFound) {
		return false, false
	}
	ok = status == http.StatusOK
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_rcs_capability_checks_total{agent=%q,capable="%t"}`, c.agent.Name, ok)).Inc()
	c.capMu.Lock()
	if len(c.caps) > 100000 {
		clear(c.caps) // bounded: a cache, not a record
	}
	c.caps[number] = capability{ok: ok, until: now.Add(c.agent.CapabilityCache)}
	c.capMu.Unlock()
	return ok, true
}

// apiError reads a refusal (a google.rpc.Status) by its HTTP status.
func (c *Client) apiError(status int, raw []byte) *Error {
	var b ErrorBody
	title := fmt.Sprintf("HTTP %d", status)
	if json.Unmarshal(raw, &b) == nil && b.Error.Status != "" {
		title = b.Error.Status + ": " + b.Error.Message
	}
	e := &Error{Agent: c.agent.Name, Status: status, Title: title}
	switch {
	case status == http.StatusNotFound:
		e.Kind, e.reason = KindRecipient, "not_rcs_capable" // no RCS, or the agent not launched on the phone's network
	case status == http.StatusTooManyRequests:
		e.Kind, e.reason = KindPassing, "rcs_throttled"
	case status >= 500:
		e.Kind, e.reason = KindPassing, "rcs_unavailable" // the same id again is safe
	case status == http.StatusForbidden:
		e.Kind, e.reason = KindAccount, "rcs_not_permitted" // agent not launched, not a tester, wrong agent id
	case status == http.StatusUnauthorized:
		e.Kind, e.reason = KindAccount, "rcs_auth"
	default:
		e.Kind, e.reason = KindAccount, "rcs_refused"
	}
	return e
}

func (c *Client) err(k Kind, title string, status int, err error) *Error {
	return &Error{Agent: c.agent.Name, Kind: k, Title: title, Status: status, Err: err}
}

func (c *Client) count(result string) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_rcs_sends_total{agent=%q,result=%q}`, c.agent.Name, result)).Inc()
}

func (c *Client) countSince(result string, start time.Time) {
	c.count(result)
	metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_rcs_send_duration_seconds{agent=%q}`, c.agent.Name)).Update(time.Since(start).Seconds())
}

// Error is a send the connector could not complete. Its methods are the
// ones the engine reads (Reason, Permanent, Recipient, Unknown).
type Error struct {
	Agent  string
	Kind   Kind
	Status int    // HTTP status, 0 when none came
	Title  string // what the API said, or what failed
	Err    error
	reason string
}

// Kind sorts send failures by what may help.
type Kind int

const (
	// KindPassing: refused for now (rate, 5xx) or never sent; try again.
	KindPassing Kind = iota
	// KindUnknown: no answer; the same message id again is safe (the API
	// ignores a copy), so the engine sends it again.
	KindUnknown
	// KindRecipient: the phone cannot take RCS; no agent can do better.
	KindRecipient
	// KindAccount: refused for this agent (not launched, token, request).
	KindAccount
)

func (e *Error) Error() string {
	s := fmt.Sprintf("rcs %s: %s", e.Agent, e.Title)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent: trying this agent again cannot help.
func (e *Error) Permanent() bool { return e.Kind == KindRecipient || e.Kind == KindAccount }

// Recipient: no RCS agent can reach this phone.
func (e *Error) Recipient() bool { return e.Kind == KindRecipient }

// Unknown: the API may have taken the message.
func (e *Error) Unknown() bool { return e.Kind == KindUnknown }

// Reason is the stable word tenants see.
func (e *Error) Reason() string {
	switch {
	case e.reason != "":
		return e.reason
	case e.Kind == KindUnknown:
		return "rcs_timeout"
	case e.Kind == KindPassing:
		return "rcs_unavailable"
	}
	return "rcs_refused"
}
