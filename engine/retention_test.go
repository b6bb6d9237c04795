package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/router"
)

// TestSteadyLoadRetentionBoundsDisk runs a steady load — rounds of verifications
// created, verified and left to the retention — and checks that the data
// directory stops growing: after the first rounds, disk use stays within a
// bound while the number of verifications ever made keeps rising. Without
// retention it grows with every round (checked too, as a control).
func TestSteadyLoadRetentionBoundsDisk(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("steady-load test: `make test` runs it without the race detector")
	}
	run := func(retention time.Duration) []uint64 {
		st, err := store.Open(store.Options{Dir: t.TempDir(), Sync: store.SyncNone, MemTableBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		now := time.Unix(1_800_000_000, 0)
		rt, _ := router.New([]router.Route{{Name: "all", Targets: []router.Target{{Connector: "smsc"}}}}, nil)
		smsc := &fakeSMSC{}
		e, err := New(Config{
			ServerKey: bytes.Repeat([]byte{1}, 32), Store: st, Router: rt,
			Senders: map[string]Sender{"smsc": smsc}, Tenants: map[string]*Tenant{"acme": {ID: "acme"}},
			Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler), Retention: retention,
			Limits: Limits{NumberSends: Window{Max: -1}, NumberChecks: Window{Max: -1}, Velocity: velocityOff},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var usage []uint64
		n := 0
		for round := 0; round < 12; round++ {
			for i := 0; i < 1200; i++ {
				c, err := e.Create(ctx, CreateRequest{Tenant: "acme", Number: fmt.Sprintf("+39347%07d", n)})
				if err != nil {
					t.Fatal(err)
				}
				n++
				e.Check(ctx, "acme", c.ID, "WRONG1")
				e.Cancel(ctx, "acme", c.ID)
			}
			for len(e.queue) > 0 {
				<-e.queue
				e.gate.done()
			}
			now = now.Add(61 * time.Second) // past a 1m retention
			for e.RunDue(ctx, 1024) > 0 {
			}
			usage = append(usage, st.DiskUsage())
		}
		return usage
	}
	with := run(time.Minute)
	without := run(1000 * time.Hour)
	t.Logf("disk use by round, retention 1m:   %v", with)
	t.Logf("disk use by round, retention off: %v", without)
	var peakEarly uint64
	for _, u := range with[:6] {
		peakEarly = max(peakEarly, u)
	}
	for i, u := range with[6:] {
		if u > peakEarly*3/2 {
			t.Fatalf("round %d: disk use %d grew past 1.5× the early peak %d: retention does not bound it", i+6, u, peakEarly)
		}
	}
	// (the last rounds' peaks: compactions make single readings jumpy)
	if a, b := slices.Max(without[len(without)-3:]), slices.Max(with[len(with)-3:]); a < b*3/2 {
		t.Fatalf("control: without retention the store ends at %d bytes, not clearly above %d: the test cannot tell", a, b)
	}
}
