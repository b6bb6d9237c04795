package twilio

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/otpgate/otpgate/api/compat/compattest"
)

// FuzzForms: whatever a form body holds, on any of the facade's paths, the
// answer is a status of Twilio's (never a 500), JSON, and an error carries
// Twilio's code, message and more_info.
func FuzzForms(f *testing.F) {
	for _, seed := range []string{
		"To=%2B14155552671&Channel=sms", "To=+14155552671&Channel=call&Locale=xx&CustomCode=%00",
		"Code=123456&VerificationSid=VE00", "Status=canceled", "To=&Channel=&Code=", "%zz=%", "To=" + string(make([]byte, 300)),
	} {
		f.Add(seed)
	}
	m := compattest.NewMux()
	fac := New(&compattest.StubEngine{API: API, Scope: "VAtest"}, credentials(), slog.New(slog.DiscardHandler), nil)
	fac.Mount(m)
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ACtest:token"))}
	paths := []string{
		"/compat/twilio/v2/Services/VAtest/Verifications",
		"/compat/twilio/v2/Services/VAtest/VerificationCheck",
		"/compat/twilio/v2/Services/VAtest/Verifications/VE00000000000000000000000000000000",
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, p := range paths {
			resp := m.Do("POST", p, "application/x-www-form-urlencoded", auth, []byte(body))
			st := resp.StatusCode()
			if st >= 500 || !json.Valid(resp.Body()) {
				t.Fatalf("%s %q: %d %s", p, body, st, resp.Body())
			}
			var e apiError
			if st >= 400 && (json.Unmarshal(resp.Body(), &e) != nil || e.Code == 0 || e.Message == "" || e.MoreInfo == "") {
				t.Fatalf("%s %q: error %d without Twilio's fields: %s", p, body, st, resp.Body())
			}
		}
	})
}
