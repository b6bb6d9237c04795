package api

import (
	"time"

	"github.com/otpgate/otpgate/engine"
)

// CreateRequest is the body of POST /v1/verifications. Pointers tell an
// absent number from a zero.
type CreateRequest struct {
	Number        string   `json:"number"`
	Country       string   `json:"country,omitempty"`
	Channel       string   `json:"channel,omitempty"`
	Workflow      []string `json:"workflow,omitempty"`
	Brand         string   `json:"brand,omitempty"`
	SenderID      string   `json:"sender_id,omitempty"`
	Locale        string   `json:"locale,omitempty"`
	CodeLength    *int     `json:"code_length,omitempty"`
	CodeType      string   `json:"code_type,omitempty"`
	TTL           *int     `json:"ttl,omitempty"` // seconds
	MaxAttempts   *int     `json:"max_attempts,omitempty"`
	Template      string   `json:"template,omitempty"`
	NextEventWait *int     `json:"next_event_wait,omitempty"` // seconds
	CallbackURL   string   `json:"callback_url,omitempty"`
	// ClientIP and ClientRef name the end user the code is for (the
	// address the client's own user came from, the client's id for them):
	// each has its own velocity limit.
	ClientIP  string `json:"client_ip,omitempty"`
	ClientRef string `json:"client_ref,omitempty"`
}

// CreateResponse is the 202 answer.
type CreateResponse struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Number      string    `json:"number"`
	Country     string    `json:"country"`
	Workflow    []string  `json:"workflow"`
	ExpiresAt   time.Time `json:"expires_at"`
	MaxAttempts int       `json:"max_attempts"`
	Reused      bool      `json:"reused,omitempty"` // an already pending verification was returned
}

// CheckRequest is the body of POST /v1/verifications/{id}/check.
type CheckRequest struct {
	Code string `json:"code"`
}

// CheckResponse is its answer.
type CheckResponse struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	Verified     bool   `json:"verified"`
	AttemptsLeft int    `json:"attempts_left"`
	Reason       string `json:"reason,omitempty"`
}

// Verification is GET /v1/verifications/{id}.
type Verification = engine.View

// SandboxMessage is one SMS the sandbox SMSC received.
type SandboxMessage struct {
	ID      string `json:"id"`
	Channel string `json:"channel"` // sms | whatsapp | rcs
	From    string `json:"from"`
	To      string `json:"to"`
	Text    string `json:"text"`
	// Encoding is an SMS's (GSM7, UCS2, …); Status a chat message's as
	// the simulator last reported it (sent, delivered, read, failed).
	Encoding   string    `json:"encoding,omitempty"`
	Status     string    `json:"status,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// SandboxMessages is GET /v1/sandbox/messages.
type SandboxMessages struct {
	Messages []SandboxMessage `json:"messages"`
}
