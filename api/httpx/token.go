package httpx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Tokens issues and checks the stateless access tokens of the facades
// whose vendors hand out tokens (SMS.CX's OAuth client credentials,
// Message Central's authToken): the token carries its tenant, the
// credential it was issued to, its audience (the facade) and its expiry,
// signed with HMAC-SHA256 under a key derived from the server key. No
// store is asked: a token outlives a restart and works on any node with
// the same server key; it dies when it expires, when the server key
// changes, or when its credential is no longer configured (the facade
// checks that).
type Tokens struct {
	Key []byte // 32 bytes; the same on every node
}

type tokenClaims struct {
	Tenant   string `json:"t"`
	Subject  string `json:"s"`
	Audience string `json:"a"`
	Expires  int64  `json:"e"`
}

// Token errors.
var (
	ErrTokenExpired = errors.New("the token has expired")
	ErrTokenInvalid = errors.New("the token is not one this gateway issued")
)

var tokenB64 = base64.RawURLEncoding.Strict()

// Issue returns a token for tenant's credential subject, for audience,
// valid until exp.
func (k Tokens) Issue(audience, tenant, subject string, exp time.Time) string {
	payload, _ := json.Marshal(tokenClaims{Tenant: tenant, Subject: subject, Audience: audience, Expires: exp.Unix()})
	p := tokenB64.EncodeToString(payload)
	return p + "." + tokenB64.EncodeToString(k.sign(p))
}

// Check returns the tenant and the credential of a token issued for
// audience that has not expired at now.
func (k Tokens) Check(audience, token string, now time.Time) (tenant, subject string, err error) {
	p, sig, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok || len(token) > 2048 {
		return "", "", ErrTokenInvalid
	}
	got, err := tokenB64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, k.sign(p)) {
		return "", "", ErrTokenInvalid
	}
	raw, err := tokenB64.DecodeString(p)
	if err != nil {
		return "", "", ErrTokenInvalid
	}
	var c tokenClaims
	if err := json.Unmarshal(raw, &c); err != nil || c.Audience != audience || c.Tenant == "" {
		return "", "", ErrTokenInvalid
	}
	if now.Unix() >= c.Expires {
		return "", "", ErrTokenExpired
	}
	return c.Tenant, c.Subject, nil
}

func (k Tokens) sign(payload string) []byte {
	m := hmac.New(sha256.New, k.Key)
	m.Write([]byte("otpgate-token\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// TokenKey derives the key of Tokens from the server key, so that every
// node with the same server key checks every node's tokens.
func TokenKey(serverKey []byte) []byte {
	m := hmac.New(sha256.New, serverKey)
	m.Write([]byte("otpgate facade access tokens v1"))
	return m.Sum(nil)
}
