package vonage

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/ids"
)

// Verify v2: JSON bodies, HTTP statuses that mean what they say, errors
// as problem+json ({type, title, detail, instance}); a JWT signed by one
// of the tenant's applications, or Basic api_key:api_secret.

// problem is a v2 error document.
type problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Detail    string         `json:"detail"`
	Instance  string         `json:"instance"`
	RequestID string         `json:"request_id,omitempty"`
	Invalid   []invalidParam `json:"invalid_parameters,omitempty"`
}

type invalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func v2Fail(ctx *fasthttp.RequestCtx, status int, p problem) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	p.Instance = hex.EncodeToString(b[:])
	body, _ := json.Marshal(p)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/problem+json")
	ctx.SetBody(body)
}

const errorDocs = "https://developer.vonage.com/en/api-errors"

func unauthorized(ctx *fasthttp.RequestCtx, detail string) {
	v2Fail(ctx, 401, problem{Type: errorDocs + "#unauthorized", Title: "Unauthorized", Detail: detail})
}

func invalidParams(ctx *fasthttp.RequestCtx, params ...invalidParam) {
	v2Fail(ctx, 422, problem{Type: errorDocs + "#invalid-params", Title: "Invalid params",
		Detail: "The value of one or more parameters is invalid.", Invalid: params})
}

func notFoundV2(ctx *fasthttp.RequestCtx, id string) {
	v2Fail(ctx, 404, problem{Type: errorDocs + "#not-found", Title: "Not Found",
		Detail: "Request '" + id + "' was not found or it has been verified already."})
}

func throttled(ctx *fasthttp.RequestCtx) {
	v2Fail(ctx, 429, problem{Type: errorDocs + "#throttled", Title: "Rate Limit Hit", Detail: "Please wait, then retry your request"})
}

// v2 authenticates a request (Bearer JWT, or Basic key and secret) and
// takes one request from the tenant's rate.
func (f *Facade) v2(h func(ctx *fasthttp.RequestCtx, acct *Account)) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		creds := f.creds.Load()
		var acct *Account
		authz := ctx.Request.Header.Peek("Authorization")
		switch {
		case len(authz) > 7 && bytes.EqualFold(authz[:7], []byte("Bearer ")):
			a, err := creds.verifyJWT(string(bytes.TrimSpace(authz[7:])), f.now())
			if errors.Is(err, errJWTExpired) {
				v2Fail(ctx, 401, problem{Type: errorDocs + "#jwt-expired", Title: "You did not provide correct credentials.", Detail: "The JWT provided has expired."})
				return
			}
			if err != nil {
				unauthorized(ctx, "You did not provide correct credentials: "+err.Error())
				return
			}
			acct = a
		default:
			key, secret, ok := httpx.BasicAuth(ctx)
			if a := creds.Accounts[key]; ok && a != nil && httpx.Matches(a.Secret, []byte(secret)) {
				acct = a
			}
			if acct == nil {
				unauthorized(ctx, "You did not provide correct credentials")
				return
			}
		}
		if ok, _ := f.mux.Allow(acct.Tenant); !ok {
			throttled(ctx)
			return
		}
		h(ctx, acct)
	}
}

type v2Step struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	From    string `json:"from"`
}

type v2Request struct {
	Brand          string   `json:"brand"`
	Workflow       []v2Step `json:"workflow"`
	Locale         string   `json:"locale"`
	ChannelTimeout *int     `json:"channel_timeout"`
	CodeLength     *int     `json:"code_length"`
	Code           string   `json:"code"`
	ClientRef      string   `json:"client_ref"`
	FraudCheck     *bool    `json:"fraud_check"`
	TemplateID     string   `json:"template_id"`
}

var (
	brandChars = regexp.MustCompile(`^[^/{}:$]*$`)
	alnum      = regexp.MustCompile(`^[a-zA-Z0-9]*$`)
)

// v2Channels maps Vonage's channel names to the engine's; the others are
// refused.
var v2Channels = map[string]string{"sms": engine.ChannelSMS, "voice": engine.ChannelVoice, "whatsapp": engine.ChannelWhatsApp, "rcs": engine.ChannelRCS}

// v2Request: POST /v2/verify → 202 {request_id}.
func (f *Facade) v2Request(ctx *fasthttp.RequestCtx, acct *Account) {
	var r v2Request
	if err := json.Unmarshal(ctx.PostBody(), &r); err != nil {
		name := "body"
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			name = te.Field
		}
		invalidParams(ctx, invalidParam{name, "not valid JSON of the right type: " + err.Error()})
		return
	}
	var bad []invalidParam
	switch {
	case r.Brand == "":
		bad = append(bad, invalidParam{"brand", "Brand is required"})
	case len([]rune(r.Brand)) > 18 || !brandChars.MatchString(r.Brand):
		bad = append(bad, invalidParam{"brand", "1 to 18 characters, none of / { } : $"})
	}
	switch {
	case len(r.Workflow) == 0:
		bad = append(bad, invalidParam{"workflow", "at least one step"})
	case len(r.Workflow) > 3:
		bad = append(bad, invalidParam{"workflow", "at most three steps"})
	}
	req := engine.CreateRequest{Tenant: acct.Tenant, API: APIv2, Brand: r.Brand, MaxAttempts: 3,
		PendingPolicy: engine.PolicyReject, CodeLength: 4, ClientRef: r.ClientRef}
	var number string
	for i, st := range r.Workflow {
		name := fmt.Sprintf("workflow[%d]", i)
		ch, ok := v2Channels[st.Channel]
		switch {
		case !ok:
			bad = append(bad, invalidParam{name, fmt.Sprintf("channel %q is not one this gateway sends (sms, voice, whatsapp, rcs)", st.Channel)})
			continue
		}
		to := strings.TrimPrefix(strings.TrimPrefix(st.To, "+"), "00")
		switch {
		case to == "":
			bad = append(bad, invalidParam{name, "`to` is required"})
		case number != "" && to != number:
			bad = append(bad, invalidParam{name, "every step must go to the same number"})
		}
		number = to
		if st.From != "" && ch == engine.ChannelSMS {
			req.SenderID = st.From
		}
		req.Workflow = append(req.Workflow, ch)
	}
	timeout := 180
	if r.ChannelTimeout != nil {
		timeout = *r.ChannelTimeout
		if timeout < 15 || timeout > 900 {
			bad = append(bad, invalidParam{"channel_timeout", "15 to 900 seconds"})
		}
	}
	if r.CodeLength != nil {
		if *r.CodeLength < 4 || *r.CodeLength > 10 {
			bad = append(bad, invalidParam{"code_length", "4 to 10"})
		}
		req.CodeLength = *r.CodeLength
	}
	if r.Code != "" {
		if !alnum.MatchString(r.Code) || len(r.Code) < 4 || len(r.Code) > 10 {
			bad = append(bad, invalidParam{"code", "4 to 10 letters and digits"})
		}
		req.Code, req.CodeLength = r.Code, 0
	}
	if len(r.ClientRef) > 40 || !alnum.MatchString(r.ClientRef) {
		bad = append(bad, invalidParam{"client_ref", "up to 40 letters and digits"})
	}
	if len(bad) > 0 {
		invalidParams(ctx, bad...)
		return
	}
	req.Number = "+" + number
	req.Locale = strings.ToLower(r.Locale)
	// each step waits channel_timeout for a check, the last one until the
	// request expires
	for range req.Workflow {
		req.StepWaits = append(req.StepWaits, time.Duration(max(timeout, 10))*time.Second)
		req.TTL += time.Duration(timeout) * time.Second
	}
	req.TTL = max(req.TTL, 30*time.Second)
	created, err := f.eng.Create(ctx, req)
	if err != nil {
		f.v2CreateError(ctx, err)
		return
	}
	httpx.WriteJSON(ctx, 202, map[string]string{"request_id": v2ID(created.ID)})
}

func (f *Facade) v2CreateError(ctx *fasthttp.RequestCtx, err error) {
	var fe *engine.FieldError
	var ce *engine.ConcurrentError
	var le *engine.LimitError
	switch {
	case errors.As(err, &ce):
		v2Fail(ctx, 409, problem{Type: errorDocs + "/verify-v2#concurrent", Title: "Conflict",
			Detail: "Concurrent verifications to the same number are not allowed.", RequestID: v2ID(ce.ID)})
	case errors.As(err, &le), errors.Is(err, engine.ErrOverloaded):
		throttled(ctx)
	case errors.As(err, &fe) && (fe.Code == "destination_not_allowed" || fe.Code == "number_type_not_allowed"):
		// what Vonage's fraud check answers for a destination it blocks
		v2Fail(ctx, 403, problem{Type: errorDocs + "/verify-v2#fraud-check", Title: "Forbidden",
			Detail: "Request blocked by the fraud check: " + fe.Detail})
	case errors.As(err, &fe) && fe.Code == "custom_code_not_allowed":
		v2Fail(ctx, 403, problem{Type: errorDocs + "/verify-v2#forbidden", Title: "Forbidden",
			Detail: "Your account does not have permission to set the code (custom_codes is off for this tenant)."})
	case errors.As(err, &fe):
		invalidParams(ctx, invalidParam{v2Param(fe.Field), fe.Detail})
	default:
		f.log.Error("vonage facade: engine failed", "path", string(ctx.Path()), "err", err)
		v2Fail(ctx, 503, problem{Type: errorDocs + "#internal-error", Title: "Internal error", Detail: "The gateway could not complete the request; retry."})
	}
}

func v2Param(field string) string {
	switch field {
	case "number", "country", "channel", "workflow", "sender_id":
		return "workflow[0]"
	case "template":
		return "brand"
	}
	return field
}

// v2Find reads the verification a path's UUID names, of this tenant and
// made through v2; when it answers false it has answered the request (404,
// or 503 when the engine failed).
func (f *Facade) v2Find(ctx *fasthttp.RequestCtx, acct *Account) (*engine.View, string, bool) {
	raw, _ := ctx.UserValue("id").(string)
	id, ok := ids.FromUUID(raw)
	if !ok {
		notFoundV2(ctx, raw)
		return nil, raw, false
	}
	v, err := f.eng.Get(ctx, acct.Tenant, id)
	switch {
	case err == nil && v.API == APIv2:
		return v, raw, true
	case err == nil, errors.Is(err, engine.ErrNotFound):
		notFoundV2(ctx, raw)
	default:
		f.v2CreateError(ctx, err)
	}
	return nil, raw, false
}

// v2Check: POST /v2/verify/{id} {code} → 200 completed; 400 wrong; 410
// after the third wrong code; 404 when unknown or ended.
func (f *Facade) v2Check(ctx *fasthttp.RequestCtx, acct *Account) {
	v, raw, ok := f.v2Find(ctx, acct)
	if !ok {
		return
	}
	var body struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &body); err != nil || strings.TrimSpace(body.Code) == "" || len(body.Code) > 64 {
		invalidParams(ctx, invalidParam{"code", "a code of 4 to 10 letters and digits is required"})
		return
	}
	res, err := f.eng.Check(ctx, acct.Tenant, v.ID, body.Code)
	var le *engine.LimitError
	switch {
	case errors.As(err, &le):
		throttled(ctx)
		return
	case errors.Is(err, engine.ErrNotFound):
		notFoundV2(ctx, raw)
		return
	case err != nil:
		f.v2CreateError(ctx, err)
		return
	}
	switch {
	case res.Verified:
		httpx.WriteJSON(ctx, 200, map[string]string{"request_id": raw, "status": "completed"})
	case res.Reason == "wrong_code":
		v2Fail(ctx, 400, problem{Type: errorDocs + "/verify-v2#invalid-code", Title: "Invalid Code", Detail: "The code you provided does not match the expected value."})
	case res.Reason == "max_attempts" && v.Status == engine.StatusPending:
		v2Fail(ctx, 410, problem{Type: errorDocs + "/verify-v2#expired", Title: "Invalid Code", Detail: "An incorrect code has been provided too many times. Workflow terminated."})
	default:
		notFoundV2(ctx, raw)
	}
}

// v2Cancel: DELETE /v2/verify/{id} → 204.
func (f *Facade) v2Cancel(ctx *fasthttp.RequestCtx, acct *Account) {
	v, raw, ok := f.v2Find(ctx, acct)
	if !ok {
		return
	}
	if _, err := f.eng.Cancel(ctx, acct.Tenant, v.ID); err != nil {
		notFoundV2(ctx, raw)
		return
	}
	ctx.SetStatusCode(204)
}

// v2Next: POST /v2/verify/{id}/next_workflow → 200; 409 when no step is
// left.
func (f *Facade) v2Next(ctx *fasthttp.RequestCtx, acct *Account) {
	v, raw, ok := f.v2Find(ctx, acct)
	if !ok {
		return
	}
	_, err := f.eng.Next(ctx, acct.Tenant, v.ID)
	switch {
	case errors.Is(err, engine.ErrNoNextStep):
		v2Fail(ctx, 409, problem{Type: errorDocs + "/verify-v2#conflict", Title: "Conflict", Detail: "There are no more events left to trigger."})
	case err != nil:
		notFoundV2(ctx, raw)
	default:
		httpx.WriteJSON(ctx, 200, map[string]string{"request_id": raw, "status": "in_progress"})
	}
}
