package router

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxErrors bounds the errors New reports for one table.
const maxErrors = 20

// Limits of a rewritten sender (Route.Sender): an alphanumeric originator is
// at most 11 characters (GSM 03.40); a numeric one at most 15 digits (E.164).
const (
	maxAlnumSender   = 11
	maxNumericSender = 15
)

// New validates routes and builds a Router. known, when non-nil, tells
// which connectors exist: a target naming another is an error; known == nil
// skips that check. The routes are copied: the caller may reuse the slice.
//
// Errors name the field at fault with the paths of the YAML config, e.g.
// `routes[2].match.prefixes[1]: "+39x" is not "+" then 1 to 15 digits`;
// every fault found is reported (at most 20), joined with errors.Join.
func New(routes []Route, known func(connector string) bool) (*Router, error) {
	r := &Router{
		routes: make([]Route, len(routes)),
		rs:     make([]compiled, len(routes)),
		nodes:  make([]node, 1, 1+len(routes)*4),
	}
	var errs []error
	fail := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf(format, a...))
	}
	names := make(map[string]int, len(routes))
	conns := map[string]bool{}
	for i := range routes {
		rt := &routes[i]
		r.routes[i] = cloneRoute(rt)
		at := fmt.Sprintf("routes[%d]", i)
		c := &r.rs[i]
		c.name = rt.Name
		switch j, dup := names[rt.Name]; {
		case rt.Name == "":
			fail("%s.name: missing", at)
		case dup:
			fail("%s.name: %q is also the name of routes[%d]", at, rt.Name, j)
		default:
			names[rt.Name] = i
		}
		compileMatch(c, &rt.Match, at+".match", fail)
		compileTargets(c, rt, at, known, fail)
		for j := 0; j < c.n; j++ {
			conns[c.order[j].Connector] = true
		}
		c.sender = rt.Sender
		if rt.Sender != "" {
			if msg := checkSender(rt.Sender); msg != "" {
				fail("%s.sender: %q: %s", at, rt.Sender, msg)
			}
		}
		c.ton, c.npi = -1, -1
		if rt.SourceTON != nil {
			c.ton = *rt.SourceTON
			if c.ton < 0 || c.ton > 6 {
				fail("%s.source_ton: %d is not a TON (0 to 6)", at, c.ton)
			}
		}
		if rt.SourceNPI != nil {
			c.npi = *rt.SourceNPI
			switch c.npi {
			case 0, 1, 3, 4, 6, 8, 9, 10, 14, 18:
			default:
				fail("%s.source_npi: %d is not an NPI (0, 1, 3, 4, 6, 8, 9, 10, 14 or 18)", at, c.npi)
			}
		}
	}
	if len(errs) > 0 {
		if len(errs) > maxErrors {
			errs = append(errs[:maxErrors], fmt.Errorf("and %d more errors", len(errs)-maxErrors))
		}
		return nil, errors.Join(errs...)
	}

	// The trie, and the prefix-less routes.
	for i := range routes {
		c := &r.rs[i]
		rest := ruleRest(&routes[i].Match)
		if len(routes[i].Match.Prefixes) == 0 {
			rule := fmt.Sprintf("route %q: any number", c.name)
			if rest != "" {
				rule = fmt.Sprintf("route %q: %s", c.name, rest[2:])
			}
			r.noPrefix = append(r.noPrefix, entry{route: i, rule: rule})
			continue
		}
		for _, p := range routes[i].Match.Prefixes {
			n := r.insert(p[1:])
			r.nodes[n].entries = append(r.nodes[n].entries, entry{
				route: i,
				rule:  fmt.Sprintf("route %q: prefix %s%s", c.name, p, rest),
			})
		}
	}
	// Rank: more criteria first, then the earlier route (entries were
	// appended in route order and the sort is stable).
	byRank := func(a, b entry) int { return cmp.Compare(r.rs[b.route].criteria, r.rs[a.route].criteria) }
	for i := range r.nodes {
		slices.SortStableFunc(r.nodes[i].entries, byRank)
	}
	slices.SortStableFunc(r.noPrefix, byRank)

	for k := range conns {
		r.connectors = append(r.connectors, k)
	}
	slices.Sort(r.connectors)
	return r, nil
}

// insert adds the digits of a prefix to the trie and returns its node.
func (r *Router) insert(digits string) uint32 {
	n := uint32(0)
	for i := 0; i < len(digits); i++ {
		d := digits[i] - '0'
		if r.nodes[n].next[d] == 0 {
			r.nodes = append(r.nodes, node{})
			r.nodes[n].next[d] = uint32(len(r.nodes) - 1)
		}
		n = r.nodes[n].next[d]
	}
	return n
}

func compileMatch(c *compiled, m *Match, at string, fail func(string, ...any)) {
	for j, x := range m.Countries {
		if len(x) != 2 || x[0] < 'A' || x[0] > 'Z' || x[1] < 'A' || x[1] > 'Z' {
			fail("%s.countries[%d]: %q is not an ISO 3166-1 alpha-2 code in upper case, like \"IT\"", at, j, x)
		} else if k := slices.Index(m.Countries[:j], x); k >= 0 {
			fail("%s.countries[%d]: %q is also countries[%d]", at, j, x, k)
		}
	}
	c.countries = slices.Clone(m.Countries)

	for j, p := range m.Prefixes {
		if !validPrefix(p) {
			fail("%s.prefixes[%d]: %q is not \"+\" then 1 to 15 digits", at, j, p)
		} else if k := slices.Index(m.Prefixes[:j], p); k >= 0 {
			fail("%s.prefixes[%d]: %q is also prefixes[%d]", at, j, p, k)
		}
	}

	var exact []string
	for j, s := range m.Senders {
		switch {
		case s == "":
			fail("%s.senders[%d]: empty", at, j)
		case slices.Index(m.Senders[:j], s) >= 0:
			fail("%s.senders[%d]: %q is also senders[%d]", at, j, s, slices.Index(m.Senders[:j], s))
		case strings.ContainsAny(s, `*?[\`):
			if _, err := path.Match(s, ""); err != nil {
				fail("%s.senders[%d]: %q is not a valid pattern (path.Match syntax: * ? [a-z] \\x)", at, j, s)
			}
			c.patterns = append(c.patterns, s)
		default:
			exact = append(exact, s)
		}
	}
	c.senders = newStrSet(exact)
	c.anySender = len(m.Senders) == 0

	switch m.SenderKind {
	case "":
		c.kind = kindAny
	case KindAlphanumeric:
		c.kind = kindAlnum
	case KindNumeric:
		c.kind = kindNumeric
	default:
		fail("%s.sender_kind: %q is not one of alphanumeric, numeric (or empty: any)", at, m.SenderKind)
	}

	for j, t := range m.Tenants {
		if t == "" {
			fail("%s.tenants[%d]: empty", at, j)
		} else if k := slices.Index(m.Tenants[:j], t); k >= 0 {
			fail("%s.tenants[%d]: %q is also tenants[%d]", at, j, t, k)
		}
	}
	c.tenants = newStrSet(m.Tenants)

	switch {
	case m.Channel == "":
		c.channel = ChannelSMS
	case slices.Contains(Channels, m.Channel):
		c.channel = m.Channel
	default:
		fail("%s.channel: %q is not one of %s", at, m.Channel, strings.Join(Channels, ", "))
	}

	for _, set := range []bool{len(m.Countries) > 0, len(m.Senders) > 0, m.SenderKind != "", len(m.Tenants) > 0} {
		if set {
			c.criteria++
		}
	}
}

func compileTargets(c *compiled, rt *Route, at string, known func(string) bool, fail func(string, ...any)) {
	switch len(rt.Targets) {
	case 0:
		fail("%s.targets: none; a route needs at least one", at)
	default:
		if len(rt.Targets) > MaxTargets {
			fail("%s.targets: %d of them; at most %d", at, len(rt.Targets), MaxTargets)
		}
	}
	for j, t := range rt.Targets {
		tat := fmt.Sprintf("%s.targets[%d]", at, j)
		switch {
		case t.Connector == "":
			fail("%s.connector: missing", tat)
		case known != nil && !known(t.Connector):
			fail("%s.connector: %q is not a defined connector", tat, t.Connector)
		}
		if k := slices.IndexFunc(rt.Targets[:j], func(o Target) bool { return o.Connector == t.Connector }); k >= 0 && t.Connector != "" {
			fail("%s.connector: %q is also targets[%d]", tat, t.Connector, k)
		}
		if t.Weight < 0 {
			fail("%s.weight: %d is negative", tat, t.Weight)
		}
		if math.IsNaN(t.Cost) || math.IsInf(t.Cost, 0) {
			fail("%s.cost: %v is not a number", tat, t.Cost)
		} else if t.Cost < 0 {
			fail("%s.cost: %v is negative", tat, t.Cost)
		}
		if t.Weight == 0 {
			t.Weight = 1
		}
		if j < MaxTargets {
			c.order[j] = t
		}
	}
	c.n = min(len(rt.Targets), MaxTargets)
	ts := c.order[:c.n]
	switch rt.Strategy {
	case "", StrategyFailover:
	case StrategyWeighted:
		c.weighted = true
		slices.SortStableFunc(ts, func(a, b Target) int { return cmp.Compare(b.Weight, a.Weight) })
	case StrategyLeastCost:
		slices.SortStableFunc(ts, func(a, b Target) int { return cmp.Compare(a.Cost, b.Cost) })
	default:
		fail("%s.strategy: %q is not one of failover, weighted, least_cost", at, rt.Strategy)
	}
}

// validPrefix: "+" then 1 to 15 digits.
func validPrefix(p string) bool {
	if len(p) < 2 || len(p) > 16 || p[0] != '+' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// checkSender says what is wrong with a rewritten sender, or "".
func checkSender(s string) string {
	if isNumeric(s) {
		if len(strings.TrimPrefix(s, "+")) > maxNumericSender {
			return fmt.Sprintf("a numeric sender is at most %d digits", maxNumericSender)
		}
		return ""
	}
	if !utf8.ValidString(s) {
		return "not UTF-8"
	}
	if utf8.RuneCountInString(s) > maxAlnumSender {
		return fmt.Sprintf("an alphanumeric sender is at most %d characters", maxAlnumSender)
	}
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "has a character that does not print"
	}
	return ""
}

// ruleRest describes the non-prefix criteria of m for Decision.Rule, each
// part after ", ".
func ruleRest(m *Match) string {
	var b strings.Builder
	if len(m.Countries) > 0 {
		b.WriteString(", country ")
		b.WriteString(shortList(m.Countries))
	}
	if len(m.Tenants) > 0 {
		b.WriteString(", tenant ")
		b.WriteString(shortList(m.Tenants))
	}
	if len(m.Senders) > 0 {
		b.WriteString(", sender ")
		b.WriteString(shortList(m.Senders))
	}
	if m.SenderKind != "" {
		b.WriteString(", ")
		b.WriteString(m.SenderKind)
		b.WriteString(" sender")
	}
	if m.Channel != "" && m.Channel != ChannelSMS {
		b.WriteString(", channel ")
		b.WriteString(m.Channel)
	}
	return b.String()
}

// shortList joins a few values with "|", and says how many more there are.
func shortList(s []string) string {
	const show = 4
	if len(s) <= show {
		return strings.Join(s, "|")
	}
	return fmt.Sprintf("%s|… (%d more)", strings.Join(s[:show-1], "|"), len(s)-show+1)
}
