package messagecentral

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/api/httpx"
)

// tokenAnswer is the token route's answer: {status, token}.
type tokenAnswer struct {
	Status       int    `json:"status"`
	Token        string `json:"token,omitempty"`
	Message      string `json:"message,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// token: GET /auth/v1/authentication/token?customerId=…&key=<base64 of
// the password>[&scope=NEW&country=…&email=…]. The token is stateless
// (httpx.Tokens): it works after a restart and on every node with the
// same server key, until it expires or the customer's key changes.
// scope, country and email are accepted and change nothing.
func (f *Facade) token(ctx *fasthttp.RequestCtx) {
	refuse := func(status int, c code, detail string) {
		write(ctx, status, tokenAnswer{Status: c.n, Message: c.name, ErrorMessage: detail})
	}
	addr := ctx.RemoteIP().String()
	if blocked, wait := f.logins.Blocked(addr, f.now()); blocked {
		ctx.Response.Header.Set("Retry-After", itoa(int64((wait+time.Second-1)/time.Second)))
		refuse(429, codeLimit, "too many failed logins from this address; retry later")
		return
	}
	args := ctx.QueryArgs()
	id := strings.TrimSpace(string(args.Peek("customerId")))
	// a '+' of the base64 sent without URL encoding arrives as a space
	key := strings.ReplaceAll(string(args.Peek("key")), " ", "+")
	switch {
	case id == "":
		refuse(400, codeBadRequest, "customerId: required")
		return
	case key == "":
		refuse(400, codeBadRequest, "key: required (the base64 of the password)")
		return
	}
	password, ok := decodeKey(key)
	if !ok {
		refuse(400, codeBadRequest, "key: not base64 (send the base64 of the password)")
		return
	}
	cust := f.creds.Load().Customers[id]
	sum := noKey // an unknown customer costs the same compare as a known one
	if cust != nil {
		sum = cust.Key
	}
	if match := httpx.Matches(sum, password); cust == nil || !match {
		f.logins.Failed(addr, f.now())
		refuse(401, codeInvalidCustomer, "customerId and key do not match a customer of this gateway")
		return
	}
	if ok, wait := f.mux.Allow(cust.Tenant); !ok {
		ctx.Response.Header.Set("Retry-After", itoa(int64((wait+time.Second-1)/time.Second)))
		refuse(429, codeLimit, "too many requests for this customer")
		return
	}
	ttl := cust.TokenTTL
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	tok := f.tokens.Issue(httpx.Claims{Audience: API, Tenant: cust.Tenant, Subject: cust.ID,
		Secret: f.tokens.Fingerprint(cust.Key), Expires: f.now().Add(ttl).Unix()})
	ctx.Response.Header.Set("Cache-Control", "no-store")
	write(ctx, 200, tokenAnswer{Status: 200, Token: tok})
}

// noKey is what an unknown customer's key is compared with.
var noKey = sha256.Sum256([]byte("otpgate: no such customer"))

// decodeKey reads the key: standard base64, with or without padding, or
// its URL-safe form.
func decodeKey(key string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(key); err == nil && len(b) > 0 {
			return b, true
		}
	}
	return nil, false
}
