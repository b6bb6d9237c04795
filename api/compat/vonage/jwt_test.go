package vonage

import (
	"crypto/rsa"
	"strings"
	"testing"
	"time"
)

// TestJWTClaims: a signed token passes only with an iat not in the
// future, an exp not passed (15 minutes after iat when it has none) and
// at most 24 hours after iat, and no nbf to come; a minute's skew each way.
func TestJWTClaims(t *testing.T) {
	const app = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
	creds := &Credentials{Accounts: map[string]*Account{"k": {Tenant: "t", Key: "k", Apps: map[string]*rsa.PublicKey{app: &testKey.PublicKey}}}}
	now := time.Unix(1_800_000_000, 0)
	n := now.Unix()
	for _, c := range []struct {
		name   string
		claims map[string]any
		want   string // "" to pass, else part of the error
	}{
		{"as the SDK signs it", map[string]any{"iat": n, "exp": n + 900}, ""},
		{"no exp: 15 minutes", map[string]any{"iat": n - 800}, ""},
		{"no exp, older than 15 minutes", map[string]any{"iat": n - 1000}, "expired"},
		{"expired", map[string]any{"iat": n - 1000, "exp": n - 100}, "expired"},
		{"expired within the skew", map[string]any{"iat": n - 1000, "exp": n - 30}, ""},
		{"no iat", map[string]any{"exp": n + 900}, "no iat"},
		{"issued in the future", map[string]any{"iat": n + 120, "exp": n + 900}, "future"},
		{"issued within the skew", map[string]any{"iat": n + 30, "exp": n + 900}, ""},
		{"not before, to come", map[string]any{"iat": n, "exp": n + 900, "nbf": n + 120}, "nbf"},
		{"24 hours", map[string]any{"iat": n, "exp": n + 86400}, ""},
		{"longer than 24 hours", map[string]any{"iat": n, "exp": n + 86401}, "24 hours"},
		{"good for centuries", map[string]any{"iat": n, "exp": 9999999999}, "24 hours"},
	} {
		c.claims["application_id"] = app
		c.claims["jti"] = "j"
		_, err := creds.verifyJWT(jwt(testKey, "RS256", c.claims), now)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}
