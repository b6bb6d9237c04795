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
	"strings"
	"sync"
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
// connector's message id once the far end accepted the message. An error
// that has a Permanent() bool method returning true means retrying on this
// connector cannot help.
type Sender interface {
	Send(ctx context.Context, m Outbound) (messageID string, err error)
}

// Outbound is one message to send.
type Outbound struct {
	To   string // E.164
	From string // sender id
	Text string
}

// Router picks a connector for a number.
type Router interface {
	Route(e164 string) (router.Decision, bool)
}

// Store is what the engine needs of engine/store.
type Store interface {
	Insert(rec *store.Record) error
	Get(id string) (*store.Record, error)
	Update(id string, fn func(r *store.Record) error) (*store.Record, error)
	UpdateLazy(id string, fn func(r *store.Record) error) (*store.Record, error)
	PendingID(tenant, number string) (string, bool, error)
	MessageOwner(connector, msgID string) (string, bool, error)
	Due(now time.Time, limit int) ([]store.Due, time.Time, error)
	DropDeadline(d store.Due) error
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
	Templates     Templates     // tenant's own templates, searched before the config's
}

// Config configures an engine.
type Config struct {
	ServerKey []byte // 32 bytes; derives the code hash key and the sealing key
	Store     Store
	Router    Router
	// Senders by connector name; every connector the router can choose must be here.
	Senders map[string]Sender
	// Channels lists the channels that can send (sms now; voice with the voice connector).
	Channels        map[string]bool
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
	Logger  *slog.Logger
	Now     func() time.Time // for tests; default time.Now
	Phone   *phone.Validator
}

// Engine runs verifications. Safe for concurrent use.
type Engine struct {
	cfg    Config
	sec    *secrets
	st     Store
	log    *slog.Logger
	now    func() time.Time
	phone  *phone.Validator
	queue  chan string
	inflMu sync.Mutex
	infl   map[string]bool // ids whose send is in progress
	early  *earlyReceipts
	// receipts feeds the receipt workers (see SubmitReceipt).
	receipts [receiptWorkers]chan Receipt
	rwg      sync.WaitGroup
	wg       sync.WaitGroup
	started  bool
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
	if cfg.MaxSendTries <= 0 {
		cfg.MaxSendTries = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Phone == nil {
		cfg.Phone = phone.NewValidator(0)
	}
	if cfg.Channels == nil {
		cfg.Channels = map[string]bool{ChannelSMS: true}
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
		queue: make(chan string, 65536),
		infl:  make(map[string]bool),
		early: newEarlyReceipts(100000, 2*time.Minute),
	}
	for i := range e.receipts {
		e.receipts[i] = make(chan Receipt, 256)
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
	// NextEventWait: time without a successful check before the next
	// workflow step starts (10s..1h; default 5m). Stored now; used once a
	// workflow has more than one step.
	NextEventWait time.Duration
}

func (e *Engine) tenant(id string) (*Tenant, error) {
	t, ok := e.cfg.Tenants[id]
	if !ok {
		return nil, fmt.Errorf("engine: unknown tenant %q", id)
	}
	return t, nil
}

// Create validates req, makes the code, durably stores the verification
// and queues its first message. It returns the stored record (never the
// code). With a pending verification for the same number the tenant's
// policy decides: the pending one is returned (reused=true), a
// *ConcurrentError, or the old one is canceled.
func (e *Engine) Create(ctx context.Context, req CreateRequest) (v *View, reused bool, err error) {
	t, err := e.tenant(req.Tenant)
	if err != nil {
		return nil, false, err
	}
	num, err := e.phone.Parse(req.Number, req.Country)
	if err != nil {
		var pe *phone.Error
		if errors.As(err, &pe) {
			return nil, false, &FieldError{Field: pe.Field, Code: "invalid_number", Detail: err.Error()}
		}
		return nil, false, err
	}
	// workflow
	wf := t.Workflow
	if len(wf) == 0 {
		wf = []string{ChannelSMS}
	}
	switch {
	case req.Channel != "" && len(req.Workflow) > 0:
		return nil, false, fieldErr("channel", "give channel or workflow, not both")
	case req.Channel != "":
		wf = []string{req.Channel}
	case len(req.Workflow) > 0:
		wf = req.Workflow
	}
	if len(wf) > 5 {
		return nil, false, fieldErr("workflow", "at most 5 steps")
	}
	for _, ch := range wf {
		field := "workflow"
		if req.Channel != "" {
			field = "channel"
		}
		if ch != ChannelSMS && ch != ChannelVoice {
			return nil, false, fieldErr(field, "%q is not a channel (sms, voice)", ch)
		}
		if !e.cfg.Channels[ch] {
			return nil, false, &FieldError{Field: field, Code: "channel_unavailable", Detail: fmt.Sprintf("channel %q is not available on this gateway", ch)}
		}
	}
	// code
	codeLen := firstInt(req.CodeLength, t.CodeLength, 6)
	if codeLen < MinCodeLength || codeLen > MaxCodeLength {
		return nil, false, fieldErr("code_length", "%d is outside %d..%d", codeLen, MinCodeLength, MaxCodeLength)
	}
	codeType := firstStr(req.CodeType, t.CodeType, CodeNumeric)
	if _, ok := alphabet(codeType); !ok {
		return nil, false, fieldErr("code_type", "%q is not one of numeric, alpha, alphanumeric", codeType)
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = t.TTL
	}
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	if ttl < 30*time.Second || ttl > 24*time.Hour {
		return nil, false, fieldErr("ttl", "%d seconds is outside 30..86400", int(ttl.Seconds()))
	}
	if req.NextEventWait != 0 && (req.NextEventWait < 10*time.Second || req.NextEventWait > time.Hour) {
		return nil, false, fieldErr("next_event_wait", "%d seconds is outside 10..3600", int(req.NextEventWait.Seconds()))
	}
	if len(req.CallbackURL) > 2048 || (req.CallbackURL != "" && !strings.HasPrefix(req.CallbackURL, "https://") && !strings.HasPrefix(req.CallbackURL, "http://")) {
		return nil, false, fieldErr("callback_url", "must be an http or https URL of at most 2048 bytes")
	}
	maxAtt := firstInt(req.MaxAttempts, t.MaxAttempts, 5)
	if maxAtt < 1 || maxAtt > 10 {
		return nil, false, fieldErr("max_attempts", "%d is outside 1..10", maxAtt)
	}
	brand := firstStr(req.Brand, t.Brand, t.ID)
	if len(brand) > 32 {
		return nil, false, fieldErr("brand", "longer than 32 bytes")
	}
	sender := firstStr(req.SenderID, t.SenderID, e.cfg.DefaultSenderID)
	if err := checkSenderID(sender); err != nil {
		return nil, false, fieldErr("sender_id", "%v", err)
	}
	locale := req.Locale
	if locale == "" {
		locale = countryLocale[num.Country]
	}
	if locale == "" {
		locale = firstStr(t.Locale, "en")
	}
	if len(locale) > 16 {
		return nil, false, fieldErr("locale", "longer than 16 bytes")
	}
	text, err := e.template(t, req.Template, locale)
	if err != nil {
		return nil, false, err
	}
	filled := fill(text, brand, int((ttl+time.Minute-1)/time.Minute))
	if e.cfg.CheckText != nil {
		if err := e.cfg.CheckText(render(filled, strings.Repeat("0", codeLen))); err != nil {
			return nil, false, fieldErr("template", "%v", err)
		}
	}
	if wf[0] == ChannelSMS {
		if _, ok := e.cfg.Router.Route(num.E164); !ok {
			return nil, false, &FieldError{Field: "number", Code: "no_route", Detail: "no SMS route for " + num.E164}
		}
	}

	// pending policy
	policy := firstStr(t.PendingPolicy, PolicyReuse)
	code, err := generateCode(codeLen, codeType)
	if err != nil {
		return nil, false, err
	}
	now := e.now()
	id := ids.New()
	rec := &store.Record{
		ID: id, Tenant: t.ID, Number: num.E164, Country: num.Country,
		Status: StatusPending, Workflow: wf, MaxAttempts: maxAtt,
		CodeLength: codeLen, CodeType: codeType,
		CodeHash: e.sec.hash(id, code), CodeSealed: e.sec.seal(id, code),
		Template: filled, SenderID: sender, Locale: locale, CallbackURL: req.CallbackURL,
		NextEventWait: req.NextEventWait,
		CreatedAt:     now, ExpiresAt: now.Add(ttl), UpdatedAt: now,
		Messages: []store.Message{{Channel: wf[0], State: MsgQueued, QueuedAt: now}},
		Events:   []store.Event{{At: now, Type: "created", Channel: wf[0]}},
		Deadlines: []store.Deadline{
			{At: now.Add(ttl), Kind: deadlineExpire},
			{At: now.Add(e.cfg.DispatchLease), Kind: deadlineDispatch},
		},
	}
	for try := 0; ; try++ {
		err = e.st.Insert(rec)
		var pe *store.PendingExistsError
		if !errors.As(err, &pe) {
			break
		}
		if try > 3 {
			return nil, false, fmt.Errorf("engine: pending verification %s keeps coming back", pe.ID)
		}
		// One whose ttl has passed but whose timer has not run yet is
		// expired now rather than reused or blocking.
		if expired, xerr := e.expireIfDue(pe.ID); xerr != nil {
			return nil, false, xerr
		} else if expired {
			continue
		}
		switch policy {
		case PolicyReject:
			return nil, false, &ConcurrentError{ID: pe.ID}
		case PolicyReplace:
			if _, cerr := e.finish(pe.ID, StatusCanceled, "replaced by "+id); cerr != nil && !errors.Is(cerr, ErrNotPending) && !errors.Is(cerr, store.ErrNotFound) {
				return nil, false, cerr
			}
			continue
		default: // reuse
			old, gerr := e.st.Get(pe.ID)
			if gerr != nil {
				if errors.Is(gerr, store.ErrNotFound) {
					continue
				}
				return nil, false, gerr
			}
			return e.view(old), true, nil
		}
	}
	if err != nil {
		return nil, false, err
	}
	countVerification("created", rec)
	e.enqueue(id)
	return e.view(rec), false, nil
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
		name = firstStr(t.Template, DefaultTemplateName)
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
	if err := checkSenderID(firstStr(t.SenderID, cfg.DefaultSenderID)); err != nil {
		return fmt.Errorf("sender_id: %w", err)
	}
	if len(firstStr(t.Brand, t.ID)) > 32 {
		return fmt.Errorf("brand: longer than 32 bytes")
	}
	if len(t.Locale) > 16 {
		return fmt.Errorf("locale: longer than 16 bytes")
	}
	name := firstStr(t.Template, DefaultTemplateName)
	sets := []Templates{t.Templates, cfg.Templates, BuiltinTemplates}
	if _, ok := pick(sets, name, "en"); !ok {
		return fmt.Errorf("template: no template named %q", name)
	}
	if cfg.CheckText != nil {
		ttl := t.TTL
		if ttl == 0 {
			ttl = 10 * time.Minute
		}
		code := strings.Repeat("0", firstInt(t.CodeLength, 6))
		for _, set := range sets {
			for loc, text := range set[name] {
				if err := cfg.CheckText(render(fill(text, firstStr(t.Brand, t.ID), int((ttl+time.Minute-1)/time.Minute)), code)); err != nil {
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

func firstInt(v ...int) int {
	for _, x := range v {
		if x != 0 {
			return x
		}
	}
	return 0
}

func firstStr(v ...string) string {
	for _, x := range v {
		if x != "" {
			return x
		}
	}
	return ""
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
	rec, err := e.st.Update(id, func(r *store.Record) error {
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
			endRecord(r, StatusExpired, now, "ttl passed")
			res.Status, res.Reason, became = StatusExpired, "expired", StatusExpired
			return nil
		}
		if len(code) <= MaxCodeLength*2 && e.sec.matches(r.ID, code, r.CodeHash) {
			endRecord(r, StatusVerified, now, "")
			res.Status, res.Verified, became = StatusVerified, true, StatusVerified
			res.AttemptsLeft = r.MaxAttempts - r.Attempts
			return nil
		}
		r.Attempts++
		r.UpdatedAt = now
		r.Events = append(r.Events, store.Event{At: now, Type: "check_failed", Detail: fmt.Sprintf("attempt %d of %d", r.Attempts, r.MaxAttempts)})
		res.Reason = "wrong_code"
		if r.Attempts >= r.MaxAttempts {
			endRecord(r, StatusFailed, now, "max attempts reached")
			res.Status, res.Reason, became = StatusFailed, "max_attempts", StatusFailed
		}
		res.AttemptsLeft = r.MaxAttempts - r.Attempts
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound) {
			return CheckResult{}, ErrNotFound
		}
		return CheckResult{}, err
	}
	checksTotal(res)
	if became != "" {
		countVerification(became, rec)
	}
	return res, nil
}

// endRecord moves r out of pending: wipes the sealed code and the timers.
func endRecord(r *store.Record, status string, now time.Time, detail string) {
	r.Status = status
	r.CodeSealed = nil
	r.Deadlines = nil
	r.UpdatedAt = now
	r.Events = append(r.Events, store.Event{At: now, Type: status, Detail: detail})
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
		endRecord(r, StatusExpired, now, "ttl passed")
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

// ErrNoNextStep: POST …/next on a verification whose workflow has no step left.
var ErrNoNextStep = errors.New("the workflow has no next step")

// Next starts the next workflow step at once.
func (e *Engine) Next(ctx context.Context, tenant, id string) (*View, error) {
	r, err := e.st.Get(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.Tenant != tenant) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if r.Status != StatusPending || !e.now().Before(r.ExpiresAt) {
		return nil, ErrNotPending
	}
	if r.Step+1 >= len(r.Workflow) {
		return nil, ErrNoNextStep
	}
	// Workflows have one step until a second channel exists (the voice
	// connector); New refuses workflows with unavailable channels.
	return nil, ErrNoNextStep
}

// finish ends a pending verification with status.
func (e *Engine) finish(id, status, detail string) (*View, error) {
	now := e.now()
	rec, err := e.st.Update(id, func(r *store.Record) error {
		if r.Status != StatusPending {
			return ErrNotPending
		}
		endRecord(r, status, now, detail)
		return nil
	})
	if err != nil {
		return nil, err
	}
	countVerification(status, rec)
	return e.view(rec), nil
}
