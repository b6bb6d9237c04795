package httpx

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// TestTokens: a token checks for its audience until it expires; another
// key, another audience, a changed byte or an expired token is refused;
// what it says cannot be read from it.
func TestTokens(t *testing.T) {
	k := Tokens{Key: TokenKey([]byte("server key 1"))}
	now := time.Unix(1_800_000_000, 0)
	secret := sha256.Sum256([]byte("s3cret"))
	want := Claims{Audience: "smscx", Tenant: "acme-tenant", Subject: "app-1", Scope: "otp", Secret: k.Fingerprint(secret), Expires: now.Add(time.Hour).Unix()}
	tok := k.Issue(want)
	if c, err := k.Check("smscx", tok, now); err != nil || c != want {
		t.Fatalf("check: %+v %v", c, err)
	}
	if strings.Contains(tok, "acme") || tok == k.Issue(want) {
		t.Fatalf("the token is readable or not randomised: %s", tok)
	}
	forever := k.Issue(Claims{Audience: "smscx", Tenant: "acme", Subject: "app-1"})
	if _, err := k.Check("smscx", forever, now.Add(100*365*24*time.Hour)); err != nil {
		t.Fatalf("a token without expiry: %v", err)
	}
	// a restart (a new Tokens with the same server key) checks it too
	if _, err := (Tokens{Key: TokenKey([]byte("server key 1"))}).Check("smscx", tok, now); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	flip := []byte(tok)
	flip[len(flip)-5] ^= 1
	for name, c := range map[string]struct {
		tok, aud string
		key      Tokens
		at       time.Time
		want     error
	}{
		"expired":        {tok, "smscx", k, now.Add(time.Hour), ErrTokenExpired},
		"other audience": {tok, "messagecentral", k, now, ErrTokenInvalid},
		"other key":      {tok, "smscx", Tokens{Key: TokenKey([]byte("server key 2"))}, now, ErrTokenInvalid},
		"changed":        {string(flip), "smscx", k, now, ErrTokenInvalid},
		"truncated":      {tok[:len(tok)-10], "smscx", k, now, ErrTokenInvalid},
		"garbage":        {"og1.not-a-token", "smscx", k, now, ErrTokenInvalid},
		"other form":     {"eyJhbGciOiJIUzUxMiJ9.e30.c2ln", "smscx", k, now, ErrTokenInvalid},
		"empty":          {"", "smscx", k, now, ErrTokenInvalid},
	} {
		if _, err := c.key.Check(c.aud, c.tok, c.at); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// TestFingerprint: equal for the same secret and key, different for
// another secret, and keyed: another server key gives another mark, so a
// mark says nothing of the secret to whoever lacks the key.
func TestFingerprint(t *testing.T) {
	k1 := Tokens{Key: TokenKey([]byte("server key 1"))}
	k2 := Tokens{Key: TokenKey([]byte("server key 2"))}
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	if !k1.SameSecret(k1.Fingerprint(a), a) || k1.SameSecret(k1.Fingerprint(a), b) {
		t.Fatal("the fingerprint does not tell secrets apart")
	}
	if k1.Fingerprint(a) == k2.Fingerprint(a) {
		t.Fatal("the fingerprint is not keyed")
	}
}
