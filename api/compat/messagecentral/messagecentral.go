// Package messagecentral is the Message Central VerifyNow facade: its
// token route, its send and validateOtp routes (v2 and v3 paths), its
// query-string parameters, authToken header and {responseCode, message,
// data} envelope over the engine, so that a client written against
// VerifyNow works against Otpgate by changing only its base URL. It
// translates and nothing more: the lifecycle, limits, routes and sends
// are the engine's.
//
// Message Central publishes its request fields and two example answers;
// its response codes come from third-party material (see testdata). What
// differs, by design: the token is Otpgate's own signed token, not a JWT
// (clients pass it back and never read it); flowType is SMS, WHATSAPP or
// RCS (SAUTH is refused by name); data.transactionId carries Otpgate's
// id of the verification (GET /v1/verifications/{id}); errors come with
// a non-2xx HTTP status and data.errorMessage saying what is wrong.
package messagecentral

import (
	"context"
	_ "embed"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/apispec"
	"github.com/otpgate/otpgate/internal/phone"
)

// Prefix is where the facade is mounted: a VerifyNow client's base URL
// is http://HOST/compat/messagecentral.
const Prefix = "/compat/messagecentral"

// API is the name the facade's verifications carry (engine.View.API).
const API = "messagecentral"

// Engine is what the facade needs of the engine.
type Engine interface {
	Create(ctx context.Context, req engine.CreateRequest) (*engine.Created, error)
	Check(ctx context.Context, tenant, id, code string) (engine.CheckResult, error)
	Get(ctx context.Context, tenant, id string) (*engine.View, error)
	BySeq(ctx context.Context, tenant string, seq uint64) (*engine.View, error)
}

// Customer is a tenant's Message Central customer: its customerId and
// the password its key encodes.
type Customer struct {
	Tenant string
	ID     string   // customerId
	Key    [32]byte // SHA-256 of the password (the key is its base64)
	// TokenTTL is how long a token lives (0: DefaultTokenTTL); OTPTTL how
	// long a code is valid, data.timeout (0: DefaultOTPTTL).
	TokenTTL, OTPTTL time.Duration
}

// Defaults of a customer.
const (
	DefaultTokenTTL = 7 * 24 * time.Hour // as the tokens Message Central hands out
	DefaultOTPTTL   = 60 * time.Second   // data.timeout "60" in Message Central's example
)

// Credentials are every tenant's Message Central customers.
type Credentials struct {
	Customers map[string]*Customer // by customerId
}

// Facade serves VerifyNow. Safe for concurrent use.
type Facade struct {
	eng    Engine
	mux    httpx.Mux
	creds  atomic.Pointer[Credentials]
	tokens httpx.Tokens
	logins httpx.LoginGuard // failed logins at the token route, by address
	log    *slog.Logger
	now    func() time.Time
	phone  *phone.Validator
}

// New returns the facade; Mount puts it on a server. tokens signs and
// checks the authTokens (the same key on every node); now is the clock
// (nil: time.Now).
func New(eng Engine, creds Credentials, tokens httpx.Tokens, log *slog.Logger, now func() time.Time) *Facade {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	f := &Facade{eng: eng, tokens: tokens, log: log, now: now, phone: phone.NewValidator(0)}
	f.SetCredentials(creds)
	return f
}

// SetCredentials swaps the credentials in (a config reload). Tokens of a
// customer no longer configured, or whose key changed, stop working.
func (f *Facade) SetCredentials(c Credentials) { f.creds.Store(&c) }

// SetEngine sets the engine (a test that builds the facade before it).
func (f *Facade) SetEngine(eng Engine) { f.eng = eng }

// Mount puts the facade's routes on m, under Prefix. validateOtp answers
// POST as well as GET: Message Central documents GET, some clients send
// POST.
func (f *Facade) Mount(m httpx.Mux) {
	f.mux = m
	m.Handle("GET", Prefix+"/auth/v1/authentication/token", "messagecentral_token", f.token)
	m.Handle("POST", Prefix+"/verification/v2/verification/send", "messagecentral_send", f.auth(f.send(2)))
	m.Handle("POST", Prefix+"/verification/v3/send", "messagecentral_send_v3", f.auth(f.send(3)))
	for _, method := range []string{"GET", "POST"} {
		m.Handle(method, Prefix+"/verification/v2/verification/validateOtp", "messagecentral_validate", f.auth(f.validate(2)))
		m.Handle(method, Prefix+"/verification/v3/validateOtp", "messagecentral_validate_v3", f.auth(f.validate(3)))
	}
	m.Handle("GET", Prefix+"/openapi.json", "messagecentral_openapi", func(ctx *fasthttp.RequestCtx) {
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
		panic("messagecentral: openapi.yaml does not parse: " + err.Error()) // its test reads it on every build
	}
	return b
})

// call is one authenticated request: the customer its token names.
type call struct{ cust *Customer }

type handler func(ctx *fasthttp.RequestCtx, c call)

// auth admits a request whose authToken header holds a token of a
// customer still configured with the same key, then takes one request
// from the tenant's rate.
func (f *Facade) auth(h handler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		tok := strings.TrimSpace(string(ctx.Request.Header.Peek("authToken")))
		if tok == "" {
			fail(ctx, codeUnauthorized, "no authToken header: get a token from GET /auth/v1/authentication/token", nil)
			return
		}
		c, err := f.tokens.Check(API, tok, f.now())
		if err != nil {
			fail(ctx, codeUnauthorized, "authToken: "+err.Error()+"; get a new one from GET /auth/v1/authentication/token", nil)
			return
		}
		cust := f.creds.Load().Customers[c.Subject]
		if cust == nil || cust.Tenant != c.Tenant || !f.tokens.SameSecret(c.Secret, cust.Key) {
			fail(ctx, codeUnauthorized, "authToken: its customer is no longer configured or its key changed; get a new token", nil)
			return
		}
		if ok, wait := f.mux.Allow(cust.Tenant); !ok {
			ctx.Response.Header.Set("Retry-After", itoa(int64((wait+time.Second-1)/time.Second)))
			fail(ctx, codeLimit, "too many requests for this customer; retry after "+wait.Round(time.Second).String(), nil)
			return
		}
		h(ctx, call{cust: cust})
	}
}
