// Package vonage is the Vonage Verify facade, v1 (/verify/json and its
// siblings) and v2 (/v2/verify): Vonage's own paths, credentials, request
// forms and answers over the engine, so that a client written against
// Vonage Verify, its official SDKs among them, works against Otpgate by
// changing only its base URL. It translates and nothing more: the
// lifecycle, limits, routes and sends are the engine's.
//
// What differs from Vonage, by design: prices are zero; a code stays the
// same for the whole request (Vonage makes a new one when pin_expiry
// passes mid-workflow); the voice step speaks the languages Otpgate has
// prompts for and English for the others, and says so in the call's
// event; channels this gateway does not send (email, silent_auth, and
// until it exists rcs) are refused; a whatsapp step's from is ignored
// (the WhatsApp account the route picks sends).
package vonage

import (
	"context"
	"crypto/rsa"
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
	"github.com/otpgate/otpgate/internal/ids"
)

// Prefix is where the facade is mounted: a Vonage client's apiHost is
// http://HOST/compat/vonage.
const Prefix = "/compat/vonage"

// The names the facade's verifications carry (engine.View.API).
const (
	APIv1 = "vonage"
	APIv2 = "vonage2"
)

// Engine is what the facade needs of the engine.
type Engine interface {
	Create(ctx context.Context, req engine.CreateRequest) (*engine.Created, error)
	Check(ctx context.Context, tenant, id, code string) (engine.CheckResult, error)
	Get(ctx context.Context, tenant, id string) (*engine.View, error)
	Cancel(ctx context.Context, tenant, id string) (*engine.View, error)
	Next(ctx context.Context, tenant, id string) (*engine.View, error)
}

// Account is a tenant's Vonage account.
type Account struct {
	Tenant string
	Key    string   // the api_key
	Secret [32]byte // SHA-256 of the api_secret
	// Apps are the account's applications by id: their public keys check
	// Verify v2 JWTs.
	Apps map[string]*rsa.PublicKey
}

// Credentials are every tenant's Vonage credentials.
type Credentials struct {
	Accounts map[string]*Account // by api_key
}

// app finds the account of an application id.
func (c *Credentials) app(id string) (*Account, *rsa.PublicKey) {
	for _, a := range c.Accounts {
		if k := a.Apps[id]; k != nil {
			return a, k
		}
	}
	return nil, nil
}

// Facade serves Vonage Verify v1 and v2. Safe for concurrent use.
type Facade struct {
	eng   Engine
	mux   httpx.Mux
	creds atomic.Pointer[Credentials]
	log   *slog.Logger
	now   func() time.Time // the engine's clock: Vonage's rules count from the request's start
}

// New returns the facade; Mount puts it on a server.
// now is the clock the engine stamps verifications with (nil: time.Now).
func New(eng Engine, creds Credentials, log *slog.Logger, now func() time.Time) *Facade {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	f := &Facade{eng: eng, log: log, now: now}
	f.SetCredentials(creds)
	return f
}

// SetCredentials swaps the credentials in (a config reload).
func (f *Facade) SetCredentials(c Credentials) { f.creds.Store(&c) }

// Mount puts the facade's routes on m, under Prefix.
func (f *Facade) Mount(m httpx.Mux) {
	f.mux = m
	for _, method := range []string{"GET", "POST"} {
		m.Handle(method, Prefix+"/verify/json", "vonage_verify_request", f.v1(f.request))
		m.Handle(method, Prefix+"/verify/check/json", "vonage_verify_check", f.v1(f.check))
		m.Handle(method, Prefix+"/verify/search/json", "vonage_verify_search", f.v1(f.search))
		m.Handle(method, Prefix+"/verify/control/json", "vonage_verify_control", f.v1(f.control))
	}
	m.Handle("POST", Prefix+"/verify/psd2/json", "vonage_verify_psd2", f.v1(f.psd2))
	m.Handle("POST", Prefix+"/v2/verify", "vonage2_request", f.v2(f.v2Request))
	m.Handle("POST", Prefix+"/v2/verify/{id}", "vonage2_check", f.v2(f.v2Check))
	m.Handle("DELETE", Prefix+"/v2/verify/{id}", "vonage2_cancel", f.v2(f.v2Cancel))
	m.Handle("POST", Prefix+"/v2/verify/{id}/next_workflow", "vonage2_next", f.v2(f.v2Next))
	m.Handle("GET", Prefix+"/openapi.json", "vonage_openapi", func(ctx *fasthttp.RequestCtx) {
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
		panic("vonage: openapi.yaml does not parse: " + err.Error()) // its test reads it on every build
	}
	return b
})

// RequestID is the Vonage v1 form of a verification id: 32 hex digits.
func RequestID(id string) string { return ids.Hex(id) }

// v2ID is the Verify v2 form: a UUID.
func v2ID(id string) string { return ids.UUID(id) }

// idOfV1 reads a request_id (32 hex digits) back into an id.
func idOfV1(s string) (string, bool) { return ids.FromHex(strings.TrimSpace(s)) }
