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

// Claims are what a token says.
type Claims struct {
	Audience string `json:"a"`           // the facade: "smscx", "messagecentral"
	Tenant   string `json:"t"`           // whose data the token reaches
	Subject  string `json:"s"`           // the credential it was issued to (an application id)
	Scope    string `json:"c,omitempty"` // what it may do, in the vendor's words
	// Secret is a fingerprint of the credential's secret (Fingerprint):
	// the facade refuses the token once the secret changes.
	Secret  string `json:"k,omitempty"`
	Expires int64  `json:"e"` // Unix seconds; 0 never
}

// Token errors.
var (
	ErrTokenExpired = errors.New("the token has expired")
	ErrTokenInvalid = errors.New("the token is not one this gateway issued")
)

var tokenB64 = base64.RawURLEncoding.Strict()

// Issue returns a token that says c.
func (k Tokens) Issue(c Claims) string {
	payload, _ := json.Marshal(c)
	p := tokenB64.EncodeToString(payload)
	return p + "." + tokenB64.EncodeToString(k.sign(p))
}

// Check returns the claims of a token issued for audience that has not
// expired at now.
func (k Tokens) Check(audience, token string, now time.Time) (Claims, error) {
	var c Claims
	p, sig, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok || len(token) > 2048 {
		return c, ErrTokenInvalid
	}
	got, err := tokenB64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, k.sign(p)) {
		return c, ErrTokenInvalid
	}
	raw, err := tokenB64.DecodeString(p)
	if err != nil {
		return c, ErrTokenInvalid
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Audience != audience || c.Tenant == "" {
		return Claims{}, ErrTokenInvalid
	}
	if c.Expires != 0 && now.Unix() >= c.Expires {
		return Claims{}, ErrTokenExpired
	}
	return c, nil
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

// Fingerprint is a short, one-way mark of a secret's hash for Claims.Secret:
// equal while the secret stays, different once it changes.
func Fingerprint(secretHash [32]byte) string {
	sum := sha256.Sum256(append([]byte("otpgate token secret\x00"), secretHash[:]...))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}
