package messagecentral

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/api/compat/compattest"
)

func get(t *testing.T, method, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
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

// TestTokenRevoked: an authToken dies when its customer's key changes,
// when the customer moves to another tenant and when it is removed,
// though it has not expired.
func TestTokenRevoked(t *testing.T) {
	h, f := harnessFacade(t, compattest.Options{})
	st, b := get(t, "GET", h.Base+"/compat/messagecentral/auth/v1/authentication/token?customerId=C-ACME0001&key=YWNtZS1wYXNzd29yZA%3D%3D")
	var tok struct{ Token string }
	if st != 200 || json.Unmarshal([]byte(b), &tok) != nil {
		t.Fatal(st, b)
	}
	use := func() int {
		st, _ := get(t, "GET", h.Base+"/compat/messagecentral/verification/v3/validateOtp?verificationId=1&code=1234", "authToken", tok.Token)
		return st
	}
	if st := use(); st != 400 { // 505: no such verification, but the token was taken
		t.Fatalf("a fresh token: %d", st)
	}
	for name, change := range map[string]func(c Credentials){
		"key changed":      func(c Credentials) { c.Customers["C-ACME0001"].Key = sha256.Sum256([]byte("rotated")) },
		"another tenant's": func(c Credentials) { c.Customers["C-ACME0001"].Tenant = "other" },
		"removed":          func(c Credentials) { delete(c.Customers, "C-ACME0001") },
	} {
		c := credentials()
		change(c)
		f.SetCredentials(c)
		if st := use(); st != 401 {
			t.Errorf("%s: %d, want 401", name, st)
		}
		f.SetCredentials(credentials())
		if st := use(); st != 400 {
			t.Fatalf("%s, then back: %d", name, st)
		}
	}
}

// TestLoginGuard: after 20 failed logins from one address in a minute,
// even the right key is refused there until the minute passes.
func TestLoginGuard(t *testing.T) {
	h, _ := harnessFacade(t, compattest.Options{})
	token := func(key string) (int, string) {
		return get(t, "GET", h.Base+"/compat/messagecentral/auth/v1/authentication/token?customerId=C-ACME0001&key="+key)
	}
	for i := range 20 {
		if st, _ := token("d3Jvbmc%3D"); st != 401 {
			t.Fatalf("failed login %d: %d", i+1, st)
		}
	}
	if st, b := token("YWNtZS1wYXNzd29yZA%3D%3D"); st != 429 || !strings.Contains(b, "failed logins") {
		t.Fatalf("the right key after 20 failures: %d %s", st, b)
	}
	h.Advance(61e9)
	if st, _ := token("YWNtZS1wYXNzd29yZA%3D%3D"); st != 200 {
		t.Fatalf("after the minute: %d", st)
	}
}
