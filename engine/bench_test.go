package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/router"
)

func benchEngine(b *testing.B, sync store.SyncMode, velocity VelocityLimits) (*Engine, *fakeSMSC) {
	st, err := store.Open(store.Options{Dir: b.TempDir(), Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	rt, _ := router.New([]router.Route{{Name: "all", Targets: []router.Target{{Connector: "smsc"}}}}, nil)
	smsc := &fakeSMSC{}
	e, err := New(Config{
		ServerKey: bytes.Repeat([]byte{1}, 32), Store: st, Router: rt,
		Senders: map[string]Sender{"smsc": smsc},
		Tenants: map[string]*Tenant{"acme": {ID: "acme", Template: "plain", Templates: Templates{"plain": {"en": "CODE {code} END"}}}},
		Logger:  slog.New(slog.DiscardHandler),
		// BenchmarkCheckWrong checks each number far more often than the
		// default 15 in 10 minutes: the check limit stays off here (the
		// send limit, counted in the create's commit, stays on).
		Limits: Limits{NumberSends: Window{Max: 1, Per: 10 * time.Minute}, NumberChecks: Window{Max: -1}, Velocity: velocity},
	})
	if err != nil {
		b.Fatal(err)
	}
	return e, smsc
}

// BenchmarkCreate measures Create (validation, code, hash, seal, one
// store commit) from many goroutines; the send queue is drained away.
func BenchmarkCreate(b *testing.B) {
	// velocity buckets taken on every create, at rates no benchmark reaches
	// (what the fraud guards' counting costs), or off
	huge := Velocity{Rate: 1e9, Burst: 1e9}
	for _, c := range []struct {
		name     string
		sync     store.SyncMode
		velocity VelocityLimits
	}{
		{"none", store.SyncNone, velocityOff}, {"always", store.SyncAlways, velocityOff},
		{"always/velocity-on", store.SyncAlways, VelocityLimits{Country: huge, Prefix: huge, Client: huge}},
	} {
		sync := c.sync
		b.Run(c.name, func(b *testing.B) {
			e, _ := benchEngine(b, sync, c.velocity)
			go func() {
				for range e.queue {
					e.gate.done()
				}
			}()
			var n atomic.Uint64
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					num := fmt.Sprintf("+39347%07d", n.Add(1))
					if _, err := e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: num}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkCheckWrong measures a failing check (read, hash compare, one
// commit) on records with attempts left.
func BenchmarkCheckWrong(b *testing.B) {
	e, _ := benchEngine(b, store.SyncNone, velocityOff)
	ids := make([]string, 1000)
	for i := range ids {
		v, err := e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: fmt.Sprintf("+39347%07d", i), MaxAttempts: 10})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = v.ID
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := ids[i%len(ids)]
		if i%len(ids) == 0 && i > 0 {
			b.StopTimer()
			for _, id := range ids { // reset attempts
				e.update(id, func(r *store.Record) error { r.Attempts = 0; return nil })
			}
			b.StartTimer()
		}
		if _, err := e.Check(context.Background(), "acme", id, "ZZZZZZ"); err != nil {
			b.Fatal(err)
		}
	}
}
