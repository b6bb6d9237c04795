package httpx

import (
	"strings"
	"testing"
	"time"
)

// TestTokens: a token checks for its audience until it expires; another
// key, another audience, a changed byte or an expired token is refused.
func TestTokens(t *testing.T) {
	k := Tokens{Key: TokenKey([]byte("server key 1"))}
	now := time.Unix(1_800_000_000, 0)
	want := Claims{Audience: "smscx", Tenant: "acme", Subject: "app-1", Scope: "otp", Expires: now.Add(time.Hour).Unix()}
	tok := k.Issue(want)
	if c, err := k.Check("smscx", tok, now); err != nil || c != want {
		t.Fatalf("check: %+v %v", c, err)
	}
	forever := k.Issue(Claims{Audience: "smscx", Tenant: "acme", Subject: "app-1"})
	if _, err := k.Check("smscx", forever, now.Add(100*365*24*time.Hour)); err != nil {
		t.Fatalf("a token without expiry: %v", err)
	}
	// a restart (a new Tokens with the same server key) checks it too
	if _, err := (Tokens{Key: TokenKey([]byte("server key 1"))}).Check("smscx", tok, now); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	for name, c := range map[string]struct {
		tok, aud string
		key      Tokens
		at       time.Time
		want     error
	}{
		"expired":        {tok, "smscx", k, now.Add(time.Hour), ErrTokenExpired},
		"other audience": {tok, "messagecentral", k, now, ErrTokenInvalid},
		"other key":      {tok, "smscx", Tokens{Key: TokenKey([]byte("server key 2"))}, now, ErrTokenInvalid},
		"changed":        {strings.Replace(tok, tok[3:4], string(rune(tok[3]^1)), 1), "smscx", k, now, ErrTokenInvalid},
		"garbage":        {"not.a.token", "smscx", k, now, ErrTokenInvalid},
		"empty":          {"", "smscx", k, now, ErrTokenInvalid},
	} {
		if _, err := c.key.Check(c.aud, c.tok, c.at); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
