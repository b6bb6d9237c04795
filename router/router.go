// Package router decides where one message goes: which route of the routing
// table takes it, and in which order that route's connectors are tried.
//
// # Matching
//
// A route matches on the destination's country (ISO 3166-1 alpha-2) and
// E.164 prefixes, on the sender (exact ids, path.Match patterns, or its
// kind: alphanumeric or numeric), on the tenant and on the channel (sms or
// voice). An empty criterion matches anything. Among the routes whose
// non-prefix criteria all match, the one with the longest matching prefix
// wins; a route without prefixes ranks below any prefix match; ties go to
// the route with more criteria set (each of Countries, Senders, SenderKind
// and Tenants that is set counts one), then to the earlier route.
//
// The lookup walks a decimal trie of the prefixes (at most 15 nodes) and
// tries, deepest first, only the routes whose prefixes end on that walk;
// then the prefix-less routes, in rank order. It does not allocate.
//
// # Targets
//
// A route sends through 1 to MaxTargets targets (connectors). Its strategy
// orders them: "failover" as given; "weighted" draws the first by weight
// and puts the others after it by weight, heaviest first; "least_cost" puts
// the cheapest first (stable for equal costs). Targets a Health calls
// unusable are left out of the answer and named in Decision.Skipped; when
// every target of the route is unusable they are all kept, in strategy
// order, and Decision.Degraded says so: the engine still needs somewhere to
// send, and the message then waits or fails on its own.
//
// # Reload
//
// A Router is immutable and safe for concurrent use. To reload, build a new
// one with New (which validates the whole table and names the faulty field
// in its error) and swap a pointer, e.g. an atomic.Pointer[Router]; a table
// that does not build leaves the running one in place.
//
// # Health
//
// Tracker is a Health that judges connectors from what the gateway sees:
// whether a connector has a bound link, and its receipt success rate over a
// sliding window, with probe traffic deciding recovery.
//
// The package keeps no global state and exports no metrics: callers read
// Decision, Router.Connectors and Tracker.State and export what they need.
package router

import (
	"math/rand/v2"
	"path"
	"slices"
	"strings"
)

// Target is one connector a route may send through.
type Target struct {
	Connector string  // connector (SMSC) name
	Weight    int     // weighted split share (strategy "weighted"); default 1
	Cost      float64 // cost per message (strategy "least_cost"); default 0
}

// Match says which messages a route takes. Empty fields match anything.
type Match struct {
	Countries  []string // ISO 3166-1 alpha-2, upper case ("IT")
	Prefixes   []string // E.164 prefixes with "+" ("+39", "+3934"); the longest matching prefix ranks the route
	Senders    []string // exact sender ids, or patterns with * and ? (path.Match syntax); case-sensitive
	SenderKind string   // "alphanumeric" | "numeric" | "" (any): numeric = optional "+" then digits only
	Tenants    []string // tenant ids
	Channel    string   // "sms" (default) | "voice" | "whatsapp" | "rcs"
}

// Route is one line of the routing table.
type Route struct {
	Name      string
	Match     Match
	Targets   []Target // at least one, at most MaxTargets
	Strategy  string   // "failover" (default: Targets in the order given) | "weighted" (first target drawn by weight, the others after it by weight) | "least_cost" (cheapest first)
	Sender    string   // when set, replaces the sender (countries that refuse alphanumeric senders)
	SourceTON *int     // when set, the originator's TON/NPI for this route
	SourceNPI *int
}

// Request is one message to route.
type Request struct {
	Number  string // E.164 "+393471234567"
	Country string // ISO of the number ("IT")
	Sender  string
	Tenant  string
	Channel string // "" means "sms"
}

// MaxTargets bounds the targets of one route.
const MaxTargets = 8

// Channels a route may serve.
const (
	ChannelSMS      = "sms"
	ChannelVoice    = "voice"
	ChannelWhatsApp = "whatsapp"
	ChannelRCS      = "rcs"
)

// Channels lists them all.
var Channels = []string{ChannelSMS, ChannelVoice, ChannelWhatsApp, ChannelRCS}

// Strategies that order a route's targets.
const (
	StrategyFailover  = "failover"
	StrategyWeighted  = "weighted"
	StrategyLeastCost = "least_cost"
)

// Sender kinds a route may require.
const (
	KindAlphanumeric = "alphanumeric"
	KindNumeric      = "numeric"
)

// Decision is the router's answer. Targets[:N] in the order to try them:
// the first is the choice, the rest the fallbacks.
type Decision struct {
	Route     string // the route's name
	Rule      string // why it matched, for people: e.g. `route "it-mobile": prefix +3934, tenant acme`
	Targets   [MaxTargets]Target
	N         int
	Skipped   [MaxTargets]string // connectors left out because unhealthy (for explain), SkippedN of them
	SkippedN  int
	Sender    string // the sender to use (rewritten or as requested)
	SourceTON int    // -1 when the route does not set it
	SourceNPI int    // -1 when the route does not set it
	// Degraded: every target of the route was unhealthy, so Targets holds
	// them all (in strategy order) and Skipped is empty.
	Degraded bool
}

// List returns Targets[:N].
func (d *Decision) List() []Target { return d.Targets[:d.N] }

// SkippedList returns Skipped[:SkippedN].
func (d *Decision) SkippedList() []string { return d.Skipped[:d.SkippedN] }

// Health tells whether a connector may take traffic now.
type Health interface {
	Usable(connector string) bool
}

// Router is an immutable routing table, safe for concurrent use; reload =
// build a new one and swap a pointer.
type Router struct {
	routes     []Route    // deep copy, as configured
	rs         []compiled // routes[i] ready to match and decide
	nodes      []node     // the prefix trie; nodes[0] is the root ("+")
	noPrefix   []entry    // prefix-less routes, in rank order
	connectors []string   // sorted, unique
}

// node is a decimal trie node: next[d] is the child for digit d (0: none,
// the root is never a child); entries are the routes with a prefix ending
// here, in rank order.
type node struct {
	next    [10]uint32
	entries []entry
}

// entry is a route that a trie node (or the prefix-less list) leads to,
// with the rule text built once so Route does not allocate.
type entry struct {
	route int
	rule  string
}

// compiled is a validated route in the form the lookup uses.
type compiled struct {
	name      string
	countries []string
	tenants   strSet
	senders   strSet             // exact ids
	patterns  []string           // path.Match patterns
	anySender bool               // neither exact ids nor patterns
	kind      uint8              // kindAny, kindAlnum, kindNumeric
	channel   string             // normalized: "" is "sms"
	criteria  int                // how many of countries, senders, kind, tenants are set
	order     [MaxTargets]Target // in strategy order, defaults applied
	n         int
	weighted  bool
	sender    string
	ton, npi  int
}

const (
	kindAny uint8 = iota
	kindAlnum
	kindNumeric
)

// strSet is a set of strings: a slice scanned for a few, a map for many.
type strSet struct {
	list []string
	m    map[string]struct{}
}

const setMapAt = 8 // from this many strings on, a map

func newStrSet(s []string) strSet {
	if len(s) >= setMapAt {
		m := make(map[string]struct{}, len(s))
		for _, v := range s {
			m[v] = struct{}{}
		}
		return strSet{m: m}
	}
	return strSet{list: slices.Clone(s)}
}

func (s *strSet) empty() bool { return len(s.list) == 0 && s.m == nil }

func (s *strSet) has(v string) bool {
	if s.m != nil {
		_, ok := s.m[v]
		return ok
	}
	for _, x := range s.list {
		if x == v {
			return true
		}
	}
	return false
}

// Route picks the route for req and orders its targets. h may be nil (all
// usable); it is asked once per target of the chosen route. ok is false when
// no route matches.
func (r *Router) Route(req Request, h Health) (d Decision, ok bool) {
	ch := req.Channel
	if ch == "" {
		ch = ChannelSMS
	}
	// Walk the trie, remembering the nodes where some route's prefix ends.
	var hits [16]uint32
	nh := 0
	num := req.Number
	if len(num) > 0 && num[0] == '+' {
		num = num[1:]
	}
	n := uint32(0)
	for i := 0; i < len(num) && i < 15; i++ {
		c := num[i]
		if c < '0' || c > '9' {
			break
		}
		n = r.nodes[n].next[c-'0']
		if n == 0 {
			break
		}
		if len(r.nodes[n].entries) > 0 {
			hits[nh] = n
			nh++
		}
	}
	for k := nh - 1; k >= 0; k-- {
		for i := range r.nodes[hits[k]].entries {
			e := &r.nodes[hits[k]].entries[i]
			if r.rs[e.route].matches(&req, ch) {
				r.decide(&d, e, &req, h)
				return d, true
			}
		}
	}
	for i := range r.noPrefix {
		e := &r.noPrefix[i]
		if r.rs[e.route].matches(&req, ch) {
			r.decide(&d, e, &req, h)
			return d, true
		}
	}
	return d, false
}

// matches reports whether the non-prefix criteria of c hold for req.
func (c *compiled) matches(req *Request, ch string) bool {
	if c.channel != ch {
		return false
	}
	if len(c.countries) > 0 {
		found := false
		for _, x := range c.countries {
			if strings.EqualFold(x, req.Country) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if !c.tenants.empty() && !c.tenants.has(req.Tenant) {
		return false
	}
	switch c.kind {
	case kindNumeric:
		if !isNumeric(req.Sender) {
			return false
		}
	case kindAlnum:
		if req.Sender == "" || isNumeric(req.Sender) {
			return false
		}
	}
	if !c.anySender && !c.senders.has(req.Sender) {
		found := false
		for _, p := range c.patterns {
			if ok, _ := path.Match(p, req.Sender); ok {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// isNumeric: an optional "+" then one or more digits only.
func isNumeric(s string) bool {
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decide fills d for the route of e.
func (r *Router) decide(d *Decision, e *entry, req *Request, h Health) {
	c := &r.rs[e.route]
	d.Route, d.Rule = c.name, e.rule
	d.Sender = req.Sender
	if c.sender != "" {
		d.Sender = c.sender
	}
	d.SourceTON, d.SourceNPI = c.ton, c.npi
	for i := 0; i < c.n; i++ {
		t := c.order[i]
		if h == nil || h.Usable(t.Connector) {
			d.Targets[d.N] = t
			d.N++
		} else {
			d.Skipped[d.SkippedN] = t.Connector
			d.SkippedN++
		}
	}
	if d.N == 0 {
		d.Targets, d.N = c.order, c.n
		d.Skipped, d.SkippedN = [MaxTargets]string{}, 0
		d.Degraded = true
	}
	if c.weighted && d.N > 1 {
		total := 0
		for i := 0; i < d.N; i++ {
			total += d.Targets[i].Weight
		}
		x := rand.IntN(total)
		k := 0
		for ; k < d.N-1; k++ {
			if x -= d.Targets[k].Weight; x < 0 {
				break
			}
		}
		// Move the drawn target to the front; the others keep their
		// (heaviest first) order after it.
		t := d.Targets[k]
		copy(d.Targets[1:k+1], d.Targets[:k])
		d.Targets[0] = t
	}
}

// Routes returns the routing table as configured (a copy, for explain and
// printing).
func (r *Router) Routes() []Route {
	out := make([]Route, len(r.routes))
	for i := range r.routes {
		out[i] = cloneRoute(&r.routes[i])
	}
	return out
}

// Connectors returns every connector any route names, sorted, unique.
func (r *Router) Connectors() []string { return slices.Clone(r.connectors) }

// Candidate is a route that matches a request, with why.
type Candidate struct {
	Route string // the route's name
	Rule  string // why it matched, as in Decision.Rule
}

// Candidates lists every route that matches req, best first: the first is
// the one Route picks. It allocates; it is for explain, not for traffic.
func (r *Router) Candidates(req Request) []Candidate {
	ch := req.Channel
	if ch == "" {
		ch = ChannelSMS
	}
	var out []Candidate
	seen := make([]bool, len(r.rs)) // a route with two matching prefixes counts once, at the longer
	add := func(es []entry) {
		for _, e := range es {
			if !seen[e.route] && r.rs[e.route].matches(&req, ch) {
				seen[e.route] = true
				out = append(out, Candidate{Route: r.rs[e.route].name, Rule: e.rule})
			}
		}
	}
	num := strings.TrimPrefix(req.Number, "+")
	var walk []uint32
	n := uint32(0)
	for i := 0; i < len(num) && i < 15 && num[i] >= '0' && num[i] <= '9'; i++ {
		if n = r.nodes[n].next[num[i]-'0']; n == 0 {
			break
		}
		walk = append(walk, n)
	}
	for k := len(walk) - 1; k >= 0; k-- {
		add(r.nodes[walk[k]].entries)
	}
	add(r.noPrefix)
	return out
}

func cloneRoute(rt *Route) Route {
	c := *rt
	c.Match.Countries = slices.Clone(rt.Match.Countries)
	c.Match.Prefixes = slices.Clone(rt.Match.Prefixes)
	c.Match.Senders = slices.Clone(rt.Match.Senders)
	c.Match.Tenants = slices.Clone(rt.Match.Tenants)
	c.Targets = slices.Clone(rt.Targets)
	if rt.SourceTON != nil {
		v := *rt.SourceTON
		c.SourceTON = &v
	}
	if rt.SourceNPI != nil {
		v := *rt.SourceNPI
		c.SourceNPI = &v
	}
	return c
}
