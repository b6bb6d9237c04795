package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/router"
)

// failOnce makes a verification of number for tenant and uses up its
// attempts with wrong codes.
func failOnce(t *testing.T, e *Engine, tenant, number string) error {
	t.Helper()
	c, err := e.Create(context.Background(), CreateRequest{Tenant: tenant, Number: number, MaxAttempts: 2})
	if err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		// a 6-digit code is never "x": wrong by construction
		if _, err := e.Check(context.Background(), tenant, c.ID, "x"); err != nil {
			t.Fatalf("check: %v", err)
		}
	}
	return nil
}

// TestLockout: six wrong codes (three failed verifications of two
// attempts) lock a number for the tenant (429 number_locked) for 15
// minutes, the next lock after six more for 30; another tenant is never
// locked out by them; the lock holds across a restart (a new engine on
// the reopened store).
func TestLockout(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	open := func() (*Engine, *store.Store) {
		st, err := store.Open(store.Options{Dir: dir, Sync: store.SyncNone})
		if err != nil {
			t.Fatal(err)
		}
		rt, _ := router.New([]router.Route{{Name: "all", Targets: []router.Target{{Connector: "smsc"}}}}, nil)
		e, err := New(Config{
			ServerKey: bytes.Repeat([]byte{1}, 32), Store: st, Router: rt, Senders: map[string]Sender{"smsc": &fakeSMSC{}},
			Tenants: map[string]*Tenant{"acme": {ID: "acme"}, "other": {ID: "other"}},
			Now:     clock, Logger: slog.New(slog.DiscardHandler),
			Limits: Limits{NumberSends: Window{Max: -1}, NumberChecks: Window{Max: -1}, Velocity: velocityOff,
				Lockout: Lockout{WrongCodes: 6}}, // three verifications of 2 attempts
		})
		if err != nil {
			t.Fatal(err)
		}
		return e, st
	}
	e, st := open()
	const number = "+393471234567"
	for i := 0; i < 3; i++ {
		if err := failOnce(t, e, "acme", number); err != nil {
			t.Fatalf("failure %d: %v", i, err)
		}
		now = now.Add(time.Minute)
	}
	locked := func(e *Engine, tenant string, want time.Duration) {
		t.Helper()
		_, err := e.Create(context.Background(), CreateRequest{Tenant: tenant, Number: number})
		var le *LimitError
		if !errors.As(err, &le) || le.Code != "number_locked" || le.RetryAfter != want {
			t.Fatalf("%s: %v, want number_locked for %s", tenant, err, want)
		}
	}
	locked(e, "acme", 14*time.Minute) // locked a minute ago, for 15
	if err := failOnce(t, e, "other", number); err != nil {
		t.Fatalf("another tenant is locked out too: %v", err)
	}
	// the lock outlives a restart
	st.Close()
	now = now.Add(5 * time.Minute)
	e, st = open()
	defer st.Close()
	locked(e, "acme", 9*time.Minute)
	now = now.Add(9 * time.Minute)
	for i := 0; i < 3; i++ {
		if err := failOnce(t, e, "acme", number); err != nil {
			t.Fatalf("failure %d after the first lock: %v", i, err)
		}
	}
	locked(e, "acme", 30*time.Minute) // doubled
	now = now.Add(30 * time.Minute)
	if err := failOnce(t, e, "acme", number); err != nil {
		t.Fatalf("after the second lock: %v", err)
	}
}

// TestGuessRate: a tenant's wrong codes, over every number, are bounded:
// past the burst a check is refused (429 guess_rate_limit) before its code
// is compared, and a token comes back at the rate.
func TestGuessRate(t *testing.T) {
	h := newHarness(t)
	h.e.cfg.Limits.GuessRate = Velocity{Rate: 1, Burst: 3}
	h.e.cfg.Limits.Lockout.WrongCodes = -1
	var ids []string
	for i := 0; i < 4; i++ {
		c, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: "+39347123456" + string(rune('0'+i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	for i := 0; i < 3; i++ {
		if r, err := h.e.Check(context.Background(), "acme", ids[i], "x"); err != nil || r.Reason != "wrong_code" {
			t.Fatalf("wrong code %d: %+v %v", i, r, err)
		}
	}
	_, err := h.e.Check(context.Background(), "acme", ids[3], "x")
	var le *LimitError
	if !errors.As(err, &le) || le.Code != "guess_rate_limit" || le.RetryAfter != time.Second {
		t.Fatalf("the fourth wrong code in a burst of 3: %v", err)
	}
	if v, _ := h.e.Get(context.Background(), "acme", ids[3]); v.Attempts != 0 {
		t.Fatalf("a refused check counted an attempt: %d", v.Attempts)
	}
	// another tenant's guesses are its own
	if _, err := h.e.Create(context.Background(), CreateRequest{Tenant: "other", Number: "+393471234599"}); err != nil {
		t.Fatal(err)
	}
	h.advanceClock(time.Second)
	if r, err := h.e.Check(context.Background(), "acme", ids[3], "x"); err != nil || r.Reason != "wrong_code" {
		t.Fatalf("after a second: %+v %v", r, err)
	}
}

// TestLockoutCountsWrongCodesNotFailures: a verification canceled, or left
// to expire, after fewer wrong codes than its attempts still counts them:
// there is no way around the lock by never using the last attempt.
func TestLockoutCountsWrongCodesNotFailures(t *testing.T) {
	h := newHarness(t)
	h.e.cfg.Limits.Lockout = Lockout{WrongCodes: 4, Window: 24 * time.Hour, First: 15 * time.Minute, Max: 24 * time.Hour}
	const number = "+393471234567"
	for round := 0; round < 2; round++ {
		c, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: number, MaxAttempts: 5})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i := 0; i < 2; i++ {
			if r, err := h.e.Check(context.Background(), "acme", c.ID, "x"); err != nil || r.Reason != "wrong_code" {
				t.Fatalf("check: %+v %v", r, err)
			}
		}
		if round == 0 {
			if _, err := h.e.Cancel(context.Background(), "acme", c.ID); err != nil {
				t.Fatal(err)
			}
		} else {
			h.advanceClock(11 * time.Minute) // expires with attempts left
			h.e.runDue(context.Background(), 100)
		}
	}
	_, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: number})
	var le *LimitError
	if !errors.As(err, &le) || le.Code != "number_locked" {
		t.Fatalf("after 4 wrong codes over a canceled and an expired verification: %v", err)
	}
}

// TestLockLength: each lock doubles, capped, whatever the count (no
// shift that overflows into a negative lock).
func TestLockLength(t *testing.T) {
	lo := Lockout{First: 15 * time.Minute, Max: 24 * time.Hour}
	for n, want := range map[int]time.Duration{0: 15 * time.Minute, 1: 30 * time.Minute, 6: 16 * time.Hour, 7: 24 * time.Hour, 30: 24 * time.Hour, 1 << 20: 24 * time.Hour} {
		if got := lockLength(lo, n); got != want {
			t.Errorf("lock %d: %s, want %s", n, got, want)
		}
	}
}
