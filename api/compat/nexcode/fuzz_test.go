package nexcode

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/api/compat/compattest"
)

// FuzzBodies: whatever a request body holds, on either route, the answer
// is JSON: NexCode's answer or a problem document, never a panic or a 500.
func FuzzBodies(f *testing.F) {
	for _, seed := range []struct{ path, body string }{
		{"/otp/request", `{ "msisdn": "+393331234567", "customer_id": "retailer-001", "channel": "sms" }`},
		{"/otp/request", `{"msisdn": 393331234567, "channel": ["sms"]}`},
		{"/otp/request", `{"msisdn": "+39", "channel": "WHATSAPP", "customer_id": "\u202e"}`},
		{"/otp/verify", `{ "request_id": "req_41a8", "otp": "847392" }`},
		{"/otp/verify", `{"request_id": "req_0123456789abcdefghjkmnpqrs", "otp": 1e400}`},
		{"/otp/verify", `[]`},
	} {
		f.Add(seed.path, []byte(seed.body))
	}
	m := compattest.NewMux()
	m.Keys = map[string]string{"key": "t"}
	fac := New(&compattest.StubEngine{API: API}, slog.New(slog.DiscardHandler))
	fac.Mount(m)
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		if path != "/otp/verify" {
			path = "/otp/request"
		}
		resp := m.Do("POST", Prefix+path, "application/json", map[string]string{"Authorization": "Bearer key"}, body)
		if resp.StatusCode() >= 500 && resp.StatusCode() != 503 {
			t.Fatalf("%s %q: %d %s", path, body, resp.StatusCode(), resp.Body())
		}
		var a map[string]any
		if err := json.Unmarshal(resp.Body(), &a); err != nil {
			t.Fatalf("%s %q: not JSON: %s", path, body, resp.Body())
		}
		ct := string(resp.Header.ContentType())
		if resp.StatusCode() >= 400 && (!strings.HasPrefix(ct, "application/problem+json") || a["code"] == nil) {
			t.Fatalf("%s %q: %d without a problem document: %s %s", path, body, resp.StatusCode(), ct, resp.Body())
		}
	})
}
