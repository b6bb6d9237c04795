package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/otpgate/otpgate/internal/tokenbucket"
)

// Client sends codes from one account. Safe for concurrent use.
type Client struct {
	acct   Account
	url    string
	http   *http.Client
	bucket *tokenbucket.Bucket
	log    *slog.Logger
}

// New checks a (after defaults) and returns its client. hc may be nil (a
// client of the account's own, with its Timeout).
func New(a Account, hc *http.Client, log *slog.Logger) (*Client, error) {
	a = a.WithDefaults()
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("whatsapp account %q: %w", a.Name, err)
	}
	if log == nil {
		log = slog.Default()
	}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: tr}
	}
	return &Client{
		acct:   a,
		url:    strings.TrimRight(a.BaseURL, "/") + "/" + a.APIVersion + "/" + a.PhoneNumberID + "/messages",
		http:   hc,
		bucket: tokenbucket.New(a.Rate, max(1, a.Rate/10), time.Now()),
		log:    log.With("whatsapp", a.Name),
	}, nil
}

// Account returns the client's account (defaults applied).
func (c *Client) Account() Account { return c.acct }

// Message is one code to send.
type Message struct {
	To     string // E.164 with "+"
	Code   string // the code; never logged
	Locale string // the verification's locale; picks the template language
	// Ref is echoed in the message's status callbacks
	// (biz_opaque_callback_data), at most 512 characters.
	Ref string
}

// maxCode is the longest code an authentication template takes.
const maxCode = 15

// Send sends m as the account's authentication template and returns the
// message's id (wamid) once the Cloud API accepted it. A refusal is an
// *Error whose Kind says what may help; a request that got no answer is
// Kind Unknown and must not be sent again blindly.
func (c *Client) Send(ctx context.Context, m Message) (string, error) {
	if len(m.Code) == 0 || len(m.Code) > maxCode {
		return "", &Error{Account: c.acct.Name, Kind: KindAccount, Title: fmt.Sprintf("a code of %d characters (an authentication template takes 1 to %d)", len(m.Code), maxCode)}
	}
	if len(m.Ref) > 512 {
		return "", &Error{Account: c.acct.Name, Kind: KindAccount, Title: "a reference over 512 characters"}
	}
	if err := c.bucket.Wait(ctx); err != nil {
		return "", &Error{Account: c.acct.Name, Kind: KindPassing, Title: "waiting for the account's rate", Err: err}
	}
	body, err := json.Marshal(c.request(m))
	if err != nil {
		return "", &Error{Account: c.acct.Name, Kind: KindAccount, Title: "encoding the request", Err: err}
	}
	rctx, cancel := context.WithTimeout(ctx, c.acct.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return "", &Error{Account: c.acct.Name, Kind: KindAccount, Title: "building the request", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.acct.Token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.count("error", start)
		return "", c.transportError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		c.count("error", start)
		// the answer was cut: the message may have been taken
		return "", &Error{Account: c.acct.Name, Kind: KindUnknown, Status: resp.StatusCode, Title: "reading the answer", Err: err}
	}
	if resp.StatusCode == http.StatusOK {
		var ok SendResponse
		if err := json.Unmarshal(raw, &ok); err != nil || len(ok.Messages) == 0 || ok.Messages[0].ID == "" {
			c.count("error", start)
			return "", &Error{Account: c.acct.Name, Kind: KindUnknown, Status: 200, Title: fmt.Sprintf("a 200 answer without a message id: %.200q", raw)}
		}
		c.count("accepted", start)
		return ok.Messages[0].ID, nil
	}
	e := c.apiError(resp, raw)
	c.count(e.Reason(), start)
	return "", e
}

// request is the Cloud API body for m: the template with the code as the
// body parameter and as the button's (copy code, one tap), and m.Ref as
// biz_opaque_callback_data.
func (c *Client) request(m Message) SendRequest {
	name, lang := c.acct.TemplateFor(m.Locale)
	return SendRequest{
		MessagingProduct: "whatsapp", RecipientType: "individual", To: m.To, Type: "template",
		Template: TemplateSend{
			Name: name, Language: Language{Code: lang},
			Components: []Component{
				{Type: "body", Parameters: []Parameter{{Type: "text", Text: m.Code}}},
				{Type: "button", SubType: "url", Index: "0", Parameters: []Parameter{{Type: "text", Text: m.Code}}},
			},
		},
		BizOpaqueCallbackData: m.Ref,
	}
}

// transportError sorts a request that got no HTTP answer: one that never
// connected sent nothing (Passing); any other may have been taken
// (Unknown).
func (c *Client) transportError(err error) *Error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &Error{Account: c.acct.Name, Kind: KindPassing, Title: "connecting to the Cloud API", Err: err}
	}
	return &Error{Account: c.acct.Name, Kind: KindUnknown, Title: "no answer from the Cloud API", Err: err}
}

// apiError reads a refusal. Meta's error body decides (by its code);
// without one, a 5xx may have taken the message (Unknown), a 429 asks to
// wait, and any other status is this account's problem (a proxy, a wrong
// base_url).
func (c *Client) apiError(resp *http.Response, raw []byte) *Error {
	var er ErrorResponse
	if err := json.Unmarshal(raw, &er); err == nil && er.Error.Message != "" {
		e := &Error{Account: c.acct.Name, Code: er.Error.Code, Title: er.Error.Message, Details: er.Error.Details(),
			Status: resp.StatusCode, Kind: kindOf(er.Error.Code), FromMeta: true}
		if e.Code == 131056 {
			e.After = 6 * time.Second // one message per 6 s to the same user
		}
		return e
	}
	e := &Error{Account: c.acct.Name, Status: resp.StatusCode, Title: fmt.Sprintf("HTTP %d without Meta's error body: %.200q", resp.StatusCode, raw)}
	switch {
	case resp.StatusCode >= 500:
		e.Kind = KindUnknown
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Kind = KindPassing
	default:
		e.Kind = KindAccount
	}
	return e
}

func (c *Client) count(result string, start time.Time) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_whatsapp_sends_total{account=%q,result=%q}`, c.acct.Name, result)).Inc()
	metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_whatsapp_send_duration_seconds{account=%q}`, c.acct.Name)).Update(time.Since(start).Seconds())
}
