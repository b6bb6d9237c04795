package smscx

import (
	"crypto/sha256"
	"mime"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/api/httpx"
)

// Scopes are the OAuth2 scopes SMS.CX knows. A token asked for without a
// scope gets them all, as at SMS.CX; this gateway serves only otp, so a
// token without it is refused by the OTP routes (403 insufficient_scope).
var Scopes = []string{"sms", "groups", "templates", "originators", "numbers", "reports", "shortlinks", "viber", "whatsapp", "otp"}

// tokenAnswer is SMS.CX's OauthTokenResponse.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
}

// token: POST /oauth/token, HTTP Basic client_id:client_secret and the
// form grant_type=client_credentials[&scope=…]. The token is stateless
// (httpx.Tokens): it works after a restart and on every node with the
// same server key, until it expires or its application's secret changes.
func (f *Facade) token(ctx *fasthttp.RequestCtx) {
	addr := ctx.RemoteIP().String()
	if blocked, wait := f.logins.Blocked(addr, f.now()); blocked {
		ctx.Response.Header.Set("X-Rate-Limit-Reset", itoa(f.now().Add(wait).Add(time.Second-1).Unix()))
		fail(ctx, 429, "rate_limit", 429, "Too many failed logins from this address; retry later")
		return
	}
	id, secret, ok := httpx.BasicAuth(ctx)
	app := f.creds.Load().Apps[id]
	sum := noSecret // an unknown client id costs the same compare as a known one
	if app != nil {
		sum = app.Secret
	}
	if match := httpx.Matches(sum, []byte(secret)); !ok || app == nil || !match {
		f.logins.Failed(addr, f.now())
		ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="SMS.CX"`)
		fail(ctx, 401, "invalid_client", 1600, "Invalid client")
		return
	}
	if ok, wait := f.mux.Allow(app.Tenant); !ok {
		ctx.Response.Header.Set("X-Rate-Limit-Reset", itoa(f.now().Add(wait).Add(time.Second-1).Unix()))
		fail(ctx, 429, "rate_limit", 429, "Too many requests")
		return
	}
	if mt, _, _ := mime.ParseMediaType(string(ctx.Request.Header.ContentType())); mt != "application/x-www-form-urlencoded" {
		fail(ctx, 400, "invalid_request", 1600, "The request is missing a required parameter (grant_type): the body must be application/x-www-form-urlencoded")
		return
	}
	args := ctx.PostArgs()
	switch grant := string(args.Peek("grant_type")); grant {
	case "client_credentials":
	case "":
		fail(ctx, 400, "invalid_request", 1600, "The request is missing a required parameter (grant_type)")
		return
	default:
		fail(ctx, 400, "unsupported_grant_type", 1600, "The grant type is not supported (only client_credentials)")
		return
	}
	scope := strings.Join(strings.Fields(string(args.Peek("scope"))), " ")
	if scope == "" {
		scope = strings.Join(Scopes, " ")
	}
	for _, s := range strings.Fields(scope) {
		if !known(s) {
			fail(ctx, 400, "invalid_scope", 1600, "The requested scope is invalid, unknown, or malformed: "+quote(s)+" (known: "+strings.Join(Scopes, " ")+")")
			return
		}
	}
	ttl := app.TokenTTL
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	tok := f.tokens.Issue(httpx.Claims{Audience: API, Tenant: app.Tenant, Subject: app.ID, Scope: scope,
		Secret: f.tokens.Fingerprint(app.Secret), Expires: f.now().Add(ttl).Unix()})
	ctx.Response.Header.Set("Cache-Control", "no-store") // RFC 6749 §5.1
	httpx.WriteJSON(ctx, 200, tokenAnswer{AccessToken: tok, ExpiresIn: int64(ttl / time.Second), TokenType: "Bearer", Scope: scope})
}

func known(scope string) bool {
	for _, s := range Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }

// noSecret is what an unknown client id's secret is compared with.
var noSecret = sha256.Sum256([]byte("otpgate: no such client"))
