package vonage

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/compat/compattest"
	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/apispec"
	"github.com/otpgate/otpgate/router"
)

func hash(s string) [32]byte {
	h, _ := httpx.ParseHash(httpx.HashSecret(s))
	return h
}

// testKey is the application's key pair (made once: 2048-bit keys are slow).
var testKey, otherKey = mustKey(), mustKey()

func mustKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// jwt signs claims with key as Vonage's SDKs do (RS256).
func jwt(key *rsa.PrivateKey, alg string, claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	head := enc(map[string]string{"alg": alg, "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(head))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	return head + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func harness(t *testing.T, o compattest.Options) *compattest.Harness {
	o.Spec = Spec()
	o.Tenants = []*engine.Tenant{{ID: "acme"}, {ID: "other"}, {ID: "custom", CustomCodes: true}}
	f := New(nil, Credentials{Accounts: map[string]*Account{
		"acmekey":   {Tenant: "acme", Key: "acmekey", Secret: hash("acmesecret"), Apps: map[string]*rsa.PublicKey{"aaaaaaaa-bbbb-cccc-dddd-0123456789ab": &testKey.PublicKey}},
		"otherkey":  {Tenant: "other", Key: "otherkey", Secret: hash("othersecret")},
		"customkey": {Tenant: "custom", Key: "customkey", Secret: hash("customsecret")},
	}}, slog.New(slog.DiscardHandler), nil)
	o.Mount = func(m httpx.Mux) { f.Mount(m) }
	h := compattest.New(t, o)
	f.eng, f.now = h.Engine, h.Now
	now := time.Now().Unix()
	claims := func(app string, iat, exp int64) map[string]any {
		return map[string]any{"jti": fmt.Sprint(now), "iat": iat, "exp": exp, "application_id": app}
	}
	h.Set("jwt", jwt(testKey, "RS256", claims("aaaaaaaa-bbbb-cccc-dddd-0123456789ab", now, now+900)))
	h.Set("jwt_expired", jwt(testKey, "RS256", claims("aaaaaaaa-bbbb-cccc-dddd-0123456789ab", now-1000, now-100)))
	h.Set("jwt_other_key", jwt(otherKey, "RS256", claims("aaaaaaaa-bbbb-cccc-dddd-0123456789ab", now, now+900)))
	h.Set("jwt_unknown_app", jwt(testKey, "RS256", claims("00000000-0000-0000-0000-000000000000", now, now+900)))
	h.Set("jwt_hs256", jwt(testKey, "HS256", claims("aaaaaaaa-bbbb-cccc-dddd-0123456789ab", now, now+900)))
	return h
}

// TestExchanges runs testdata/*.txt: Vonage's requests in every form its
// clients send them, and the answers its SDKs expect; every status code
// named in the issue reached at least once.
func TestExchanges(t *testing.T) {
	seen := map[string]int{}
	ops := map[string]int{}
	for _, c := range []struct {
		file string
		o    compattest.Options
	}{
		{"testdata/v1_flow.txt", compattest.Options{}},
		{"testdata/v1_errors.txt", compattest.Options{}},
		{"testdata/v1_workflows.txt", compattest.Options{Rates: map[string]api.Rate{"other": {PerSecond: 0.001, Burst: 1}}}},
		{"testdata/v2.txt", compattest.Options{}},
		{"testdata/isolation.txt", compattest.Options{}},
		{"testdata/v1_routes.txt", compattest.Options{Routes: []router.Route{
			{Name: "us", Match: router.Match{Prefixes: []string{"+1"}}, Targets: []router.Target{{Connector: "smsc"}}},
			{Name: "voice", Match: router.Match{Channel: "voice"}, Targets: []router.Target{{Connector: "trunk"}}}}}},
	} {
		t.Run(c.file, func(t *testing.T) {
			h := harness(t, c.o)
			h.Run(c.file)
			for k, n := range h.Seen {
				seen[k] += n
			}
			for k, n := range h.Operations {
				ops[k] += n
			}
		})
	}
	spec, _ := apispec.Load(Spec())
	for _, op := range spec.Operations() {
		if ops[op.Method+" "+op.Path] == 0 {
			t.Errorf("no exchange of the documented %s %s", op.Method, op.Path)
		}
	}
	for _, k := range []string{"status=0", "status=1", "status=2", "status=3", "status=4", "status=5", "status=6", "status=10", "status=15",
		"status=16", "status=17", "status=19", "status=20", "status=101",
		"200", "202", "204", "400", "401", "404", "409", "410", "422"} {
		if seen[k] == 0 {
			t.Errorf("no answer was %s", k)
		}
	}
}
