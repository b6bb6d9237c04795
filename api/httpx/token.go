package httpx

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Tokens issues and checks the stateless access tokens of the facades
// whose vendors hand out tokens (SMS.CX's OAuth client credentials,
// Message Central's authToken). A token is its claims (tenant, the
// credential it was issued to, audience, expiry) sealed with AES-256-GCM
// under a key derived from the server key: opaque to whoever holds it (no
// tenant id, nothing of the secret to guess at offline), and forged or
// changed by nobody without the key. No store is asked: a token outlives
// a restart and works on any node with the same server key; it dies when
// it expires, when the server key changes, or when its credential is no
// longer configured or has another secret (the facade checks that).
type Tokens struct {
	Key []byte // 32 bytes (TokenKey); the same on every node
}

// Claims are what a token says.
type Claims struct {
	Audience string `json:"a"`           // the facade: "smscx", "messagecentral"
	Tenant   string `json:"t"`           // whose data the token reaches
	Subject  string `json:"s"`           // the credential it was issued to (an application id)
	Scope    string `json:"c,omitempty"` // what it may do, in the vendor's words
	// Secret is a keyed fingerprint of the credential's secret
	// (Tokens.Fingerprint): the facade refuses the token once the secret
	// changes.
	Secret  string `json:"k,omitempty"`
	Expires int64  `json:"e"` // Unix seconds; 0 never
}

// Token errors.
var (
	ErrTokenExpired = errors.New("the token has expired")
	ErrTokenInvalid = errors.New("the token is not one this gateway issued")
)

var tokenB64 = base64.RawURLEncoding.Strict()

// tokenPrefix names the token's form, so a later form can be told apart.
const tokenPrefix = "og1."

func (k Tokens) aead() cipher.AEAD {
	m := hmac.New(sha256.New, k.Key)
	m.Write([]byte("otpgate token seal"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic("httpx: token key: " + err.Error()) // a 32-byte key always makes a cipher
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic("httpx: token key: " + err.Error())
	}
	return g
}

// Issue returns a token that says c.
func (k Tokens) Issue(c Claims) string {
	payload, _ := json.Marshal(c)
	g := k.aead()
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(payload)+g.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("httpx: no randomness for a token nonce: " + err.Error())
	}
	return tokenPrefix + tokenB64.EncodeToString(g.Seal(nonce, nonce, payload, []byte(tokenPrefix)))
}

// Check returns the claims of a token issued for audience that has not
// expired at now.
func (k Tokens) Check(audience, token string, now time.Time) (Claims, error) {
	var c Claims
	token = strings.TrimSpace(token)
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(token) > 2048 {
		return c, ErrTokenInvalid
	}
	raw, err := tokenB64.DecodeString(rest)
	g := k.aead()
	if err != nil || len(raw) < g.NonceSize()+g.Overhead() {
		return c, ErrTokenInvalid
	}
	payload, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], []byte(tokenPrefix))
	if err != nil {
		return c, ErrTokenInvalid
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Audience != audience || c.Tenant == "" {
		return Claims{}, ErrTokenInvalid
	}
	if c.Expires != 0 && now.Unix() >= c.Expires {
		return Claims{}, ErrTokenExpired
	}
	return c, nil
}

// Fingerprint is a short mark of a secret's hash for Claims.Secret, keyed
// with the token key: equal while the secret stays, different once it
// changes, and of no use to guess the secret with.
func (k Tokens) Fingerprint(secretHash [32]byte) string {
	m := hmac.New(sha256.New, k.Key)
	m.Write([]byte("otpgate token secret\x00"))
	m.Write(secretHash[:])
	return tokenB64.EncodeToString(m.Sum(nil)[:16])
}

// SameSecret reports in constant time whether a token's fingerprint is the
// one of secretHash.
func (k Tokens) SameSecret(fingerprint string, secretHash [32]byte) bool {
	return hmac.Equal([]byte(fingerprint), []byte(k.Fingerprint(secretHash)))
}

// TokenKey derives the key of Tokens from the server key, so that every
// node with the same server key checks every node's tokens.
func TokenKey(serverKey []byte) []byte {
	m := hmac.New(sha256.New, serverKey)
	m.Write([]byte("otpgate facade access tokens v1"))
	return m.Sum(nil)
}
