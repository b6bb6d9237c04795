// Package router decides where one message goes. This first form maps E.164
// prefixes to connectors, longest prefix first, with a default; the table is
// immutable once built, so a Router is safe for concurrent use and a reload
// is the swap of one pointer by its owner.
package router

import (
	"fmt"
	"sort"
	"strings"
)

// Rule is one line of the routing table: numbers that start with Prefix
// (E.164 digits with a leading "+") go to Connector.
type Rule struct {
	Prefix    string
	Connector string
}

// Decision is the router's answer for one message.
type Decision struct {
	Connector string // the connector to use
	Rule      string // what decided it: "prefix +39" or "default"
}

// Router is an immutable routing table.
type Router struct {
	root     node
	def      string
	rules    int
	prefixes []string
}

// node is a decimal trie node. Invariant: connector != "" exactly where a
// rule ends at this node.
type node struct {
	next      [10]*node
	connector string
	prefix    string
	rule      string // "prefix " + prefix, built once so Route does not allocate
}

// New builds a router. def is the connector for numbers no prefix matches;
// it may be "" when every number must match a rule. known, when non-nil,
// names the connectors that exist: a rule naming another is an error.
func New(rules []Rule, def string, known func(string) bool) (*Router, error) {
	r := &Router{def: def}
	if def != "" && known != nil && !known(def) {
		return nil, fmt.Errorf("routes.default: connector %q is not defined", def)
	}
	seen := make(map[string]bool, len(rules))
	for _, ru := range rules {
		p := strings.TrimSpace(ru.Prefix)
		if !strings.HasPrefix(p, "+") || len(p) < 2 || len(p) > 16 {
			return nil, fmt.Errorf("routes.prefixes[%q]: a prefix is '+' and 1 to 15 digits", ru.Prefix)
		}
		if ru.Connector == "" {
			return nil, fmt.Errorf("routes.prefixes[%q]: no connector named", ru.Prefix)
		}
		if known != nil && !known(ru.Connector) {
			return nil, fmt.Errorf("routes.prefixes[%q]: connector %q is not defined", ru.Prefix, ru.Connector)
		}
		if seen[p] {
			return nil, fmt.Errorf("routes.prefixes[%q]: prefix listed twice", ru.Prefix)
		}
		seen[p] = true
		n := &r.root
		for _, c := range p[1:] {
			if c < '0' || c > '9' {
				return nil, fmt.Errorf("routes.prefixes[%q]: %q is not a digit", ru.Prefix, c)
			}
			d := c - '0'
			if n.next[d] == nil {
				n.next[d] = &node{}
			}
			n = n.next[d]
		}
		n.connector = ru.Connector
		n.prefix = p
		n.rule = "prefix " + p
		r.prefixes = append(r.prefixes, p)
		r.rules++
	}
	sort.Strings(r.prefixes)
	return r, nil
}

// Route returns the decision for an E.164 number ("+…"). ok is false when no
// rule matches and there is no default.
func (r *Router) Route(e164 string) (d Decision, ok bool) {
	var best *node
	n := &r.root
	for i := 1; i < len(e164); i++ {
		c := e164[i]
		if c < '0' || c > '9' {
			break
		}
		n = n.next[c-'0']
		if n == nil {
			break
		}
		if n.connector != "" {
			best = n
		}
	}
	if best != nil {
		return Decision{Connector: best.connector, Rule: best.rule}, true
	}
	if r.def != "" {
		return Decision{Connector: r.def, Rule: "default"}, true
	}
	return Decision{}, false
}

// Connectors lists every connector the table can choose, sorted, without
// repeats.
func (r *Router) Connectors() []string {
	set := map[string]bool{}
	if r.def != "" {
		set[r.def] = true
	}
	var walk func(n *node)
	walk = func(n *node) {
		if n.connector != "" {
			set[n.connector] = true
		}
		for _, c := range n.next {
			if c != nil {
				walk(c)
			}
		}
	}
	walk(&r.root)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
