package httpx

import (
	"sync"
	"time"
)

// LoginGuard slows down the guessing of secrets at a login route (SMS.CX's
// and Message Central's token routes, whose secrets may be passwords people
// chose): after Max failed logins from one client address within Window,
// that address's logins are refused until the window passes, whatever they
// carry. The zero value allows 20 failures a minute. Safe for concurrent
// use; it keeps at most maxGuarded addresses (past that it forgets them
// all, which only ever lets a guesser try sooner).
type LoginGuard struct {
	Max    int
	Window time.Duration

	mu sync.Mutex
	m  map[string]*guardEntry
}

type guardEntry struct {
	start    time.Time
	failures int
}

const maxGuarded = 100_000

func (g *LoginGuard) limits() (int, time.Duration) {
	max, win := g.Max, g.Window
	if max <= 0 {
		max = 20
	}
	if win <= 0 {
		win = time.Minute
	}
	return max, win
}

// Blocked reports whether addr may not log in now, and for how long.
func (g *LoginGuard) Blocked(addr string, now time.Time) (bool, time.Duration) {
	max, win := g.limits()
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.m[addr]
	if e == nil || now.Sub(e.start) >= win {
		return false, 0
	}
	if e.failures >= max {
		return true, win - now.Sub(e.start)
	}
	return false, 0
}

// Failed counts a failed login from addr.
func (g *LoginGuard) Failed(addr string, now time.Time) {
	_, win := g.limits()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil || len(g.m) >= maxGuarded {
		g.m = map[string]*guardEntry{}
	}
	e := g.m[addr]
	if e == nil || now.Sub(e.start) >= win {
		e = &guardEntry{start: now}
		g.m[addr] = e
	}
	e.failures++
}
