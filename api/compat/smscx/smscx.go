// Package smscx is the SMS.CX OTP facade: SMS.CX's paths (/oauth/token,
// /otp, /otp/{otpId}), its OAuth2 client-credentials tokens and X-API-KEY
// keys, its camelCase JSON and its numbered errors over the engine, so
// that a client written against SMS.CX's OTP API works against Otpgate by
// changing only its base URL. It translates and nothing more: the
// lifecycle, limits, routes and sends are the engine's.
//
// What differs from SMS.CX, by design: cost is 0; a request's from must
// be a sender id this gateway can send (SMS.CX silently replaces an
// unapproved one with its own); a new OTP for a number with one pending
// cancels the pending one; access tokens live at most a year (SMS.CX
// can issue tokens that never expire); errors SMS.CX publishes no code
// for (401, 403 but 2030/2031, 429, 503) carry the HTTP status as code.
package smscx

import (
	"context"
	_ "embed"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/apispec"
	"github.com/otpgate/otpgate/internal/ids"
)

// Prefix is where the facade is mounted: an SMS.CX client's host is
// http://HOST/compat/smscx.
const Prefix = "/compat/smscx"

// API is the name the facade's verifications carry (engine.View.API).
const API = "smscx"

// Engine is what the facade needs of the engine.
type Engine interface {
	Create(ctx context.Context, req engine.CreateRequest) (*engine.Created, error)
	Check(ctx context.Context, tenant, id, code string) (engine.CheckResult, error)
	Get(ctx context.Context, tenant, id string) (*engine.View, error)
	Cancel(ctx context.Context, tenant, id string) (*engine.View, error)
}

// App is an OAuth2 application: its client id and secret get tokens.
type App struct {
	Tenant   string
	ID       string        // client_id
	Secret   [32]byte      // SHA-256 of the client secret
	TokenTTL time.Duration // the tokens' expires_in; 0 for DefaultTokenTTL
}

// DefaultTokenTTL is how long an access token lives unless the
// application says otherwise (SMS.CX's shortest choice, 1 day).
const DefaultTokenTTL = 24 * time.Hour

// Credentials are every tenant's SMS.CX credentials.
type Credentials struct {
	Apps map[string]*App     // by client_id
	Keys map[[32]byte]string // the tenant of each X-API-KEY, by the key's SHA-256
}

// Facade serves SMS.CX's OTP API. Safe for concurrent use.
type Facade struct {
	eng    Engine
	mux    httpx.Mux
	creds  atomic.Pointer[Credentials]
	tokens httpx.Tokens
	logins httpx.LoginGuard // failed logins at /oauth/token, by address
	log    *slog.Logger
	now    func() time.Time
}

// New returns the facade; Mount puts it on a server. tokens signs and
// checks the access tokens (the same key on every node); now is the clock
// (nil: time.Now).
func New(eng Engine, creds Credentials, tokens httpx.Tokens, log *slog.Logger, now func() time.Time) *Facade {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	f := &Facade{eng: eng, tokens: tokens, log: log, now: now}
	f.SetCredentials(creds)
	return f
}

// SetCredentials swaps the credentials in (a config reload). Tokens of an
// application no longer configured, or whose secret changed, stop working.
func (f *Facade) SetCredentials(c Credentials) { f.creds.Store(&c) }

// SetEngine sets the engine (a test that builds the facade before it).
func (f *Facade) SetEngine(eng Engine) { f.eng = eng }

// Mount puts the facade's routes on m, under Prefix.
func (f *Facade) Mount(m httpx.Mux) {
	f.mux = m
	m.Handle("POST", Prefix+"/oauth/token", "smscx_token", f.token)
	m.Handle("POST", Prefix+"/otp", "smscx_otp_create", f.auth(f.create))
	m.Handle("GET", Prefix+"/otp/{otpId}", "smscx_otp_get", f.auth(f.get))
	m.Handle("POST", Prefix+"/otp/{otpId}", "smscx_otp_check", f.auth(f.check))
	m.Handle("DELETE", Prefix+"/otp/{otpId}", "smscx_otp_cancel", f.auth(f.cancel))
	m.Handle("GET", Prefix+"/openapi.json", "smscx_openapi", func(ctx *fasthttp.RequestCtx) {
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
		panic("smscx: openapi.yaml does not parse: " + err.Error()) // its test reads it on every build
	}
	return b
})

// OTPID is the SMS.CX form of a verification id: a UUID of its 128 bits.
func OTPID(id string) string { return ids.UUID(id) }

// idOf reads an otpId back into an id (either case).
func idOf(s string) (string, bool) { return ids.FromUUID(strings.ToLower(strings.TrimSpace(s))) }

// otp is SMS.CX's OTP object. Every field is always present (the
// official clients require all thirteen).
type otp struct {
	OTPID          string  `json:"otpId"`
	TrackID        *string `json:"trackId"`
	PhoneNumber    string  `json:"phoneNumber"`
	CountryISO     string  `json:"countryIso"`
	Status         string  `json:"status"`
	Cost           float64 `json:"cost"`
	Parts          int     `json:"parts"`
	MaxAttempts    int     `json:"maxAttempts"`
	Attempts       int     `json:"attempts"`
	TTL            int     `json:"ttl"`
	OTPCallbackURL *string `json:"otpCallbackUrl"`
	DateCreated    string  `json:"dateCreated"`
	DateExpires    string  `json:"dateExpires"`
}

// dateLayout is SMS.CX's date format, always UTC.
const dateLayout = "2006-01-02 15:04:05"

// statusOf maps the engine's statuses to SMS.CX's.
var statusOf = map[string]string{
	engine.StatusPending: "PENDING", engine.StatusVerified: "VERIFIED", engine.StatusExpired: "EXPIRED",
	engine.StatusCanceled: "CANCELLED", engine.StatusFailed: "FAILED",
}

func render(v *engine.View) otp {
	o := otp{
		OTPID: OTPID(v.ID), PhoneNumber: v.Number, CountryISO: v.Country, Status: statusOf[v.Status],
		Parts: 1, MaxAttempts: v.MaxAttempts, Attempts: v.Attempts,
		TTL:         int(v.ExpiresAt.Sub(v.CreatedAt) / time.Second),
		DateCreated: v.CreatedAt.UTC().Format(dateLayout), DateExpires: v.ExpiresAt.UTC().Format(dateLayout),
	}
	if v.ClientRef != "" {
		o.TrackID = &v.ClientRef
	}
	if v.CallbackURL != "" {
		o.OTPCallbackURL = &v.CallbackURL
	}
	for _, m := range v.Messages {
		if m.Channel == engine.ChannelSMS && len(m.Parts) > 1 {
			o.Parts = len(m.Parts)
			break
		}
	}
	return o
}

// Webhook renders an SMS.CX verification's webhooks for the engine
// (engine.Config.WebhookFormats[API]): each status change as SMS.CX's
// otp_update with the OTP object; message events are not reported.
func Webhook(typ, eventID string, v *engine.View) ([]byte, bool) {
	if !strings.HasPrefix(typ, "verification.") {
		return nil, false
	}
	return marshal(map[string]any{"event": "otp_update", "data": []otp{render(v)}}), true
}

// reqCtx is one authenticated request's tenant.
type reqCtx struct{ tenant string }

type handler func(ctx *fasthttp.RequestCtx, c reqCtx)

// auth admits an X-API-KEY or a Bearer access token, then takes one
// request from the tenant's rate.
func (f *Facade) auth(h handler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		creds := f.creds.Load()
		var tenant string
		if key := ctx.Request.Header.Peek("X-API-KEY"); len(key) > 0 {
			t, ok := creds.Keys[sha256Of(key)]
			if !ok {
				fail(ctx, 401, "invalid_api_key", 401, "Invalid API key")
				return
			}
			tenant = t
		} else {
			tok, ok := bearer(ctx)
			if !ok {
				ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="SMS.CX"`)
				fail(ctx, 401, "invalid_client", 401, "Missing credentials: send an X-API-KEY header or Authorization: Bearer with an access token from POST /oauth/token")
				return
			}
			c, err := f.tokens.Check(API, tok, f.now())
			if err != nil {
				ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="SMS.CX", error="invalid_token"`)
				fail(ctx, 401, "invalid_client", 401, "Invalid access token: "+err.Error()+"; get a new one from POST /oauth/token")
				return
			}
			app := creds.Apps[c.Subject]
			if app == nil || app.Tenant != c.Tenant || !f.tokens.SameSecret(c.Secret, app.Secret) {
				ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="SMS.CX", error="invalid_token"`)
				fail(ctx, 401, "invalid_client", 401, "Invalid access token: its application is no longer configured or its secret changed; get a new one from POST /oauth/token")
				return
			}
			if !hasScope(c.Scope, "otp") {
				fail(ctx, 403, "insufficient_scope", 403, "The access token was not granted the scope otp")
				return
			}
			tenant = c.Tenant
		}
		if ok, wait := f.mux.Allow(tenant); !ok {
			reset := f.now().Add(wait).Add(time.Second - 1).Unix()
			ctx.Response.Header.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset, 10))
			ctx.Response.Header.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			fail(ctx, 429, "rate_limit", 429, "Too many requests")
			return
		}
		h(ctx, reqCtx{tenant: tenant})
	}
}

func bearer(ctx *fasthttp.RequestCtx) (string, bool) {
	h := string(ctx.Request.Header.Peek("Authorization"))
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, tok != ""
}

func hasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if s == want {
			return true
		}
	}
	return false
}
