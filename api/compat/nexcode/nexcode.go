// Package nexcode is the NexCode facade: POST /otp/request and POST
// /otp/verify with NexCode's JSON over the engine, so that a client
// written against NexCode's published example works against Otpgate by
// changing only its base URL.
//
// NexCode publishes those two exchanges and nothing else: no
// authentication, no error body, no status codes. The facade takes a
// tenant's native API key as a Bearer token, answers errors as the native
// API does (RFC 9457 problem documents), and says why a check is false
// (reason, attempts_left) beside NexCode's verified. request_id is
// "req_" and Otpgate's id of the verification, so GET
// /v1/verifications/{id} (which shows customer_id) reads it.
package nexcode

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/apispec"
	"github.com/otpgate/otpgate/internal/ids"
)

// Prefix is where the facade is mounted: a NexCode client's base URL is
// http://HOST/compat/nexcode.
const Prefix = "/compat/nexcode"

// API is the name the facade's verifications carry (engine.View.API).
const API = "nexcode"

// Engine is what the facade needs of the engine.
type Engine interface {
	Create(ctx context.Context, req engine.CreateRequest) (*engine.Created, error)
	Check(ctx context.Context, tenant, id, code string) (engine.CheckResult, error)
	Get(ctx context.Context, tenant, id string) (*engine.View, error)
}

// Facade serves NexCode's API. Safe for concurrent use.
type Facade struct {
	eng Engine
	mux httpx.Mux
	log *slog.Logger
}

// New returns the facade; Mount puts it on a server.
func New(eng Engine, log *slog.Logger) *Facade {
	if log == nil {
		log = slog.Default()
	}
	return &Facade{eng: eng, log: log}
}

// SetEngine sets the engine (a test that builds the facade before it).
func (f *Facade) SetEngine(eng Engine) { f.eng = eng }

// Mount puts the facade's routes on m, under Prefix.
func (f *Facade) Mount(m httpx.Mux) {
	f.mux = m
	m.Handle("POST", Prefix+"/otp/request", "nexcode_request", f.auth(f.request))
	m.Handle("POST", Prefix+"/otp/verify", "nexcode_verify", f.auth(f.verify))
	m.Handle("GET", Prefix+"/openapi.json", "nexcode_openapi", func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(specJSON())
	})
}

// Spec is the facade's OpenAPI 3.1 document (YAML), served as JSON at
// Prefix+"/openapi.json".
func Spec() []byte { return spec }

//go:embed openapi.yaml
var spec []byte

var specJSON = sync.OnceValue(func() []byte {
	b, err := apispec.JSON(spec)
	if err != nil {
		panic("nexcode: openapi.yaml does not parse: " + err.Error()) // its test reads it on every build
	}
	return b
})

// RequestID is the NexCode form of a verification id.
func RequestID(id string) string { return "req_" + id }

// idOf reads a request_id back ("req_" optional).
func idOf(s string) (string, bool) {
	id := strings.TrimPrefix(strings.TrimSpace(s), "req_")
	return id, ids.Valid(id)
}

type handler func(ctx *fasthttp.RequestCtx, tenant string)

// auth admits a tenant's native API key as a Bearer token, then takes one
// request from the tenant's rate.
func (f *Facade) auth(h handler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		authz := ctx.Request.Header.Peek("Authorization")
		if len(authz) <= 7 || !bytes.EqualFold(authz[:7], []byte("Bearer ")) {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="otpgate"`)
			httpx.WriteProblem(ctx, httpx.Problem{Status: 401, Code: "missing_api_key", Field: "Authorization", Detail: "send Authorization: Bearer <api key> (the tenant's Otpgate API key)"})
			return
		}
		tenant, ok := f.mux.Tenant(bytes.TrimSpace(authz[7:]))
		if !ok {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="otpgate", error="invalid_token"`)
			httpx.WriteProblem(ctx, httpx.Problem{Status: 401, Code: "invalid_api_key", Field: "Authorization", Detail: "the API key is not valid"})
			return
		}
		if ok, wait := f.mux.Allow(tenant); !ok {
			httpx.WriteLimited(ctx, "rate_limited", wait, "the tenant's request rate is used up")
			return
		}
		h(ctx, tenant)
	}
}

// channels: NexCode's channel → the engine's. A channel the gateway has
// no connector for is the engine's 422 channel_unavailable.
var channels = map[string]string{"sms": engine.ChannelSMS, "whatsapp": engine.ChannelWhatsApp, "rcs": engine.ChannelRCS}

// request: POST /otp/request {"msisdn", "customer_id", "channel"}. The
// code's length, validity and attempts are the tenant's, as NexCode
// agrees them with each customer; so is what a request for a number with
// one pending does (pending_policy).
func (f *Facade) request(ctx *fasthttp.RequestCtx, tenant string) {
	var in struct {
		MSISDN     string `json:"msisdn"`
		CustomerID string `json:"customer_id"`
		Channel    string `json:"channel"`
	}
	if !decode(ctx, &in) {
		return
	}
	ch := strings.ToLower(strings.TrimSpace(in.Channel))
	if ch == "" {
		ch = "sms"
	}
	engCh, known := channels[ch]
	switch {
	case !known:
		invalid(ctx, "channel", fmt.Sprintf("%q is not a channel (sms, whatsapp, rcs)", in.Channel))
		return
	case strings.TrimSpace(in.MSISDN) == "":
		invalid(ctx, "msisdn", "msisdn is required (E.164: +393331234567)")
		return
	}
	created, err := f.eng.Create(ctx, engine.CreateRequest{Tenant: tenant, Number: in.MSISDN, Channel: engCh,
		CustomerID: in.CustomerID, API: API})
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	httpx.WriteJSON(ctx, 200, map[string]string{"request_id": RequestID(created.ID), "status": "accepted"})
}

// verifyAnswer is NexCode's {"verified": …}, with why when it is false.
type verifyAnswer struct {
	Verified     bool   `json:"verified"`
	Reason       string `json:"reason,omitempty"` // wrong_code, max_attempts, expired, canceled, failed, already_verified
	AttemptsLeft *int   `json:"attempts_left,omitempty"`
}

// verify: POST /otp/verify {"request_id", "otp"} → {"verified": true} or
// {"verified": false, "reason": …}. An unknown request_id is 404.
func (f *Facade) verify(ctx *fasthttp.RequestCtx, tenant string) {
	var in struct {
		RequestID string `json:"request_id"`
		OTP       string `json:"otp"`
	}
	if !decode(ctx, &in) {
		return
	}
	otp := strings.TrimSpace(in.OTP)
	switch {
	case strings.TrimSpace(in.RequestID) == "":
		invalid(ctx, "request_id", "request_id is required")
		return
	case otp == "":
		invalid(ctx, "otp", "otp is required")
		return
	case len(otp) > 64:
		invalid(ctx, "otp", "otp is longer than 64 characters")
		return
	}
	id, ok := idOf(in.RequestID)
	if !ok {
		f.engineError(ctx, engine.ErrNotFound)
		return
	}
	v, err := f.eng.Get(ctx, tenant, id)
	if err == nil && v.API != API {
		err = engine.ErrNotFound
	}
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	res, err := f.eng.Check(ctx, tenant, id, otp)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	out := verifyAnswer{Verified: res.Verified, Reason: res.Reason}
	if !res.Verified {
		out.AttemptsLeft = &res.AttemptsLeft
	}
	httpx.WriteJSON(ctx, 200, out)
}

// engineError answers an engine error as the native API does, naming
// NexCode's fields (msisdn for the number).
func (f *Facade) engineError(ctx *fasthttp.RequestCtx, err error) {
	var fe *engine.FieldError
	var ce *engine.ConcurrentError
	switch {
	case errors.As(err, &fe) && (fe.Field == "number" || fe.Field == "country"):
		httpx.WriteProblem(ctx, httpx.Problem{Status: 422, Code: fe.Code, Field: "msisdn", Detail: fe.Detail})
	case errors.As(err, &ce):
		httpx.WriteProblem(ctx, httpx.Problem{Status: 409, Code: "concurrent_verification", Field: "msisdn",
			Detail: "the number has a pending verification (made through another API, or under the tenant's reject policy)", ID: ce.ID})
	default:
		httpx.WriteEngineError(ctx, err, f.log)
	}
}

func invalid(ctx *fasthttp.RequestCtx, field, detail string) {
	httpx.WriteProblem(ctx, httpx.Problem{Status: 422, Code: "invalid_field", Field: field, Detail: detail})
}

// maxBody bounds a request's body: NexCode's are a few dozen bytes.
const maxBody = 4 << 10

// decode reads a JSON object body into v (fields NexCode may add are
// ignored), or answers what is wrong with it.
func decode(ctx *fasthttp.RequestCtx, v any) bool {
	return httpx.DecodeJSON(ctx, v, httpx.Decode{MaxBytes: maxBody, AllowUnknown: true})
}
