package router

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TrackerConfig tunes a Tracker. The zero value of each field takes its
// default, except Threshold, where 0 disables the rate check (use
// DefaultTrackerConfig, or set 0.5 yourself, for the usual judgement).
type TrackerConfig struct {
	// Window is the sliding window for the success rate; default 5m. It is
	// kept as 30 buckets of Window/30 (10 s for 5m) that age out whole.
	Window time.Duration
	// MinSamples: with fewer final receipts than this in the window the
	// rate is not judged (the connector counts as healthy); default 20.
	MinSamples int
	// Threshold is the success rate under which a connector is unhealthy;
	// DefaultThreshold (0.5) is the usual value; 0 (or less) disables the
	// rate check, so only a connector without a bound link is unusable.
	Threshold float64
	// ProbeEvery: while a connector is unhealthy by its rate, one Usable
	// call in ProbeEvery answers true, so a probe message goes through and
	// its receipt can show recovery; default 20; negative: no probes (the
	// connector recovers only as its failures leave the window).
	ProbeEvery int
	// Now is the clock for Usable and State (Observe takes its own time);
	// default time.Now. Tests set a fake one.
	Now func() time.Time
}

// Defaults of TrackerConfig.
const (
	DefaultWindow     = 5 * time.Minute
	DefaultMinSamples = 20
	DefaultThreshold  = 0.5
	DefaultProbeEvery = 20
)

// DefaultTrackerConfig returns the usual settings: a 5 minute window, 20
// receipts at least, unhealthy under 50 % delivered, one probe in 20.
func DefaultTrackerConfig() TrackerConfig {
	return TrackerConfig{Window: DefaultWindow, MinSamples: DefaultMinSamples, Threshold: DefaultThreshold, ProbeEvery: DefaultProbeEvery}
}

// ConnectorState is what a Tracker knows of one connector, for metrics and
// explain.
type ConnectorState struct {
	Up          bool    // it has a bound link (or the tracker was never told otherwise)
	SuccessRate float64 // delivered / final receipts in the window; 1 when there are none
	Samples     int     // final receipts in the window
	Healthy     bool    // Up, and the rate is not under the threshold (or not judged)
}

// buckets is how many time buckets cover a Tracker's window.
const buckets = 30

// Tracker judges connectors from what the gateway sees: whether they have a
// bound link, and their receipt success rate over a sliding window. It is a
// Health, safe for concurrent use; Observe, Usable and State are O(1) and do
// not allocate (except the first time a connector is named).
//
// A connector the tracker has never heard of (no SetUp, no Observe) is
// usable: there is no evidence against it. A nil *Tracker finds every
// connector usable.
type Tracker struct {
	cfg   TrackerConfig
	width time.Duration // of one bucket
	base  time.Time     // bucket epochs count from here

	conns atomic.Pointer[map[string]*conn] // copy on write
	mu    sync.Mutex                       // serializes adding connectors
}

// conn is the state of one connector.
type conn struct {
	up atomic.Bool

	mu       sync.Mutex
	head     int64 // the newest bucket's epoch
	ring     [buckets]bucket
	ok, fail int // totals over ring
	probe    int // Usable calls refused since the last probe
}

type bucket struct{ ok, fail int32 }

// NewTracker returns a Tracker with cfg (zero fields take their defaults;
// see TrackerConfig).
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MinSamples <= 0 {
		cfg.MinSamples = DefaultMinSamples
	}
	if cfg.ProbeEvery == 0 {
		cfg.ProbeEvery = DefaultProbeEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Tracker{cfg: cfg, width: max(cfg.Window/buckets, 1), base: cfg.Now()}
	m := map[string]*conn{}
	t.conns.Store(&m)
	return t
}

// Config returns the tracker's settings, defaults applied.
func (t *Tracker) Config() TrackerConfig { return t.cfg }

func (t *Tracker) lookup(name string) *conn { return (*t.conns.Load())[name] }

// get returns the connector's state, adding it (up) if new.
func (t *Tracker) get(name string) *conn {
	if c := t.lookup(name); c != nil {
		return c
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.conns.Load()
	if c := old[name]; c != nil {
		return c
	}
	c := &conn{head: t.epoch(t.cfg.Now())}
	c.up.Store(true)
	m := make(map[string]*conn, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[name] = c
	t.conns.Store(&m)
	return c
}

// epoch is the bucket number of at.
func (t *Tracker) epoch(at time.Time) int64 {
	d := at.Sub(t.base)
	e := int64(d / t.width)
	if d < 0 && d%t.width != 0 {
		e-- // floor
	}
	return e
}

// SetUp says whether the connector has a bound link: without one it is not
// usable, whatever its rate.
func (t *Tracker) SetUp(connector string, up bool) {
	t.get(connector).up.Store(up)
}

// Observe records a final receipt of the connector at the given time.
// Receipts older than the window are ignored.
func (t *Tracker) Observe(connector string, delivered bool, at time.Time) {
	c := t.get(connector)
	e := t.epoch(at)
	c.mu.Lock()
	c.advance(e)
	if e > c.head-buckets {
		b := &c.ring[mod(e)]
		if delivered {
			b.ok++
			c.ok++
		} else {
			b.fail++
			c.fail++
		}
	}
	c.mu.Unlock()
}

// advance moves the newest bucket to epoch e, emptying the buckets that
// leave the window.
func (c *conn) advance(e int64) {
	if e <= c.head {
		return
	}
	if e-c.head >= buckets {
		c.ring = [buckets]bucket{}
		c.ok, c.fail = 0, 0
	} else {
		for k := c.head + 1; k <= e; k++ {
			b := &c.ring[mod(k)]
			c.ok -= int(b.ok)
			c.fail -= int(b.fail)
			*b = bucket{}
		}
	}
	c.head = e
}

func mod(e int64) int {
	m := e % buckets
	if m < 0 {
		m += buckets
	}
	return int(m)
}

// rateOK: the rate over the window is not under the threshold, or is not
// judged (check disabled, too few samples). c.mu is held.
func (t *Tracker) rateOK(c *conn) bool {
	n := c.ok + c.fail
	return t.cfg.Threshold <= 0 || n < t.cfg.MinSamples || float64(c.ok) >= t.cfg.Threshold*float64(n)
}

// Usable implements Health. A connector without a bound link is not usable.
// One whose success rate over the window is under the threshold is not
// usable either, except for every ProbeEvery-th call, which lets a probe
// through; it is usable again as soon as the rate climbs back (good probe
// receipts, old failures leaving the window).
func (t *Tracker) Usable(connector string) bool {
	if t == nil {
		return true
	}
	c := t.lookup(connector)
	if c == nil {
		return true
	}
	if !c.up.Load() {
		return false
	}
	if t.cfg.Threshold <= 0 {
		return true
	}
	e := t.epoch(t.cfg.Now())
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(e)
	if t.rateOK(c) {
		c.probe = 0
		return true
	}
	c.probe++
	if t.cfg.ProbeEvery > 0 && c.probe >= t.cfg.ProbeEvery {
		c.probe = 0
		return true
	}
	return false
}

// State returns what the tracker knows of the connector now. It does not
// count as a Usable call (no probe is spent).
func (t *Tracker) State(connector string) ConnectorState {
	c := t.lookup(connector)
	if c == nil {
		return ConnectorState{Up: true, SuccessRate: 1, Healthy: true}
	}
	e := t.epoch(t.cfg.Now())
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(e)
	s := ConnectorState{Up: c.up.Load(), SuccessRate: 1, Samples: c.ok + c.fail}
	if s.Samples > 0 {
		s.SuccessRate = float64(c.ok) / float64(s.Samples)
	}
	s.Healthy = s.Up && t.rateOK(c)
	return s
}

// Connectors returns the connectors the tracker has heard of, sorted.
func (t *Tracker) Connectors() []string {
	m := *t.conns.Load()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
