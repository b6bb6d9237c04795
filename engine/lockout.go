package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/otpgate/otpgate/engine/store"
)

// Lockouts. A number whose codes keep being guessed wrong is locked for
// the tenant whose checks guessed them: creates for it are refused (429
// number_locked) until the lock ends. Wrong codes are counted, not failed
// verifications, so a verification left to expire, canceled or replaced
// after fewer wrong codes than its attempts gives no way around it. Each
// lock is twice as long as the one before, up to a maximum, while the
// wrong codes keep coming. A lock is the tenant's alone: another tenant, and so the
// number's owner through another service, is never locked out by it,
// so nobody can use the guard to lock a victim out everywhere.
//
// Its state is a keyed value of the store (l/<tenant>/<number>), written
// in its own synced commit at each wrong code, so it holds across restarts
// and is shared by every node of a shared store.

// Lockout configures the lockouts. Zero fields take the defaults; a
// negative WrongCodes turns lockouts off.
type Lockout struct {
	// WrongCodes: wrong codes within Window that lock the number. Default
	// 15 (three verifications' worth at 5 attempts).
	WrongCodes int
	// Window: how long failures count. Default 24h.
	Window time.Duration
	// First: the first lock's length; each next one doubles. Default 15m.
	First time.Duration
	// Max caps a lock's length. Default 24h.
	Max time.Duration
}

func (l Lockout) withDefaults() Lockout {
	if l.WrongCodes == 0 {
		l.WrongCodes = 15
	}
	if l.Window == 0 {
		l.Window = 24 * time.Hour
	}
	if l.First == 0 {
		l.First = 15 * time.Minute
	}
	if l.Max == 0 {
		l.Max = 24 * time.Hour
	}
	return l
}

// lockState is a number's failures and lock for one tenant.
type lockState struct {
	Wrong []time.Time `json:"wrong,omitempty"` // wrong codes within the window, oldest first
	Locks int         `json:"locks"`           // locks so far (the next is First << Locks)
	Until time.Time   `json:"until,omitzero"`
}

func lockName(tenant, number string) string { return "l\x00" + tenant + "\x00" + number }

// The locks in force are also kept in memory (Engine.locks: read at start
// from the store, added to at each lock), so a create asks a map, not the
// disk. With one node that is the whole truth; nodes sharing a store would
// each see only their own new locks until a restart (the multi-node issue
// moves this into the store).

// loadLocks reads the locks in force from the store.
func (e *Engine) loadLocks(now time.Time) error {
	return e.st.ScanKeyed("l\x00", now, func(name string, v []byte) bool {
		var st lockState
		if json.Unmarshal(v, &st) == nil && now.Before(st.Until) {
			e.locks.Store(name, st.Until)
		}
		return true
	})
}

// lockedFor says how long number stays locked for tenant (0: not).
func (e *Engine) lockedFor(tenant, number string, now time.Time) (time.Duration, error) {
	if e.cfg.Limits.Lockout.WrongCodes < 0 {
		return 0, nil
	}
	name := lockName(tenant, number)
	v, ok := e.locks.Load(name)
	if !ok {
		return 0, nil
	}
	until := v.(time.Time)
	if !now.Before(until) {
		e.locks.CompareAndDelete(name, v)
		return 0, nil
	}
	return until.Sub(now), nil
}

// noteWrong counts a wrong code for number checked by tenant, locking the
// number when the wrong codes reach the limit.
func (e *Engine) noteWrong(tenant, number string, now time.Time) {
	lo := e.cfg.Limits.Lockout
	if lo.WrongCodes < 0 {
		return
	}
	var locked time.Duration
	var until time.Time
	err := e.st.UpdateKeyed(lockName(tenant, number), now, func(old []byte, ok bool) ([]byte, time.Time, error) {
		var st lockState
		if ok {
			_ = json.Unmarshal(old, &st) // unreadable: start again
		}
		kept := st.Wrong[:0]
		for _, f := range st.Wrong {
			if now.Sub(f) < lo.Window {
				kept = append(kept, f)
			}
		}
		st.Wrong = append(kept, now)
		locked = 0
		if len(st.Wrong) >= lo.WrongCodes {
			locked = lockLength(lo, st.Locks)
			st.Until, st.Wrong = now.Add(locked), nil
			st.Locks++
			until = st.Until
		}
		v, err := json.Marshal(st)
		// remembered while a failure counts or a lock runs, and a window
		// after, so a number that fails again soon gets a longer lock
		return v, later(st.Until, now).Add(lo.Window), err
	})
	if err != nil {
		e.log.Error("lockout: recording a wrong code failed", "tenant", tenant, "err", err)
		return
	}
	if locked > 0 {
		e.locks.Store(lockName(tenant, number), until)
		fraudLocked()
		e.log.Warn("lockout: number locked for the tenant after repeated wrong codes", "tenant", tenant, "for", locked)
	}
}

// lockLength is the length of lock number n (from 0): First, doubled n
// times, at most Max (no shift that could overflow).
func lockLength(lo Lockout, n int) time.Duration {
	d := lo.First
	for i := 0; i < n && d < lo.Max; i++ {
		d *= 2
	}
	return min(d, lo.Max)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// lockedError is the 429 for a create of a locked number.
func lockedError(d time.Duration) *LimitError {
	return &LimitError{Code: "number_locked", RetryAfter: d,
		Detail: fmt.Sprintf("this number is locked for this tenant after repeated wrong codes; retry in %s", d.Round(time.Second))}
}

// guessBucket is the tenant's guess-rate bucket (ok false: off).
func (e *Engine) guessBucket(tenant string, now time.Time) (store.Bucket, bool) {
	v, ok := velocityOf(Velocity{}, e.cfg.Limits.GuessRate, Velocity{Rate: 50, Burst: 500})
	return store.Bucket{Name: "g\x00" + tenant, Rate: v.Rate, Burst: v.Burst, Now: now}, ok
}
