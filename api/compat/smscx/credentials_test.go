package smscx

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/api/compat/compattest"
)

func call(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func login(t *testing.T, base, user, pass string) (int, string) {
	return call(t, "POST", base+"/compat/smscx/oauth/token", "grant_type=client_credentials",
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)),
		"Content-Type", "application/x-www-form-urlencoded")
}

// TestTokenRevoked: an access token dies when its application's secret
// changes, when the application moves to another tenant and when it is
// removed (a config reload), though it has not expired.
func TestTokenRevoked(t *testing.T) {
	h, f := harness(t, compattest.Options{})
	st, b := login(t, h.Base, "acme-app", "acme-secret")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st != 200 || json.Unmarshal([]byte(b), &tok) != nil {
		t.Fatal(st, b)
	}
	use := func() int {
		st, _ := call(t, "GET", h.Base+"/compat/smscx/otp/a17fb13d-f4ac-4d93-9439-ef41ab8de390", "", "Authorization", "Bearer "+tok.AccessToken)
		return st
	}
	if st := use(); st != 404 {
		t.Fatalf("a fresh token: %d", st)
	}
	for name, change := range map[string]func(c Credentials){
		"secret changed":   func(c Credentials) { c.Apps["acme-app"].Secret = hash("rotated") },
		"another tenant's": func(c Credentials) { c.Apps["acme-app"].Tenant = "other" },
		"removed":          func(c Credentials) { delete(c.Apps, "acme-app") },
	} {
		c := credentials()
		change(c)
		f.SetCredentials(c)
		if st := use(); st != 401 {
			t.Errorf("%s: %d, want 401", name, st)
		}
		f.SetCredentials(credentials())
		if st := use(); st != 404 {
			t.Fatalf("%s, then back: %d", name, st)
		}
	}
}

// TestLoginGuard: after 20 failed logins from one address in a minute,
// even the right secret is refused there (429) until the minute passes.
func TestLoginGuard(t *testing.T) {
	h, _ := harness(t, compattest.Options{})
	for i := range 20 {
		if st, _ := login(t, h.Base, "nobody", "guess"); st != 401 {
			t.Fatalf("failed login %d: %d", i+1, st)
		}
	}
	if st, b := login(t, h.Base, "acme-app", "acme-secret"); st != 429 || !strings.Contains(b, "failed logins") {
		t.Fatalf("the right secret after 20 failures: %d %s", st, b)
	}
	h.Advance(61e9)
	if st, _ := login(t, h.Base, "acme-app", "acme-secret"); st != 200 {
		t.Fatalf("after the minute: %d", st)
	}
}
