// Package sim is a simulator of Google's RCS Business Messaging API for
// the sandbox, tests and benchmarks: a real HTTP server with the OAuth 2.0
// token endpoint (it checks the service account's signed grant and issues
// tokens with a lifetime), agentMessages.create (bearer token, agent id,
// message id, text, ttl; a message id used before is ignored, as the API
// does), getCapabilities, and signed events (DELIVERED, READ, the TTL's
// revocation) posted to a webhook in Google's Pub/Sub envelope, retried
// until answered 200. What happens to a message is set by number-prefix
// rules; every message is kept in an inbox.
package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/rcs"
)

// Config configures a simulator. Zero fields take the defaults.
type Config struct {
	// AgentID is the agent it serves. Default "otpgate-sandbox@rbm.goog".
	AgentID string
	// ClientToken signs the events. Default "sandbox-client-token".
	ClientToken string
	// ClientEmail is the service account's. Default
	// "otpgate-sandbox@otpgate-sim.iam.gserviceaccount.com".
	ClientEmail string
	// Key is the service account's key; Key() hands it out as a key
	// file's content. Default: a fresh RSA key.
	Key *rsa.PrivateKey
	// TokenLifetime is the expires_in of the tokens it issues. Default
	// 3599s, as Google's.
	TokenLifetime time.Duration
	// CallbackURL receives the events; it may be set later. None: events
	// are only kept.
	CallbackURL string
	Rules       []Rule
	// DeliverAfter is the time from accepted to DELIVERED, ReadAfter from
	// DELIVERED to READ. Defaults 20ms and 200ms.
	DeliverAfter, ReadAfter time.Duration
	// RetryFor is how long an event is retried (Google: 7 days). Default
	// 10 minutes.
	RetryFor time.Duration
	// InboxSize bounds the messages kept per number. Default 50.
	InboxSize int
	// MaxTTL, when set, shortens every message's TTL to at most this (a
	// test that must not wait Google's advised 10 s minimum).
	MaxTTL time.Duration
	Logger *slog.Logger
	// Now is the simulator's clock for token lifetimes (tests move it).
	// Default time.Now.
	Now func() time.Time
	// OnMessage sees every message taken (benchmarks read codes with it).
	OnMessage func(m Message)
	// OnStatusTaken sees every event answered 200: its message, its type,
	// when it was sent and when the 200 came.
	OnStatusTaken func(m Message, eventType string, sent, taken time.Time)
}

// Message is one message the simulator took, as its inbox shows it.
type Message struct {
	ID         string    `json:"id"` // the agent's message id
	AgentID    string    `json:"agent_id"`
	To         string    `json:"to"`
	Text       string    `json:"text"`
	Status     string    `json:"status"` // accepted, delivered, read, revoked, …
	ReceivedAt time.Time `json:"received_at"`
	TTL        time.Duration
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
	inbox   map[string][]*Message
	numbers []string
	byID    map[string]*Message
	tokens  map[string]time.Time // token → expiry
	issued  int
	last    string // the last token issued
	taken   atomic.Int64
	repeats atomic.Int64
	sends   atomic.Int64 // send requests, refused ones too
	checks  atomic.Int64 // capability requests
	closed  bool         // under mu: no new event goroutines
	playing int          // under mu: event goroutines running
}

// maxPlaying bounds the messages whose events are in play at once (each a
// goroutine that may wait out a TTL or retry a callback for RetryFor);
// beyond it a message is taken and its events are dropped, logged.
const maxPlaying = 20000

// maxNumbers bounds the numbers (and message ids) remembered.
const maxNumbers = 50000

// New checks cfg and builds a simulator (Start serves it).
func New(cfg Config) (*Server, error) {
	if cfg.AgentID == "" {
		cfg.AgentID = "otpgate-sandbox@rbm.goog"
	}
	if cfg.ClientToken == "" {
		cfg.ClientToken = "sandbox-client-token"
	}
	if cfg.ClientEmail == "" {
		cfg.ClientEmail = "otpgate-sandbox@otpgate-sim.iam.gserviceaccount.com"
	}
	if cfg.Key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		cfg.Key = k
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = 3599 * time.Second
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for _, r := range cfg.Rules {
		if _, err := ParseRule(r.String()); err != nil {
			return nil, fmt.Errorf("rcs-sim: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "rcs-sim"), ctx: ctx, cancel: cancel,
		inbox: map[string][]*Message{}, byID: map[string]*Message{}, tokens: map[string]time.Time{},
		client: &http.Client{Timeout: 5 * time.Second}}
	s.SetCallbackURL(cfg.CallbackURL)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /v1/phones/{phone}/agentMessages", s.send)
	mux.HandleFunc("GET /v1/phones/{phone}/capabilities", s.capabilities)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Start serves on addr (port 0 picks one) and returns where.
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("rcs-sim: %w", err)
	}
	s.ln = ln
	go s.srv.Serve(ln)
	s.log.Info("RCS Business Messaging simulator listening", "addr", ln.Addr().String(), "agent_id", s.cfg.AgentID)
	return ln.Addr().String(), nil
}

// Addr is where it listens ("" before Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// BaseURL is the API's base URL; TokenURL the token endpoint's.
func (s *Server) BaseURL() string  { return "http://" + s.Addr() }
func (s *Server) TokenURL() string { return "http://" + s.Addr() + "/token" }

// AgentID and ClientToken are the agent's.
func (s *Server) AgentID() string     { return s.cfg.AgentID }
func (s *Server) ClientToken() string { return s.cfg.ClientToken }

// Key is the service account's key, with this simulator's token URL.
func (s *Server) Key() rcs.ServiceAccountKey {
	return rcs.ServiceAccountKey{ClientEmail: s.cfg.ClientEmail, PrivateKeyID: "sim", PrivateKey: s.cfg.Key, TokenURI: s.TokenURL()}
}

// SetCallbackURL sets where the events go ("" keeps them).
func (s *Server) SetCallbackURL(u string) { s.callback.Store(&u) }

// Close stops serving and drops the events not yet delivered.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true // no handler adds to wg from now on
	s.mu.Unlock()
	s.cancel()
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// Requests counts the send requests it answered (refused ones too) and the
// capability requests.
func (s *Server) Requests() (sends, capabilities int64) { return s.sends.Load(), s.checks.Load() }

// RevokeTokens forgets every access token issued, as Google does when a
// key is disabled: the next request with one gets 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	clear(s.tokens)
	s.mu.Unlock()
}

// Taken is how many messages it accepted (copies of a message id not
// counted); TokensIssued how many access tokens it gave.
func (s *Server) Taken() int64 { return s.taken.Load() }

// Repeats counts sends of a message id taken before (a client's retry).
func (s *Server) Repeats() int64 { return s.repeats.Load() }

func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// LastToken is the last access token issued (for tests that call the API
// by hand).
func (s *Server) LastToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

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

// VerifyWebhook makes the set-up request Google makes when a webhook is
// configured, and says whether the answer was right (200, the secret).
func (s *Server) VerifyWebhook(ctx context.Context) error {
	secret := hex.EncodeToString(randBytes(8))
	body, _ := json.Marshal(rcs.Handshake{ClientToken: s.cfg.ClientToken, Secret: secret})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *s.callback.Load(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != 200 || !strings.Contains(string(got), secret) {
		return fmt.Errorf("the webhook answered %d %q, not 200 with the secret", resp.StatusCode, got)
	}
	return nil
}

// token is the OAuth 2.0 token endpoint (JWT bearer grant).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		writeOAuthErr(w, "unsupported_grant_type", "grant_type must be urn:ietf:params:oauth:grant-type:jwt-bearer")
		return
	}
	iss, err := rcs.VerifyAssertion(r.PostForm.Get("assertion"), &s.cfg.Key.PublicKey, s.TokenURL(), s.cfg.Now())
	if err != nil {
		writeOAuthErr(w, "invalid_grant", err.Error())
		return
	}
	if iss != s.cfg.ClientEmail {
		writeOAuthErr(w, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	tok := "ya29.sim-" + hex.EncodeToString(randBytes(16))
	s.mu.Lock()
	if len(s.tokens) >= 1000 { // bounded: drop the expired ones
		for t, exp := range s.tokens {
			if !s.cfg.Now().Before(exp) {
				delete(s.tokens, t)
			}
		}
	}
	s.tokens[tok] = s.cfg.Now().Add(s.cfg.TokenLifetime)
	s.issued++
	s.last = tok
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": int64(s.cfg.TokenLifetime / time.Second), "token_type": "Bearer"})
}

func writeOAuthErr(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(400)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// authorized checks the bearer token and the agent id; it answers the
// refusal itself.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	exp, known := s.tokens[tok]
	s.mu.Unlock()
	if !ok || !known || !s.cfg.Now().Before(exp) {
		writeStatus(w, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return false
	}
	if r.URL.Query().Get("agentId") != s.cfg.AgentID {
		writeStatus(w, 403, "PERMISSION_DENIED", fmt.Sprintf("There was an error looking up the RBM agent (ID: %s) that corresponds to the Google Cloud Platform (GCP) project you're authenticating with.", r.URL.Query().Get("agentId")))
		return false
	}
	return true
}

// phone reads the path's phone: E.164, its "+" literal or %2B.
func phone(r *http.Request) (string, bool) {
	p := r.PathValue("phone")
	digits := strings.TrimPrefix(p, "+")
	if !strings.HasPrefix(p, "+") || len(digits) < 7 || len(digits) > 15 || strings.Trim(digits, "0123456789") != "" {
		return "", false
	}
	return p, true
}

// send is phones.agentMessages.create.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	s.sends.Add(1)
	if !s.authorized(w, r) {
		return
	}
	to, ok := phone(r)
	if !ok {
		writeStatus(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("Invalid phone number: %q", r.PathValue("phone")))
		return
	}
	id := r.URL.Query().Get("messageId")
	if id == "" {
		writeStatus(w, 400, "INVALID_ARGUMENT", "messageId is required")
		return
	}
	var m rcs.AgentMessage
	body, _ := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	if err := json.Unmarshal(body, &m); err != nil {
		writeStatus(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
		return
	}
	if m.ContentMessage.Text == "" || len([]rune(m.ContentMessage.Text)) > 3072 {
		writeStatus(w, 400, "INVALID_ARGUMENT", "contentMessage.text must be 1 to 3072 characters")
		return
	}
	if m.TTL != "" && m.ExpireTime != "" {
		writeStatus(w, 400, "INVALID_ARGUMENT", "give ttl or expireTime, not both")
		return
	}
	ttl := 15 * 24 * time.Hour
	if m.TTL != "" {
		secs, err := strconv.ParseFloat(strings.TrimSuffix(m.TTL, "s"), 64)
		if !strings.HasSuffix(m.TTL, "s") || err != nil || secs <= 0 {
			writeStatus(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("Invalid value at 'agent_message.ttl' (type.googleapis.com/google.protobuf.Duration), %q", m.TTL))
			return
		}
		ttl = time.Duration(secs * float64(time.Second))
	}
	if s.cfg.MaxTTL > 0 {
		ttl = min(ttl, s.cfg.MaxTTL)
	}
	rule := match(s.cfg.Rules, to)
	switch rule.Action {
	case "no-rcs":
		writeStatus(w, 404, "NOT_FOUND", "Requested entity was not found.")
		return
	case "refuse":
		writeStatus(w, rule.Status, rpcStatus(rule.Status), "refused by a simulator rule")
		return
	}
	now := time.Now().UTC()
	s.mu.Lock()
	old, seen := s.byID[id]
	var msg *Message
	if !seen {
		msg = &Message{ID: id, AgentID: s.cfg.AgentID, To: to, Text: m.ContentMessage.Text, Status: "accepted", ReceivedAt: now, TTL: ttl}
		s.byID[id] = msg
		s.keep(msg)
	}
	s.mu.Unlock()
	if seen {
		// a message id used before: ignored, as the API does; the answer
		// is the message as first taken
		s.repeats.Add(1)
		s.answer(w, old)
		return
	}
	s.taken.Add(1)
	if s.cfg.OnMessage != nil {
		s.cfg.OnMessage(*msg)
	}
	s.mu.Lock()
	closed := s.closed
	play := !closed && s.playing < maxPlaying
	if play {
		s.playing++
		s.wg.Add(1) // under mu, so Close's Wait cannot start before it
	}
	s.mu.Unlock()
	if play {
		go s.events(msg, rule)
	} else if !closed {
		s.log.Warn("too many messages in play: this one's events are dropped", "message_id", msg.ID, "in_play", maxPlaying)
	}
	if rule.Action == "no-answer-once" {
		select {
		case <-r.Context().Done():
		case <-s.ctx.Done():
		}
		return
	}
	s.answer(w, msg)
}

func (s *Server) answer(w http.ResponseWriter, m *Message) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rcs.AgentMessage{
		Name: "phones/" + m.To + "/agentMessages/" + m.ID, SendTime: m.ReceivedAt.Format(time.RFC3339Nano),
		ContentMessage: rcs.ContentMessage{Text: m.Text}, MessageTrafficType: "AUTHENTICATION",
		ExpireTime: m.ReceivedAt.Add(m.TTL).Format(time.RFC3339Nano),
	})
}

// keep adds m to the inbox; s.mu is held.
func (s *Server) keep(m *Message) {
	if _, ok := s.inbox[m.To]; !ok {
		s.numbers = append(s.numbers, m.To)
		if len(s.numbers) > maxNumbers {
			for _, old := range s.inbox[s.numbers[0]] {
				delete(s.byID, old.ID)
			}
			delete(s.inbox, s.numbers[0])
			s.numbers = s.numbers[1:]
		}
	}
	ms := append(s.inbox[m.To], m)
	if len(ms) > s.cfg.InboxSize {
		delete(s.byID, ms[0].ID)
		ms = ms[1:]
	}
	s.inbox[m.To] = ms
}

// capabilities is phones.getCapabilities.
func (s *Server) capabilities(w http.ResponseWriter, r *http.Request) {
	s.checks.Add(1)
	if !s.authorized(w, r) {
		return
	}
	to, ok := phone(r)
	if !ok || r.URL.Query().Get("requestId") == "" {
		writeStatus(w, 400, "INVALID_ARGUMENT", "a phone number in E.164 and a requestId are required")
		return
	}
	if match(s.cfg.Rules, to).Action == "no-rcs" {
		writeStatus(w, 404, "NOT_FOUND", "Requested entity was not found.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rcs.Capabilities{Features: []string{"RICHCARD_STANDALONE", "RICHCARD_CAROUSEL", "ACTION_CREATE_CALENDAR_EVENT",
		"ACTION_DIAL", "ACTION_OPEN_URL", "ACTION_SHARE_LOCATION", "ACTION_VIEW_LOCATION"}})
}

// rpcStatus is the google.rpc.Code name Google's APIs give with an HTTP
// status.
func rpcStatus(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ALREADY_EXISTS"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

func writeStatus(w http.ResponseWriter, code int, status, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(rcs.ErrorBody{Error: rcs.RPCStatus{Code: code, Message: message, Status: status}})
}

// events plays a message's life as rule says.
func (s *Server) events(m *Message, rule Rule) {
	defer func() {
		s.mu.Lock()
		s.playing--
		s.mu.Unlock()
		s.wg.Done()
	}()
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-s.ctx.Done():
			return false
		}
	}
	set := func(st string) {
		s.mu.Lock()
		m.Status = st
		s.mu.Unlock()
	}
	switch rule.Action {
	case "silent":
		return
	case "offline", "unrevoked":
		delay := rule.Delay
		if rule.Action == "unrevoked" {
			delay = m.TTL + time.Hour
		}
		if delay > m.TTL {
			if !wait(m.TTL) {
				return
			}
			ev := "TTL_EXPIRATION_REVOKED"
			if rule.Action == "unrevoked" {
				ev = "TTL_EXPIRATION_REVOKE_FAILED"
			}
			set(strings.ToLower(ev))
			s.post(m, ev)
			return
		}
		if !wait(delay) {
			return
		}
	default:
		if !wait(s.cfg.DeliverAfter) {
			return
		}
	}
	set("delivered")
	if !s.post(m, "DELIVERED") || rule.Action != "read" || !wait(s.cfg.ReadAfter) {
		return
	}
	set("read")
	s.post(m, "READ")
}

// post sends one event, retrying with back-off until a 200, RetryFor, or
// Close; false when it gave up.
func (s *Server) post(m *Message, eventType string) bool {
	ev := rcs.Event{AgentID: s.cfg.AgentID, EventType: eventType, EventID: "MxSim" + hex.EncodeToString(randBytes(8)),
		MessageID: m.ID, SendTime: time.Now().UTC().Format(time.RFC3339Nano)}
	if strings.HasPrefix(eventType, "TTL_") {
		ev.PhoneNumber = m.To
	} else {
		ev.SenderPhoneNumber = m.To
	}
	data, _ := json.Marshal(ev)
	var env rcs.Envelope
	env.Message.Data = base64.StdEncoding.EncodeToString(data)
	env.Message.MessageID = strconv.FormatUint(uint64(time.Now().UnixNano()), 10)
	env.Message.PublishTime = time.Now().UTC().Format(time.RFC3339Nano)
	env.Message.Attributes = map[string]string{"business_id": s.cfg.AgentID, "product": "RBM"}
	env.Subscription = "projects/rbm-sim/subscriptions/rbm-sub"
	body, _ := json.Marshal(env)
	sig := rcs.Sign(s.cfg.ClientToken, data)
	deadline := time.Now().Add(s.cfg.RetryFor)
	backoff := 200 * time.Millisecond
	for {
		u := *s.callback.Load()
		if u == "" {
			return true
		}
		sent := time.Now()
		if s.postOnce(u, sig, body) {
			if s.cfg.OnStatusTaken != nil {
				s.cfg.OnStatusTaken(*m, eventType, sent, time.Now())
			}
			return true
		}
		if time.Now().After(deadline) {
			s.log.Warn("event given up", "message_id", m.ID, "event", eventType)
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
	req.Header.Set("X-Goog-Signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
