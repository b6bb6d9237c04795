package vonage

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api/compat/compattest"
)

// FuzzV1: whatever a v1 request holds (query, form or JSON body, any
// bytes), the answer is HTTP 200, JSON, with a status string: never a
// panic, never a 500.
func FuzzV1(f *testing.F) {
	for _, seed := range []struct{ path, ct, body string }{
		{"/compat/vonage/verify/json?number=14155552671&brand=A", "", ""},
		{"/compat/vonage/verify/json", "application/json", `{"number":"14155552671","brand":"A","workflow_id":"1","code_length":6}`},
		{"/compat/vonage/verify/json", "application/json", `{"number":14155552671,"brand":["A"],"next_event_wait":1e309}`},
		{"/compat/vonage/verify/json", "application/x-www-form-urlencoded", "number=%2B1&brand=%00&lg=en-us&pin_expiry=-1"},
		{"/compat/vonage/verify/check/json", "application/json", `{"request_id":"00000000000000000000000000000000","code":"1234"}`},
		{"/compat/vonage/verify/search/json?request_ids=a,b,c", "", ""},
		{"/compat/vonage/verify/control/json", "application/json", `{"request_id":"x","cmd":"cancel"}`},
		{"/compat/vonage/verify/psd2/json", "application/json", `{"number":"14155552671","payee":"{code}","amount":"NaN"}`},
	} {
		f.Add(seed.path, seed.ct, []byte(seed.body))
	}
	m := compattest.NewMux()
	fac := New(&compattest.StubEngine{API: APIv1}, Credentials{Accounts: map[string]*Account{"k": {Tenant: "t", Key: "k", Secret: hash("s")}}}, slog.New(slog.DiscardHandler), nil)
	fac.Mount(m)
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("k:s"))}
	f.Fuzz(func(t *testing.T, path, ct string, body []byte) {
		if len(path) == 0 || path[0] != '/' {
			path = "/compat/vonage/verify/json?" + path
		}
		resp := m.Do("POST", path, ct, auth, body)
		if resp.StatusCode() == 404 || resp.StatusCode() == 405 {
			return // not a v1 path
		}
		var a map[string]any
		if resp.StatusCode() != 200 || json.Unmarshal(resp.Body(), &a) != nil {
			t.Fatalf("%s %q: %d %s", path, body, resp.StatusCode(), resp.Body())
		}
		if _, ok := a["status"].(string); !ok && a["verification_requests"] == nil {
			t.Fatalf("%s %q: no status string: %s", path, body, resp.Body())
		}
	})
}

// FuzzV2: whatever a v2 body holds, the answer is a status of the API's
// (never a 500), JSON, problem+json when it is an error.
func FuzzV2(f *testing.F) {
	for _, seed := range []string{
		`{"brand":"A","workflow":[{"channel":"sms","to":"14155552671"}]}`,
		`{"brand":"A","workflow":[{"channel":"sms","to":"14155552671"},{"channel":"voice","to":"14155552672"}],"channel_timeout":1e3}`,
		`{"brand":1,"workflow":{}}`, `[]`, `{"code":"` + "\x00" + `"}`, `{"brand":"A","workflow":[{"channel":"email"}],"code":"ab!"}`,
	} {
		f.Add(seed)
	}
	m := compattest.NewMux()
	fac := New(&compattest.StubEngine{API: APIv2}, Credentials{Accounts: map[string]*Account{"k": {Tenant: "t", Key: "k", Secret: hash("s")}}}, slog.New(slog.DiscardHandler), nil)
	fac.Mount(m)
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("k:s"))}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/compat/vonage/v2/verify", "/compat/vonage/v2/verify/01234567-89ab-cdef-0123-456789abcdef"} {
			resp := m.Do("POST", path, "application/json", auth, []byte(body))
			st := resp.StatusCode()
			if st >= 500 || !json.Valid(resp.Body()) {
				t.Fatalf("%s %q: %d %s", path, body, st, resp.Body())
			}
			if st >= 400 && string(resp.Header.ContentType()) != "application/problem+json" {
				t.Fatalf("%s %q: error %d as %s", path, body, st, resp.Header.ContentType())
			}
		}
	})
}

// FuzzJWT: no token, however malformed, is accepted unless signed, and
// none panics.
func FuzzJWT(f *testing.F) {
	good := jwt(testKey, "RS256", map[string]any{"application_id": "app", "exp": 4e9, "iat": 1})
	for _, seed := range []string{good, "a.b.c", "..", "eyJhbGciOiJub25lIn0.e30.", good + "x"} {
		f.Add(seed)
	}
	creds := &Credentials{Accounts: map[string]*Account{"k": {Tenant: "t", Apps: map[string]*rsa.PublicKey{"app": &testKey.PublicKey}}}}
	f.Fuzz(func(t *testing.T, token string) {
		acct, err := creds.verifyJWT(token, time.Now())
		if err == nil && token != good {
			t.Fatalf("accepted %q as %v", token, acct)
		}
	})
}
