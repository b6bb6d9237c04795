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
	tok := k.Issue("smscx", "acme", "app-1", now.Add(time.Hour))
	if tn, sub, err := k.Check("smscx", tok, now); err != nil || tn != "acme" || sub != "app-1" {
		t.Fatalf("check: %q %q %v", tn, sub, err)
	}
	// a restart (a new Tokens with the same server key) checks it too
	if _, _, err := (Tokens{Key: TokenKey([]byte("server key 1"))}).Check("smscx", tok, now); err != nil {
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
		if _, _, err := c.key.Check(c.aud, c.tok, c.at); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
