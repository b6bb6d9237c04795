package smscx

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/api/compat/compattest"
	"github.com/otpgate/otpgate/api/httpx"
)

// FuzzRequests: whatever a request holds (any path under the facade, any
// body, any token), the answer is JSON in SMS.CX's shape, an OTP or
// {"error": {type, code, message, uri}}: never a panic, never a 500.
func FuzzRequests(f *testing.F) {
	for _, seed := range []struct{ method, path, body string }{
		{"POST", "/compat/smscx/otp", `{"phoneNumber":"+33612246400","countryIso":"FR","from":"InfoText","template":"Code {{pin}}","ttl":180}`},
		{"POST", "/compat/smscx/otp", `{"phoneNumber":336122464,"ttl":"1e3","maxAttempts":"0x10","pinLength":4.0,"template_fr":"{{pin}}{"}`},
		{"POST", "/compat/smscx/otp", `{"phoneNumber":"0612","countryIso":"","trackId":null,"otpCallbackUrl":"http://[::1"}`},
		{"POST", "/compat/smscx/otp/a17fb13d-f4ac-4d93-9439-ef41ab8de390", `{"pin":"1544"}`},
		{"POST", "/compat/smscx/otp/a17fb13d-f4ac-4d93-9439-ef41ab8de390", `{"pin":1e400}`},
		{"DELETE", "/compat/smscx/otp/x", ``},
		{"POST", "/compat/smscx/oauth/token", `grant_type=client_credentials&scope=otp%00`},
	} {
		f.Add(seed.method, seed.path, []byte(seed.body), "key")
	}
	m := compattest.NewMux()
	tokens := httpx.Tokens{Key: make([]byte, 32)}
	fac := New(&compattest.StubEngine{API: API}, Credentials{
		Apps: map[string]*App{"app": {Tenant: "t", ID: "app", Secret: hash("secret")}},
		Keys: map[[32]byte]string{hash("key"): "t"},
	}, tokens, slog.New(slog.DiscardHandler), nil)
	fac.Mount(m)
	f.Fuzz(func(t *testing.T, method, path string, body []byte, key string) {
		if len(path) == 0 || path[0] != '/' {
			path = "/compat/smscx/otp/" + path
		}
		headers := map[string]string{"X-API-KEY": key}
		ct := "application/json"
		if path == "/compat/smscx/oauth/token" {
			headers = map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+key))}
			ct = "application/x-www-form-urlencoded"
		}
		resp := m.Do(method, path, ct, headers, body)
		if st := resp.StatusCode(); (st == 404 || st == 405) && !strings.HasPrefix(string(resp.Header.ContentType()), "application/json") {
			return // the router's: not a route of the facade
		}
		if resp.StatusCode() >= 500 && resp.StatusCode() != 503 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, resp.StatusCode(), resp.Body())
		}
		var a map[string]any
		if err := json.Unmarshal(resp.Body(), &a); err != nil {
			t.Fatalf("%s %s %q: not JSON: %s", method, path, body, resp.Body())
		}
		if e, ok := a["error"].(map[string]any); ok {
			if _, ok := e["code"].(float64); !ok || e["type"] == nil || e["message"] == nil || e["uri"] == nil {
				t.Fatalf("%s %s %q: an error not in SMS.CX's shape: %s", method, path, body, resp.Body())
			}
		} else if resp.StatusCode() >= 400 {
			t.Fatalf("%s %s %q: %d without an error object: %s", method, path, body, resp.StatusCode(), resp.Body())
		}
	})
}
