package messagecentral

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

// credentials: tenant acme's customer C-ACME0001 (password
// "acme-password", key YWNtZS1wYXNzd29yZA==), tenant other's C-OTHER0002
// (password "other-password", key b3RoZXItcGFzc3dvcmQ=; codes valid 120 s,
// tokens for an hour).
func credentials() Credentials {
	return Credentials{Customers: map[string]*Customer{
		"C-ACME0001":  {Tenant: "acme", ID: "C-ACME0001", Key: sha256.Sum256([]byte("acme-password"))},
		"C-OTHER0002": {Tenant: "other", ID: "C-OTHER0002", Key: sha256.Sum256([]byte("other-password")), OTPTTL: 120 * time.Second, TokenTTL: time.Hour},
	}}
}

func harness(t *testing.T, o compattest.Options) *compattest.Harness {
	h, _ := harnessFacade(t, o)
	return h
}

func harnessFacade(t *testing.T, o compattest.Options) (*compattest.Harness, *Facade) {
	o.Spec = Spec()
	o.Tenants = []*engine.Tenant{{ID: "acme"}, {ID: "other"}}
	var h *compattest.Harness
	f := New(nil, credentials(), httpx.Tokens{Key: httpx.TokenKey([]byte("server key"))}, slog.New(slog.DiscardHandler),
		func() time.Time { return h.Now() })
	o.Mount = func(m httpx.Mux) { f.Mount(m) }
	h = compattest.New(t, o)
	f.SetEngine(h.Engine)
	return h, f
}

// TestExchanges runs testdata/*.txt: Message Central's documented
// requests and the answers its clients read, every response code the
// facade gives reached, every documented operation exercised.
func TestExchanges(t *testing.T) {
	seen := map[string]int{}
	ops := map[string]int{}
	for _, c := range []struct {
		file string
		o    compattest.Options
	}{
		{"testdata/token.txt", compattest.Options{}},
		{"testdata/flow.txt", compattest.Options{}},
		{"testdata/isolation.txt", compattest.Options{}},
		{"testdata/errors.txt", compattest.Options{}},
		{"testdata/limits.txt", compattest.Options{
			Limits: engine.Limits{NumberSends: engine.Window{Max: 1, Per: 600e9}},
			Rates:  map[string]api.Rate{"other": {PerSecond: 0.001, Burst: 2}},
			Routes: []router.Route{{Name: "in", Match: router.Match{Prefixes: []string{"+91"}}, Targets: []router.Target{{Connector: "smsc"}}}}}},
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
	spec, err := apispec.Load(Spec())
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range spec.Operations() {
		if ops[op.Method+" "+op.Path] == 0 {
			t.Errorf("no exchange of the documented %s %s", op.Method, op.Path)
		}
	}
	for _, k := range []string{"200", "400", "401", "409", "429", "503",
		"responseCode=200", "responseCode=400", "responseCode=401", "responseCode=500", "responseCode=501",
		"responseCode=505", "responseCode=506", "responseCode=511", "responseCode=702", "responseCode=703",
		"responseCode=705", "responseCode=800", "status=200", "status=400", "status=501"} {
		if seen[k] == 0 {
			t.Errorf("no answer was %s", k)
		}
	}
}
