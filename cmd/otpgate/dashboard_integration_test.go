package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/rcs"
	rcssim "github.com/otpgate/otpgate/rcs/sim"
	"github.com/otpgate/otpgate/smpp/smsc"
	wasim "github.com/otpgate/otpgate/whatsapp/sim"
)

// dashboardFile is the operators' Grafana dashboard, relative to this package.
const dashboardFile = "../../docs/grafana/otpgate.json"

// dashboardDS is the datasource every panel must use: the import input, so
// the operator picks their Prometheus when importing.
const dashboardDS = "${DS_PROMETHEUS}"

// targetLabels are added by Prometheus at scrape time; /metrics never has them.
var targetLabels = map[string]bool{"job": true, "instance": true}

// TestDashboard checks docs/grafana/otpgate.json against a live gateway:
// after driving traffic through every path the dashboard shows (API, SMS over
// SMPP with receipts, WhatsApp with its status callbacks, checks, cancel,
// webhooks delivered and dead-lettered, retention purge), every metric name a panel or variable queries must be in
// /metrics, with the labels the queries filter and group by, and the label
// values they match exactly. Renaming a metric or a label the dashboard uses
// fails it.
func TestDashboard(t *testing.T) {
	start := time.Now()
	dash := loadDashboard(t)
	queries := dash.queries(t)
	names := map[string]bool{}
	for _, q := range queries {
		for _, n := range queryMetrics(q.expr) {
			names[n] = true
		}
	}
	if len(names) < 20 {
		t.Fatalf("the dashboard queries only %d metrics (%v): is the expression parsing broken?", len(names), sortedKeys(names))
	}

	// webhook receivers on loopback: one accepts, one always fails
	var okHits, badHits atomic.Int64
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Otpgate-Signature") != "" {
			okHits.Add(1)
		}
		w.WriteHeader(200)
	}))
	t.Cleanup(ok.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		badHits.Add(1)
		w.WriteHeader(500)
	}))
	t.Cleanup(bad.Close)

	sim := startSim(t, smsc.Config{ReceiptDelay: 10 * time.Millisecond})
	wa, err := wasim.New(wasim.Config{Logger: quietLog(), Rules: []wasim.Rule{{Prefix: "+14155550105", Action: "not-on-whatsapp"}}})
	if err != nil {
		t.Fatal(err)
	}
	waAddr, err := wa.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wa.Close() })
	rbm, err := rcssim.New(rcssim.Config{Logger: quietLog(), Rules: []rcssim.Rule{{Prefix: "+14155550107", Action: "no-rcs"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rbm.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rbm.Close() })
	rbmKey := filepath.Join(t.TempDir(), "rbm-key.json")
	if err := os.WriteFile(rbmKey, rcs.MarshalServiceAccountKey(rbm.Key()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgYAML := "server_key: " + testKey + "\n" + simYAML(sim.Addr()) + fmt.Sprintf(`rcs:
  - {name: rbm, base_url: %q, agent_id: %q, key_file: %q, client_token: %q}
`, rbm.BaseURL(), rbm.AgentID(), rbmKey, rbm.ClientToken()) + `whatsapp:
  - {name: wa, base_url: "http://` + waAddr + `", phone_number_id: "100000000000001", token: sandbox,
     app_secret: sandbox-app-secret, verify_token: vt, template: otp_code, languages: [en_US], message_ttl: 60s}
webhooks:
  allow_loopback: true
  retry_min: 10ms
  retry_max: 20ms
  max_age: 200ms
store:
  retention: 1s
` + fmt.Sprintf(`tenants:
  - id: acme
    api_keys: ["%s"]
    brand: Acme
    webhook_secret: dashboard-test-webhook-secret
`, api.HashKey(keyAcme))
	g := startTestGateway(t, cfgYAML, t.TempDir())
	c := client{t, "http://" + g.Addr(), keyAcme}
	wa.SetCallbackURL("http://" + g.Addr() + "/webhooks/whatsapp")
	rbm.SetCallbackURL("http://" + g.Addr() + "/webhooks/rcs")
	// metrics are process-wide: other tests may have counted already
	_, _, before := c.do("GET", "/metrics", "", nil)
	base := parseScrape(string(before))

	// a: delivered, a wrong check, the right check; webhooks to the good receiver
	a := c.create(`{"number":"+14155550101","template":"Code: {code}","callback_url":"` + ok.URL + `/hooks"}`)
	// b: webhooks to the failing receiver (retries, then dead letters); canceled
	b := c.create(`{"number":"+14155550102","template":"Code: {code}","callback_url":"` + bad.URL + `/hooks"}`)
	// f: one attempt only, used up by a wrong code
	f := c.create(`{"number":"+14155550103","template":"Code: {code}","max_attempts":1}`)

	// w: over WhatsApp, delivered; x: not a WhatsApp user
	c.create(`{"number":"+14155550104","channel":"whatsapp"}`)
	c.create(`{"number":"+14155550105","channel":"whatsapp"}`)
	// r: over RCS, delivered; s: a phone without RCS
	c.create(`{"number":"+14155550106","channel":"rcs"}`)
	c.create(`{"number":"+14155550107","channel":"rcs"}`)

	codeA := strings.TrimPrefix(waitMessage(t, sim, "+14155550101", 1).Text, "Code: ")
	waitMessage(t, sim, "+14155550102", 1)
	codeF := strings.TrimPrefix(waitMessage(t, sim, "+14155550103", 1).Text, "Code: ")
	eventually(t, 5*time.Second, "delivery receipt for a", func() bool {
		return strings.Contains(eventTypes(c.get(a.ID)), "delivered")
	})
	if r := c.check(a.ID, wrongCode(codeA)); r.Verified || r.Reason != "wrong_code" {
		t.Fatalf("wrong code: %+v", r)
	}
	if r := c.check(a.ID, codeA); !r.Verified {
		t.Fatalf("right code: %+v", r)
	}
	if r := c.check(f.ID, wrongCode(codeF)); r.Status != "failed" {
		t.Fatalf("wrong code with max_attempts 1: %+v", r)
	}
	if st, _, body := c.do("POST", "/v1/verifications/"+b.ID+"/cancel", "", nil); st != 200 {
		t.Fatalf("cancel: %d %s", st, body)
	}
	if st, _, _ := c.do("GET", "/v1/verifications/no-such-id", "", nil); st != 404 {
		t.Fatalf("GET of an unknown id: %d, want 404", st)
	}

	// Scrape until the traffic has shown up (purge after the 1s retention,
	// a dead letter after the 200ms max_age) and the dashboard finds what it
	// queries, or the time is up; then report what is missing.
	var (
		missing, problems, waiting []string
		sc                         *scrape
	)
	deadline := time.Now().Add(12 * time.Second)
	for {
		_, _, body := c.do("GET", "/metrics", "", nil)
		sc = parseScrape(string(body))
		missing, problems = checkQueries(queries, sc)
		waiting = waiting[:0]
		for _, w := range []struct {
			what   string
			metric string
			pairs  []string
		}{
			{"a delivered webhook", "otpgate_webhook_deliveries_total", []string{`result="delivered"`}},
			{"a dead-lettered webhook", "otpgate_webhook_deliveries_total", []string{`result="dead_letter"`}},
			{"a purged verification", "otpgate_verifications_purged_total", nil},
			{"a receipt latency sample", "otpgate_sms_receipt_latency_seconds_count", nil},
			{"a WhatsApp delivery", "otpgate_message_delivery_seconds_count", []string{`channel="whatsapp"`}},
			{"a WhatsApp failure", "otpgate_message_failures_total", []string{`channel="whatsapp"`}},
			{"an RCS delivery", "otpgate_message_delivery_seconds_count", []string{`channel="rcs"`}},
			{"an RCS failure", "otpgate_message_failures_total", []string{`channel="rcs"`}},
			{"an RCS event taken", "otpgate_rcs_callbacks_total", []string{`result="ok"`}},
		} {
			if b := base.sum(w.metric, w.pairs...); sc.sum(w.metric, w.pairs...) <= b {
				waiting = append(waiting, fmt.Sprintf("%s (%s%v > %g)", w.what, w.metric, w.pairs, b))
			}
		}
		if (len(missing) == 0 && len(problems) == 0 && len(waiting) == 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("the dashboard queries %d metric(s) that /metrics does not expose (renamed or removed?):\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
	for _, p := range problems {
		t.Error(p)
	}
	if len(waiting) > 0 {
		t.Errorf("the traffic did not produce, within the time: %s (webhook receivers: %d good, %d failing requests)",
			strings.Join(waiting, "; "), okHits.Load(), badHits.Load())
	}
	t.Logf("%d queries, %d metrics checked against /metrics in %s", len(queries), len(names), time.Since(start).Round(time.Millisecond))
}

// ---- the dashboard

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	Expr       string          `json:"expr"`
	RefID      string          `json:"refId"`
	Datasource json.RawMessage `json:"datasource"`
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []grafanaTarget `json:"targets"`
	Panels     []grafanaPanel  `json:"panels"` // a collapsed row's
}

type grafanaInput struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	PluginID string `json:"pluginId"`
}

type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Inputs        []grafanaInput `json:"__inputs"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// dashQuery is one PromQL expression and where it is.
type dashQuery struct {
	where string
	expr  string
}

func loadDashboard(t *testing.T) *grafanaDashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID != "otpgate" || d.SchemaVersion != 39 || d.Title == "" {
		t.Errorf("uid %q, schemaVersion %d, title %q: want uid otpgate, schemaVersion 39 and a title", d.UID, d.SchemaVersion, d.Title)
	}
	if !slices.ContainsFunc(d.Inputs, func(in grafanaInput) bool {
		return in.Name == "DS_PROMETHEUS" && in.Type == "datasource" && in.PluginID == "prometheus"
	}) {
		t.Errorf("__inputs has no DS_PROMETHEUS prometheus datasource: %+v", d.Inputs)
	}
	return &d
}

// dsOK says whether a datasource field names the import input (absent is
// allowed only where inherit is true: a target inherits its panel's).
func dsOK(raw json.RawMessage, inherit bool) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return inherit
	}
	var ds grafanaDatasource
	if err := json.Unmarshal(raw, &ds); err != nil {
		return false
	}
	return ds.UID == dashboardDS && ds.Type == "prometheus"
}

// queries checks the panels' shape and returns every expression of every
// panel target and query variable.
func (d *grafanaDashboard) queries(t *testing.T) []dashQuery {
	t.Helper()
	var out []dashQuery
	ids := map[int]string{}
	var panels []grafanaPanel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	graphs := 0
	for _, p := range panels {
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d is zero or also %q's", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		switch p.Type {
		case "row":
			continue
		case "timeseries", "stat":
		default:
			t.Errorf("panel %q: type %q, want timeseries or stat", p.Title, p.Type)
		}
		graphs++
		if !dsOK(p.Datasource, false) {
			t.Errorf("panel %q: datasource %s, want uid %s", p.Title, p.Datasource, dashboardDS)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			where := fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("%s: refId empty or used twice", where)
			}
			refs[tg.RefID] = true
			if !dsOK(tg.Datasource, true) {
				t.Errorf("%s: datasource %s, want uid %s", where, tg.Datasource, dashboardDS)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: empty expr", where)
				continue
			}
			if err := balanced(tg.Expr); err != nil {
				t.Errorf("%s: %v in %s", where, err, tg.Expr)
			}
			out = append(out, dashQuery{where, tg.Expr})
		}
	}
	if graphs == 0 {
		t.Fatal("the dashboard has no timeseries or stat panels")
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		where := fmt.Sprintf("variable %q", v.Name)
		if !dsOK(v.Datasource, false) {
			t.Errorf("%s: datasource %s, want uid %s", where, v.Datasource, dashboardDS)
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Errorf("%s: query %s is neither a string nor {query}", where, v.Query)
				continue
			}
			q = obj.Query
		}
		out = append(out, dashQuery{where, q})
	}
	return out
}

// balanced finds unbalanced brackets and quotes, the commonest hand-editing slip.
func balanced(expr string) error {
	var stack []rune
	pair := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inStr := false
	for i := 0; i < len(expr); i++ {
		ch := rune(expr[i])
		if inStr {
			switch ch {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch ch {
		case '"':
			inStr = true
		case '(', '[', '{':
			stack = append(stack, ch)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pair[ch] {
				return fmt.Errorf("unbalanced %q at %d", ch, i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inStr || len(stack) > 0 {
		return fmt.Errorf("unclosed string or bracket")
	}
	return nil
}

// ---- PromQL, as far as the check needs it

var (
	metricNameRe  = regexp.MustCompile(`\b(?:otpgate|go|process)_[A-Za-z0-9_:]*`)
	selectorRe    = regexp.MustCompile(`\b((?:otpgate|go|process)_[A-Za-z0-9_:]*)\s*\{([^}]*)\}`)
	matcherRe     = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	groupingRe    = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	labelValuesRe = regexp.MustCompile(`label_values\(\s*(?:[A-Za-z_:][A-Za-z0-9_:]*(?:\s*\{[^}]*\})?\s*,)?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)`)
	stringRe      = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// queryMetrics lists the metric names an expression reads (outside strings).
func queryMetrics(expr string) []string {
	var out []string
	for _, n := range metricNameRe.FindAllString(stringRe.ReplaceAllString(expr, `""`), -1) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// checkQueries returns the metric names queried but not scraped, and the
// other mismatches: labels filtered or grouped by that the metrics lack,
// and exact label values that no series has.
func checkQueries(queries []dashQuery, sc *scrape) (missing, problems []string) {
	miss := map[string][]string{}
	for _, q := range queries {
		metrics := queryMetrics(q.expr)
		for _, n := range metrics {
			if _, ok := sc.labels[n]; !ok {
				miss[n] = append(miss[n], q.where)
			}
		}
		for _, m := range selectorRe.FindAllStringSubmatch(q.expr, -1) {
			name := m[1]
			have, ok := sc.labels[name]
			if !ok {
				continue // reported as missing
			}
			for _, mm := range matcherRe.FindAllStringSubmatch(m[2], -1) {
				label, op, value := mm[1], mm[2], mm[3]
				if targetLabels[label] {
					continue
				}
				if !have[label] {
					problems = append(problems, fmt.Sprintf("%s: %s has no label %q (%s)", q.where, name, label, q.expr))
					continue
				}
				if op == "=" && value != "" && !strings.Contains(value, "$") && !sc.pairs[name][label+`="`+value+`"`] {
					problems = append(problems, fmt.Sprintf("%s: no %s series has %s=%q", q.where, name, label, value))
				}
			}
		}
		var groups []string
		for _, m := range groupingRe.FindAllStringSubmatch(q.expr, -1) {
			for l := range strings.SplitSeq(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" {
					groups = append(groups, l)
				}
			}
		}
		if m := labelValuesRe.FindStringSubmatch(q.expr); m != nil {
			groups = append(groups, m[1])
		}
		scraped := slices.DeleteFunc(slices.Clone(metrics), func(n string) bool { _, ok := sc.labels[n]; return !ok })
		for _, l := range groups {
			if targetLabels[l] || len(scraped) == 0 { // a missing metric is reported as such
				continue
			}
			if !slices.ContainsFunc(scraped, func(n string) bool { return sc.labels[n][l] }) {
				problems = append(problems, fmt.Sprintf("%s: none of %v has the label %q it groups by (%s)", q.where, metrics, l, q.expr))
			}
		}
	}
	for _, n := range sortedKeys(miss) {
		missing = append(missing, fmt.Sprintf("%s (in %s)", n, strings.Join(slices.Compact(miss[n]), ", ")))
	}
	return missing, problems
}

// ---- the scrape

type scrapeSeries struct {
	name   string
	pairs  []string // `label="value"`
	labels []string
	value  float64
}

type scrape struct {
	labels map[string]map[string]bool // metric name → its label names
	pairs  map[string]map[string]bool // metric name → `label="value"` seen
	series []scrapeSeries
}

var seriesRe = regexp.MustCompile(`^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)`)

func parseScrape(text string) *scrape {
	sc := &scrape{labels: map[string]map[string]bool{}, pairs: map[string]map[string]bool{}}
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := seriesRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := scrapeSeries{name: m[1]}
		s.value, _ = strconv.ParseFloat(m[3], 64)
		if sc.labels[s.name] == nil {
			sc.labels[s.name], sc.pairs[s.name] = map[string]bool{}, map[string]bool{}
		}
		for _, mm := range matcherRe.FindAllStringSubmatch(m[2], -1) {
			p := mm[1] + `="` + mm[3] + `"`
			s.labels = append(s.labels, mm[1])
			s.pairs = append(s.pairs, p)
			sc.labels[s.name][mm[1]] = true
			sc.pairs[s.name][p] = true
		}
		sc.series = append(sc.series, s)
	}
	return sc
}

// sum adds the values of the series of name that have every pair.
func (sc *scrape) sum(name string, pairs ...string) float64 {
	var v float64
	for _, s := range sc.series {
		if s.name != name {
			continue
		}
		if !slices.ContainsFunc(pairs, func(p string) bool { return !slices.Contains(s.pairs, p) }) {
			v += s.value
		}
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
