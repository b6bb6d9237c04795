package whatsapp

import (
	"fmt"
	"time"
)

// Error is a send the connector could not complete. Its methods are the
// ones the engine reads (Reason, Permanent, Recipient, Unknown); Code is
// Meta's error code (0 when the Cloud API never answered).
type Error struct {
	Account string
	Code    int    // Meta's error code; 0 for transport failures
	Title   string // Meta's message ("(#131026) Message undeliverable"), or what failed
	Details string // error_data.details
	Status  int    // HTTP status, 0 when none came
	Kind    Kind
	// FromMeta: the error is Meta's own (its error body), so Code is
	// Meta's code, 0 included.
	FromMeta bool
	// After is how long to wait before trying this recipient again
	// (131056: one message per 6 s to one user); 0 when nothing says.
	After time.Duration
	Err   error // the transport error, if any
}

// RetryAfter is the least wait before a retry can succeed (the engine
// backs off at least this long).
func (e *Error) RetryAfter() time.Duration { return e.After }

// Kind sorts send failures by what may help.
type Kind int

const (
	// KindPassing: the Cloud API refused for now (throughput, pair rate,
	// maintenance, an error it asks to retry); nothing was sent, so trying
	// again later on the same account is safe.
	KindPassing Kind = iota
	// KindUnknown: the request may have reached the Cloud API but no answer
	// came (a timeout, a connection cut after writing, a 5xx without
	// Meta's error body). It is not sent again: no idempotency key.
	KindUnknown
	// KindRecipient: refused for this recipient for good (not on WhatsApp,
	// blocked the business); no other account can do better.
	KindRecipient
	// KindAccount: refused for this account (token, permissions, payment,
	// template missing or paused); another account may succeed.
	KindAccount
)

func (e *Error) Error() string {
	s := fmt.Sprintf("whatsapp %s: ", e.Account)
	switch {
	case e.FromMeta:
		s += fmt.Sprintf("code %d: %s", e.Code, e.Title)
		if e.Details != "" {
			s += " (" + e.Details + ")"
		}
	case e.Err != nil:
		s += e.Title + ": " + e.Err.Error()
	default:
		s += e.Title
	}
	if e.Status != 0 {
		s += fmt.Sprintf(" [HTTP %d]", e.Status)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent: retrying on this account cannot help.
func (e *Error) Permanent() bool { return e.Kind == KindRecipient || e.Kind == KindAccount }

// Recipient: no WhatsApp account can reach this number.
func (e *Error) Recipient() bool { return e.Kind == KindRecipient }

// Unknown: the Cloud API may have taken the message.
func (e *Error) Unknown() bool { return e.Kind == KindUnknown }

// Reason is the stable word tenants see in events and metrics.
func (e *Error) Reason() string {
	if r, ok := reasons[e.Code]; ok && e.FromMeta {
		return r.reason
	}
	switch e.Kind {
	case KindUnknown:
		return "whatsapp_timeout"
	case KindPassing:
		return "whatsapp_unavailable"
	case KindRecipient:
		return "whatsapp_recipient_refused"
	}
	return "whatsapp_refused"
}

type classified struct {
	kind   Kind
	reason string
}

// reasons sorts Meta's error codes (its error-codes reference) by what
// helps; a code not listed is taken as refused for this account (another
// account is tried; this one is not retried for the message).
var reasons = map[int]classified{
	// throughput and rate limits: back off and try again
	4:      {KindPassing, "whatsapp_throttled"}, // app's API call rate
	80007:  {KindPassing, "whatsapp_throttled"}, // WABA rate limit
	130429: {KindPassing, "whatsapp_throttled"}, // per-number throughput (80 mps by default)
	131056: {KindPassing, "whatsapp_throttled"}, // pair rate: the same recipient too often
	// passing trouble at Meta
	1:      {KindPassing, "whatsapp_unavailable"},
	2:      {KindPassing, "whatsapp_unavailable"},
	131000: {KindPassing, "whatsapp_unavailable"}, // "try again"
	131016: {KindPassing, "whatsapp_unavailable"},
	131057: {KindPassing, "whatsapp_unavailable"}, // maintenance mode (a throughput upgrade)
	133004: {KindPassing, "whatsapp_unavailable"},
	// the recipient: no account can do better; the step fails at once
	131026: {KindRecipient, "not_on_whatsapp"}, // not a WhatsApp user, terms not accepted, old app
	131021: {KindRecipient, "whatsapp_recipient_refused"},
	130403: {KindRecipient, "whatsapp_recipient_refused"}, // the business blocked the user
	131049: {KindRecipient, "whatsapp_recipient_refused"}, // not delivered "to maintain healthy ecosystem engagement"
	131050: {KindRecipient, "whatsapp_recipient_refused"},
	// the account: its token, permissions, standing or payment
	0:      {KindAccount, "whatsapp_auth"},
	190:    {KindAccount, "whatsapp_auth"},
	3:      {KindAccount, "whatsapp_account"},
	10:     {KindAccount, "whatsapp_account"},
	33:     {KindAccount, "whatsapp_account"},
	368:    {KindAccount, "whatsapp_account"},
	130497: {KindAccount, "whatsapp_account"},
	131031: {KindAccount, "whatsapp_account"},
	131042: {KindAccount, "whatsapp_account"}, // payment
	131045: {KindAccount, "whatsapp_account"}, // number registration
	131048: {KindAccount, "whatsapp_account"}, // flagged as spam
	131064: {KindAccount, "whatsapp_account"},
	133010: {KindAccount, "whatsapp_account"},
	// the template or the request: fix the config (another account may
	// have the template)
	100:    {KindAccount, "whatsapp_template"},
	131008: {KindAccount, "whatsapp_template"},
	131009: {KindAccount, "whatsapp_template"},
	131051: {KindAccount, "whatsapp_template"},
	132000: {KindAccount, "whatsapp_template"},
	132001: {KindAccount, "whatsapp_template"}, // no such template in this language, or not approved
	132005: {KindAccount, "whatsapp_template"},
	132007: {KindAccount, "whatsapp_template"},
	132012: {KindAccount, "whatsapp_template"},
	132015: {KindAccount, "whatsapp_template"}, // paused for low quality
	132016: {KindAccount, "whatsapp_template"}, // disabled
	132018: {KindAccount, "whatsapp_template"},
	135000: {KindAccount, "whatsapp_template"},
}

// kindOf sorts Meta's code.
func kindOf(code int) Kind {
	if r, ok := reasons[code]; ok {
		return r.kind
	}
	return KindAccount
}

// FailureReason is the stable word for a failed status's error code (from
// a status callback): "not_on_whatsapp" for 131026, and so on.
func FailureReason(code int) string {
	if r, ok := reasons[code]; ok {
		return r.reason
	}
	return "whatsapp_failed"
}
