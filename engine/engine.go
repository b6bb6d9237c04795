// Package engine owns the verification lifecycle: it makes codes, keeps
// them as a keyed hash and a sealed copy, runs the state machine (pending →
// verified | failed | expired | canceled), sends messages through the
// channel senders it is given, turns receipts into events and runs the
// timers (expiry, send retries) from the store's deadline index.
//
// The engine defines the small interfaces it needs (Sender, Router, Store);
// connectors and the store implement them and cmd/otpgate wires them.
package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/internal/ids"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/router"
)

// Statuses of a verification.
const (
	StatusPending  = "pending"
	StatusVerified = "verified"
	StatusFailed   = "failed"
	StatusExpired  = "expired"
	StatusCanceled = "canceled"
)

// Channels.
const (
	ChannelSMS   = "sms"
	ChannelVoice = "voice"
)

// Message states.
const (
	MsgQueued      = "queued"
	MsgSubmitted   = "submitted"
	MsgDelivered   = "delivered"
	MsgUndelivered = "undelivered"
	MsgFailed      = "failed"
)

// Deadline kinds.
const (
	deadlineExpire   = "expire"
	deadlineDispatch = "dispatch"
)

// Pending policies: what a second request for a (tenant, number) with a
// pending verification gets.
const (
	PolicyReuse   = "reuse"   // the pending verification, no new message
	PolicyReject  = "reject"  // ErrConcurrent
	PolicyReplace = "replace" // the old one is canceled, a new one starts
)

// Sender sends one message over one connector. Send returns the
// connector's message ids once the far end accepted the message: one, or
// one per part of a concatenated SMS, in order. An error that has a
// Permanent() bool method returning true means retrying on this connector
// cannot help; a Reason() string method gives the word tenants see.
type Sender interface {
	Send(ctx context.Context, m Outbound) (ids []string, err error)
}

// Outbound is one message to send.
type Outbound struct {
	To   string // E.164
	From string // sender id
	Text string
	// TON and NPI of the originator when the route sets them; -1: the
	// connector infers them from From.
	TON, NPI int
}

// Router picks the connectors for a message, in the order to try them.
type Router interface {
	Route(req router.Request, h router.Health) (router.Decision, bool)
}

// RouteHealth is what the engine tells about connectors and asks of them:
// it reports every final receipt, and skips connectors that are not usable.
type RouteHealth interface {
	router.Health
	Observe(connector string, delivered bool, at time.Time)
}

// Store is what the engine needs of engine/store.
type Store interface {
	Insert(rec *store.Record) error
	Get(id string) (*store.Record, error)
	Update(id string, fn func(r *store.Record) error) (*store.Record, error)
	UpdateCounted(id string, fn func(r *store.Record) error, limit func(r *store.Record) *store.Limit) (*store.Record, error)
	UpdateLazy(id string, fn func(r *store.Record) error) (*store.Record, error)
	MessageOwner(connector, msgID string) (string, bool, error)
	Due(now time.Time, limit int) ([]store.Due, time.Time, error)
	DropDeadline(d store.Due) error
	InsertWith(rec *store.Record, o store.InsertOptions) error
	Hook(id string, seq uint32) (*store.Hook, error)
	DeadHooks(tenant string, limit int) ([]store.Hook, error)
	GetKeyed(name string, now time.Time) ([]byte, bool, error)
	PutKeyed(k store.Keyed) error
	Allows(l store.Limit) (bool, time.Duration)
	ExpireKeyed(now time.Time, limit int) (int, error)
	Purge(id string) error
	PurgeDead(before time.Time) error
}

// Tenant holds one tenant's defaults. Zero fields take the engine's defaults.
type Tenant struct {
	ID            string
	Brand         string        // default: the tenant id
	SenderID      string        // default: Config.DefaultSenderID
	CodeLength    int           // default 6
	CodeType      string        // default numeric
	TTL           time.Duration // default 10m
	MaxAttempts   int           // default 5
	Template      string        // template name; default "default"
	Locale        string        // used when neither request nor country decides; default "en"
	Workflow      []string      // default ["sms"]
	PendingPolicy string        // reuse (default), reject, replace
	NextEventWait time.Duration // between workflow steps; default DefaultNextEventWait
	Templates     Templates     // tenant's own templates, searched before the config's
	// CallbackURL receives the tenant's webhooks when a request names none.
	CallbackURL string
	// WebhookSecret signs the tenant's webhooks; a callback needs one.
	WebhookSecret string
}

// Config configures an engine.
type Config struct {
	ServerKey []byte // 32 bytes; derives the code hash key and the sealing key
	Store     Store
	Router    Router
	// Senders by connector name; every connector the router can choose must be here.
	Senders map[string]Sender
	// Channels lists the channels that can send (sms, and voice when Voice
	// has trunks).
	Channels map[string]bool
	// Voice: the voice connectors (trunks) by name, for routes with channel voice.
	Voice           map[string]Voicer
	Tenants         map[string]*Tenant
	Templates       Templates // config templates (built-ins fill the gaps)
	DefaultSenderID string    // default "Otpgate"
	// CheckText, when set, refuses message texts the connector cannot send
	// (too long, say). It sees the text with a code of the right length in it.
	CheckText func(text string) error
	// SendTimeout bounds one send attempt (waiting for a link, a window slot
	// and the far end's answer). Default 15s.
	SendTimeout time.Duration
	// DispatchLease: a queued message not confirmed sent within this time is
	// sent again by the timer loop (after a crash, say). Must exceed
	// SendTimeout. Default 30s.
	DispatchLease time.Duration
	// RetryMin, RetryMax: back-off between send attempts that failed for a
	// passing reason. Defaults 1s and 30s.
	RetryMin, RetryMax time.Duration
	// MaxSendTries: passing failures of one message before it counts as
	// failed on its route. Default 8 (with the default back-off, about 2
	// minutes of trying).
	MaxSendTries int
	// Workers sending messages concurrently. Default 256.
	Workers int
	// MaxSendBacklog: while this many sends are queued or under way, a
	// create waits (back-pressure) instead of storing one more
	// verification; after AdmitWait it is refused with ErrOverloaded (the
	// API's 503 "overloaded" with Retry-After). Larger absorbs bursts and
	// lets codes wait longer before they leave; smaller keeps the time
	// from request to SMS short under overload. Default 2048.
	MaxSendBacklog int
	// AdmitWait: how long a create waits for the backlog. Default 2s.
	AdmitWait time.Duration
	Logger    *slog.Logger
	Now       func() time.Time // for tests; default time.Now
	Phone     *phone.Validator
	// Webhooks configures webhook delivery.
	Webhooks WebhookConfig
	// Retention: how long an ended verification (and a dead letter) is
	// kept before it is deleted. Default 7 days.
	Retention time.Duration
	// Limits against abuse; see Limits.
	Limits Limits
	// Health, when set, judges connectors (bound links, receipt success
	// rate); the router skips unusable ones while others are left.
	Health RouteHealth
}

// Window is "at most Max in any Per".
type Window struct {
	Max int
	Per time.Duration
}

// Limits protect numbers. Counts are kept in the store, so they hold across
// restarts. A zero Max takes the default; a negative Max disables the limit.
type Limits struct {
	// NumberSends: messages sent to one number, all tenants together.
	// Default 5 per 10 minutes.
	NumberSends Window
	// NumberChecks: checks of verifications of one number. Default 15 per
	// 10 minutes (with 5 attempts per verification, three verifications'
	// worth).
	NumberChecks Window
}

// LimitError: a limit refused the request; RetryAfter says when it will not.
type LimitError struct {
	Code       string // number_send_limit, number_check_limit
	RetryAfter time.Duration
	Detail     string
}

func (e *LimitError) Error() string { return e.Detail }

// Engine runs verifications. Safe for concurrent use.
type Engine struct {
	cfg       Config
	sec       *secrets
	st        Store
	log       *slog.Logger
	now       func() time.Time
	phone     *phone.Validator
	queue     chan string
	gate      *gate // back-pressure from the send queue to creates
	inflMu    sync.Mutex
	infl      map[string]bool // ids whose send is in progress
	early     *earlyReceipts
	hookQueue chan hookJob
	hooks     interface {
		Hook(id string, seq uint32) (*store.Hook, error)
	}
	httpc    *http.Client
	idemMu   [64]sync.Mutex // serializes requests with one idempotency key
	calls    sync.Map       // callKey(id, message) → context.CancelFunc of a call in progress
	stopping atomic.Bool    // Run is ending: calls cut now are placed again after the restart
	// tenants is swapped whole on a config reload (SetTenants).
	tenants atomic.Pointer[map[string]*Tenant]
	wg      sync.WaitGroup
	started bool
}

// New checks cfg and returns an engine. Call Run to start its workers and timers.
func New(cfg Config) (*Engine, error) {
	sec, err := newSecrets(cfg.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if cfg.Store == nil || cfg.Router == nil {
		return nil, errors.New("engine: store and router are required")
	}
	if cfg.DefaultSenderID == "" {
		cfg.DefaultSenderID = "Otpgate"
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 15 * time.Second
	}
	if cfg.DispatchLease <= cfg.SendTimeout {
		cfg.DispatchLease = 2 * cfg.SendTimeout
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 256
	}
	if cfg.MaxSendBacklog <= 0 {
		cfg.MaxSendBacklog = 2048
	}
	if cfg.AdmitWait <= 0 {
		cfg.AdmitWait = 2 * time.Second
	}
	if cfg.MaxSendTries <= 0 {
		cfg.MaxSendTries = 8
	}
	cfg.Webhooks.defaults()
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.Limits.NumberSends.Max == 0 {
		cfg.Limits.NumberSends = Window{Max: 5, Per: 10 * time.Minute}
	}
	if cfg.Limits.NumberChecks.Max == 0 {
		cfg.Limits.NumberChecks = Window{Max: 15, Per: 10 * time.Minute}
	}
	for _, w := range []Window{cfg.Limits.NumberSends, cfg.Limits.NumberChecks} {
		if w.Max > 0 && w.Per <= 0 {
			return nil, errors.New("engine: a limit with a count needs a positive window")
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		// UTC without a monotonic reading: what a record holds after a
		// round trip through the store, so a cached record and a decoded
		// one read the same.
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.Phone == nil {
		cfg.Phone = phone.NewValidator(0)
	}
	if cfg.Channels == nil {
		cfg.Channels = map[string]bool{ChannelSMS: true, ChannelVoice: len(cfg.Voice) > 0}
	}
	if err := cfg.Templates.Validate("templates"); err != nil {
		return nil, err
	}
	for id, t := range cfg.Tenants {
		if err := validateTenant(cfg, t); err != nil {
			return nil, fmt.Errorf("tenants.%s.%w", id, err)
		}
	}
	e := &Engine{
		cfg: cfg, sec: sec, st: cfg.Store, log: cfg.Logger, now: cfg.Now, phone: cfg.Phone,
		queue:     make(chan string, 65536),
		gate:      newGate(cfg.MaxSendBacklog),
		infl:      make(map[string]bool),
		early:     newEarlyReceipts(100000, 2*time.Minute),
		hookQueue: make(chan hookJob, 65536),
		hooks:     cfg.Store,
		httpc:     cfg.Webhooks.Client,
	}
	if e.httpc == nil {
		e.httpc = newWebhookClient(cfg.Webhooks)
	}
	tenants := cfg.Tenants
	e.tenants.Store(&tenants)
	return e, nil
}

// Errors the API maps to answers.
var (
	ErrNotFound   = errors.New("verification not found")
	ErrNotPending = errors.New("verification is not pending")
)

// FieldError is a request value the engine refuses; Code is stable.
type FieldError struct {
	Field  string
	Code   string // invalid_field, invalid_number, channel_unavailable, no_route, concurrent_verification
	Detail string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Detail }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Code: "invalid_field", Detail: fmt.Sprintf(format, a...)}
}

// ConcurrentError: the tenant's policy is reject and a verification is pending.
type ConcurrentError struct{ ID string }

func (e *ConcurrentError) Error() string {
	return "a verification for this number is already pending: " + e.ID
}

// CreateRequest is a request for a new verification. Zero values take the
// tenant's defaults.
type CreateRequest struct {
	Tenant      string
	Number      string
	Country     string
	Channel     string
	Workflow    []string
	Brand       string
	SenderID    string
	Locale      string
	CodeLength  int
	CodeType    string
	TTL         time.Duration
	MaxAttempts int
	Template    string
	CallbackURL string
	// IdempotencyKey and BodyHash (a hash of the request as the client
	// sent it) make a retried request safe; see Create.
	IdempotencyKey string
	BodyHash       []byte
	// NextEventWait: time without a successful check before the next
	// workflow step starts (10s..1h; default 5m). Stored now; used once a
	// workflow has more than one step.
	NextEventWait time.Duration
}

func (e *Engine) tenant(id string) (*Tenant, error) {
	t, ok := (*e.tenants.Load())[id]
	if !ok {
		return nil, fmt.Errorf("engine: unknown tenant %q", id)
	}
	return t, nil
}

// Created is the answer to a create: what the API returns with its 202.
type Created struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Number      string    `json:"number"`
	Country     string    `json:"country"`
	Workflow    []string  `json:"workflow"`
	ExpiresAt   time.Time `json:"expires_at"`
	MaxAttempts int       `json:"max_attempts"`
	// Reused: a pending verification of the number was returned (policy reuse).
	Reused bool `json:"reused,omitempty"`
	// Replayed: the answer to an earlier request with the same idempotency
	// key (not stored).
	Replayed bool `json:"-"`
}

func createdFrom(r *store.Record, reused bool) *Created {
	return &Created{ID: r.ID, Status: r.Status, Number: r.Number, Country: r.Country, Workflow: r.Workflow,
		ExpiresAt: r.ExpiresAt, MaxAttempts: r.MaxAttempts, Reused: reused}
}

// IdempotencyTTL is how long an idempotency key is remembered.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyError: the key was used before with another request body.
type IdempotencyError struct{ Key string }

func (e *IdempotencyError) Error() string {
	return fmt.Sprintf("idempotency key %q was used with another request", e.Key)
}

type idemEntry struct {
	Hash    []byte  `json:"hash"`
	Created Created `json:"created"`
}

// Create validates req, makes the code, durably stores the verification
// and queues its first message; it never returns the code. With a pending
// verification for the same number the tenant's policy decides: the pending
// one is returned (Reused), a *ConcurrentError, or the old one is canceled.
// With req.IdempotencyKey, a repeat of a request (same key and body hash)
// within IdempotencyTTL returns the first answer and sends nothing, also
// after a restart; the same key with another body is an *IdempotencyError.
func (e *Engine) Create(ctx context.Context, req CreateRequest) (*Created, error) {
	t, err := e.tenant(req.Tenant)
	if err != nil {
		return nil, err
	}
	if req.IdempotencyKey == "" {
		return e.create(ctx, req, t, nil)
	}
	if len(req.IdempotencyKey) > 255 {
		return nil, fieldErr("Idempotency-Key", "longer than 255 bytes")
	}
	name := "i\x00" + t.ID + "\x00" + req.IdempotencyKey
	h := fnv.New32a()
	h.Write([]byte(name))
	mu := &e.idemMu[h.Sum32()%uint32(len(e.idemMu))]
	mu.Lock()
	defer mu.Unlock()
	now := e.now()
	if raw, ok, err := e.st.GetKeyed(name, now); err != nil {
		return nil, err
	} else if ok {
		var ent idemEntry
		if err := json.Unmarshal(raw, &ent); err != nil {
			return nil, fmt.Errorf("engine: idempotency entry: %w", err)
		}
		if !bytes.Equal(ent.Hash, req.BodyHash) {
			return nil, &IdempotencyError{Key: req.IdempotencyKey}
		}
		c := ent.Created
		c.Replayed = true
		return &c, nil
	}
	k := &store.Keyed{Name: name, Expires: now.Add(IdempotencyTTL)}
	c, err := e.create(ctx, req, t, k)
	if err != nil {
		return nil, err
	}
	if c.Reused { // nothing was inserted: remember the answer on its own
		v, _ := json.Marshal(idemEntry{Hash: req.BodyHash, Created: *c})
		if err := e.st.PutKeyed(store.Keyed{Name: name, Value: v, Expires: now.Add(IdempotencyTTL)}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// create validates req, makes the code, durably stores the verification
// and queues its first message. It returns the stored record (never the
// code). With a pending verification for the same number the tenant's
// policy decides: the pending one is returned (reused=true), a
// *ConcurrentError, or the old one is canceled.
func (e *Engine) create(ctx context.Context, req CreateRequest, t *Tenant, idem *store.Keyed) (*Created, error) {
	num, err := e.phone.Parse(req.Number, req.Country)
	if err != nil {
		var pe *phone.Error
		if errors.As(err, &pe) {
			return nil, &FieldError{Field: pe.Field, Code: "invalid_number", Detail: err.Error()}
		}
		return nil, err
	}
	// workflow
	wf := t.Workflow
	if len(wf) == 0 {
		wf = []string{ChannelSMS}
	}
	switch {
	case req.Channel != "" && len(req.Workflow) > 0:
		return nil, fieldErr("channel", "give channel or workflow, not both")
	case req.Channel != "":
		wf = []string{req.Channel}
	case len(req.Workflow) > 0:
		wf = req.Workflow
	}
	if len(wf) > 5 {
		return nil, fieldErr("workflow", "at most 5 steps")
	}
	for _, ch := range wf {
		field := "workflow"
		if req.Channel != "" {
			field = "channel"
		}
		if ch != ChannelSMS && ch != ChannelVoice {
			return nil, fieldErr(field, "%q is not a channel (sms, voice)", ch)
		}
		if !e.cfg.Channels[ch] {
			return nil, &FieldError{Field: field, Code: "channel_unavailable", Detail: fmt.Sprintf("channel %q is not available on this gateway", ch)}
		}
	}
	// code
	codeLen := cmp.Or(req.CodeLength, t.CodeLength, 6)
	if codeLen < MinCodeLength || codeLen > MaxCodeLength {
		return nil, fieldErr("code_length", "%d is outside %d..%d", codeLen, MinCodeLength, MaxCodeLength)
	}
	codeType := cmp.Or(req.CodeType, t.CodeType, CodeNumeric)
	if _, ok := alphabet(codeType); !ok {
		return nil, fieldErr("code_type", "%q is not one of numeric, alpha, alphanumeric", codeType)
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = t.TTL
	}
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	if ttl < 30*time.Second || ttl > 24*time.Hour {
		return nil, fieldErr("ttl", "%d seconds is outside 30..86400", int(ttl.Seconds()))
	}
	if req.NextEventWait != 0 && (req.NextEventWait < 10*time.Second || req.NextEventWait > time.Hour) {
		return nil, fieldErr("next_event_wait", "%d seconds is outside 10..3600", int(req.NextEventWait.Seconds()))
	}
	callback := cmp.Or(req.CallbackURL, t.CallbackURL)
	if req.CallbackURL != "" {
		if err := checkCallbackURL(req.CallbackURL, e.cfg.Webhooks); err != nil {
			return nil, fieldErr("callback_url", "%v", err)
		}
		if t.WebhookSecret == "" {
			return nil, fieldErr("callback_url", "the tenant has no webhook_secret to sign webhooks with")
		}
	}
	maxAtt := cmp.Or(req.MaxAttempts, t.MaxAttempts, 5)
	if maxAtt < 1 || maxAtt > 10 {
		return nil, fieldErr("max_attempts", "%d is outside 1..10", maxAtt)
	}
	brand := cmp.Or(req.Brand, t.Brand, t.ID)
	if len(brand) > 32 {
		return nil, fieldErr("brand", "longer than 32 bytes")
	}
	sender := cmp.Or(req.SenderID, t.SenderID, e.cfg.DefaultSenderID)
	if err := checkSenderID(sender); err != nil {
		return nil, fieldErr("sender_id", "%v", err)
	}
	locale := req.Locale
	if locale == "" {
		locale = countryLocale[num.Country]
	}
	if locale == "" {
		locale = cmp.Or(t.Locale, "en")
	}
	if len(locale) > 16 {
		return nil, fieldErr("locale", "longer than 16 bytes")
	}
	text, err := e.template(t, req.Template, locale)
	if err != nil {
		return nil, err
	}
	filled := fill(text, brand, int((ttl+time.Minute-1)/time.Minute))
	if e.cfg.CheckText != nil {
		if err := e.cfg.CheckText(render(filled, strings.Repeat("0", codeLen))); err != nil {
			return nil, fieldErr("template", "%v", err)
		}
	}
	if _, ok := e.cfg.Router.Route(router.Request{Number: num.E164, Country: num.Country, Sender: sender, Tenant: t.ID, Channel: wf[0]}, nil); !ok {
		return nil, &FieldError{Field: "number", Code: "no_route", Detail: fmt.Sprintf("no %s route for %s", wf[0], num.E164)}
	}

	policy := cmp.Or(t.PendingPolicy, PolicyReuse)
	if err := e.gate.admit(ctx, e.cfg.AdmitWait); err != nil {
		return nil, err
	}
	admitted := true // our place in the send backlog, until the send is queued
	defer func() {
		if admitted {
			e.gate.done()
		}
	}()
	code, err := generateCode(codeLen, codeType)
	if err != nil {
		return nil, err
	}
	now := e.now()
	id := ids.New()
	rec := &store.Record{
		ID: id, Tenant: t.ID, Number: num.E164, Country: num.Country,
		Status: StatusPending, Workflow: wf, MaxAttempts: maxAtt,
		CodeLength: codeLen, CodeType: codeType,
		CodeHash: e.sec.hash(id, code), CodeSealed: e.sec.seal(id, code),
		Template: filled, SenderID: sender, Locale: locale, CallbackURL: callback,
		NextEventWait: req.NextEventWait,
		CreatedAt:     now, ExpiresAt: now.Add(ttl), UpdatedAt: now,
		Messages: []store.Message{{Channel: wf[0], State: MsgQueued, QueuedAt: now}},
		Events:   []store.Event{{At: now, Type: "created", Channel: wf[0]}},
		Deadlines: []store.Deadline{
			{At: now.Add(ttl), Kind: deadlineExpire},
			{At: now.Add(e.cfg.DispatchLease), Kind: deadlineDispatch},
		},
	}
	if rec.NextEventWait == 0 {
		rec.NextEventWait = t.NextEventWait
	}
	if len(wf) > 1 {
		rec.Deadlines = append(rec.Deadlines, store.Deadline{At: now.Add(nextWait(rec)), Kind: deadlineNext})
	}
	// One commit stores the verification, counts the send against the
	// number's limit and keeps the idempotency key. The store checks the
	// pending policy's question (is one pending?) before it counts: a reuse
	// sends nothing, so it does not count.
	var opts store.InsertOptions
	w := e.cfg.Limits.NumberSends
	if w.Max >= 0 {
		opts.Limit = &store.Limit{Name: "s\x00" + num.E164, Window: w.Per, Max: w.Max, Now: now}
	}
	sendLimited := func(retry time.Duration) error {
		return &LimitError{Code: "number_send_limit", RetryAfter: retry, Detail: fmt.Sprintf("at most %d messages to this number in %s", w.Max, w.Per)}
	}
	if idem != nil {
		ent, _ := json.Marshal(idemEntry{Hash: req.BodyHash, Created: *createdFrom(rec, false)})
		opts.Keyed = []store.Keyed{{Name: idem.Name, Value: ent, Expires: idem.Expires}}
	}
	for try := 0; ; try++ {
		err = e.st.InsertWith(rec, opts)
		var le *store.LimitedError
		if errors.As(err, &le) {
			return nil, sendLimited(le.RetryAfter)
		}
		var pe *store.PendingExistsError
		if !errors.As(err, &pe) {
			break
		}
		if try > 3 {
			return nil, fmt.Errorf("engine: pending verification %s keeps coming back", pe.ID)
		}
		// One whose ttl has passed but whose timer has not run yet is
		// expired now rather than reused or blocking.
		if expired, xerr := e.expireIfDue(pe.ID); xerr != nil {
			return nil, xerr
		} else if expired {
			continue
		}
		switch policy {
		case PolicyReject:
			return nil, &ConcurrentError{ID: pe.ID}
		case PolicyReplace:
			// refused by the send limit, the pending one stays
			if opts.Limit != nil {
				if ok, retry := e.st.Allows(*opts.Limit); !ok {
					return nil, sendLimited(retry)
				}
			}
			if _, cerr := e.finish(pe.ID, StatusCanceled, "replaced by "+id); cerr != nil && !errors.Is(cerr, ErrNotPending) && !errors.Is(cerr, store.ErrNotFound) {
				return nil, cerr
			}
			continue
		default: // reuse
			old, gerr := e.st.Get(pe.ID)
			if gerr != nil {
				if errors.Is(gerr, store.ErrNotFound) {
					continue
				}
				return nil, gerr
			}
			return createdFrom(old, true), nil
		}
	}
	if err != nil {
		return nil, err
	}
	countVerification("created", rec)
	admitted = false
	e.enqueueAdmitted(id)
	return createdFrom(rec, false), nil
}

func (e *Engine) template(t *Tenant, name, locale string) (string, error) {
	sets := []Templates{t.Templates, e.cfg.Templates, BuiltinTemplates}
	if strings.Contains(name, "{") {
		if len(name) > 640 {
			return "", fieldErr("template", "text longer than 640 bytes")
		}
		if err := checkTemplateText(name); err != nil {
			return "", fieldErr("template", "%v", err)
		}
		return name, nil
	}
	if name == "" {
		name = cmp.Or(t.Template, DefaultTemplateName)
	}
	text, ok := pick(sets, name, locale)
	if !ok {
		return "", fieldErr("template", "no template named %q (give a configured name or a text containing {code})", name)
	}
	return text, nil
}

// validateTenant checks a tenant's defaults at start, so a bad default
// stops the start instead of failing every request. Errors start with the
// field name.
func validateTenant(cfg Config, t *Tenant) error {
	if err := t.Templates.Validate("templates"); err != nil {
		return err
	}
	if err := checkSenderID(cmp.Or(t.SenderID, cfg.DefaultSenderID)); err != nil {
		return fmt.Errorf("sender_id: %w", err)
	}
	if len(cmp.Or(t.Brand, t.ID)) > 32 {
		return fmt.Errorf("brand: longer than 32 bytes")
	}
	if len(t.Locale) > 16 {
		return fmt.Errorf("locale: longer than 16 bytes")
	}
	if t.CallbackURL != "" {
		if err := checkCallbackURL(t.CallbackURL, cfg.Webhooks); err != nil {
			return fmt.Errorf("callback_url: %w", err)
		}
		if t.WebhookSecret == "" {
			return fmt.Errorf("webhook_secret: required with a callback_url")
		}
	}
	name := cmp.Or(t.Template, DefaultTemplateName)
	sets := []Templates{t.Templates, cfg.Templates, BuiltinTemplates}
	if _, ok := pick(sets, name, "en"); !ok {
		return fmt.Errorf("template: no template named %q", name)
	}
	if cfg.CheckText != nil {
		ttl := t.TTL
		if ttl == 0 {
			ttl = 10 * time.Minute
		}
		code := strings.Repeat("0", cmp.Or(t.CodeLength, 6))
		for _, set := range sets {
			for loc, text := range set[name] {
				if err := cfg.CheckText(render(fill(text, cmp.Or(t.Brand, t.ID), int((ttl+time.Minute-1)/time.Minute)), code)); err != nil {
					return fmt.Errorf("template: %s (locale %s): %w", name, loc, err)
				}
			}
		}
	}
	return nil
}

func checkSenderID(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	digits := strings.TrimPrefix(s, "+")
	allDigits := true
	for _, c := range digits {
		if c < '0' || c > '9' {
			allDigits = false
		}
	}
	if allDigits {
		if len(digits) < 3 || len(digits) > 15 {
			return fmt.Errorf("numeric sender %q must have 3 to 15 digits", s)
		}
		return nil
	}
	if len(s) > 11 {
		return fmt.Errorf("alphanumeric sender %q is longer than 11 characters", s)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("alphanumeric sender %q contains %q (letters, digits, space, - . _)", s, c)
		}
	}
	return nil
}

// CheckResult is the answer to a check.
type CheckResult struct {
	ID           string
	Status       string
	Verified     bool
	AttemptsLeft int
	// Reason when not verified: wrong_code, max_attempts, expired, canceled,
	// already_verified, failed.
	Reason string
}

// Check compares code with the verification's code. Serialized per
// verification by the store, so concurrent checks never exceed MaxAttempts.
func (e *Engine) Check(ctx context.Context, tenant, id, code string) (CheckResult, error) {
	var res CheckResult
	code = normalizeCode(code)
	now := e.now()
	var became string
	// A check of a pending verification counts against the number's check
	// limit in the same commit, and is refused before the code is compared
	// when the limit is full; one of an ended verification (answered from
	// the record, nothing changes) does not count.
	w := e.cfg.Limits.NumberChecks
	limit := func(r *store.Record) *store.Limit {
		if w.Max < 0 || r.Status != StatusPending {
			return nil
		}
		return &store.Limit{Name: "c\x00" + r.Number, Window: w.Per, Max: w.Max, Now: now}
	}
	rec, err := e.st.UpdateCounted(id, func(r *store.Record) error {
		became = ""
		if r.Tenant != tenant {
			return ErrNotFound
		}
		res = CheckResult{ID: r.ID, Status: r.Status}
		switch r.Status {
		case StatusPending:
		case StatusVerified:
			res.Reason = "already_verified"
			return store.ErrNoChange
		case StatusFailed:
			res.Reason = "max_attempts"
			if r.Attempts < r.MaxAttempts {
				res.Reason = "failed"
			}
			return store.ErrNoChange
		default:
			res.Reason = r.Status
			return store.ErrNoChange
		}
		if !now.Before(r.ExpiresAt) {
			e.end(r, StatusExpired, now, "ttl passed")
			res.Status, res.Reason, became = StatusExpired, "expired", StatusExpired
			return nil
		}
		if len(code) <= MaxCodeLength*2 && e.sec.matches(r.ID, code, r.CodeHash) {
			e.end(r, StatusVerified, now, "")
			res.Status, res.Verified, became = StatusVerified, true, StatusVerified
			res.AttemptsLeft = r.MaxAttempts - r.Attempts
			return nil
		}
		r.Attempts++
		r.UpdatedAt = now
		r.Events = append(r.Events, store.Event{At: now, Type: "check_failed", Detail: fmt.Sprintf("attempt %d of %d", r.Attempts, r.MaxAttempts)})
		res.Reason = "wrong_code"
		if r.Attempts >= r.MaxAttempts {
			e.end(r, StatusFailed, now, "max attempts reached")
			res.Status, res.Reason, became = StatusFailed, "max_attempts", StatusFailed
		}
		res.AttemptsLeft = r.MaxAttempts - r.Attempts
		return nil
	}, limit)
	var le *store.LimitedError
	switch {
	case errors.As(err, &le):
		return CheckResult{}, &LimitError{Code: "number_check_limit", RetryAfter: le.RetryAfter, Detail: fmt.Sprintf("at most %d checks for this number in %s", w.Max, w.Per)}
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound):
		return CheckResult{}, ErrNotFound
	case err != nil:
		return CheckResult{}, err
	}
	checksTotal(res)
	if became != "" {
		countVerification(became, rec)
	}
	return res, nil
}

// deadlinePurge removes an ended verification after the retention.
const deadlinePurge = "purge"

// end moves r out of pending (inside an Update function): it wipes the
// sealed code, drops the pending timers (webhooks stay scheduled), schedules
// the purge after the retention, and queues the status webhook.
func (e *Engine) end(r *store.Record, status string, now time.Time, detail string) {
	r.Status = status
	r.CodeSealed = nil
	r.Deadlines = slices.DeleteFunc(r.Deadlines, func(d store.Deadline) bool { return d.Kind != deadlineWebhook })
	r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(e.cfg.Retention), Kind: deadlinePurge})
	r.UpdatedAt = now
	r.Events = append(r.Events, store.Event{At: now, Type: status, Detail: detail})
	e.notify(r, "verification."+status, now, nil, detail)
	e.hangup(r.ID) // a call still ringing or playing ends with the verification
}

// Get returns the verification of tenant.
func (e *Engine) Get(ctx context.Context, tenant, id string) (*View, error) {
	r, err := e.st.Get(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.Tenant != tenant) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return e.view(r), nil
}

// Cancel ends a pending verification of tenant.
func (e *Engine) Cancel(ctx context.Context, tenant, id string) (*View, error) {
	r, err := e.st.Get(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.Tenant != tenant) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if expired, err := e.expireIfDue(id); err != nil {
		return nil, err
	} else if expired {
		return nil, ErrNotPending
	}
	return e.finish(id, StatusCanceled, "canceled by tenant")
}

// expireIfDue expires a pending verification whose ttl has passed (the
// timer may lag under load) and reports whether it did or it had already
// ended.
func (e *Engine) expireIfDue(id string) (bool, error) {
	now := e.now()
	ended := false
	rec, err := e.st.Update(id, func(r *store.Record) error {
		ended = r.Status != StatusPending
		if ended || now.Before(r.ExpiresAt) {
			return store.ErrNoChange
		}
		e.end(r, StatusExpired, now, "ttl passed")
		ended = true
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if ended && rec.Status == StatusExpired && rec.UpdatedAt.Equal(now) {
		countVerification(StatusExpired, rec)
	}
	return ended, nil
}

// SetTenants swaps in a new set of tenants (a config reload) after checking
// each as New does; on an error the running set stays.
func (e *Engine) SetTenants(ts map[string]*Tenant) error {
	for id, t := range ts {
		if err := validateTenant(e.cfg, t); err != nil {
			return fmt.Errorf("tenants.%s.%w", id, err)
		}
	}
	e.tenants.Store(&ts)
	return nil
}

// ErrNoNextStep: POST …/next on a verification whose workflow has no step left.
var ErrNoNextStep = errors.New("the workflow has no next step")

// finish ends a pending verification with status.
func (e *Engine) finish(id, status, detail string) (*View, error) {
	now := e.now()
	rec, err := e.st.Update(id, func(r *store.Record) error {
		if r.Status != StatusPending {
			return ErrNotPending
		}
		e.end(r, status, now, detail)
		return nil
	})
	if err != nil {
		return nil, err
	}
	countVerification(status, rec)
	return e.view(rec), nil
}
