package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/otpgate/otpgate/engine/fraud"
	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/internal/ids"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/router"
)

// Creating a verification: the request checked into a plan, the code made
// and kept (hashed and sealed) in a new record, the record stored with the
// pending policy, the send limit and the idempotency key in one commit,
// and its first message queued.

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
	// Texts are the request's own texts by locale ("" for any locale), a
	// {code} in each: the one for the verification's locale (then its
	// language, then "") is sent; with none for it, Template is. SMS.CX's
	// template and template_xx.
	Texts       map[string]string
	CallbackURL string
	// IdempotencyKey and BodyHash (a hash of the request as the client
	// sent it) make a retried request safe; see Create.
	IdempotencyKey string
	BodyHash       []byte
	// NextEventWait: time without a successful check before the next
	// workflow step starts (10s..1h; default the tenant's, else 2m).
	NextEventWait time.Duration
	// StepWaits, when set, is the wait after each step, one per step
	// (Vonage's workflows wait 125 s, 180 s, then 300 s); it overrides
	// NextEventWait.
	StepWaits []time.Duration
	// PendingPolicy overrides the tenant's for this request: an API decides
	// what a second request for a pending number means (Vonage refuses it,
	// Twilio resends the code).
	PendingPolicy string
	// Code is a code the client chose; refused (invalid_field "code")
	// unless the tenant allows custom codes. Kept hashed and sealed like a
	// generated one, never in an idempotency entry.
	Code string
	// API and Scope name the API the request came in by and its scope (a
	// Twilio Service SID); ClientRef is the client's reference and
	// CustomerID its name for its end user. Kept on the record.
	API, Scope, ClientRef, CustomerID string
	// ClientIP is the end user's address as the client saw it (Vonage's
	// ip_address, Twilio's DeviceIp) and EndUser the tenant's id for that
	// user (the native API's client_ref; not a vendor's correlation
	// reference, which clients often keep constant): a velocity limit
	// counts per each. Not stored.
	ClientIP, EndUser string
	// NumericID gives the verification a number unique within the tenant
	// (View.Seq; BySeq finds it), for APIs whose clients parse ids as
	// numbers.
	NumericID bool
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
	// Reused: a pending verification of the number was returned (policy
	// reuse, or resend with Resent).
	Reused bool `json:"reused,omitempty"`
	Resent bool `json:"-"`
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
	p, err := e.plan(req, t)
	if err != nil {
		return nil, err
	}
	if d, err := e.lockedFor(t.ID, p.num.E164, e.now()); err != nil {
		return nil, err
	} else if d > 0 {
		fraudRefused("number_locked", "", p.num.Country)
		return nil, lockedError(d)
	}
	if err := e.gate.admit(ctx, e.cfg.AdmitWait); err != nil {
		return nil, err
	}
	admitted := true // our place in the send backlog, until the send is queued
	defer func() {
		if admitted {
			e.gate.done()
		}
	}()
	rec, err := e.newRecord(p, t)
	if err != nil {
		return nil, err
	}
	c, err := e.insert(rec, p, cmp.Or(req.PendingPolicy, t.PendingPolicy, PolicyReuse), req.BodyHash, idem)
	if err != nil || c.Reused {
		return c, err
	}
	countVerification("created", rec)
	admitted = false
	e.enqueueAdmitted(rec.ID)
	return c, nil
}

// plan is a create request checked against the tenant's defaults: every
// value the record will hold, found before anything is stored or sent.
type plan struct {
	num         phone.Number
	workflow    []string
	codeLen     int
	codeType    string
	ttl         time.Duration
	nextWait    time.Duration // 0: the tenant's, else the default
	callback    string
	maxAttempts int
	sender      string
	locale      string
	text        string // the template with brand and validity filled in, {code} left
	code        string // the client's own code, normalised; "" to make one
	stepWaits   []time.Duration
	api, scope  string
	clientRef   string
	customerID  string
	numericID   bool
	clientIP    string // normalised; "" when none
	endUser     string
	velocity    VelocityLimits // the tenant's
	skipped     []fraud.Skip   // steps the fraud rules left out, for the created events
	asked       []string       // the workflow as asked, which skipped's steps index
}

// plan checks req field by field, each default taken from the tenant and
// then the engine, and refuses what cannot be sent (no route, a text too
// long for the connector) with the field to blame.
func (e *Engine) plan(req CreateRequest, t *Tenant) (plan, error) {
	var p plan
	num, err := e.phone.Parse(req.Number, req.Country)
	if err != nil {
		var pe *phone.Error
		if errors.As(err, &pe) {
			return p, &FieldError{Field: pe.Field, Code: "invalid_number", Detail: err.Error()}
		}
		return p, err
	}
	p.num = num
	p.velocity = t.Velocity
	if p.workflow, err = e.workflow(req, t); err != nil {
		return p, err
	}
	p.asked = p.workflow
	steps, skipped, refused := fraud.Plan(num, p.workflow, fraud.Party{Name: "gateway", Policy: e.cfg.Fraud}, fraud.Party{Name: "tenant " + t.ID, Policy: t.Fraud})
	if refused != nil {
		fraudRefused(refused.Code, refused.Channel, num.Country)
		field := "number"
		if refused.VoiceOnly {
			field = "channel" // a landline: the request's channels are what cannot reach it
			if len(req.Workflow) > 0 {
				field = "workflow"
			}
		}
		return p, &FieldError{Field: field, Code: refused.Code, Detail: refused.Detail}
	}
	p.workflow, p.skipped = steps, skipped
	p.codeLen = cmp.Or(req.CodeLength, t.CodeLength, 6)
	if p.codeLen < MinCodeLength || p.codeLen > MaxCodeLength {
		return p, fieldErr("code_length", "%d is outside %d..%d", p.codeLen, MinCodeLength, MaxCodeLength)
	}
	p.codeType = cmp.Or(req.CodeType, t.CodeType, CodeNumeric)
	if _, ok := alphabet(p.codeType); !ok {
		return p, fieldErr("code_type", "%q is not one of numeric, alpha, alphanumeric", p.codeType)
	}
	if req.Code != "" {
		if !t.CustomCodes {
			return p, &FieldError{Field: "code", Code: "custom_code_not_allowed", Detail: "the tenant does not allow codes chosen by the client (custom_codes in its config)"}
		}
		if p.code, p.codeType, err = customCode(req.Code); err != nil {
			return p, fieldErr("code", "%v", err)
		}
		p.codeLen = len(p.code)
	}
	if n := len(req.StepWaits); n > 0 {
		if n != len(p.asked) {
			return p, fieldErr("workflow", "%d step waits for %d steps", n, len(p.asked))
		}
		for _, w := range req.StepWaits {
			if w < 10*time.Second || w > time.Hour {
				return p, fieldErr("next_event_wait", "%d seconds is outside 10..3600", int(w.Seconds()))
			}
		}
		// the waits of the steps that remain
		for i, w := range req.StepWaits {
			if !slices.ContainsFunc(p.skipped, func(s fraud.Skip) bool { return s.Step == i }) {
				p.stepWaits = append(p.stepWaits, w)
			}
		}
	}
	p.api, p.scope, p.clientRef, p.customerID, p.numericID = req.API, req.Scope, req.ClientRef, req.CustomerID, req.NumericID
	p.endUser = req.EndUser
	if len(p.endUser) > 256 {
		return p, fieldErr("client_ref", "longer than 256 bytes")
	}
	if req.ClientIP != "" {
		ip, err := netip.ParseAddr(req.ClientIP)
		if err != nil {
			return p, fieldErr("client_ip", "%q is not an IPv4 or IPv6 address", req.ClientIP)
		}
		ip = ip.Unmap()
		if ip.Is6() {
			// one end user holds a /64: counting addresses would let
			// them walk it
			ip = netip.PrefixFrom(ip, 64).Masked().Addr()
		}
		p.clientIP = ip.String()
	}
	for _, f := range []struct{ name, v string }{{"client_ref", p.clientRef}, {"customer_id", p.customerID}} {
		if len(f.v) > 256 {
			return p, fieldErr(f.name, "longer than 256 bytes")
		}
		if err := printable(f.v); err != nil {
			return p, fieldErr(f.name, "%v", err)
		}
	}
	p.ttl = cmp.Or(req.TTL, t.TTL, 10*time.Minute)
	if p.ttl < 30*time.Second || p.ttl > 24*time.Hour {
		return p, fieldErr("ttl", "%d seconds is outside 30..86400", int(p.ttl.Seconds()))
	}
	if req.NextEventWait != 0 && (req.NextEventWait < 10*time.Second || req.NextEventWait > time.Hour) {
		return p, fieldErr("next_event_wait", "%d seconds is outside 10..3600", int(req.NextEventWait.Seconds()))
	}
	p.nextWait = cmp.Or(req.NextEventWait, t.NextEventWait)
	if err := e.checkRaisedWaits(p); err != nil {
		return p, err
	}
	p.callback = cmp.Or(req.CallbackURL, t.CallbackURL)
	if req.CallbackURL != "" {
		if err := checkCallbackURL(req.CallbackURL, e.cfg.Webhooks); err != nil {
			return p, fieldErr("callback_url", "%v", err)
		}
		if t.WebhookSecret == "" {
			return p, fieldErr("callback_url", "the tenant has no webhook_secret to sign webhooks with")
		}
	}
	p.maxAttempts = cmp.Or(req.MaxAttempts, t.MaxAttempts, 5)
	if p.maxAttempts < 1 || p.maxAttempts > 10 {
		return p, fieldErr("max_attempts", "%d is outside 1..10", p.maxAttempts)
	}
	brand := cmp.Or(req.Brand, t.Brand, t.ID)
	if len(brand) > 32 {
		return p, fieldErr("brand", "longer than 32 bytes")
	}
	if err := printable(brand); err != nil {
		return p, fieldErr("brand", "%v", err)
	}
	p.sender = cmp.Or(req.SenderID, t.SenderID, e.cfg.DefaultSenderID)
	if err := checkSenderID(p.sender); err != nil {
		return p, fieldErr("sender_id", "%v", err)
	}
	p.locale = cmp.Or(req.Locale, countryLocale[num.Country], t.Locale, "en")
	if len(p.locale) > 16 {
		return p, fieldErr("locale", "longer than 16 bytes")
	}
	for _, loc := range slices.Sorted(maps.Keys(req.Texts)) {
		if err := checkText(req.Texts[loc]); err != nil {
			return p, fieldErr("template", "the text for locale %q: %v", loc, err)
		}
	}
	text, ok := pickText(req.Texts, p.locale)
	if !ok {
		if text, err = e.template(t, req.Template, p.locale); err != nil {
			return p, err
		}
	}
	p.text = fill(text, brand, int((p.ttl+time.Minute-1)/time.Minute))
	if e.cfg.CheckText != nil {
		if err := e.cfg.CheckText(render(p.text, strings.Repeat("0", p.codeLen))); err != nil {
			return p, fieldErr("template", "%v", err)
		}
	}
	first := p.workflow[0]
	if _, ok := e.cfg.Router.Route(router.Request{Number: num.E164, Country: num.Country, Sender: p.sender, Tenant: t.ID, Channel: first}, nil); !ok {
		return p, &FieldError{Field: "number", Code: "no_route", Detail: fmt.Sprintf("no %s route for %s", first, num.E164)}
	}
	return p, nil
}

// workflow is the request's steps (channel, or workflow), else the
// tenant's, else SMS alone; each a channel this gateway can send on.
func (e *Engine) workflow(req CreateRequest, t *Tenant) ([]string, error) {
	wf := t.Workflow
	if len(wf) == 0 {
		wf = []string{ChannelSMS}
	}
	field := "workflow"
	switch {
	case req.Channel != "" && len(req.Workflow) > 0:
		return nil, fieldErr("channel", "give channel or workflow, not both")
	case req.Channel != "":
		wf, field = []string{req.Channel}, "channel"
	case len(req.Workflow) > 0:
		wf = req.Workflow
	}
	if len(wf) > 5 {
		return nil, fieldErr("workflow", "at most 5 steps")
	}
	for _, ch := range wf {
		if !slices.Contains(knownChannels, ch) {
			return nil, fieldErr(field, "%q is not a channel (%s)", ch, strings.Join(knownChannels, ", "))
		}
		if !e.cfg.Channels[ch] {
			return nil, &FieldError{Field: field, Code: "channel_unavailable", Detail: fmt.Sprintf("channel %q is not available on this gateway", ch)}
		}
	}
	return wf, nil
}

// newRecord makes the code and the record that keeps it (hashed and
// sealed, never in clear), with its first message queued and its timers.
func (e *Engine) newRecord(p plan, t *Tenant) (*store.Record, error) {
	code := p.code
	if code == "" {
		var err error
		if code, err = generateCode(p.codeLen, p.codeType); err != nil {
			return nil, err
		}
	}
	var seq uint64
	if p.numericID {
		var err error
		if seq, err = e.st.NextSeq(seqName(t.ID)); err != nil {
			return nil, err
		}
	}
	now := e.now()
	id := ids.New()
	first := p.workflow[0]
	rec := &store.Record{
		ID: id, Tenant: t.ID, Number: p.num.E164, Country: p.num.Country,
		Status: StatusPending, Workflow: p.workflow, MaxAttempts: p.maxAttempts,
		CodeLength: p.codeLen, CodeType: p.codeType,
		CodeHash: e.sec.hash(id, code), CodeSealed: e.sec.seal(id, code),
		Template: p.text, SenderID: p.sender, Locale: p.locale, CallbackURL: p.callback,
		NextEventWait: p.nextWait, StepWaits: p.stepWaits,
		API: p.api, Scope: p.scope, ClientRef: p.clientRef, CustomerID: p.customerID, Seq: seq,
		CreatedAt: now, ExpiresAt: now.Add(p.ttl), UpdatedAt: now,
		Messages: []store.Message{{Channel: first, State: MsgQueued, QueuedAt: now}},
		Events:   []store.Event{{At: now, Type: "created", Channel: first}},
		Deadlines: []store.Deadline{
			{At: now.Add(p.ttl), Kind: deadlineExpire},
			{At: now.Add(e.cfg.DispatchLease), Kind: deadlineDispatch},
		},
	}
	for _, sk := range p.skipped {
		// a step the fraud rules left out: said, never sent
		rec.Events = append(rec.Events, store.Event{At: now, Type: "step_skipped", Channel: p.asked[sk.Step],
			Detail: sk.Refusal.Code + ": " + sk.Refusal.Detail})
		fraudSkipped(sk.Refusal.Code, p.asked[sk.Step], p.num.Country)
	}
	if len(p.workflow) > 1 {
		wait, raised := e.stepWait(rec)
		if raised {
			rec.Events[0].Detail = raisedNote(first, wait)
		}
		rec.Deadlines = append(rec.Deadlines, store.Deadline{At: now.Add(wait), Kind: deadlineNext})
	}
	return rec, nil
}

// insert stores rec in one commit that also counts the send against the
// number's limit and keeps the idempotency key. The store answers the
// pending policy's question (is one pending?) before it counts: a reuse
// sends nothing, so it does not count. With a pending verification the
// policy decides: reuse returns it (Reused), reject is a *ConcurrentError,
// replace cancels it and inserts again.
func (e *Engine) insert(rec *store.Record, p plan, policy string, bodyHash []byte, idem *store.Keyed) (*Created, error) {
	var opts store.CreateOptions
	opts.Buckets = e.velocity(rec, p)
	w := e.cfg.Limits.NumberSends
	if w.Max >= 0 {
		opts.Limit = &store.Limit{Name: "s\x00" + rec.Number, Window: w.Per, Max: w.Max, Now: rec.CreatedAt}
	}
	sendLimited := func(retry time.Duration) error {
		return &LimitError{Code: "number_send_limit", RetryAfter: retry, Detail: fmt.Sprintf("at most %d messages to this number in %s", w.Max, w.Per)}
	}
	if idem != nil {
		ent, _ := json.Marshal(idemEntry{Hash: bodyHash, Created: *createdFrom(rec, false)})
		opts.Keyed = []store.Keyed{{Name: idem.Name, Value: ent, Expires: idem.Expires}}
	}
	if rec.Seq != 0 {
		// the number's index lives as long as the record can be read
		opts.Keyed = append(opts.Keyed, store.Keyed{Name: seqKey(rec.Tenant, rec.Seq), Value: []byte(rec.ID), Expires: rec.ExpiresAt.Add(e.cfg.Retention + time.Hour)})
	}
	for try := 0; ; try++ {
		err := e.st.Create(rec, opts)
		var le *store.LimitedError
		if errors.As(err, &le) {
			if v, ok := e.velocityRefusal(le, rec); ok {
				return nil, v
			}
			return nil, sendLimited(le.RetryAfter)
		}
		var pe *store.PendingExistsError
		if !errors.As(err, &pe) {
			if err != nil {
				return nil, err
			}
			return createdFrom(rec, false), nil
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
		if policy == PolicyReuse || policy == PolicyReplace {
			// a pending verification of another API (or scope) is never
			// returned nor replaced by this one's request: each API sees
			// only its own (a resend checks the same)
			old, gerr := e.st.Get(pe.ID)
			if errors.Is(gerr, store.ErrNotFound) {
				continue
			}
			if gerr != nil {
				return nil, gerr
			}
			if old.API != p.api || old.Scope != p.scope {
				return nil, &ConcurrentError{ID: pe.ID}
			}
			if policy == PolicyReuse {
				return createdFrom(old, true), nil
			}
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
			if _, cerr := e.finish(pe.ID, StatusCanceled, "replaced by "+rec.ID); cerr != nil && !errors.Is(cerr, ErrNotPending) && !errors.Is(cerr, store.ErrNotFound) {
				return nil, cerr
			}
		case PolicyResend:
			c, rerr := e.resend(pe.ID, p.workflow[0], rec.CreatedAt, p.api, p.scope, p.code)
			if errors.Is(rerr, ErrNotPending) || errors.Is(rerr, store.ErrNotFound) {
				continue // it ended meanwhile: insert the new one
			}
			return c, rerr
		}
	}
}

// maxTemplateBytes bounds a template text given in a request.
const maxTemplateBytes = 2048

func (e *Engine) template(t *Tenant, name, locale string) (string, error) {
	sets := []Templates{t.Templates, e.cfg.Templates, BuiltinTemplates}
	if strings.Contains(name, "{") { // a text, not a name
		if err := checkText(name); err != nil {
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

// printable refuses control characters (a NUL cuts a text short at some
// SMSCs, and corrupts what shows a record) and invisible formatting ones
// (a right-to-left override makes a brand read as another's) in a value a
// client gives that goes into a text or onto a screen.
func printable(s string) error {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("holds the control or formatting character U+%04X", r)
		}
	}
	return nil
}

// checkText checks a text a request gives: its placeholders, and a
// bound on its bytes before the real one, the parts the text takes
// (Config.CheckText: at most 10 SMS, 1,530 GSM 03.38 characters or 670
// UCS-2 ones). 2,048 bytes hold any text of 10 parts but the longest
// UCS-2 ones written in 3-byte UTF-8.
func checkText(text string) error {
	if len(text) > maxTemplateBytes {
		return fmt.Errorf("text longer than %d bytes", maxTemplateBytes)
	}
	return checkTemplateText(text)
}

// resend sends the pending verification id's code again, on channel, as a
// new message of its current step, counted against the number's send
// limit in the same commit. One of another API or scope (a verification
// of the native API, of another Twilio service) is not resent: that is a
// *ConcurrentError.
//
// A resend sends the pending code: a request that chose another code
// (code, non-empty) is refused (invalid_field "code"), never answered as
// if its code had gone out.
func (e *Engine) resend(id, channel string, now time.Time, api, scope, code string) (*Created, error) {
	w := e.cfg.Limits.NumberSends
	limit := func(r *store.Record) *store.Limit {
		if w.Max < 0 || r.Status != StatusPending {
			return nil
		}
		return &store.Limit{Name: "s\x00" + r.Number, Window: w.Per, Max: w.Max, Now: now}
	}
	rec, err := e.updateCounted(id, func(r *store.Record) error {
		if r.Status != StatusPending || !now.Before(r.ExpiresAt) {
			return ErrNotPending
		}
		if r.API != api || r.Scope != scope {
			return &ConcurrentError{ID: r.ID}
		}
		if code != "" && !e.sec.matches(r.ID, code, r.CodeHash) {
			return fieldErr("code", "the number has a pending verification with another code; a resend sends that code (cancel it to choose a new one)")
		}
		if n := len(r.Messages); n > 0 && r.Messages[n-1].State == MsgQueued {
			return store.ErrNoChange // the last one has not gone yet: it is the resend
		}
		r.Messages = append(r.Messages, store.Message{Channel: channel, State: MsgQueued, QueuedAt: now})
		r.Events = append(r.Events, store.Event{At: now, Type: "resend", Channel: channel, Detail: "the same code again, asked for by the client"})
		dropDeadlines(r, deadlineDispatch)
		r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(e.cfg.DispatchLease), Kind: deadlineDispatch})
		r.UpdatedAt = now
		return nil
	}, limit)
	var le *store.LimitedError
	if errors.As(err, &le) {
		return nil, &LimitError{Code: "number_send_limit", RetryAfter: le.RetryAfter, Detail: fmt.Sprintf("at most %d messages to this number in %s", w.Max, w.Per)}
	}
	if err != nil {
		return nil, err
	}
	e.enqueue(id)
	c := createdFrom(rec, true)
	c.Resent = true
	return c, nil
}

// seqName names a tenant's sequence of numeric ids; seqKey the index of
// one number.
func seqName(tenant string) string { return "q\x00" + tenant }

func seqKey(tenant string, seq uint64) string {
	return "qi\x00" + tenant + "\x00" + strconv.FormatUint(seq, 10)
}

// BySeq returns tenant's verification with the number seq (CreateRequest.NumericID).
func (e *Engine) BySeq(ctx context.Context, tenant string, seq uint64) (*View, error) {
	raw, ok, err := e.st.GetKeyed(seqKey(tenant, seq), e.now())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return e.Get(ctx, tenant, string(raw))
}
