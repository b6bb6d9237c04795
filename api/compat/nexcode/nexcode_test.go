package nexcode

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/compat/compattest"
	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/apispec"
)

func harness(t *testing.T, o compattest.Options) *compattest.Harness {
	o.Spec = Spec()
	o.Tenants = []*engine.Tenant{{ID: "acme", MaxAttempts: 3}, {ID: "other", PendingPolicy: engine.PolicyReject}}
	o.APIKeys = map[string]string{"acme-key": "acme", "other-key": "other"}
	f := New(nil, slog.New(slog.DiscardHandler))
	o.Mount = func(m httpx.Mux) { f.Mount(m) }
	h := compattest.New(t, o)
	f.SetEngine(h.Engine)
	return h
}

// TestExchanges runs testdata/*.txt: NexCode's published exchanges and
// what a client meets beyond them, every documented operation exercised.
func TestExchanges(t *testing.T) {
	seen := map[string]int{}
	ops := map[string]int{}
	for _, c := range []struct {
		file string
		o    compattest.Options
	}{
		{"testdata/flow.txt", compattest.Options{}},
		{"testdata/isolation.txt", compattest.Options{}},
		{"testdata/errors.txt", compattest.Options{Rates: map[string]api.Rate{"other": {PerSecond: 0.001, Burst: 3}}}},
	} {
		t.Run(c.file, func(t *testing.T) {
			h := harness(t, c.o)
			h.Set("big", strings.Repeat("x", maxBody))
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
	for _, k := range []string{"200", "400", "401", "404", "409", "413", "422", "429", "503"} {
		if seen[k] == 0 {
			t.Errorf("no answer was %s", k)
		}
	}
}
