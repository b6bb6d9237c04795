package smpp

import (
	"container/list"
	"context"
	"errors"
	"github.com/otpgate/otpgate/internal/tokenbucket"
	"log/slog"
	"sync/atomic"
	"time"
)

// bind is one of the client's sessions to the SMSC: its kind, its reconnect
// loop (runBind), its window and its throttle state. A bind outlives its
// sessions; each reconnect makes a new session.
type bind struct {
	c         *Client
	index     int
	kind      string
	transmits bool
	log       *slog.Logger
	m         *bindMetrics
	tps       *tokenbucket.Bucket // Config.BindTPS; nil for none

	accepted atomic.Uint64 // submit_sm answered with status 0
	receipts atomic.Uint64 // receipts received

	// Guarded by c.mu.
	sess        *session      // the bound session; nil while down
	inflight    int           // window slots taken
	pausedUntil time.Time     // throttled until then
	pause       time.Duration // the next throttle pause
	lastErr     error         // why it is down
	errAt       time.Time
	since       time.Time // when sess last changed
}

// BindState is a snapshot of one bind, for readiness checks and status
// pages.
type BindState struct {
	Index       int       // 0..len(Binds())-1, the "bind" metric label
	Kind        string    // BindTransceiver, BindTransmitter or BindReceiver
	Bound       bool      // bound right now
	Since       time.Time // when Bound last changed; zero before the first bind
	Outstanding int       // window slots taken (submit_sm in flight)
	Window      int       // Config.Window
	Throttled   bool      // paused after ESME_RTHROTTLED / ESME_RMSGQFUL
	Accepted    uint64    // submit_sm accepted (status 0) since NewClient
	Receipts    uint64    // receipts received since NewClient
	LastError   error     // why the bind is down; nil while bound
}

// Binds returns the state of every bind, in index order.
func (c *Client) Binds() []BindState {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]BindState, len(c.binds))
	for i, b := range c.binds {
		out[i] = BindState{
			Index: b.index, Kind: b.kind, Bound: b.sess != nil, Since: b.since,
			Outstanding: b.inflight, Window: c.cfg.Window, Throttled: now.Before(b.pausedUntil),
			Accepted: b.accepted.Load(), Receipts: b.receipts.Load(),
		}
		if b.sess == nil {
			out[i].LastError = b.lastErr
		}
	}
	return out
}

// Bound reports whether at least one bind that can send (transceiver or
// transmitter) is bound right now.
func (c *Client) Bound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.boundLocked(-1)
}

// boundLocked reports whether a transmitting bind other than exclude is
// bound. c.mu must be held.
func (c *Client) boundLocked(exclude int) bool {
	for _, b := range c.binds {
		if b.transmits && b.sess != nil && b.index != exclude {
			return true
		}
	}
	return false
}

// LastError returns why the client cannot send: nil while Bound (and before
// the first attempt); otherwise the most recent connect, bind or link error
// of a transmitting bind.
func (c *Client) LastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.boundLocked(-1) {
		return nil
	}
	var last *bind
	for _, b := range c.binds {
		if b.transmits && b.lastErr != nil && (last == nil || b.errAt.After(last.errAt)) {
			last = b
		}
	}
	if last == nil {
		return nil
	}
	return last.lastErr
}

// setSession publishes s as b's bound session, unless it has already ended
// (its close then finds it published and clears it: lock order c.mu → s.mu),
// and hands free slots to waiting submits.
func (c *Client) setSession(b *bind, s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	b.sess = s
	b.lastErr = nil
	b.since = time.Now()
	b.m.bound.Set(1)
	c.dispatchLocked()
}

// clearSession takes s off b if it is b's bound session.
func (c *Client) clearSession(b *bind, s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b.sess != s {
		return
	}
	b.sess = nil
	b.since = time.Now()
	b.m.bound.Set(0)
	// Retries that must avoid one bind re-check whether another is left.
	for e := c.waiters.Front(); e != nil; e = e.Next() {
		if w := e.Value.(*waiter); w.exclude >= 0 {
			w.signal()
		}
	}
}

func (c *Client) setLastErr(b *bind, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b.lastErr = err
	b.errAt = time.Now()
}

// waiter is a submit waiting for a window slot. The dispatcher hands it a
// slot (b, s) and signals wake; a signal without a slot asks it to re-check
// whether it can still be served (see clearSession).
type waiter struct {
	exclude int // a bind it must not use, or -1
	elem    *list.Element
	b       *bind
	s       *session
	wake    chan struct{} // buffered 1
}

func (w *waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// errNoOtherBind: a retry must avoid a bind and no other is bound.
var errNoOtherBind = errors.New("no other bind is bound")

// usableLocked reports whether a submit may take a slot on b now. c.mu must
// be held.
func (c *Client) usableLocked(b *bind, exclude int, now time.Time) bool {
	return b.transmits && b.sess != nil && b.index != exclude &&
		b.inflight < c.cfg.Window && !now.Before(b.pausedUntil)
}

// pickLocked chooses a bind with a free slot: prefer if usable, else the
// one with the fewest outstanding submits (ties rotate). c.mu must be held.
func (c *Client) pickLocked(prefer, exclude int, now time.Time) *bind {
	if prefer >= 0 && prefer < len(c.binds) && c.usableLocked(c.binds[prefer], exclude, now) {
		return c.binds[prefer]
	}
	n := len(c.binds)
	start := c.rr
	c.rr = (c.rr + 1) % n
	var best *bind
	for i := 0; i < n; i++ {
		b := c.binds[(start+i)%n]
		if c.usableLocked(b, exclude, now) && (best == nil || b.inflight < best.inflight) {
			best = b
		}
	}
	return best
}

// takeLocked takes a slot on b and returns its session. c.mu must be held.
func (c *Client) takeLocked(b *bind) *session {
	b.inflight++
	b.m.windowInUse.Set(float64(b.inflight))
	return b.sess
}

// dispatchLocked hands free slots to waiting submits, first come first
// served. c.mu must be held.
func (c *Client) dispatchLocked() {
	if c.waiters.Len() == 0 {
		return
	}
	now := time.Now()
	for e := c.waiters.Front(); e != nil; {
		next := e.Next()
		w := e.Value.(*waiter)
		b := c.pickLocked(-1, w.exclude, now)
		if b == nil {
			if w.exclude < 0 {
				return // no slot free anywhere
			}
			e = next
			continue
		}
		c.waiters.Remove(e)
		w.elem = nil
		w.b, w.s = b, c.takeLocked(b)
		w.signal()
		e = next
	}
}

// acquire takes a window slot on a bound transmitting bind that is not
// paused — prefer if it has one free, else the least busy — waiting for one
// as long as ctx allows. With exclude ≥ 0 it never uses that bind, and fails
// with errNoOtherBind when no other bind is bound. Other errors: ctx's, and
// ErrClosed once Run has returned. The slot must be given back with release.
func (c *Client) acquire(ctx context.Context, prefer, exclude int) (*bind, *session, error) {
	c.mu.Lock()
	if b := c.pickLocked(prefer, exclude, time.Now()); b != nil {
		s := c.takeLocked(b)
		c.mu.Unlock()
		return b, s, nil
	}
	if exclude >= 0 && !c.boundLocked(exclude) {
		c.mu.Unlock()
		return nil, nil, errNoOtherBind
	}
	w := &waiter{exclude: exclude, wake: make(chan struct{}, 1)}
	w.elem = c.waiters.PushBack(w)
	c.mu.Unlock()
	c.m.waiting.Inc()
	defer c.m.waiting.Dec()

	var err error
	for err == nil {
		select {
		case <-w.wake:
		case <-ctx.Done():
			err = ctx.Err()
		case <-c.stopped:
			err = ErrClosed
		}
		c.mu.Lock()
		if w.b != nil {
			if err != nil { // handed a slot just as we gave up: pass it on
				c.releaseLocked(w.b, false)
			} else {
				b, s := w.b, w.s
				c.mu.Unlock()
				return b, s, nil
			}
		} else if err == nil && exclude >= 0 && !c.boundLocked(exclude) {
			err = errNoOtherBind
		}
		if err != nil && w.elem != nil {
			c.waiters.Remove(w.elem)
			w.elem = nil
		}
		c.mu.Unlock()
	}
	return nil, nil, err
}

// release gives back a slot taken on b; ok (the SMSC accepted a submit_sm)
// resets b's throttle pause.
func (c *Client) release(b *bind, ok bool) {
	c.mu.Lock()
	c.releaseLocked(b, ok)
	c.mu.Unlock()
}

func (c *Client) releaseLocked(b *bind, ok bool) {
	b.inflight--
	b.m.windowInUse.Set(float64(b.inflight))
	if ok {
		b.pause = c.cfg.ThrottleMin
	}
	c.dispatchLocked()
}

// throttled pauses b after the SMSC refused a submit_sm sent at sentAt with
// ESME_RTHROTTLED or ESME_RMSGQFUL. A refusal of a submit sent before the end
// of the last pause does not pause again: it was sent too early to tell
// whether the SMSC has recovered.
func (c *Client) throttled(b *bind, sentAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sentAt.Before(b.pausedUntil) {
		return
	}
	d := b.pause
	b.pausedUntil = time.Now().Add(d)
	b.pause = min(2*d, c.cfg.ThrottleMax)
	b.m.throttlePauses.Inc()
	b.log.Warn("smpp SMSC is throttling, pausing the bind", "pause", d)
	time.AfterFunc(d, func() {
		c.mu.Lock()
		c.dispatchLocked()
		c.mu.Unlock()
	})
}
