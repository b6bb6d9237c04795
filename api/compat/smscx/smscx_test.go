package smscx

import (
	"crypto/sha256"
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

func hash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// credentials: tenant acme's application "acme-app" (secret
// "acme-secret", tokens for an hour) and X-API-KEY "acme-key"; tenant
// other's application "other-app" (secret "other-secret") and key
// "other-key".
func credentials() Credentials {
	return Credentials{
		Apps: map[string]*App{
			"acme-app":  {Tenant: "acme", ID: "acme-app", Secret: hash("acme-secret"), TokenTTL: time.Hour},
			"other-app": {Tenant: "other", ID: "other-app", Secret: hash("other-secret")},
		},
		Keys: map[[32]byte]string{hash("acme-key"): "acme", hash("other-key"): "other"},
	}
}

func harness(t *testing.T, o compattest.Options) (*compattest.Harness, *Facade) {
	o.Spec = Spec()
	o.Literals = []string{"pin"}
	o.Tenants = []*engine.Tenant{{ID: "acme"}, {ID: "other"}}
	o.WebhookFormats = map[string]engine.WebhookFormat{API: Webhook}
	var h *compattest.Harness
	f := New(nil, credentials(), httpx.Tokens{Key: httpx.TokenKey([]byte("server key"))}, slog.New(slog.DiscardHandler),
		func() time.Time { return h.Now() })
	o.Mount = func(m httpx.Mux) { f.Mount(m) }
	h = compattest.New(t, o)
	f.SetEngine(h.Engine)
	return h, f
}

// TestExchanges runs testdata/*.txt: SMS.CX's documented requests and
// its answers, every status and error code the facade gives reached, every
// documented operation exercised.
func TestExchanges(t *testing.T) {
	seen := map[string]int{}
	ops := map[string]int{}
	for _, c := range []struct {
		file string
		o    compattest.Options
	}{
		{"testdata/oauth.txt", compattest.Options{}},
		{"testdata/flow.txt", compattest.Options{}},
		{"testdata/isolation.txt", compattest.Options{}},
		{"testdata/params.txt", compattest.Options{}},
		{"testdata/ends.txt", compattest.Options{}},
		{"testdata/limits.txt", compattest.Options{
			Limits: engine.Limits{NumberSends: engine.Window{Max: 1, Per: 600e9}},
			Rates:  map[string]api.Rate{"other": {PerSecond: 0.001, Burst: 2}},
			Routes: []router.Route{{Name: "us", Match: router.Match{Prefixes: []string{"+1"}}, Targets: []router.Target{{Connector: "smsc"}}}}}},
	} {
		t.Run(c.file, func(t *testing.T) {
			h, _ := harness(t, c.o)
			h.Run(c.file)
			for k, n := range h.Seen {
				seen[k] += n
			}
			for k, n := range h.Operations {
				ops[k] += n
			}
		})
	}
	spec, err := apispec.Load(Spec())
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range spec.Operations() {
		if ops[op.Method+" "+op.Path] == 0 {
			t.Errorf("no exchange of the documented %s %s", op.Method, op.Path)
		}
	}
	want := []string{"200", "201", "400", "401", "403", "404", "429", "503", "code=1600", "code=2000"}
	for c := 2001; c <= 2031; c++ {
		want = append(want, "code="+itoa(int64(c)))
	}
	for _, k := range want {
		if seen[k] == 0 {
			t.Errorf("no answer was %s", k)
		}
	}
}
