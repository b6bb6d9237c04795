package router

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHealth calls the connectors in it unusable.
type fakeHealth map[string]bool

func (f fakeHealth) Usable(c string) bool { return !f[c] }

// dataCase is one "route" line of testdata/routes.txt.
type dataCase struct {
	line int
	text string
	req  Request
	h    Health
	want string // "none", or the decision formatted by formatDecision
	rule string // "" = not checked
}

// formatDecision writes d in the expected form of the data file.
func formatDecision(d *Decision) string {
	var b strings.Builder
	names := make([]string, d.N)
	for i, t := range d.List() {
		names[i] = t.Connector
	}
	fmt.Fprintf(&b, "%s: %s", d.Route, strings.Join(names, ","))
	return b.String()
}

// expectDecision builds the full expectation from a case's right-hand
// side, with defaults for whatever it does not say.
func expectDecision(rhs []string, req Request) (string, error) {
	if len(rhs) == 1 && rhs[0] == "none" {
		return "none", nil
	}
	if len(rhs) < 2 || !strings.HasSuffix(rhs[0], ":") {
		return "", fmt.Errorf("want `ROUTE: C1,C2 ...` or `none`, have %q", strings.Join(rhs, " "))
	}
	sender, skipped, ton, npi, degraded := req.Sender, "", "-1", "-1", false
	for _, kv := range rhs[2:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "sender":
			sender = v
		case "skipped":
			skipped = v
		case "ton":
			ton = v
		case "npi":
			npi = v
		case "degraded":
			degraded = true
		default:
			return "", fmt.Errorf("unknown expectation %q", kv)
		}
	}
	return fmt.Sprintf("%s %s sender=%q skipped=%s ton=%s npi=%s degraded=%v", rhs[0], rhs[1], sender, skipped, ton, npi, degraded), nil
}

func describeDecision(d *Decision, ok bool) string {
	if !ok {
		return "none"
	}
	return fmt.Sprintf("%s sender=%q skipped=%s ton=%d npi=%d degraded=%v",
		formatDecision(d), d.Sender, strings.Join(d.SkippedList(), ","), d.SourceTON, d.SourceNPI, d.Degraded)
}

// parseRoute reads `NAME [KEY=V ...] -> TARGETS`.
func parseRoute(lhs, rhs []string) (Route, error) {
	rt := Route{Name: lhs[0]}
	for _, kv := range lhs[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return rt, fmt.Errorf("%q is not KEY=VALUE", kv)
		}
		list := strings.Split(v, ",")
		switch k {
		case "prefix":
			rt.Match.Prefixes = list
		case "country":
			rt.Match.Countries = list
		case "sender":
			rt.Match.Senders = list
		case "kind":
			rt.Match.SenderKind = v
		case "tenant":
			rt.Match.Tenants = list
		case "channel":
			rt.Match.Channel = v
		case "strategy":
			rt.Strategy = v
		case "rewrite":
			rt.Sender = v
		case "ton", "npi":
			n, err := strconv.Atoi(v)
			if err != nil {
				return rt, err
			}
			if k == "ton" {
				rt.SourceTON = &n
			} else {
				rt.SourceNPI = &n
			}
		default:
			return rt, fmt.Errorf("unknown route key %q", k)
		}
	}
	for _, tok := range rhs {
		parts := strings.Split(tok, ":")
		t := Target{Connector: parts[0]}
		for _, p := range parts[1:] {
			k, v, _ := strings.Cut(p, "=")
			var err error
			switch k {
			case "weight":
				t.Weight, err = strconv.Atoi(v)
			case "cost":
				t.Cost, err = strconv.ParseFloat(v, 64)
			default:
				err = fmt.Errorf("unknown target option %q", p)
			}
			if err != nil {
				return rt, err
			}
		}
		rt.Targets = append(rt.Targets, t)
	}
	return rt, nil
}

// parseCase reads `route NUMBER [KEY=V ...] -> EXPECTED`.
func parseCase(lhs, rhs []string) (dataCase, error) {
	c := dataCase{req: Request{Number: lhs[1]}}
	unhealthy := fakeHealth{}
	for _, kv := range lhs[2:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "country":
			c.req.Country = v
		case "sender":
			c.req.Sender = v
		case "tenant":
			c.req.Tenant = v
		case "channel":
			c.req.Channel = v
		case "unhealthy":
			for _, u := range strings.Split(v, ",") {
				unhealthy[u] = true
			}
		default:
			return c, fmt.Errorf("unknown request key %q", k)
		}
	}
	if len(unhealthy) > 0 {
		c.h = unhealthy
	}
	var err error
	c.want, err = expectDecision(rhs, c.req)
	return c, err
}

// TestRouteData runs testdata/routes.txt (see its header for the format).
func TestRouteData(t *testing.T) {
	f, err := os.Open("testdata/routes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	type table struct {
		name   string
		routes []Route
		cases  []dataCase
	}
	var tables []*table
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		if strings.HasPrefix(text, "[") && strings.HasSuffix(text, "]") {
			tables = append(tables, &table{name: text[1 : len(text)-1]})
			continue
		}
		if len(tables) == 0 {
			t.Fatalf("routes.txt:%d: before any [table]", line)
		}
		tb := tables[len(tables)-1]
		if rule, ok := strings.CutPrefix(text, "rule "); ok {
			if len(tb.cases) == 0 {
				t.Fatalf("routes.txt:%d: rule without a case before it", line)
			}
			tb.cases[len(tb.cases)-1].rule = rule
			continue
		}
		l, r, ok := strings.Cut(text, "->")
		if !ok {
			t.Fatalf("routes.txt:%d: no \"->\" in %q", line, text)
		}
		lhs, rhs := strings.Fields(l), strings.Fields(r)
		if lhs[0] == "route" {
			c, err := parseCase(lhs, rhs)
			if err != nil {
				t.Fatalf("routes.txt:%d: %v", line, err)
			}
			c.line, c.text = line, text
			tb.cases = append(tb.cases, c)
			continue
		}
		if len(tb.cases) > 0 {
			t.Fatalf("routes.txt:%d: a route after the table's cases", line)
		}
		rt, err := parseRoute(lhs, rhs)
		if err != nil {
			t.Fatalf("routes.txt:%d: %v", line, err)
		}
		tb.routes = append(tb.routes, rt)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tb := range tables {
		t.Run(tb.name, func(t *testing.T) {
			r, err := New(tb.routes, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tb.cases {
				d, ok := r.Route(c.req, c.h)
				if got := describeDecision(&d, ok); got != c.want {
					t.Errorf("routes.txt:%d: %s\n got  %s\n want %s", c.line, c.text, got, c.want)
				}
				if c.rule != "" && d.Rule != c.rule {
					t.Errorf("routes.txt:%d: %s\n rule %s\n want %s", c.line, c.text, d.Rule, c.rule)
				}
				// Candidates agrees with Route on the winner.
				cands := r.Candidates(c.req)
				if ok != (len(cands) > 0) || ok && (cands[0].Route != d.Route || cands[0].Rule != d.Rule) {
					t.Errorf("routes.txt:%d: Candidates = %v, Route picked %q", c.line, cands, d.Route)
				}
				n++
			}
		})
	}
	if n < 50 {
		t.Fatalf("only %d cases read", n)
	}
}

func intp(n int) *int { return &n }

func TestNewErrors(t *testing.T) {
	known := func(c string) bool { return c == "a" || c == "b" || c == "c" }
	one := []Target{{Connector: "a"}}
	nine := make([]Target, 9)
	for i := range nine {
		nine[i] = Target{Connector: fmt.Sprintf("a%d", i)}
	}
	for _, c := range []struct {
		name   string
		routes []Route
		want   string
	}{
		{"unknown connector", []Route{{Name: "r", Targets: []Target{{Connector: "a"}, {Connector: "zz"}}}},
			`routes[0].targets[1].connector: "zz" is not a defined connector`},
		{"missing connector", []Route{{Name: "r", Targets: []Target{{}}}},
			`routes[0].targets[0].connector: missing`},
		{"duplicate connector", []Route{{Name: "r", Targets: []Target{{Connector: "a"}, {Connector: "b"}, {Connector: "a"}}}},
			`routes[0].targets[2].connector: "a" is also targets[0]`},
		{"prefix without plus", []Route{{Name: "r", Match: Match{Prefixes: []string{"+39", "39"}}, Targets: one}},
			`routes[0].match.prefixes[1]: "39" is not "+" then 1 to 15 digits`},
		{"prefix not digits", []Route{{Name: "r", Match: Match{Prefixes: []string{"+3x"}}, Targets: one}},
			`routes[0].match.prefixes[0]: "+3x" is not "+" then 1 to 15 digits`},
		{"prefix too long", []Route{{Name: "r", Match: Match{Prefixes: []string{"+1234567890123456"}}, Targets: one}},
			`routes[0].match.prefixes[0]: "+1234567890123456" is not`},
		{"prefix just plus", []Route{{Name: "r", Match: Match{Prefixes: []string{"+"}}, Targets: one}},
			`routes[0].match.prefixes[0]: "+" is not`},
		{"prefix twice", []Route{{Name: "r", Match: Match{Prefixes: []string{"+39", "+44", "+39"}}, Targets: one}},
			`routes[0].match.prefixes[2]: "+39" is also prefixes[0]`},
		{"country lower case", []Route{{Name: "r", Match: Match{Countries: []string{"it"}}, Targets: one}},
			`routes[0].match.countries[0]: "it" is not an ISO 3166-1 alpha-2 code in upper case`},
		{"country alpha-3", []Route{{Name: "r", Match: Match{Countries: []string{"IT", "ITA"}}, Targets: one}},
			`routes[0].match.countries[1]: "ITA" is not an ISO 3166-1`},
		{"country twice", []Route{{Name: "r", Match: Match{Countries: []string{"IT", "IT"}}, Targets: one}},
			`routes[0].match.countries[1]: "IT" is also countries[0]`},
		{"bad pattern", []Route{{Name: "r", Match: Match{Senders: []string{"Acme", "Bank["}}, Targets: one}},
			`routes[0].match.senders[1]: "Bank[" is not a valid pattern`},
		{"bad pattern escape", []Route{{Name: "r", Match: Match{Senders: []string{`Bank\`}}, Targets: one}},
			`routes[0].match.senders[0]: "Bank\\" is not a valid pattern`},
		{"empty sender", []Route{{Name: "r", Match: Match{Senders: []string{""}}, Targets: one}},
			`routes[0].match.senders[0]: empty`},
		{"bad sender kind", []Route{{Name: "r", Match: Match{SenderKind: "alpha"}, Targets: one}},
			`routes[0].match.sender_kind: "alpha" is not one of alphanumeric, numeric`},
		{"empty tenant", []Route{{Name: "r", Match: Match{Tenants: []string{"acme", ""}}, Targets: one}},
			`routes[0].match.tenants[1]: empty`},
		{"tenant twice", []Route{{Name: "r", Match: Match{Tenants: []string{"acme", "acme"}}, Targets: one}},
			`routes[0].match.tenants[1]: "acme" is also tenants[0]`},
		{"bad channel", []Route{{Name: "r", Match: Match{Channel: "email"}, Targets: one}},
			`routes[0].match.channel: "email" is not one of sms, voice, whatsapp, rcs`},
		{"no targets", []Route{{Name: "ok", Targets: one}, {Name: "r"}},
			`routes[1].targets: none; a route needs at least one`},
		{"too many targets", []Route{{Name: "r", Targets: nine}},
			`routes[0].targets: 9 of them; at most 8`},
		{"unknown strategy", []Route{{Name: "r", Targets: one, Strategy: "cheapest"}},
			`routes[0].strategy: "cheapest" is not one of failover, weighted, least_cost`},
		{"negative weight", []Route{{Name: "r", Strategy: "weighted", Targets: []Target{{Connector: "a"}, {Connector: "b", Weight: -1}}}},
			`routes[0].targets[1].weight: -1 is negative`},
		{"negative cost", []Route{{Name: "r", Strategy: "least_cost", Targets: []Target{{Connector: "a", Cost: -0.5}}}},
			`routes[0].targets[0].cost: -0.5 is negative`},
		{"NaN cost", []Route{{Name: "r", Targets: []Target{{Connector: "a", Cost: math.NaN()}}}},
			`routes[0].targets[0].cost: NaN is not a number`},
		{"duplicate names", []Route{{Name: "it", Targets: one}, {Name: "uk", Targets: one}, {Name: "it", Targets: one}},
			`routes[2].name: "it" is also the name of routes[0]`},
		{"no name", []Route{{Targets: one}},
			`routes[0].name: missing`},
		{"sender rewrite too long", []Route{{Name: "r", Targets: one, Sender: "ExampleBankOTP"}},
			`routes[0].sender: "ExampleBankOTP": an alphanumeric sender is at most 11 characters`},
		{"numeric rewrite too long", []Route{{Name: "r", Targets: one, Sender: "+1234567890123456"}},
			`routes[0].sender: "+1234567890123456": a numeric sender is at most 15 digits`},
		{"rewrite control char", []Route{{Name: "r", Targets: one, Sender: "OTP\n"}},
			`routes[0].sender: "OTP\n": has a character that does not print`},
		{"bad TON", []Route{{Name: "r", Targets: one, SourceTON: intp(7)}},
			`routes[0].source_ton: 7 is not a TON (0 to 6)`},
		{"bad NPI", []Route{{Name: "r", Targets: one, SourceNPI: intp(2)}},
			`routes[0].source_npi: 2 is not an NPI`},
		{"every fault reported", []Route{{Name: "r", Match: Match{Channel: "fax"}, Targets: []Target{{Connector: "zz"}}}},
			"routes[0].match.channel: \"fax\" is not one of sms, voice, whatsapp, rcs\nroutes[0].targets[0].connector: \"zz\" is not a defined connector"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(c.routes, known)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, %v; want error containing\n%s", r, err, c.want)
			}
		})
	}
	// Many faults: at most 20 reported, and how many more.
	var bad []Route
	for i := 0; i < 30; i++ {
		bad = append(bad, Route{Name: fmt.Sprint(i)})
	}
	_, err := New(bad, nil)
	if err == nil || strings.Count(err.Error(), "\n") != 20 || !strings.HasSuffix(err.Error(), "and 10 more errors") {
		t.Errorf("30 faults: %v", err)
	}
	// Without known, any connector is accepted.
	if _, err := New([]Route{{Name: "r", Targets: []Target{{Connector: "zz"}}}}, nil); err != nil {
		t.Errorf("known == nil: %v", err)
	}
}

// TestWeighted draws many decisions of a weighted route: the first target's
// shares follow the weights, and the others come after it heaviest first.
func TestWeighted(t *testing.T) {
	r, err := New([]Route{{Name: "w", Strategy: StrategyWeighted, Targets: []Target{
		{Connector: "a", Weight: 1}, {Connector: "b", Weight: 6}, {Connector: "c", Weight: 3}, {Connector: "d"},
	}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		h      Health
		shares map[string]float64
		rest   []string // the order of the others, by weight
	}{
		{"all healthy", nil, map[string]float64{"a": 1.0 / 11, "b": 6.0 / 11, "c": 3.0 / 11, "d": 1.0 / 11}, []string{"b", "c", "a", "d"}},
		{"b unhealthy", fakeHealth{"b": true}, map[string]float64{"a": 0.2, "c": 0.6, "d": 0.2}, []string{"c", "a", "d"}},
		{"all unhealthy", fakeHealth{"a": true, "b": true, "c": true, "d": true}, map[string]float64{"a": 1.0 / 11, "b": 6.0 / 11, "c": 3.0 / 11, "d": 1.0 / 11}, []string{"b", "c", "a", "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const draws = 10000
			count := map[string]int{}
			for i := 0; i < draws; i++ {
				d, ok := r.Route(Request{Number: "+31612345678"}, tc.h)
				if !ok || d.N != len(tc.rest) {
					t.Fatalf("decision %+v, %v", d, ok)
				}
				first := d.Targets[0].Connector
				count[first]++
				want := slices.DeleteFunc(slices.Clone(tc.rest), func(s string) bool { return s == first })
				var got []string
				for _, x := range d.List()[1:] {
					got = append(got, x.Connector)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("first %s, then %v; want %v", first, got, want)
				}
			}
			for c, share := range tc.shares {
				if got := float64(count[c]) / draws; math.Abs(got-share) > 0.02 {
					t.Errorf("%s first in %.3f of decisions, want %.3f ± 0.02", c, got, share)
				}
			}
			if len(count) != len(tc.shares) {
				t.Errorf("first targets %v, want only %v", count, tc.shares)
			}
		})
	}
}

func TestRoutesAndConnectors(t *testing.T) {
	in := []Route{
		{Name: "b", Match: Match{Prefixes: []string{"+39"}, Tenants: []string{"acme"}}, Targets: []Target{{Connector: "z"}, {Connector: "x", Weight: 0}}, SourceTON: intp(5)},
		{Name: "a", Targets: []Target{{Connector: "y"}, {Connector: "x"}}},
	}
	r, err := New(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	in[0].Match.Prefixes[0] = "+44" // the router keeps its own copy
	*in[0].SourceTON = 1
	got := r.Routes()
	if got[0].Match.Prefixes[0] != "+39" || *got[0].SourceTON != 5 || got[0].Targets[1].Weight != 0 || got[1].Name != "a" {
		t.Errorf("Routes() = %+v", got)
	}
	got[0].Targets[0].Connector = "changed"
	if r.Routes()[0].Targets[0].Connector != "z" {
		t.Error("Routes() shares memory with the router")
	}
	if c := r.Connectors(); !slices.Equal(c, []string{"x", "y", "z"}) {
		t.Errorf("Connectors() = %v", c)
	}
	if d, _ := r.Route(Request{Number: "+39333", Tenant: "acme"}, nil); d.Targets[1].Weight != 1 {
		t.Errorf("weight default: %+v", d.Targets[1])
	}
}

func TestCandidates(t *testing.T) {
	r, err := New([]Route{
		{Name: "it", Match: Match{Prefixes: []string{"+39", "+393"}}, Targets: []Target{{Connector: "a"}}},
		{Name: "it-acme", Match: Match{Prefixes: []string{"+39"}, Tenants: []string{"acme"}}, Targets: []Target{{Connector: "b"}}},
		{Name: "tim", Match: Match{Prefixes: []string{"+3934"}}, Targets: []Target{{Connector: "c"}}},
		{Name: "voice", Match: Match{Channel: "voice"}, Targets: []Target{{Connector: "v"}}},
		{Name: "world", Targets: []Target{{Connector: "w"}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range r.Candidates(Request{Number: "+393471234567", Tenant: "acme"}) {
		got = append(got, c.Route+" | "+c.Rule)
	}
	want := []string{
		`tim | route "tim": prefix +3934`,
		`it | route "it": prefix +393`,
		`it-acme | route "it-acme": prefix +39, tenant acme`,
		`world | route "world": any number`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Candidates:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConcurrent routes through a Tracker from several goroutines while
// receipts and link changes arrive (run with -race).
func TestConcurrent(t *testing.T) {
	r, err := New([]Route{
		{Name: "it", Match: Match{Prefixes: []string{"+39"}}, Targets: []Target{{Connector: "a"}, {Connector: "b"}}, Strategy: "weighted"},
		{Name: "world", Targets: []Target{{Connector: "c"}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(TrackerConfig{Threshold: 0.5, MinSamples: 5, ProbeEvery: 3})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				d, ok := r.Route(Request{Number: "+39347" + strconv.Itoa(i)}, tr)
				if !ok || d.N+d.SkippedN != 2 {
					t.Errorf("decision %+v", d)
					return
				}
				tr.Observe(d.Targets[0].Connector, i%3 == 0, time.Now())
				if i%100 == 0 {
					tr.SetUp("b", i%200 == 0)
					_ = tr.State("a")
					_ = tr.Connectors()
				}
			}
		}()
	}
	wg.Wait()
}

// benchRouter is 10,000 routes on distinct prefixes, with a few
// country-only, tenant and catch-all routes, as a large aggregator's table.
func benchRouter(b *testing.B) *Router {
	var routes []Route
	for i := 0; i < 10000; i++ {
		p := fmt.Sprintf("+%d", 100000+i*7)
		routes = append(routes, Route{
			Name:     "r" + p,
			Match:    Match{Prefixes: []string{p}},
			Targets:  []Target{{Connector: "c1", Cost: 0.02}, {Connector: "c2", Cost: 0.01}, {Connector: "c3", Cost: 0.03}},
			Strategy: StrategyLeastCost,
		})
	}
	routes = append(routes,
		Route{Name: "acme-100049", Match: Match{Prefixes: []string{"+100049"}, Tenants: []string{"acme"}}, Targets: []Target{{Connector: "c4"}, {Connector: "c1"}}},
		Route{Name: "beta-1000", Match: Match{Prefixes: []string{"+1000"}, Tenants: []string{"beta"}, SenderKind: KindAlphanumeric}, Targets: []Target{{Connector: "c4"}}},
		Route{Name: "it", Match: Match{Countries: []string{"IT", "SM", "VA"}}, Targets: []Target{{Connector: "c2"}}},
		Route{Name: "bank", Match: Match{Countries: []string{"US"}, Senders: []string{"Bank*"}}, Targets: []Target{{Connector: "c3"}}},
		Route{Name: "world", Targets: []Target{{Connector: "c5"}}},
	)
	r, err := New(routes, nil)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func BenchmarkRoute10k(b *testing.B) {
	r := benchRouter(b)
	req := Request{Number: "+1000491234567", Country: "US", Sender: "BankOfX", Tenant: "other"}
	tr := NewTracker(DefaultTrackerConfig())
	now := time.Now()
	for _, c := range []string{"c1", "c2", "c3", "c4", "c5"} {
		tr.SetUp(c, true)
		for i := 0; i < 100; i++ {
			tr.Observe(c, i%10 != 0, now)
		}
	}
	tr.SetUp("c2", false)
	// A number no prefix takes: the trie walk ends early and the
	// prefix-less routes are tried in rank order (bank, it, world).
	byCountry := Request{Number: "+390612345678", Country: "IT", Sender: "Acme"}
	for _, bc := range []struct {
		name string
		req  Request
		h    Health
		want string // first connector
	}{
		{"nil-health", req, nil, "c2"},
		{"tracker", req, tr, "c1"},
		{"country-route", byCountry, tr, "c2"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, ok := r.Route(bc.req, bc.h)
				if !ok || d.Targets[0].Connector != bc.want {
					b.Fatalf("decision %+v", d)
				}
			}
		})
	}
}
