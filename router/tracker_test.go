package router

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTracker runs scripts against a Tracker on a fake clock. Steps:
//
//	up C | down C                SetUp
//	ok C N [@D] | fail C N [@D]  N receipts, at now (+D, e.g. @-6m)
//	wait D                       the clock moves on
//	usable C P...                successive Usable calls: P is t or f, with an optional count ("4f t")
//	state C up=B rate=F samples=N healthy=B
func TestTracker(t *testing.T) {
	cfg := TrackerConfig{Window: 5 * time.Minute, MinSamples: 10, Threshold: 0.5, ProbeEvery: 5}
	for _, tc := range []struct {
		name  string
		cfg   TrackerConfig
		steps []string
	}{
		{"rate under threshold is unusable, with probes", cfg, []string{
			"ok a 4", "fail a 6",
			"state a up=true rate=0.4 samples=10 healthy=false",
			"usable a 4f t 4f t 3f",
			"usable b t", // other connectors are not affected
		}},
		{"at the threshold is usable", cfg, []string{
			"ok a 5", "fail a 5", "usable a 10t",
			"state a up=true rate=0.5 samples=10 healthy=true",
		}},
		{"min samples respected", cfg, []string{
			"ok a 1", "fail a 8",
			"usable a 10t",
			"state a up=true rate=0.1111111111111111 samples=9 healthy=true",
			"fail a 1",
			"usable a 4f t",
			"state a up=true rate=0.1 samples=10 healthy=false",
		}},
		{"probes every ProbeEvery", TrackerConfig{MinSamples: 1, Threshold: 0.9, ProbeEvery: 3}, []string{
			"fail a 1", "usable a 2f t 2f t 2f t",
		}},
		{"no probes when negative", TrackerConfig{MinSamples: 1, Threshold: 0.9, ProbeEvery: -1}, []string{
			"fail a 1", "usable a 50f",
		}},
		{"default probe rate", TrackerConfig{MinSamples: 1, Threshold: 0.9}, []string{
			"fail a 1", "usable a 19f t 19f t",
		}},
		{"recovery after good receipts", cfg, []string{
			"fail a 10", "usable a 2f",
			"ok a 9", "usable a f", // 9/19
			"ok a 1", "usable a 5t", // 10/20
			"state a up=true rate=0.5 samples=20 healthy=true",
			// the probe count starts again after a recovery
			"fail a 1", "usable a 4f t",
		}},
		{"window slides and forgets old failures", cfg, []string{
			"fail a 20",
			"wait 2m", "ok a 15", "usable a f", // 15/35
			"wait 2m50s", "usable a f", // the failures' bucket is still in the window
			"state a up=true rate=0.42857142857142855 samples=35 healthy=false",
			"wait 10s", "usable a t", // now it is out
			"state a up=true rate=1 samples=15 healthy=true",
			"wait 3m", "state a up=true rate=1 samples=0 healthy=true",
			// the ring's buckets are reused cleanly, lap after lap
			"ok a 5", "state a up=true rate=1 samples=5 healthy=true",
			"wait 4m50s", "state a up=true rate=1 samples=5 healthy=true",
			"wait 10s", "state a up=true rate=1 samples=0 healthy=true",
			"fail a 10", "usable a f",
		}},
		{"a long silence empties the window", cfg, []string{
			"fail a 50", "wait 1h", "usable a t",
			"state a up=true rate=1 samples=0 healthy=true",
			"fail a 10", "usable a f",
		}},
		{"receipts older than the window are ignored", cfg, []string{
			"ok a 1",
			"fail a 20 @-5m", "fail a 20 @-10m", "usable a t",
			"state a up=true rate=1 samples=1 healthy=true",
			"fail a 20 @-4m50s", "usable a f",
		}},
		{"down is unusable, without probes", cfg, []string{
			"up a", "ok a 100", "usable a t",
			"down a", "usable a 30f",
			"state a up=false rate=1 samples=100 healthy=false",
			"up a", "usable a t",
		}},
		{"down and failing", cfg, []string{
			"fail a 20", "down a", "usable a 10f",
			"up a", "usable a 4f t",
		}},
		{"threshold 0 disables the rate check", TrackerConfig{MinSamples: 1}, []string{
			"fail a 100", "usable a 10t",
			"state a up=true rate=0 samples=100 healthy=true",
			"down a", "usable a f",
		}},
		{"unknown connectors are usable", cfg, []string{
			"usable zz 3t",
			"state zz up=true rate=1 samples=0 healthy=true",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2025, 3, 1, 12, 0, 3, 0, time.UTC)
			c := tc.cfg
			c.Now = func() time.Time { return now }
			tr := NewTracker(c)
			for _, step := range tc.steps {
				f := strings.Fields(step)
				switch f[0] {
				case "up", "down":
					tr.SetUp(f[1], f[0] == "up")
				case "ok", "fail":
					n, _ := strconv.Atoi(f[2])
					at := now
					if len(f) > 3 {
						at = now.Add(mustDuration(t, strings.TrimPrefix(f[3], "@")))
					}
					for i := 0; i < n; i++ {
						tr.Observe(f[1], f[0] == "ok", at)
					}
				case "wait":
					now = now.Add(mustDuration(t, f[1]))
				case "usable":
					var want, got strings.Builder
					for _, p := range f[2:] {
						n := 1
						if len(p) > 1 {
							n, _ = strconv.Atoi(p[:len(p)-1])
						}
						for i := 0; i < n; i++ {
							want.WriteByte(p[len(p)-1])
							got.WriteByte("ft"[b2i(tr.Usable(f[1]))])
						}
					}
					if got.String() != want.String() {
						t.Fatalf("%s:\n got  %s\n want %s", step, got.String(), want.String())
					}
				case "state":
					s := tr.State(f[1])
					got := fmt.Sprintf("state %s up=%v rate=%v samples=%d healthy=%v", f[1], s.Up, s.SuccessRate, s.Samples, s.Healthy)
					if got != step {
						t.Fatalf("\n got  %s\n want %s", got, step)
					}
				default:
					t.Fatalf("bad step %q", step)
				}
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustDuration(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTrackerDefaults(t *testing.T) {
	got := NewTracker(TrackerConfig{}).Config()
	if got.Window != 5*time.Minute || got.MinSamples != 20 || got.ProbeEvery != 20 || got.Threshold != 0 || got.Now == nil {
		t.Errorf("zero config → %+v", got)
	}
	d := DefaultTrackerConfig()
	if d.Window != 5*time.Minute || d.MinSamples != 20 || d.ProbeEvery != 20 || d.Threshold != 0.5 {
		t.Errorf("DefaultTrackerConfig() = %+v", d)
	}
	var nilT *Tracker
	if !nilT.Usable("a") {
		t.Error("a nil *Tracker must find every connector usable")
	}
	tr := NewTracker(DefaultTrackerConfig())
	tr.SetUp("b", true)
	tr.Observe("a", true, time.Now())
	if c := tr.Connectors(); len(c) != 2 || c[0] != "a" || c[1] != "b" {
		t.Errorf("Connectors() = %v", c)
	}
}

// TestTrackerRouting: a connector under the threshold leaves the decision
// (and comes back as a probe), one without a link is skipped.
func TestTrackerRouting(t *testing.T) {
	now := time.Now()
	tr := NewTracker(TrackerConfig{MinSamples: 10, Threshold: 0.5, ProbeEvery: 4, Now: func() time.Time { return now }})
	r, err := New([]Route{{Name: "r", Targets: []Target{{Connector: "a"}, {Connector: "b"}, {Connector: "c"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		tr.Observe("a", false, now)
	}
	tr.SetUp("c", false)
	var got []string
	for i := 0; i < 4; i++ {
		d, _ := r.Route(Request{Number: "+39"}, tr)
		got = append(got, describeDecision(&d, true))
	}
	want := []string{
		`r: b sender="" skipped=a,c ton=-1 npi=-1 degraded=false`,
		`r: b sender="" skipped=a,c ton=-1 npi=-1 degraded=false`,
		`r: b sender="" skipped=a,c ton=-1 npi=-1 degraded=false`,
		`r: a,b sender="" skipped=c ton=-1 npi=-1 degraded=false`, // the probe
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func BenchmarkTrackerObserve(b *testing.B) {
	tr := NewTracker(DefaultTrackerConfig())
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr.Observe("a", i%4 != 0, now)
	}
}
