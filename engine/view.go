package engine

import (
	"time"

	"github.com/otpgate/otpgate/engine/store"
)

// View is what a tenant may see of a verification: everything but the code.
type View struct {
	ID           string          `json:"id"`
	Status       string          `json:"status"`
	Number       string          `json:"number"`
	Country      string          `json:"country"`
	Workflow     []string        `json:"workflow"`
	Step         int             `json:"step"`
	Attempts     int             `json:"attempts"`
	MaxAttempts  int             `json:"max_attempts"`
	AttemptsLeft int             `json:"attempts_left"`
	CodeLength   int             `json:"code_length"`
	CodeType     string          `json:"code_type"`
	Locale       string          `json:"locale,omitempty"`
	SenderID     string          `json:"sender_id,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	ExpiresAt    time.Time       `json:"expires_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	Messages     []store.Message `json:"messages"`
	Events       []store.Event   `json:"events"`
	// API, Scope and ClientRef: the API it came in by (omitted for the
	// native one), its scope (a Twilio Service SID) and the client's
	// reference.
	API        string `json:"api,omitempty"`
	Scope      string `json:"scope,omitempty"`
	ClientRef  string `json:"client_ref,omitempty"`
	CustomerID string `json:"customer_id,omitempty"`
	// CallbackURL receives the verification's webhooks ("" for none).
	CallbackURL string `json:"callback_url,omitempty"`
	// Seq is the verification's number within its tenant, when an API
	// asked for one (Message Central's numeric verificationId).
	Seq uint64 `json:"seq,omitempty"`
}

func (e *Engine) view(r *store.Record) *View {
	v := &View{
		ID: r.ID, Status: r.Status, Number: r.Number, Country: r.Country,
		Workflow: r.Workflow, Step: r.Step, Attempts: r.Attempts, MaxAttempts: r.MaxAttempts,
		AttemptsLeft: r.MaxAttempts - r.Attempts, CodeLength: r.CodeLength, CodeType: r.CodeType,
		Locale: r.Locale, SenderID: r.SenderID,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, UpdatedAt: r.UpdatedAt,
		Messages: r.Messages, Events: r.Events,
		API: r.API, Scope: r.Scope, ClientRef: r.ClientRef, CustomerID: r.CustomerID, Seq: r.Seq,
		CallbackURL: r.CallbackURL,
	}
	// The sweeper persists expiry within a poll; the view tells the truth now.
	if v.Status == StatusPending && !e.now().Before(r.ExpiresAt) {
		v.Status = StatusExpired
	}
	if v.Status != StatusPending {
		v.AttemptsLeft = 0
	}
	if v.Messages == nil {
		v.Messages = []store.Message{}
	}
	return v
}
