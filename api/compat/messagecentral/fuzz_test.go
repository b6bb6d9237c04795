package messagecentral

import (
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api/compat/compattest"
	"github.com/otpgate/otpgate/api/httpx"
)

// FuzzQueries: whatever a query string holds, on any of the facade's
// routes, the answer is JSON in VerifyNow's shape (the envelope, or the
// token's {status, …}): never a panic, never a 500.
func FuzzQueries(f *testing.F) {
	for _, seed := range []struct{ path, query string }{
		{"/auth/v1/authentication/token", "customerId=C&key=cGFzcw%3D%3D&scope=NEW"},
		{"/auth/v1/authentication/token", "customerId=C&key=+++%00"},
		{"/verification/v2/verification/send", "countryCode=91&customerId=C&flowType=SMS&mobileNumber=9990655875&otpLength=4"},
		{"/verification/v3/send", "countryCode=%2B800&flowType=sms&mobileNumber=12345678"},
		{"/verification/v2/verification/validateOtp", "countryCode=91&mobileNumber=999&verificationId=18446744073709551615&customerId=C&code=1"},
		{"/verification/v3/validateOtp", "verificationId=-1&code=%ff%fe"},
	} {
		f.Add(seed.path, seed.query)
	}
	tokens := httpx.Tokens{Key: make([]byte, 32)}
	creds := Credentials{Customers: map[string]*Customer{"C": {Tenant: "t", ID: "C", Key: sha256.Sum256([]byte("pass"))}}}
	m := compattest.NewMux()
	fac := New(&compattest.StubEngine{API: API}, creds, tokens, slog.New(slog.DiscardHandler), nil)
	fac.Mount(m)
	tok := tokens.Issue(httpx.Claims{Audience: API, Tenant: "t", Subject: "C", Secret: tokens.Fingerprint(creds.Customers["C"].Key), Expires: time.Now().Add(time.Hour).Unix()})
	f.Fuzz(func(t *testing.T, path, query string) {
		if !strings.HasPrefix(path, "/") {
			path = "/verification/v3/send"
		}
		for _, method := range []string{"GET", "POST"} {
			resp := m.Do(method, Prefix+path+"?"+query, "", map[string]string{"authToken": tok}, nil)
			if st := resp.StatusCode(); (st == 404 || st == 405) && !strings.HasPrefix(string(resp.Header.ContentType()), "application/json") {
				continue // the router's: not a route of the facade
			}
			if resp.StatusCode() >= 500 && resp.StatusCode() != 503 {
				t.Fatalf("%s %s?%s: %d %s", method, path, query, resp.StatusCode(), resp.Body())
			}
			var a map[string]any
			if err := json.Unmarshal(resp.Body(), &a); err != nil {
				t.Fatalf("%s %s?%s: not JSON: %s", method, path, query, resp.Body())
			}
			_, env := a["responseCode"].(float64)
			_, tokenShape := a["status"].(float64)
			if !env && !tokenShape {
				t.Fatalf("%s %s?%s: not VerifyNow's shape: %s", method, path, query, resp.Body())
			}
		}
	})
}
