package twilio

import (
	"log/slog"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/compat/compattest"
	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/apispec"
)

func hash(s string) [32]byte {
	h, _ := httpx.ParseHash(httpx.HashSecret(s))
	return h
}

// credentials: tenant acme's account ACtest (token "token", API key
// SKtest with secret "keysecret", services VAtest and VAother); tenant
// other's ACother.
func credentials() Credentials {
	return Credentials{
		Accounts: map[string]*Account{
			"ACtest": {Tenant: "acme", SID: "ACtest", Token: hash("token"), Services: map[string]Service{
				"VAtest":  {SID: "VAtest", FriendlyName: "Acme"},
				"VAother": {SID: "VAother", CodeLength: 8},
			}},
			"ACother": {Tenant: "other", SID: "ACother", Token: hash("othertoken"), Services: map[string]Service{
				"VAtheirs": {SID: "VAtheirs"},
			}},
			"ACcustom": {Tenant: "custom", SID: "ACcustom", Token: hash("customtoken"), Services: map[string]Service{
				"VAcustom": {SID: "VAcustom"},
			}},
		},
		Keys: map[string]Key{"SKtest": {Account: "ACtest", Secret: hash("keysecret")}},
	}
}

func harness(t *testing.T, o compattest.Options) *compattest.Harness {
	o.Spec = Spec()
	o.Tenants = []*engine.Tenant{{ID: "acme"}, {ID: "other"}, {ID: "custom", CustomCodes: true}}
	var h *compattest.Harness
	f := New(nil, credentials(), slog.New(slog.DiscardHandler), func() time.Time { return h.Now() })
	o.Mount = func(m httpx.Mux) { f.Mount(m) }
	h = compattest.New(t, o)
	f.eng = h.Engine
	return h
}

// TestExchanges runs testdata/*.txt: Twilio's requests and the answers
// its SDKs expect, every status and error code the facade gives reached.
func TestExchanges(t *testing.T) {
	seen := map[string]int{}
	ops := map[string]int{}
	for _, c := range []struct {
		file string
		o    compattest.Options
	}{
		{"testdata/flow.txt", compattest.Options{}},
		{"testdata/errors.txt", compattest.Options{}},
		{"testdata/attempts.txt", compattest.Options{}},
		{"testdata/isolation.txt", compattest.Options{}},
		{"testdata/limits.txt", compattest.Options{
			Limits: engine.Limits{NumberSends: engine.Window{Max: 2, Per: 600e9}, NumberChecks: engine.Window{Max: 3, Per: 600e9}},
			Rates:  map[string]api.Rate{"other": {PerSecond: 0.001, Burst: 1}}}},
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
	for _, k := range []string{"200", "201", "400", "401", "404", "409", "429",
		"code=20003", "code=20404", "code=20429", "code=60200", "code=60202", "code=60203", "code=60204"} {
		if seen[k] == 0 {
			t.Errorf("no answer was %s", k)
		}
	}
}
