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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/engine/fraud"
	"github.com/otpgate/otpgate/engine/store"
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
	ChannelSMS      = "sms"
	ChannelVoice    = "voice"
	ChannelWhatsApp = "whatsapp"
	ChannelRCS      = "rcs"
)

// knownChannels are the channels a workflow step may name.
var knownChannels = []string{ChannelSMS, ChannelVoice, ChannelWhatsApp, ChannelRCS}

// Message states.
const (
	MsgQueued      = "queued"
	MsgSubmitted   = "submitted"
	MsgDelivered   = "delivered"
	MsgUndelivered = "undelivered"
	MsgFailed      = "failed"
	// MsgRead: a chat message (WhatsApp, RCS) the phone showed its user.
	MsgRead = "read"
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
	// PolicyResend: the pending verification sends its code again, on the
	// channel asked for (Twilio's way to resend: the same create again),
	// counted against the number's send limit.
	PolicyResend = "resend"
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
	Text string // the message with the code in it
	// TON and NPI of the originator when the route sets them; -1: the
	// connector infers them from From.
	TON, NPI int

	// What a chat channel (WhatsApp, RCS) needs beside the text; SMS
	// connectors ignore them.
	Channel string
	// Code is the code alone, for channels that send it as a template's
	// parameter (WhatsApp's authentication templates). Never log it. Empty
	// for SMS, whose connectors have it in Text.
	Code   string
	Locale string // the verification's locale, e.g. "en", "pt-br"
	// Ref names this message of this verification (MessageRef): a
	// connector whose far end echoes an opaque reference in its status
	// callbacks (WhatsApp's biz_opaque_callback_data) or takes a
	// client-chosen message id (RCS) sends it, so a status finds its
	// verification even when the send's own answer was never recorded.
	Ref string
	// Useful is how long the message stays useful: until the next step
	// starts, or the verification expires when this is the last step. A
	// channel that can give its message a lifetime (RCS) gives it no more,
	// so a phone that comes online after the workflow moved on gets no
	// stale code.
	Useful time.Duration
}

// Outcome-unknown errors: a Sender whose error has an Unknown() bool
// method returning true could not tell whether the far end took the
// message (the answer timed out after the request was written). On a
// channel with no idempotent resend (see blindResend) the engine does not
// send it again: the step waits for a status callback or its time.

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

// Store is what the engine needs of its storage: operations on one
// verification (create it, apply a change to it, read it, find it by an
// index), the due work (deadlines, handed marks), the webhook outbox,
// keyed values with an expiry (idempotency keys, counters, sequences) and
// retention. engine/store implements it on Pebble; another backend passes
// the same contract suite (engine/enginetest) to stand in for it.
type Store interface {
	// Create stores a new verification, with in the same atomic step its
	// indexes, o.Keyed and the count of o.Limit; a pending one whose
	// (tenant, number) has one pending is refused (*store.PendingExistsError),
	// as is one over its limit (*store.LimitedError).
	Create(rec *store.Record, o store.CreateOptions) error
	// Apply changes one verification atomically: fn runs on a copy of it,
	// and the change, its index changes and its webhook items commit
	// together (see store.ApplyOptions for limits and lazy commits).
	Apply(id string, fn func(r *store.Record) error, o store.ApplyOptions) (*store.Record, error)
	// Get reads a verification. What it returns may be shared (a cache's):
	// the engine reads it and never changes it.
	Get(id string) (*store.Record, error)
	// Lookup finds a verification's id by an index (pending and last by
	// tenant and number, message by connector and message id).
	Lookup(ix store.Index, a, b string) (string, bool, error)

	// Due work: deadlines that have come, and handed marks.
	Due(now time.Time, limit int) ([]store.Due, time.Time, error)
	Deadlines(from, to time.Time, kind string, fn func(store.Due) bool) error
	DropDeadline(d store.Due) error
	MarkHanded(id string, mi int, connector string, at time.Time) error
	Handed(id string) (store.Mark, bool, error)

	// The webhook outbox.
	Hook(id string, seq uint32) (*store.Hook, error)
	DeadHooks(tenant string, limit int) ([]store.Hook, error)

	// Keyed values with an expiry, limit counters, sequences.
	GetKeyed(name string, now time.Time) ([]byte, bool, error)
	PutKeyed(k store.Keyed) error
	Allows(l store.Limit) (bool, time.Duration)
	// UpdateKeyed changes a keyed value in one locked read-modify-write
	// (a number's lockout).
	UpdateKeyed(name string, now time.Time, fn func(old []byte, ok bool) ([]byte, time.Time, error)) error
	// TakeBucket and BucketHas use a token bucket outside an insert (a
	// tenant's guess rate).
	TakeBucket(b store.Bucket) error
	BucketHas(b store.Bucket) (bool, time.Duration)
	// ScanKeyed reads the keyed values under a prefix (the locks, at
	// start).
	ScanKeyed(prefix string, now time.Time, fn func(name string, v []byte) bool) error
	NextSeq(name string) (uint64, error)

	// Retention.
	Purge(id string) error
	ExpireKeyed(now time.Time, limit int) (int, error)
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
	// CustomCodes lets the tenant's requests choose the code (Twilio's
	// CustomCode, Vonage's pin_code): off by default, since a chosen code
	// is only as strong as whoever chose it.
	CustomCodes bool
	// Fraud is the tenant's own geo permissions and number types, judged
	// after the gateway's (Config.Fraud): a destination must pass both.
	Fraud fraud.Policy
	// Velocity: the tenant's velocity limits; a zero field takes the
	// gateway's (Limits.Velocity).
	Velocity VelocityLimits
}

// Config configures an engine.
type Config struct {
	ServerKey []byte // 32 bytes; derives the code hash key and the sealing key
	Store     Store
	Router    Router
	// Senders by connector name; every connector the router can choose must be here.
	Senders map[string]Sender
	// Channels lists the channels that can send (sms, and voice when Voice
	// has trunks; whatsapp and rcs when they have accounts).
	Channels map[string]bool
	// MinStepWait: a workflow step on this channel waits at least this
	// long before the next step starts (the lifetime its connector gives a
	// message, WhatsApp's message_send_ttl_seconds): the message has been
	// delivered or has expired before the next step sends the code again,
	// so the phone never gets it late. A shorter wait asked for is raised
	// to it, and the step's event says so.
	MinStepWait map[string]time.Duration
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
	// DispatchLease: a message handed to a connector whose outcome was not
	// durably recorded (the process died in between) is sent again this
	// long after it was handed: at most one duplicate. A message never
	// handed to a connector is sent at once after a restart. Must exceed
	// SendTimeout. Default twice SendTimeout (50s with the config's
	// defaults).
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
	// Fraud is the gateway's geo permissions and number types, for every
	// tenant (each may narrow them with its own, Tenant.Fraud). The zero
	// value refuses premium-rate and shared-cost numbers and sends fixed
	// lines voice only (fraud.DefaultDenyTypes, DefaultVoiceOnlyTypes).
	Fraud fraud.Policy
	// Health, when set, judges connectors (bound links, receipt success
	// rate); the router skips unusable ones while others are left.
	Health RouteHealth
	// WebhookFormats render the webhooks of verifications made through an
	// API (the key: View.API) in that API's own shape (SMS.CX's
	// otp_update); the others get WebhookEvent as JSON.
	WebhookFormats map[string]WebhookFormat
}

// WebhookFormat renders one webhook of v, typ being the event
// (verification.verified, message.delivered, …) and eventID its unique
// id; send false skips the event (an API that reports only some of them).
// It runs inside the store's update of v: it must be quick and must not
// call the engine.
type WebhookFormat func(typ, eventID string, v *View) (body []byte, send bool)

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
	// Velocity: creates per tenant and country, number prefix and end
	// user; see VelocityLimits for the defaults.
	Velocity VelocityLimits
	// Lockout: a number whose verifications keep failing (wrong codes) is
	// locked for the tenant; see Lockout for the defaults.
	Lockout Lockout
	// GuessRate: wrong codes a tenant's checks may give, all numbers
	// together; default 50 a second, burst 500 (a credential-stuffing run
	// over many numbers at once, which no per-number limit sees).
	GuessRate Velocity
	// Calls: voice calls to one number, and to one number range (the
	// first CallPrefixDigits digits), all tenants together: toll fraud
	// rings the ranges whose operators pay it per minute. Defaults: 3 an
	// hour per number (burst 3), 20 an hour per 8-digit range (burst 20).
	// A call over them is not placed: its step fails with reason
	// voice_limit and the next step starts.
	CallsPerNumber   Velocity
	CallsPerPrefix   Velocity
	CallPrefixDigits int
}

// LimitError: a limit refused the request; RetryAfter says when it will not.
type LimitError struct {
	Code       string // number_send_limit, number_check_limit, velocity_limit, number_locked
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
	infl      map[string]bool // ids whose send is in progress → asked for again meanwhile
	early     *earlyReceipts
	hookQueue chan hookJob
	hooks     interface {
		Hook(id string, seq uint32) (*store.Hook, error)
	}
	httpc    *http.Client
	idemMu   [64]sync.Mutex // serializes requests with one idempotency key
	calls    sync.Map       // callKey(id, message) → context.CancelFunc of a call in progress
	locks    sync.Map       // lockName → time.Time: numbers locked now (lockout.go)
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
	cfg.Limits.Lockout = cfg.Limits.Lockout.withDefaults()
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
			return nil, tenantError(id, err)
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
	if err := e.loadLocks(cfg.Now()); err != nil {
		return nil, fmt.Errorf("engine: reading the number locks: %w", err)
	}
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

// update applies fn to verification id and waits for the change to be
// durable; updateLazy does not wait (see store.ApplyOptions.Lazy);
// updateCounted also counts the change against limit's count.
func (e *Engine) update(id string, fn func(r *store.Record) error) (*store.Record, error) {
	return e.st.Apply(id, fn, store.ApplyOptions{})
}

func (e *Engine) updateLazy(id string, fn func(r *store.Record) error) (*store.Record, error) {
	return e.st.Apply(id, fn, store.ApplyOptions{Lazy: true})
}

func (e *Engine) updateCounted(id string, fn func(r *store.Record) error, limit func(r *store.Record) *store.Limit) (*store.Record, error) {
	return e.st.Apply(id, fn, store.ApplyOptions{Limit: limit})
}
