// Package compattest runs the vendor facades' data-driven tests: a real
// engine and store behind the real API server, with a fake SMSC, a fake
// trunk and a fake WhatsApp account that record what they were asked to send, and a file format of
// requests and the answers expected, placeholders for what differs from run
// to run. It is a package of fakes for tests, never imported by the
// gateway.
//
// A file is a sequence of exchanges:
//
//	# a comment
//	POST /compat/twilio/v2/Services/VAtest/Verifications
//	Authorization: Basic ACtest:token        (user:pass, encoded by the harness)
//	Content-Type: application/x-www-form-urlencoded
//
//	To=%2B14155552671&Channel=sms
//	>>> 201
//	Retry-After: 600                          (expected headers, optional)
//
//	{"sid": "{{sid}}", "status": "pending", "date_created": "{{*}}"}
//
// A placeholder outside quotes in an expected body is the captured value
// written bare ("verificationId": {{vid}} is the number of a "{{vid}}"
// captured as a string before).
//
// and directives, lines that start with "!":
//
//	! sms +14155552671 [N]   wait for the N-th (first) SMS to the number; its code is {{code}}
//	! call +14155552671      wait for a call to the number; its code is {{code}}
//	! whatsapp +14155552671 [N]  wait for the N-th (first) WhatsApp message to the number; its code is {{code}}
//	! wa-status +1415… delivered|read|failed   a status callback for the last WhatsApp message to the number
//	! rcs +14155552671 [N]   wait for the N-th (first) RCS message to the number; its code is {{code}}
//	! rcs-status +1415… delivered|read|failed  a status event for the last RCS message to the number
//	! sent +14155552671 N    exactly N SMS went to the number
//	! calls +14155552671 N   exactly N calls went to the number
//	! state acme +1415… submitted  wait until the last message of tenant's pending verification
//	                         of the number is in that state
//	! text +14155552671 RE    the last SMS to the number matches the regular expression RE
//	! advance 61s            move the engine's clock
//	! tick                   run the due timers
//	! receipt +1415… delivered|undelivered   a final receipt for the last SMS to the number
//	! close-store            close the store under the engine (every answer an error, never a 500)
//	! create acme +1415… API NAME   create a verification of tenant acme through API ("-" the
//	                         native one) in the engine directly; its id is {{NAME}}
//	! status acme NAME STATUS   the verification {{NAME}} of tenant acme has STATUS
//	! webhook                wait for the next webhook; the JSON lines after it, up to a
//	                         blank line, are its expected body; its Otpgate-Signature must check
//
// In a request, {{name}} is a value captured before ({{uuid:name}} and
// {{hex:name}} the same id in another facade's form), {{code}} the last
// message's code, {{wrong}} a code that is not it and {{hook}} the URL of
// the harness's webhook receiver (tenants sign with WebhookSecret). In an expected
// body, "{{name}}" captures a value the first time and must equal it
// after, "{{*}}" matches any value, and {{name}} inside a longer text is
// the captured value; every other value and every key must be as written
// (no more, no fewer keys).
package compattest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/engine/fraud"
	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/internal/apispec"
	"github.com/otpgate/otpgate/internal/ids"
	"github.com/otpgate/otpgate/router"
)

// Harness is an engine and an API server with facades mounted, on
// loopback.
type Harness struct {
	T      *testing.T
	Engine *engine.Engine
	Base   string // http://127.0.0.1:PORT
	SMSC   *FakeSMSC
	Voice  *FakeVoice
	Chat   *FakeChat // the WhatsApp account "wa"
	RBM    *FakeChat // the RCS agent "rbm"

	mu         sync.Mutex
	offset     time.Duration
	closeStore func()
	spec       *apispec.Doc
	// Operations counts the exchanges of each documented operation
	// ("POST /v2/verify"), to hold a facade's tests to its whole document.
	Operations map[string]int
	captures   map[string]any
	code       string
	hooks      chan hook
	literals   []string
	// Seen counts the answers by status and by the vendor code the test
	// names (see Covered).
	Seen map[string]int
}

// Options configure a harness.
type Options struct {
	// Tenants of the engine; each gets the template "CODE {code} END" so
	// codes are easy to read from messages.
	Tenants []*engine.Tenant
	// Mount puts the facades under test on the server.
	Mount func(m httpx.Mux)
	// Limits of the engine (zero: none).
	Limits engine.Limits
	// Rates: tenants' request rates.
	Rates map[string]api.Rate
	// Routes replace the default routes (everything to the fake SMSC,
	// voice to the fake trunk), to try a number no route takes.
	Routes []router.Route
	// Spec is the facade's OpenAPI document (YAML): every exchange must
	// be a documented operation and answer as documented.
	Spec []byte
	// WebhookFormats of the engine (see engine.Config).
	WebhookFormats map[string]engine.WebhookFormat
	// APIKeys are the tenants' native API keys: key → tenant.
	APIKeys map[string]string
	// Literals are {{names}} of the vendor's own (SMS.CX's {{pin}}), left
	// as written in requests and expected answers.
	Literals []string
}

// WebhookSecret is every harness tenant's webhook secret.
const WebhookSecret = "whsec-test"

// New starts a harness; it stops with the test.
func New(t *testing.T, o Options) *Harness {
	t.Helper()
	h := &Harness{T: t, SMSC: &FakeSMSC{}, Voice: &FakeVoice{}, Chat: &FakeChat{ids: "wamid"}, RBM: &FakeChat{ids: "rbm"}, captures: map[string]any{}, Seen: map[string]int{}}
	st, err := store.Open(store.Options{Dir: t.TempDir(), Sync: store.SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	routes := o.Routes
	if routes == nil {
		routes = []router.Route{
			{Name: "sms", Targets: []router.Target{{Connector: "smsc"}}},
			{Name: "voice", Match: router.Match{Channel: "voice"}, Targets: []router.Target{{Connector: "trunk"}}},
			{Name: "whatsapp", Match: router.Match{Channel: "whatsapp"}, Targets: []router.Target{{Connector: "wa"}}},
			{Name: "rcs", Match: router.Match{Channel: "rcs"}, Targets: []router.Target{{Connector: "rbm"}}},
		}
	}
	rt, err := router.New(routes, nil)
	if err != nil {
		t.Fatal(err)
	}
	tenants := map[string]*engine.Tenant{}
	h.literals = o.Literals
	h.hooks = make(chan hook, 64)
	hookURL := h.receiveHooks(t)
	h.captures["hook"] = hookURL
	for _, tn := range o.Tenants {
		tn.WebhookSecret = WebhookSecret
		tn.Template = "plain"
		tn.Templates = engine.Templates{"plain": {"en": "CODE {code} END"}}
		tenants[tn.ID] = tn
	}
	limits := o.Limits
	if limits.NumberSends.Max == 0 {
		limits.NumberSends = engine.Window{Max: -1}
	}
	if limits.NumberChecks.Max == 0 {
		limits.NumberChecks = engine.Window{Max: -1}
	}
	if limits.Velocity == (engine.VelocityLimits{}) {
		off := engine.Velocity{Rate: -1}
		limits.Velocity = engine.VelocityLimits{Country: off, Prefix: off, Client: off}
	}
	eng, err := engine.New(engine.Config{
		ServerKey: bytes.Repeat([]byte{7}, 32), Store: st, Router: rt,
		Senders: map[string]engine.Sender{"smsc": h.SMSC, "wa": h.Chat, "rbm": h.RBM}, Voice: map[string]engine.Voicer{"trunk": h.Voice},
		Channels: map[string]bool{engine.ChannelSMS: true, engine.ChannelVoice: true, engine.ChannelWhatsApp: true, engine.ChannelRCS: true},
		Tenants:  tenants, Limits: limits, Logger: slog.New(slog.DiscardHandler),
		Fraud: fraud.Policy{Geo: fraud.Geo{Deny: []string{"NG"}}}, // and the default number types
		Now:   h.Now, WebhookFormats: o.WebhookFormats,
		Webhooks: engine.WebhookConfig{AllowLoopback: true, RetryMin: 50 * time.Millisecond, RetryMax: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Engine = eng
	h.closeStore = func() { st.Close() }
	h.Operations = map[string]int{}
	if o.Spec != nil {
		if h.spec, err = apispec.Load(o.Spec); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	srv, err := api.New(api.Config{Engine: eng, Rates: o.Rates, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if o.APIKeys != nil {
		keys := map[string]string{}
		for k, tn := range o.APIKeys {
			keys[httpx.HashSecret(k)] = tn
		}
		if err := srv.SetAuth(keys, nil, o.Rates); err != nil {
			t.Fatal(err)
		}
	}
	if o.Mount != nil {
		o.Mount(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	h.Base = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		cancel()
		<-done
		st.Close()
	})
	return h
}

// hook is one webhook the receiver got.
type hook struct {
	body      []byte
	signature string
}

// receiveHooks starts the webhook receiver on loopback; it answers 200
// to every POST and passes it on to "! webhook".
func (h *Harness) receiveHooks(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case h.hooks <- hook{body: b, signature: r.Header.Get(engine.SignatureHeader)}:
		default:
			t.Errorf("more than %d webhooks not waited for", cap(h.hooks))
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/hook"
}

// FakeSMSC records every SMS; it is the engine's only SMS connector. The
// n-th message sent has the id "m<n>"; one longer than 160 bytes goes as
// parts of 153 (m<n>, m<n>.2, …), as a GSM 03.38 text would.
type FakeSMSC struct {
	mu   sync.Mutex
	msgs []engine.Outbound
	// Refuse, when set, fails every send with it.
	Refuse error
}

// Send records m.
func (f *FakeSMSC) Send(ctx context.Context, m engine.Outbound) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Refuse != nil {
		return nil, f.Refuse
	}
	f.msgs = append(f.msgs, m)
	ids := []string{fmt.Sprintf("m%d", len(f.msgs))}
	if len(m.Text) > 160 {
		for p := 2; p <= (len(m.Text)+152)/153; p++ {
			ids = append(ids, fmt.Sprintf("m%d.%d", len(f.msgs), p))
		}
	}
	return ids, nil
}

// id is the message id of the n-th (1-based) SMS to number.
func (f *FakeSMSC) id(number string, n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range f.msgs {
		if m.To == number {
			if n--; n == 0 {
				return fmt.Sprintf("m%d", i+1)
			}
		}
	}
	return ""
}

// To returns the SMS sent to number, oldest first.
func (f *FakeSMSC) To(number string) []engine.Outbound {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.Outbound
	for _, m := range f.msgs {
		if m.To == number {
			out = append(out, m)
		}
	}
	return out
}

// FakeChat is a chat account (the WhatsApp account "wa", the RCS agent
// "rbm"): it records every message and answers with the id "<ids>.<n>".
type FakeChat struct {
	ids  string
	mu   sync.Mutex
	msgs []engine.Outbound
}

// Send records m.
func (f *FakeChat) Send(ctx context.Context, m engine.Outbound) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, m)
	return []string{fmt.Sprintf("%s.%d", f.ids, len(f.msgs))}, nil
}

// To returns the messages sent to number, oldest first, with their ids.
func (f *FakeChat) To(number string) (msgs []engine.Outbound, ids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range f.msgs {
		if m.To == number {
			msgs, ids = append(msgs, m), append(ids, fmt.Sprintf("%s.%d", f.ids, i+1))
		}
	}
	return msgs, ids
}

// FakeVoice answers every call at once and records it.
type FakeVoice struct {
	mu    sync.Mutex
	calls []engine.VoiceCall
}

// Call records c and answers it.
func (f *FakeVoice) Call(ctx context.Context, c engine.VoiceCall) (engine.VoiceResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	return engine.VoiceResult{CallID: c.ID, Outcome: engine.MsgAnswered, Talk: 12 * time.Second}, nil
}

// To returns the calls placed to number, oldest first.
func (f *FakeVoice) To(number string) []engine.VoiceCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.VoiceCall
	for _, c := range f.calls {
		if c.To == number {
			out = append(out, c)
		}
	}
	return out
}

var (
	codeRe    = regexp.MustCompile(`CODE (\S+) END`)
	anyCodeRe = regexp.MustCompile(`\b[0-9A-Z]{4,10}\b`)
)

// Code waits for the n-th SMS (1-based) to number and returns its code.
func (h *Harness) Code(number string, n int) string {
	h.T.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if msgs := h.SMSC.To(number); len(msgs) >= n {
			text := msgs[n-1].Text
			if m := codeRe.FindStringSubmatch(text); m != nil {
				return m[1]
			}
			// a text of the request's own: the first word of 4 to 10
			// letters and digits with a digit in it
			for _, w := range anyCodeRe.FindAllString(text, -1) {
				if strings.ContainsAny(w, "0123456789") {
					return w
				}
			}
			h.T.Fatalf("SMS %q has no code", text)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.T.Fatalf("no SMS #%d to %s within 5s", n, number)
	return ""
}

// Now is the engine's clock (it moves with "! advance").
func (h *Harness) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().UTC().Add(h.offset)
}

// Advance moves the engine's clock by d (as "! advance").
func (h *Harness) Advance(d time.Duration) {
	h.mu.Lock()
	h.offset += d
	h.mu.Unlock()
}

// Set gives {{name}} a value before a file runs (a signed token, say).
func (h *Harness) Set(name string, v any) { h.captures[name] = v }

// Run runs a test file (see the package comment).
func (h *Harness) Run(path string) {
	h.T.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		h.T.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	i := 0
	for i < len(lines) {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#"):
			i++
		case strings.TrimSpace(l) == "! webhook":
			at := fmt.Sprintf("%s:%d", path, i+1)
			var want []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
				want = append(want, lines[i])
			}
			h.webhook(at, strings.Join(want, "\n"))
		case strings.HasPrefix(l, "!"):
			h.directive(fmt.Sprintf("%s:%d", path, i+1), strings.Fields(l[1:]))
			i++
		case requestLine.MatchString(l):
			i = h.exchange(path, lines, i)
		default:
			h.T.Fatalf("%s:%d: not a request, a directive or a comment: %q", path, i+1, l)
		}
	}
	// a webhook no "! webhook" waited for is one too many (one still on
	// its way when the file ends is not caught)
	time.Sleep(20 * time.Millisecond)
	select {
	case hk := <-h.hooks:
		h.T.Fatalf("%s: a webhook no \"! webhook\" expected: %s", path, hk.body)
	default:
	}
}

var requestLine = regexp.MustCompile(`^(GET|POST|PUT|DELETE|PATCH) /`)

// exchange runs the request at lines[i] and checks its answer; it returns
// the index of the line after it.
func (h *Harness) exchange(path string, lines []string, i int) int {
	h.T.Helper()
	at := fmt.Sprintf("%s:%d", path, i+1)
	method, target, _ := strings.Cut(lines[i], " ")
	i++
	req, err := http.NewRequest(method, h.Base+h.expand(target), nil)
	if err != nil {
		h.T.Fatalf("%s: %v", at, err)
	}
	for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.HasPrefix(lines[i], ">>> "); i++ {
		k, v, _ := strings.Cut(lines[i], ":")
		v = h.expand(strings.TrimSpace(v))
		if strings.EqualFold(k, "Authorization") && strings.HasPrefix(v, "Basic ") && strings.Contains(v[6:], ":") {
			v = "Basic " + base64.StdEncoding.EncodeToString([]byte(v[6:]))
		}
		req.Header.Set(k, v)
	}
	var body []string
	for ; i < len(lines) && !strings.HasPrefix(lines[i], ">>> "); i++ {
		if requestLine.MatchString(lines[i]) || strings.HasPrefix(lines[i], "!") {
			h.T.Fatalf("%s: no >>> answer line", at)
		}
		body = append(body, lines[i])
	}
	if i >= len(lines) {
		h.T.Fatalf("%s: no >>> answer line", at)
	}
	b := h.expand(strings.TrimSpace(strings.Join(body, "\n")))
	req.Body = io.NopCloser(strings.NewReader(b))
	req.ContentLength = int64(len(b))
	wantStatus, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(lines[i], ">>> ")))
	i++
	wantHeaders := map[string]string{}
	for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.HasPrefix(lines[i], "{") && !strings.HasPrefix(lines[i], "["); i++ {
		if requestLine.MatchString(lines[i]) || strings.HasPrefix(lines[i], "!") {
			break
		}
		k, v, _ := strings.Cut(lines[i], ":")
		wantHeaders[k] = strings.TrimSpace(v)
	}
	var want []string
	for ; i < len(lines) && !requestLine.MatchString(lines[i]) && !strings.HasPrefix(lines[i], "!") && !strings.HasPrefix(lines[i], "#"); i++ {
		want = append(want, lines[i])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.T.Fatalf("%s: %s %s: %v", at, method, target, err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.Seen[strconv.Itoa(resp.StatusCode)]++
	if h.spec != nil {
		op, ok := h.spec.Find(method, apispec.Normalize(req.URL.Path))
		if !ok {
			op, ok = h.spec.Find(method, req.URL.Path)
		}
		if !ok {
			h.T.Fatalf("%s: %s %s is not in the facade's OpenAPI document", at, method, req.URL.Path)
		}
		h.Operations[op.Method+" "+op.Path]++
		if err := h.spec.Check(op, resp.StatusCode, resp.Header.Get("Content-Type"), got); err != nil {
			h.T.Fatalf("%s: not as documented: %v", at, err)
		}
	}
	if resp.StatusCode != wantStatus {
		h.T.Fatalf("%s: %s %s: status %d, want %d\n%s", at, method, target, resp.StatusCode, wantStatus, got)
	}
	for k, v := range wantHeaders {
		if g := resp.Header.Get(k); g != v {
			h.T.Fatalf("%s: header %s: %q, want %q", at, k, g, v)
		}
	}
	if w := strings.TrimSpace(strings.Join(want, "\n")); w != "" {
		w = h.bare(w)
		var wv, gv any
		if err := json.Unmarshal([]byte(w), &wv); err != nil {
			h.T.Fatalf("%s: the expected body is not JSON: %v", at, err)
		}
		if err := json.Unmarshal(got, &gv); err != nil {
			h.T.Fatalf("%s: the answer is not JSON: %v\n%s", at, err, got)
		}
		if why := h.match(wv, gv, "$"); why != "" {
			h.T.Fatalf("%s: %s %s: answer differs: %s\n got %s", at, method, target, why, got)
		}
		h.count(gv)
	}
	return i
}

// count notes the vendor codes of an answer: a top-level "code" or
// "status", or error.code, for Covered.
func (h *Harness) count(v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	if e, ok := m["error"].(map[string]any); ok {
		m = e
	}
	for _, k := range []string{"code", "status", "responseCode"} {
		if c, ok := m[k]; ok {
			h.Seen[k+"="+fmt.Sprint(c)]++
		}
	}
}

// Covered fails the test for each key ("404", "code=60202", "status=16")
// no answer had.
func (h *Harness) Covered(keys ...string) {
	h.T.Helper()
	var missing []string
	for _, k := range keys {
		if h.Seen[k] == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		seen := make([]string, 0, len(h.Seen))
		for k := range h.Seen {
			seen = append(seen, k)
		}
		sort.Strings(seen)
		h.T.Fatalf("no answer had %v (seen: %v)", missing, seen)
	}
}

var (
	placeholder = regexp.MustCompile(`\{\{(\w+|\*|(?:uuid|hex):\w+)\}\}`)
	barePH      = regexp.MustCompile(`([:,\[]\s*)\{\{(\w+)\}\}`)
)

// bare expands the placeholders an expected body holds outside quotes
// ("verificationId": {{vid}}): the captured value written as it is, so
// "20" captured before matches the number 20 here.
func (h *Harness) bare(body string) string {
	return barePH.ReplaceAllStringFunc(body, func(m string) string {
		sub := barePH.FindStringSubmatch(m)
		return sub[1] + h.expand("{{"+sub[2]+"}}")
	})
}

// expand replaces {{name}} by captured values.
func (h *Harness) expand(s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-2]
		if slices.Contains(h.literals, name) {
			return m
		}
		switch name {
		case "code":
			return h.code
		case "wrong":
			if strings.HasPrefix(h.code, "9") {
				return strings.Repeat("1", len(h.code))
			}
			return strings.Repeat("9", max(len(h.code), 4))
		}
		form, name, _ := strings.Cut(name, ":")
		if name == "" {
			form, name = "", form
		}
		v, ok := h.captures[name]
		if !ok {
			h.T.Fatalf("{{%s}} was not captured before it is used", name)
		}
		if form == "" {
			return fmt.Sprint(v)
		}
		id, ok := anyID(fmt.Sprint(v))
		if !ok {
			h.T.Fatalf("{{%s:%s}}: %v is not an id in any vendor's form", form, name, v)
		}
		if form == "uuid" {
			return ids.UUID(id)
		}
		return ids.Hex(id)
	})
}

// anyID reads an id in any facade's form: Otpgate's own, 32 hex digits
// (Vonage v1), a UUID (Vonage v2, SMS.CX), VE… (Twilio), req_… (NexCode).
func anyID(s string) (string, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "VE"), "req_")
	if ids.Valid(s) {
		return s, true
	}
	if id, ok := ids.FromHex(s); ok {
		return id, true
	}
	return ids.FromUUID(s)
}

// match compares an expected JSON value with the answer's.
func (h *Harness) match(want, got any, at string) string {
	if s, ok := want.(string); ok {
		if m := placeholder.FindStringSubmatch(s); m != nil && m[0] == s && !slices.Contains(h.literals, m[1]) {
			if m[1] == "*" {
				return ""
			}
			if prev, ok := h.captures[m[1]]; ok {
				if !reflect.DeepEqual(prev, got) {
					return fmt.Sprintf("%s: %v, want {{%s}} = %v", at, got, m[1], prev)
				}
				return ""
			}
			h.captures[m[1]] = got
			return ""
		}
		if placeholder.MatchString(s) { // captured values inside a text
			want = h.expand(s)
		}
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: %v, want an object", at, got)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s.%s: in the answer, not expected (%v)", at, k, g[k])
			}
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", at, k)
			}
			if why := h.match(w[k], gv, at+"."+k); why != "" {
				return why
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: %v, want %d elements", at, got, len(w))
		}
		for i := range w {
			if why := h.match(w[i], g[i], fmt.Sprintf("%s[%d]", at, i)); why != "" {
				return why
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("%s: %#v, want %#v", at, got, want)
	}
	return ""
}

// webhook waits for the next webhook and matches its body with want; its
// signature must check with the tenants' secret.
func (h *Harness) webhook(at, want string) {
	h.T.Helper()
	var got hook
	select {
	case got = <-h.hooks:
	case <-time.After(5 * time.Second):
		h.T.Fatalf("%s: no webhook within 5s", at)
	}
	if err := engine.VerifySignature(WebhookSecret, got.signature, got.body, time.Now(), 72*time.Hour); err != nil {
		h.T.Fatalf("%s: webhook signature: %v", at, err)
	}
	var wv, gv any
	if err := json.Unmarshal([]byte(want), &wv); err != nil {
		h.T.Fatalf("%s: the expected webhook is not JSON: %v", at, err)
	}
	if err := json.Unmarshal(got.body, &gv); err != nil {
		h.T.Fatalf("%s: the webhook is not JSON: %v\n%s", at, err, got.body)
	}
	if why := h.match(wv, gv, "$"); why != "" {
		h.T.Fatalf("%s: webhook differs: %s\n got %s", at, why, got.body)
	}
}

func (h *Harness) directive(at string, f []string) {
	h.T.Helper()
	if len(f) == 0 {
		h.T.Fatalf("%s: empty directive", at)
	}
	switch f[0] {
	case "sms":
		n := 1
		if len(f) > 2 {
			n, _ = strconv.Atoi(f[2])
		}
		h.code = h.Code(f[1], n)
	case "call":
		deadline := time.Now().Add(5 * time.Second)
		for len(h.Voice.To(f[1])) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		calls := h.Voice.To(f[1])
		if len(calls) == 0 {
			h.T.Fatalf("%s: no call to %s", at, f[1])
		}
		h.code = calls[len(calls)-1].Code
	case "whatsapp", "rcs":
		chat, channel, name := h.Chat, engine.ChannelWhatsApp, "WhatsApp"
		if f[0] == "rcs" {
			chat, channel, name = h.RBM, engine.ChannelRCS, "RCS"
		}
		n := 1
		if len(f) > 2 {
			n, _ = strconv.Atoi(f[2])
		}
		deadline := time.Now().Add(5 * time.Second)
		for msgs, _ := chat.To(f[1]); len(msgs) < n && time.Now().Before(deadline); msgs, _ = chat.To(f[1]) {
			time.Sleep(5 * time.Millisecond)
		}
		msgs, _ := chat.To(f[1])
		if len(msgs) < n {
			h.T.Fatalf("%s: no %s message #%d to %s", at, name, n, f[1])
		}
		if msgs[n-1].Channel != channel || msgs[n-1].Ref == "" {
			h.T.Fatalf("%s: the %s message %+v has no channel or reference", at, name, msgs[n-1])
		}
		h.code = msgs[n-1].Code
	case "wa-status", "rcs-status":
		chat, connector, name, fail := h.Chat, "wa", "WhatsApp", "not_on_whatsapp"
		if f[0] == "rcs-status" {
			chat, connector, name, fail = h.RBM, "rbm", "RCS", "rcs_expired"
		}
		msgs, ids := chat.To(f[1])
		if len(msgs) == 0 {
			h.T.Fatalf("%s: no %s message to %s to report on", at, name, f[1])
		}
		last := len(msgs) - 1
		h.Engine.HandleReceipt(engine.Receipt{Connector: connector, MessageID: ids[last], Ref: msgs[last].Ref, State: f[2],
			Final: true, Delivered: f[2] != "failed", Read: f[2] == "read", Err: map[bool]string{true: fail}[f[2] == "failed"]})
	case "sent", "calls":
		n, _ := strconv.Atoi(f[2])
		count := func() int { return len(h.SMSC.To(f[1])) }
		if f[0] == "calls" {
			count = func() int { return len(h.Voice.To(f[1])) }
		}
		// wait for the count (a send runs after its commit), then make
		// sure no more follow
		for deadline := time.Now().Add(2 * time.Second); count() < n && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		if got := count(); got != n {
			h.T.Fatalf("%s: %d %s to %s, want %d", at, got, map[string]string{"sent": "SMS", "calls": "calls"}[f[0]], f[1], n)
		}
	case "state":
		if len(f) != 4 {
			h.T.Fatalf("%s: state TENANT NUMBER STATE", at)
		}
		var last string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			v, err := h.Engine.FindPending(context.Background(), f[1], f[2], "")
			if err != nil {
				h.T.Fatalf("%s: %v", at, err)
			}
			if last = v.Messages[len(v.Messages)-1].State; last == f[3] {
				return
			}
		}
		h.T.Fatalf("%s: the last message to %s is %s, not %s, after 5s", at, f[2], last, f[3])
	case "text":
		if len(f) < 3 {
			h.T.Fatalf("%s: text NUMBER REGEXP", at)
		}
		re, err := regexp.Compile(strings.Join(f[2:], " "))
		if err != nil {
			h.T.Fatalf("%s: %v", at, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(h.SMSC.To(f[1])) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		msgs := h.SMSC.To(f[1])
		if len(msgs) == 0 {
			h.T.Fatalf("%s: no SMS to %s", at, f[1])
		}
		if got := msgs[len(msgs)-1].Text; !re.MatchString(got) {
			h.T.Fatalf("%s: the SMS to %s is %q, which does not match %s", at, f[1], got, re)
		}
	case "advance":
		d, err := time.ParseDuration(f[1])
		if err != nil {
			h.T.Fatalf("%s: %v", at, err)
		}
		h.Advance(d)
	case "tick":
		h.Engine.RunDue(context.Background(), 1000)
	case "receipt": // receipt NUMBER delivered|undelivered: for the last SMS to the number
		msgs := h.SMSC.To(f[1])
		if len(msgs) == 0 {
			h.T.Fatalf("%s: no SMS to %s to report on", at, f[1])
		}
		h.Engine.HandleReceipt(engine.Receipt{Connector: "smsc", MessageID: h.SMSC.id(f[1], len(msgs)),
			Delivered: f[2] == "delivered", Final: true, State: map[bool]string{true: "DELIVRD", false: "UNDELIV"}[f[2] == "delivered"]})
	case "close-store":
		h.closeStore()
	case "create":
		if len(f) != 5 {
			h.T.Fatalf("%s: create TENANT NUMBER API NAME", at)
		}
		api := f[3]
		if api == "-" {
			api = ""
		}
		c, err := h.Engine.Create(context.Background(), engine.CreateRequest{Tenant: f[1], Number: f[2], API: api})
		if err != nil {
			h.T.Fatalf("%s: %v", at, err)
		}
		h.captures[f[4]] = c.ID
	case "status":
		if len(f) != 4 {
			h.T.Fatalf("%s: status TENANT NAME STATUS", at)
		}
		id, ok := anyID(fmt.Sprint(h.captures[f[2]]))
		if !ok {
			h.T.Fatalf("%s: {{%s}} is not an id", at, f[2])
		}
		v, err := h.Engine.Get(context.Background(), f[1], id)
		if err != nil || v.Status != f[3] {
			h.T.Fatalf("%s: {{%s}} is %v (%v), want %s", at, f[2], v, err, f[3])
		}
	default:
		h.T.Fatalf("%s: unknown directive %q", at, f[0])
	}
}

// Lines reads a file's non-empty, non-comment lines (for tables kept in
// testdata beside the exchanges).
func Lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}
