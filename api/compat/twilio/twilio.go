// Package twilio is the Twilio Verify v2 facade: Twilio's own paths, form
// bodies, Basic credentials, JSON shapes and error codes over the engine,
// so that a client written against Twilio Verify, its official SDKs among
// them, works against Otpgate by changing only its base URL. It
// translates and nothing more: the lifecycle, limits, routes and sends are
// the engine's.
//
// What differs from Twilio, by design: prices and lookups are empty; the
// channels are the ones this gateway sends (sms, call, whatsapp); a verification is
// one per tenant and number across services; ended verifications are
// answered 404 (Twilio deletes them too) but stay readable in the native
// API.
package twilio

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
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

// Prefix is where the facade is mounted: a Twilio client's base URL for
// Verify is http://HOST/compat/twilio.
const Prefix = "/compat/twilio"

// API is the name the facade's verifications carry (engine.View.API).
const API = "twilio"

// Engine is what the facade needs of the engine.
type Engine interface {
	Create(ctx context.Context, req engine.CreateRequest) (*engine.Created, error)
	Check(ctx context.Context, tenant, id, code string) (engine.CheckResult, error)
	Get(ctx context.Context, tenant, id string) (*engine.View, error)
	Cancel(ctx context.Context, tenant, id string) (*engine.View, error)
	Approve(ctx context.Context, tenant, id string) (*engine.View, error)
	FindLatest(ctx context.Context, tenant, number, country string) (*engine.View, error)
}

// Account is a tenant's Twilio account.
type Account struct {
	Tenant   string
	SID      string   // AC…
	Token    [32]byte // SHA-256 of the auth token
	Services map[string]Service
}

// Service is one Verify service (VA…) and its defaults.
type Service struct {
	SID          string
	FriendlyName string // the brand; "" for the tenant's
	CodeLength   int    // 0 for Twilio's 6
}

// Key is an API key (SK…) of an account.
type Key struct {
	Account string   // the account's SID
	Secret  [32]byte // SHA-256 of the key's secret
}

// Credentials are every tenant's Twilio credentials.
type Credentials struct {
	Accounts map[string]*Account // by account SID
	Keys     map[string]Key      // by API key SID
}

// Facade serves Twilio Verify v2. Safe for concurrent use.
type Facade struct {
	eng   Engine
	mux   httpx.Mux
	creds atomic.Pointer[Credentials]
	log   *slog.Logger
	now   func() time.Time // the engine's clock
}

// New returns the facade; Mount puts it on a server. now is the clock the
// engine stamps verifications with (nil: time.Now).
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
	base := Prefix + "/v2/Services/{service}"
	m.Handle("POST", base+"/Verifications", "twilio_verification_create", f.auth(f.create))
	m.Handle("GET", base+"/Verifications/{sid}", "twilio_verification_fetch", f.auth(f.fetch))
	m.Handle("POST", base+"/Verifications/{sid}", "twilio_verification_update", f.auth(f.update))
	m.Handle("POST", base+"/VerificationCheck", "twilio_verification_check", f.auth(f.check))
	m.Handle("GET", Prefix+"/openapi.json", "twilio_openapi", func(ctx *fasthttp.RequestCtx) {
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
		panic("twilio: openapi.yaml does not parse: " + err.Error()) // its test reads it on every build
	}
	return b
})

// call is one authenticated request: the account and the service its
// path names.
type call struct {
	acct    *Account
	service Service
}

type handler func(ctx *fasthttp.RequestCtx, c call)

// auth checks the Basic credentials (the account SID and its auth token,
// or an API key SID and its secret), the tenant's request rate and the
// service in the path.
func (f *Facade) auth(h handler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		user, pass, ok := httpx.BasicAuth(ctx)
		creds := f.creds.Load()
		var acct *Account
		if ok {
			switch {
			case strings.HasPrefix(user, "SK"):
				if k, found := creds.Keys[user]; found && httpx.Matches(k.Secret, []byte(pass)) {
					acct = creds.Accounts[k.Account]
				}
			default:
				if a := creds.Accounts[user]; a != nil && httpx.Matches(a.Token, []byte(pass)) {
					acct = a
				}
			}
		}
		if acct == nil {
			ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			fail(ctx, 401, 20003, "Authenticate")
			return
		}
		if ok, wait := f.mux.Allow(acct.Tenant); !ok {
			ctx.Response.Header.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			fail(ctx, 429, 20429, "Too Many Requests")
			return
		}
		sid, _ := ctx.UserValue("service").(string)
		svc, found := acct.Services[sid]
		if !found {
			notFound(ctx)
			return
		}
		h(ctx, call{acct: acct, service: svc})
	}
}

// verification is Twilio's Verification resource.
type verification struct {
	SID              string        `json:"sid"`
	ServiceSID       string        `json:"service_sid"`
	AccountSID       string        `json:"account_sid"`
	To               string        `json:"to"`
	Channel          string        `json:"channel"`
	Status           string        `json:"status"`
	Valid            bool          `json:"valid"`
	Lookup           struct{}      `json:"lookup"`
	Amount           *string       `json:"amount"`
	Payee            *string       `json:"payee"`
	SendCodeAttempts []sendAttempt `json:"send_code_attempts"`
	DateCreated      string        `json:"date_created"`
	DateUpdated      string        `json:"date_updated"`
	SNA              *struct{}     `json:"sna"`
	URL              string        `json:"url"`
}

type sendAttempt struct {
	AttemptSID string `json:"attempt_sid"`
	Channel    string `json:"channel"`
	Time       string `json:"time"`
}

// verificationCheck is Twilio's VerificationCheck resource.
type verificationCheck struct {
	SID         string  `json:"sid"`
	ServiceSID  string  `json:"service_sid"`
	AccountSID  string  `json:"account_sid"`
	To          string  `json:"to"`
	Channel     string  `json:"channel"`
	Status      string  `json:"status"`
	Valid       bool    `json:"valid"`
	Amount      *string `json:"amount"`
	Payee       *string `json:"payee"`
	DateCreated string  `json:"date_created"`
	DateUpdated string  `json:"date_updated"`
}

// SID is the Twilio form of a verification id: VE and its 128 bits in hex.
func SID(id string) string { return "VE" + ids.Hex(id) }

// idOf reads a VE… SID back into an id.
func idOf(sid string) (string, bool) {
	rest, ok := strings.CutPrefix(sid, "VE")
	if !ok {
		return "", false
	}
	return ids.FromHex(rest)
}

// channelOf maps Twilio's channel names to the engine's.
var channelOf = map[string]string{"sms": engine.ChannelSMS, "call": engine.ChannelVoice, "whatsapp": engine.ChannelWhatsApp}

// twilioChannel is the other way round.
func twilioChannel(ch string) string {
	if ch == engine.ChannelVoice {
		return "call"
	}
	return ch
}

// lastChannel is the channel the verification last sent on (a resend on
// call after an SMS says call), else its current step's.
func lastChannel(v *engine.View) string {
	if n := len(v.Messages); n > 0 {
		return twilioChannel(v.Messages[n-1].Channel)
	}
	if len(v.Workflow) > 0 {
		return twilioChannel(v.Workflow[min(v.Step, len(v.Workflow)-1)])
	}
	return ""
}

// status is the Twilio status of a verification.
func status(v *engine.View) string {
	switch v.Status {
	case engine.StatusVerified:
		return "approved"
	case engine.StatusFailed:
		if v.Attempts >= v.MaxAttempts {
			return "max_attempts_reached"
		}
		return "failed"
	}
	return v.Status // pending, canceled, expired
}

func (f *Facade) render(ctx *fasthttp.RequestCtx, c call, v *engine.View) verification {
	out := verification{
		SID: SID(v.ID), ServiceSID: c.service.SID, AccountSID: c.acct.SID, To: v.Number,
		Status: status(v), Valid: v.Status == engine.StatusVerified,
		SendCodeAttempts: []sendAttempt{},
		DateCreated:      httpx.Time(v.CreatedAt), DateUpdated: httpx.Time(v.UpdatedAt),
	}
	out.Channel = lastChannel(v)
	b, _ := ids.Bytes(v.ID)
	for i, m := range v.Messages {
		b[15] ^= byte(i + 1) // one attempt SID a message, from the id
		out.SendCodeAttempts = append(out.SendCodeAttempts, sendAttempt{
			AttemptSID: fmt.Sprintf("VL%x", b), Channel: twilioChannel(m.Channel), Time: httpx.Time(m.QueuedAt)})
		b[15] ^= byte(i + 1)
	}
	scheme := "http"
	if ctx.IsTLS() {
		scheme = "https"
	}
	out.URL = fmt.Sprintf("%s://%s%s/v2/Services/%s/Verifications/%s", scheme, ctx.Host(), Prefix, c.service.SID, out.SID)
	return out
}

func (f *Facade) renderCheck(c call, v *engine.View, st string, valid bool) verificationCheck {
	out := verificationCheck{SID: SID(v.ID), ServiceSID: c.service.SID, AccountSID: c.acct.SID, To: v.Number,
		Status: st, Valid: valid, DateCreated: httpx.Time(v.CreatedAt), DateUpdated: httpx.Time(v.UpdatedAt),
		Channel: lastChannel(v)}
	return out
}

// create: POST …/Verifications (To, Channel, Locale, CustomCode,
// CustomFriendlyName). A To with a pending verification gets the same
// code again on Channel (Twilio's resend), within the send limits.
func (f *Facade) create(ctx *fasthttp.RequestCtx, c call) {
	args := ctx.PostArgs()
	to := plusNumber(string(args.Peek("To")))
	if to == "" {
		fail(ctx, 400, 60200, "Invalid parameter: To")
		return
	}
	chName := string(args.Peek("Channel"))
	ch, ok := channelOf[chName]
	if !ok {
		fail(ctx, 400, 60200, fmt.Sprintf("Invalid parameter `Channel`: %q is not a channel this gateway sends (sms, call, whatsapp)", chName))
		return
	}
	req := engine.CreateRequest{
		Tenant: c.acct.Tenant, Number: to, Channel: ch,
		Locale: string(args.Peek("Locale")), Code: string(args.Peek("CustomCode")),
		Brand:      string(args.Peek("CustomFriendlyName")),
		ClientIP:   string(args.Peek("DeviceIp")), // velocity per end user
		CodeLength: c.service.CodeLength, MaxAttempts: 5, TTL: 10 * time.Minute,
		PendingPolicy: engine.PolicyResend, API: API, Scope: c.service.SID,
	}
	if req.Brand == "" {
		req.Brand = c.service.FriendlyName
	}
	if req.CodeLength == 0 {
		req.CodeLength = 6
	}
	if req.Code != "" {
		req.CodeLength = 0 // the code's own length
	}
	created, err := f.eng.Create(ctx, req)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	v, err := f.eng.Get(ctx, c.acct.Tenant, created.ID)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	httpx.WriteJSON(ctx, 201, f.render(ctx, c, v))
}

// find reads the verification a path's VE… SID names, in the caller's
// service; ErrNotFound for any other.
func (f *Facade) find(ctx *fasthttp.RequestCtx, c call, sid string) (*engine.View, error) {
	id, ok := idOf(sid)
	if !ok {
		return nil, engine.ErrNotFound
	}
	v, err := f.eng.Get(ctx, c.acct.Tenant, id)
	if err != nil {
		return nil, err
	}
	if v.API != API || v.Scope != c.service.SID {
		return nil, engine.ErrNotFound
	}
	return v, nil
}

// fetch: GET …/Verifications/{VE…}. Ended verifications are gone, as at
// Twilio: 404 20404.
func (f *Facade) fetch(ctx *fasthttp.RequestCtx, c call) {
	v, err := f.find(ctx, c, ctx.UserValue("sid").(string))
	if err == nil && v.Status != engine.StatusPending {
		err = engine.ErrNotFound
	}
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	httpx.WriteJSON(ctx, 200, f.render(ctx, c, v))
}

// update: POST …/Verifications/{VE…} with Status=canceled or approved.
func (f *Facade) update(ctx *fasthttp.RequestCtx, c call) {
	v, err := f.find(ctx, c, ctx.UserValue("sid").(string))
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	var ended *engine.View
	switch st := string(ctx.PostArgs().Peek("Status")); st {
	case "canceled":
		ended, err = f.eng.Cancel(ctx, c.acct.Tenant, v.ID)
	case "approved":
		ended, err = f.eng.Approve(ctx, c.acct.Tenant, v.ID)
	default:
		fail(ctx, 400, 60200, fmt.Sprintf("Invalid parameter `Status`: %q (canceled or approved)", st))
		return
	}
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	httpx.WriteJSON(ctx, 200, f.render(ctx, c, ended))
}

// check: POST …/VerificationCheck with Code and To or VerificationSid. A
// wrong code is 200 pending, valid false, the fifth too; a check of one
// whose attempts are used up is 429 60202 for its ten minutes, by sid or
// by To; of an ended or unknown one, 404 20404.
func (f *Facade) check(ctx *fasthttp.RequestCtx, c call) {
	args := ctx.PostArgs()
	code := strings.TrimSpace(string(args.Peek("Code")))
	if code == "" {
		fail(ctx, 400, 60200, "Invalid parameter: Code")
		return
	}
	if len(code) > 64 {
		fail(ctx, 400, 60200, "Invalid parameter `Code`: longer than 64 characters")
		return
	}
	var v *engine.View
	var err error
	switch sid, to := string(args.Peek("VerificationSid")), string(args.Peek("To")); {
	case sid != "":
		v, err = f.find(ctx, c, sid)
	case to != "":
		// the number's pending verification, else the one that ended last:
		// one whose attempts are used up answers 60202, as at Twilio
		if v, err = f.eng.FindLatest(ctx, c.acct.Tenant, plusNumber(to), ""); err == nil && (v.API != API || v.Scope != c.service.SID) {
			err = engine.ErrNotFound
		}
	default:
		fail(ctx, 400, 60200, "Invalid parameter: either a To or a VerificationSid must be specified")
		return
	}
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	if f.attemptsUsed(v) {
		fail(ctx, 429, 60202, "Max check attempts reached")
		return
	}
	res, err := f.eng.Check(ctx, c.acct.Tenant, v.ID, code)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	after, err := f.eng.Get(ctx, c.acct.Tenant, v.ID)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	switch {
	case res.Verified:
		httpx.WriteJSON(ctx, 200, f.renderCheck(c, after, "approved", true))
	case res.Reason == "wrong_code" || (res.Reason == "max_attempts" && v.Status == engine.StatusPending):
		// this check used an attempt, the last one allowed too: pending,
		// valid false, as Twilio answers the fifth wrong code (the sixth
		// check is 429 60202)
		httpx.WriteJSON(ctx, 200, f.renderCheck(c, after, "pending", false))
	case f.attemptsUsed(after):
		fail(ctx, 429, 60202, "Max check attempts reached")
	default: // expired, canceled, verified before, failed
		notFound(ctx)
	}
}

// attemptsUsed reports whether v failed on its check attempts within its
// ten minutes: Twilio answers its checks 429 60202, and 404 after.
func (f *Facade) attemptsUsed(v *engine.View) bool {
	return v.Status == engine.StatusFailed && v.Attempts >= v.MaxAttempts && f.now().Before(v.ExpiresAt)
}

// plusNumber reads a To: a '+' sent without form encoding (curl -d
// To=+1415…) arrives as a space, and is taken as the '+' it was.
func plusNumber(raw string) string {
	if strings.HasPrefix(raw, " ") {
		return "+" + strings.TrimSpace(raw)
	}
	return strings.TrimSpace(raw)
}

// apiError is Twilio's error body. The SDKs read code, message and
// more_info, and take the status from the HTTP status line.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func fail(ctx *fasthttp.RequestCtx, status, code int, msg string) {
	httpx.WriteJSON(ctx, status, apiError{Code: code, Message: msg, MoreInfo: fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), Status: status})
}

func notFound(ctx *fasthttp.RequestCtx) {
	p := strings.TrimPrefix(string(ctx.Path()), Prefix+"/v2")
	fail(ctx, 404, 20404, "The requested resource "+p+" was not found")
}

// params names the request parameter behind each engine field.
var params = map[string]string{
	"number": "To", "country": "To", "channel": "Channel", "workflow": "Channel", "locale": "Locale",
	"code": "CustomCode", "brand": "CustomFriendlyName", "template": "CustomFriendlyName",
	"code_length": "CodeLength", "sender_id": "To", "client_ip": "DeviceIp",
}

// engineError answers an engine error with Twilio's code for it.
func (f *Facade) engineError(ctx *fasthttp.RequestCtx, err error) {
	var fe *engine.FieldError
	var le *engine.LimitError
	switch {
	case errors.As(err, &le):
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(int((le.RetryAfter+time.Second-1)/time.Second)))
		switch le.Code {
		case "number_check_limit":
			fail(ctx, 429, 60202, "Max check attempts reached")
		case "number_send_limit":
			fail(ctx, 429, 60203, "Max send attempts reached")
		default:
			fail(ctx, 429, 20429, "Too Many Requests")
		}
	case errors.As(err, new(*engine.ConcurrentError)):
		// the number's pending verification is another API's or service's
		fail(ctx, 409, 60200, "Invalid parameter `To`: the number has a pending verification of another service or API; cancel it or wait for it to end")
	case errors.As(err, &fe) && fe.Code == "destination_not_allowed":
		fail(ctx, 403, 60605, "Verification delivery to this country is not allowed: "+fe.Detail)
	case errors.As(err, &fe) && fe.Code == "number_type_not_allowed" && fe.Field != "number": // a landline
		fail(ctx, 400, 60205, "SMS is not supported by landline phone number: "+fe.Detail)
	case errors.As(err, &fe) && fe.Code == "number_type_not_allowed":
		fail(ctx, 403, 60410, "Verification delivery attempt blocked: "+fe.Detail)
	case errors.As(err, &fe) && fe.Code == "custom_code_not_allowed":
		fail(ctx, 400, 60204, "Service does not support this feature: CustomCode (custom_codes is off for this tenant)")
	case errors.As(err, &fe):
		name := params[fe.Field]
		if name == "" {
			name = fe.Field
		}
		fail(ctx, 400, 60200, fmt.Sprintf("Invalid parameter `%s`: %s", name, fe.Detail))
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrNotPending):
		notFound(ctx)
	case errors.Is(err, engine.ErrOverloaded):
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, 503, 20503, "Service Unavailable: more messages wait to be sent than the gateway admits; retry in a second")
	default:
		f.log.Error("twilio facade: engine failed", "path", string(ctx.Path()), "err", err)
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, 503, 20503, "Service Unavailable; retry")
	}
}
