// Package sim is a simulator of Meta's WhatsApp Business Cloud API for the
// sandbox, tests and benchmarks: a real HTTP server that takes template
// sends as the Cloud API does (bearer token, phone number ids, approved
// templates and languages, the code twice, throughput and pair-rate
// limits, Meta's error bodies), answers with a wamid, and posts signed
// status callbacks (sent, delivered, read, failed) to a callback URL,
// retrying until it gets a 200 as Meta does. What happens to a message is
// set by number-prefix rules; every message is kept in an inbox.
package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/tokenbucket"
	"github.com/otpgate/otpgate/whatsapp"
)

// Config configures a simulator. Zero fields take the defaults.
type Config struct {
	// Token is the access token senders must present. Default "sandbox".
	Token string
	// AppSecret signs the callbacks. Default "sandbox-app-secret".
	AppSecret string
	// PhoneNumberIDs are the business numbers it serves (their ids).
	// Default one: "100000000000001".
	PhoneNumberIDs []string
	// DisplayNumber is the business number shown in callbacks. Default
	// "+15550000000".
	DisplayNumber string
	// WABAID is the business account id in callbacks. Default
	// "100000000000000".
	WABAID string
	// Templates are the approved authentication templates: name → the
	// languages it is approved in. Default {"otp_code": [en_US, en, it,
	// fr, de, es, pt_BR]}.
	Templates map[string][]string
	// TemplateTTL is the templates' message_send_ttl_seconds. Default 60s.
	TemplateTTL time.Duration
	// CallbackURL receives the status callbacks; it may be set later
	// (SetCallbackURL). None: statuses are only kept.
	CallbackURL string
	// Rules: what happens to which numbers (see Rule).
	Rules []Rule
	// Rate is the messages a second a phone number may send (Meta: 80);
	// past it a send is refused with 130429. Default 80; -1 no limit.
	Rate float64
	// PairBurst and PairEvery are the pair rate limit (Meta: bursts of 45,
	// then one message every 6 s to the same user); past it, 131056.
	// Defaults 45 and 6s; PairBurst -1 turns it off.
	PairBurst int
	PairEvery time.Duration
	// DeliverAfter is the time from sent to delivered, ReadAfter from
	// delivered to read. Defaults 20ms and 200ms.
	DeliverAfter, ReadAfter time.Duration
	// RetryFor is how long a callback is retried (Meta: 7 days). Default
	// 10 minutes.
	RetryFor time.Duration
	// InboxSize bounds the messages kept per number. Default 50. At most
	// maxNumbers numbers are kept, the oldest forgotten first.
	InboxSize int
	Logger    *slog.Logger
	// OnMessage, when set, sees every message taken (benchmarks read
	// codes with it); Code is the code the template carried.
	OnMessage func(m Message, code string)
	// OnStatusTaken, when set, sees every callback answered 200: its
	// message, its status, when it was sent and when the 200 came.
	OnStatusTaken func(m Message, status string, sent, taken time.Time)
}

// Message is one message the simulator took, as its inbox shows it.
type Message struct {
	ID            string    `json:"id"`
	PhoneNumberID string    `json:"phone_number_id"`
	From          string    `json:"from"`
	To            string    `json:"to"` // E.164
	Template      string    `json:"template"`
	Language      string    `json:"language"`
	Text          string    `json:"text"` // as the phone shows it
	Status        string    `json:"status"`
	ReceivedAt    time.Time `json:"received_at"`
}

// Server is a running simulator.
type Server struct {
	cfg      Config
	log      *slog.Logger
	srv      *http.Server
	ln       net.Listener
	client   *http.Client
	callback atomic.Pointer[string]
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	inbox   map[string][]*Message // by E.164, newest last
	numbers []string              // inbox's keys, oldest first
	buckets map[string]*tokenbucket.Bucket
	pairs   map[string]*tokenbucket.Bucket
	taken   atomic.Int64
	posted  atomic.Int64
}

// New checks cfg and builds a simulator (Start serves it).
func New(cfg Config) (*Server, error) {
	if cfg.Token == "" {
		cfg.Token = "sandbox"
	}
	if cfg.AppSecret == "" {
		cfg.AppSecret = "sandbox-app-secret"
	}
	if len(cfg.PhoneNumberIDs) == 0 {
		cfg.PhoneNumberIDs = []string{"100000000000001"}
	}
	if cfg.DisplayNumber == "" {
		cfg.DisplayNumber = "+15550000000"
	}
	if cfg.WABAID == "" {
		cfg.WABAID = "100000000000000"
	}
	if cfg.Templates == nil {
		cfg.Templates = map[string][]string{"otp_code": {"en_US", "en", "it", "fr", "de", "es", "pt_BR"}}
	}
	if cfg.TemplateTTL == 0 {
		cfg.TemplateTTL = time.Minute
	}
	if cfg.Rate == 0 {
		cfg.Rate = 80
	}
	if cfg.PairBurst == 0 {
		cfg.PairBurst = 45
	}
	if cfg.PairEvery == 0 {
		cfg.PairEvery = 6 * time.Second
	}
	if cfg.DeliverAfter == 0 {
		cfg.DeliverAfter = 20 * time.Millisecond
	}
	if cfg.ReadAfter == 0 {
		cfg.ReadAfter = 200 * time.Millisecond
	}
	if cfg.RetryFor == 0 {
		cfg.RetryFor = 10 * time.Minute
	}
	if cfg.InboxSize == 0 {
		cfg.InboxSize = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, r := range cfg.Rules {
		if _, err := ParseRule(r.String()); err != nil {
			return nil, fmt.Errorf("wa-sim: %w", err)
		}
	}
	if cfg.TemplateTTL < whatsapp.MinMessageTTL || cfg.TemplateTTL > whatsapp.MaxMessageTTL {
		return nil, fmt.Errorf("wa-sim: template ttl %s is outside 30s to 15m", cfg.TemplateTTL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "wa-sim"), ctx: ctx, cancel: cancel,
		inbox: map[string][]*Message{}, buckets: map[string]*tokenbucket.Bucket{}, pairs: map[string]*tokenbucket.Bucket{},
		client: &http.Client{Timeout: 5 * time.Second}}
	s.SetCallbackURL(cfg.CallbackURL)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{version}/{phone}/messages", s.send)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Start serves on addr (host:port; port 0 picks one) and returns where.
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("wa-sim: %w", err)
	}
	s.ln = ln
	go s.srv.Serve(ln)
	s.log.Info("WhatsApp Cloud API simulator listening", "addr", ln.Addr().String(), "phone_number_ids", s.cfg.PhoneNumberIDs)
	return ln.Addr().String(), nil
}

// Addr is where the simulator listens ("" before Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Handler is the simulator's HTTP handler (for httptest).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// SetCallbackURL sets where the status callbacks go ("" keeps them).
func (s *Server) SetCallbackURL(u string) { s.callback.Store(&u) }

// Close stops serving and drops the callbacks not yet delivered.
func (s *Server) Close() error {
	s.cancel()
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// Taken is how many messages the simulator accepted; Posted how many
// callbacks were answered 200.
func (s *Server) Taken() int64  { return s.taken.Load() }
func (s *Server) Posted() int64 { return s.posted.Load() }

// Messages returns what was sent to number (E.164), newest first.
func (s *Server) Messages(number string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.inbox[number]
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[len(ms)-1-i] = *m
	}
	return out
}

var versionRE = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,2}$`)

// send is POST /{version}/{phone-number-id}/messages.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	if !versionRE.MatchString(r.PathValue("version")) {
		writeErr(w, 400, 2500, "GraphMethodException", "Unknown path components: /"+r.PathValue("version"), "")
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || auth != s.cfg.Token {
		// Graph's answer to a bad token carries no error_data
		writeErr(w, 401, 190, "OAuthException", "Invalid OAuth access token - Cannot parse access token", "")
		return
	}
	phoneID := r.PathValue("phone")
	if !slices.Contains(s.cfg.PhoneNumberIDs, phoneID) {
		writeErr(w, 400, 100, "GraphMethodException", fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation", phoneID), "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeErr(w, 400, 100, "OAuthException", "(#100) Invalid parameter", "the body could not be read")
		return
	}
	var req whatsapp.SendRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, 400, 100, "OAuthException", "(#100) Invalid parameter", "the body is not JSON: "+err.Error())
		return
	}
	to, code, text, e := s.check(req)
	if e != nil {
		writeErr(w, e.status, e.code, "OAuthException", e.title, e.details)
		return
	}
	rule := match(s.cfg.Rules, to)
	if rule.Action == "refuse" {
		writeErr(w, statusOf(rule.Code), rule.Code, "OAuthException", fmt.Sprintf("(#%d) Refused by a simulator rule", rule.Code), "rule "+rule.String())
		return
	}
	if ok, why := s.allow(phoneID, to); !ok {
		writeErr(w, 429, why.code, "OAuthException", why.title, why.details)
		return
	}
	msg := &Message{ID: newWamid(), PhoneNumberID: phoneID, From: s.cfg.DisplayNumber, To: to, Template: req.Template.Name,
		Language: req.Template.Language.Code, Text: text, Status: "accepted", ReceivedAt: time.Now().UTC()}
	s.keep(msg)
	s.taken.Add(1)
	if s.cfg.OnMessage != nil {
		s.cfg.OnMessage(*msg, code)
	}
	s.wg.Add(1)
	if rule.Action == "no-answer" {
		// the message is taken and its statuses follow; the answer never
		// comes (the client's timeout ends the request)
		go s.statuses(msg, req.BizOpaqueCallbackData, rule)
		select {
		case <-r.Context().Done():
		case <-s.ctx.Done():
		}
		return
	}
	resp := whatsapp.SendResponse{MessagingProduct: "whatsapp", Contacts: []whatsapp.Contact{{Input: req.To, WaID: whatsapp.NormalizeNumber(to)}}}
	resp.Messages = append(resp.Messages, struct {
		ID            string `json:"id"`
		MessageStatus string `json:"message_status,omitempty"`
	}{ID: msg.ID})
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
	// the statuses start once the answer is on its way, as Meta's do
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	go s.statuses(msg, req.BizOpaqueCallbackData, rule)
}

type apiErr struct {
	status  int
	code    int
	title   string
	details string
}

// check reads a template send as the Cloud API does and returns the
// recipient (E.164), the code and the text the phone shows.
func (s *Server) check(req whatsapp.SendRequest) (to, code, text string, e *apiErr) {
	invalid := func(code int, title, details string) (string, string, string, *apiErr) {
		return "", "", "", &apiErr{400, code, title, details}
	}
	if req.MessagingProduct != "whatsapp" {
		return invalid(100, "(#100) The parameter messaging_product is required.", "messaging_product must be whatsapp")
	}
	if req.RecipientType != "" && req.RecipientType != "individual" {
		return invalid(100, "(#100) Invalid parameter", "recipient_type must be individual")
	}
	digits := whatsapp.NormalizeNumber(req.To)
	if !strings.HasPrefix(strings.TrimSpace(req.To), "+") || len(digits) < 7 || len(digits) > 15 {
		// without "+" the real API prepends the business number's
		// country code; the simulator refuses it so the mistake shows
		return invalid(100, "(#100) Invalid parameter", fmt.Sprintf("to %q: send E.164 with its +", req.To))
	}
	if req.Type != "template" {
		return invalid(131047, "(#131047) Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number.")
	}
	if len(req.BizOpaqueCallbackData) > 512 {
		return invalid(100, "(#100) Invalid parameter", "biz_opaque_callback_data is over 512 characters")
	}
	t := req.Template
	langs, ok := s.cfg.Templates[t.Name]
	if !ok || !slices.Contains(langs, t.Language.Code) {
		return invalid(132001, "(#132001) Template name does not exist in the translation", fmt.Sprintf("template name (%s) does not exist in %s", t.Name, t.Language.Code))
	}
	var bodyParams, buttonParams []whatsapp.Parameter
	buttonOK := false
	for _, c := range t.Components {
		switch c.Type {
		case "body":
			bodyParams = c.Parameters
		case "button":
			buttonOK = c.SubType == "url" && c.Index == "0"
			buttonParams = c.Parameters
		}
	}
	if len(bodyParams) != 1 {
		return invalid(132000, "(#132000) Number of parameters does not match the expected number of params", fmt.Sprintf("body: number of localizable_params (%d) does not match the expected number of params (1)", len(bodyParams)))
	}
	if !buttonOK || len(buttonParams) != 1 {
		return invalid(131008, "(#131008) Required parameter is missing", "buttons: Button at index 0 of type Url requires a parameter")
	}
	code = bodyParams[0].Text
	if bodyParams[0].Type != "text" || code == "" || len(code) > 15 {
		return invalid(131009, "(#131009) Parameter value is not valid", "body: the code must be text of 1 to 15 characters")
	}
	if buttonParams[0].Text != code {
		return invalid(131009, "(#131009) Parameter value is not valid", "button: the code must be the body's")
	}
	text = fmt.Sprintf("*%s* is your verification code. For your security, do not share this code.", code)
	return "+" + digits, code, text, nil
}

// allow applies the number's throughput and the pair rate.
func (s *Server) allow(phoneID, to string) (bool, *apiErr) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Rate > 0 {
		b := s.buckets[phoneID]
		if b == nil {
			b = tokenbucket.New(s.cfg.Rate, s.cfg.Rate, now)
			s.buckets[phoneID] = b
		}
		if ok, _ := b.Take(now); !ok {
			return false, &apiErr{429, 130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."}
		}
	}
	if s.cfg.PairBurst > 0 {
		k := phoneID + "/" + to
		b := s.pairs[k]
		if b == nil {
			if len(s.pairs) >= maxNumbers {
				// forget them all: a user's limit starts afresh, which a
				// simulator may afford and a real API would not
				clear(s.pairs)
			}
			b = tokenbucket.New(1/s.cfg.PairEvery.Seconds(), float64(s.cfg.PairBurst), now)
			s.pairs[k] = b
		}
		if ok, _ := b.Take(now); !ok {
			return false, &apiErr{429, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit", "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."}
		}
	}
	return true, nil
}

// maxNumbers bounds the numbers the inbox and the pair limits remember, so
// a long benchmark runs in bounded memory.
const maxNumbers = 50000

func (s *Server) keep(m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.inbox[m.To]; !ok {
		s.numbers = append(s.numbers, m.To)
		if len(s.numbers) > maxNumbers {
			delete(s.inbox, s.numbers[0])
			s.numbers = s.numbers[1:]
		}
	}
	ms := append(s.inbox[m.To], m)
	if len(ms) > s.cfg.InboxSize {
		ms = ms[len(ms)-s.cfg.InboxSize:]
	}
	s.inbox[m.To] = ms
}

func (s *Server) setStatus(m *Message, st string) {
	s.mu.Lock()
	m.Status = st
	s.mu.Unlock()
}

// statuses plays a message's life as rule says, posting each status in
// order (the next waits until the previous one was taken).
func (s *Server) statuses(m *Message, ref string, rule Rule) {
	defer s.wg.Done()
	post := func(status string, errCode int) bool {
		s.setStatus(m, status)
		return s.post(m, ref, status, errCode)
	}
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-s.ctx.Done():
			return false
		}
	}
	switch rule.Action {
	case "not-on-whatsapp", "fail":
		// Meta finds out after accepting the message
		code := rule.Code
		if rule.Action == "not-on-whatsapp" {
			code = 131026
		}
		if wait(s.cfg.DeliverAfter) {
			post("failed", code)
		}
		return
	}
	if rule.Action == "no-answer" && !wait(s.cfg.DeliverAfter) {
		return // its statuses come late, as the answer never does
	}
	if !post("sent", 0) {
		return
	}
	switch rule.Action {
	case "silent":
		return
	case "offline":
		if rule.Delay > s.cfg.TemplateTTL {
			// past the template's TTL the message is dropped: Meta sends
			// no delivered status (and documents no failed one)
			wait(s.cfg.TemplateTTL)
			s.setStatus(m, "dropped (ttl)")
			return
		}
		if !wait(rule.Delay) {
			return
		}
	default:
		if !wait(s.cfg.DeliverAfter) {
			return
		}
	}
	if !post("delivered", 0) || rule.Action != "read" || !wait(s.cfg.ReadAfter) {
		return
	}
	post("read", 0)
}

// post sends one status callback, retrying with back-off until a 200,
// RetryFor, or Close; false when it gave up.
func (s *Server) post(m *Message, ref, status string, errCode int) bool {
	body := s.notification(m, ref, status, errCode)
	sig := whatsapp.Sign([]byte(s.cfg.AppSecret), body)
	deadline := time.Now().Add(s.cfg.RetryFor)
	backoff := 200 * time.Millisecond
	for {
		u := *s.callback.Load()
		if u == "" {
			return true // nobody listens: the status is only kept
		}
		sent := time.Now()
		if s.postOnce(u, sig, body) {
			s.posted.Add(1)
			if s.cfg.OnStatusTaken != nil {
				s.cfg.OnStatusTaken(*m, status, sent, time.Now())
			}
			return true
		}
		if time.Now().After(deadline) {
			s.log.Warn("callback given up", "wamid", m.ID, "status", status)
			return false
		}
		select {
		case <-time.After(backoff):
		case <-s.ctx.Done():
			return false
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (s *Server) postOnce(u, sig string, body []byte) bool {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		s.log.Debug("callback not taken", "err", err)
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// notification is a status callback's body in Meta's shape.
func (s *Server) notification(m *Message, ref, status string, errCode int) []byte {
	item := whatsapp.StatusItem{ID: m.ID, Status: status, Timestamp: strconv.FormatInt(time.Now().Unix(), 10),
		RecipientID: whatsapp.NormalizeNumber(m.To), BizOpaqueCallbackData: ref}
	switch status {
	case "sent", "delivered":
		item.Pricing = map[string]any{"billable": true, "pricing_model": "PMP", "type": "regular", "category": "authentication"}
	case "failed":
		title := errorTitles[errCode]
		if title == "" {
			title = "Message failed to send"
		}
		item.Errors = []whatsapp.StatusError{{Code: errCode, Title: title, Message: title, Href: "/documentation/business-messaging/whatsapp/support/error-codes"}}
	}
	var v whatsapp.Value
	v.MessagingProduct = "whatsapp"
	v.Metadata.DisplayPhoneNumber = whatsapp.NormalizeNumber(s.cfg.DisplayNumber)
	v.Metadata.PhoneNumberID = m.PhoneNumberID
	v.Statuses = []whatsapp.StatusItem{item}
	n := whatsapp.Notification{Object: "whatsapp_business_account", Entry: []whatsapp.Entry{{ID: s.cfg.WABAID, Changes: []whatsapp.Change{{Field: "messages", Value: v}}}}}
	b, _ := json.Marshal(n)
	return b
}

var errorTitles = map[int]string{
	131026: "Message undeliverable",
	131049: "This message was not delivered to maintain healthy ecosystem engagement.",
	131050: "User has stopped marketing messages",
	131000: "Something went wrong",
}

// statusOf is the HTTP status Meta's older error table gave a code.
func statusOf(code int) int {
	switch code {
	case 0, 190:
		return 401
	case 4, 80007, 130429, 131048, 131056:
		return 429
	case 10, 368, 131031, 131005:
		return 403
	case 131000, 3:
		return 500
	case 2, 131016, 133004:
		return 503
	}
	return 400
}

func writeErr(w http.ResponseWriter, status, code int, typ, message, details string) {
	e := whatsapp.APIError{Message: message, Type: typ, Code: code, FBTraceID: newTrace()}
	if details != "" {
		e.ErrorData = &struct {
			MessagingProduct string `json:"messaging_product,omitempty"`
			Details          string `json:"details,omitempty"`
		}{"whatsapp", details}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(whatsapp.ErrorResponse{Error: e})
}

func newWamid() string {
	b := make([]byte, 27)
	rand.Read(b)
	return "wamid." + base64.StdEncoding.EncodeToString(b)
}

func newTrace() string {
	b := make([]byte, 15)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
