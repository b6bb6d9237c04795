package store

import (
	"slices"
	"time"
)

// Record is one verification as stored. The engine owns its meaning; the
// store owns its indexes, which are a function of the record (see index.go).
//
// Invariant: no field holds a code in clear. CodeHash is an HMAC, CodeSealed
// an AES-GCM ciphertext that the engine wipes when the record stops being
// pending.
type Record struct {
	ID          string   `json:"id"`
	Tenant      string   `json:"tenant"`
	Number      string   `json:"number"`
	Country     string   `json:"country"`
	Status      string   `json:"status"`
	Workflow    []string `json:"workflow"`
	Step        int      `json:"step"`
	Attempts    int      `json:"attempts"`
	MaxAttempts int      `json:"max_attempts"`
	CodeLength  int      `json:"code_length"`
	CodeType    string   `json:"code_type"`
	CodeHash    []byte   `json:"code_hash,omitempty"`
	CodeSealed  []byte   `json:"code_sealed,omitempty"`
	Template    string   `json:"template,omitempty"` // SMS text with brand and validity filled in; "{code}" still a placeholder
	SenderID    string   `json:"sender_id,omitempty"`
	Locale      string   `json:"locale,omitempty"`
	CallbackURL string   `json:"callback_url,omitempty"`
	// NextEventWait is the wait before the next workflow step.
	NextEventWait time.Duration `json:"next_event_wait,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	ExpiresAt     time.Time     `json:"expires_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
	Messages      []Message     `json:"messages,omitempty"`
	Events        []Event       `json:"events,omitempty"`
	// Deadlines are the timers of this record. The store keeps one deadline
	// index key per entry, in the same batch as the record.
	Deadlines []Deadline `json:"deadlines,omitempty"`
	// HookSeq is the sequence number the next webhook of this record gets;
	// HookHead the oldest one not yet delivered or dead-lettered. Items
	// HookHead..HookSeq-1 are in the outbox, delivered in that order.
	HookSeq  uint32 `json:"hook_seq,omitempty"`
	HookHead uint32 `json:"hook_head,omitempty"`

	// API is the API the verification was created through ("" the native
	// one; vonage, vonage2, twilio, …); Scope narrows it (a Twilio Service
	// SID): a facade reads only the verifications of its own API and scope.
	API   string `json:"api,omitempty"`
	Scope string `json:"scope,omitempty"`
	// ClientRef is the tenant's own reference (Vonage v2 client_ref).
	ClientRef string `json:"client_ref,omitempty"`
	// StepWaits, when set, is the wait after each workflow step (Vonage's
	// 125 s, 180 s, 300 s) instead of NextEventWait for all of them.
	StepWaits []time.Duration `json:"step_waits,omitempty"`
	// Seq is a number for the verification, unique within its tenant, for
	// APIs whose clients parse ids as numbers (Message Central); 0 for none.
	Seq uint64 `json:"seq,omitempty"`
	// CustomerID is the tenant's own name for its end user (NexCode's
	// customer_id).
	CustomerID string `json:"customer_id,omitempty"`

	// ops are outbox changes made by this update, written by the store in
	// the same batch as the record; clearHanded removes the handed mark
	// (handed.go) in that batch. Never stored.
	ops         []hookOp
	clearHanded bool
	// patches is how many patches follow the record's base on disk (see
	// patch.go); kept with the record in memory, never encoded.
	patches int
}

// clone returns a copy of r to change: Apply hands fn a copy and keeps the
// original (the cached, committed value) to diff against and to serve
// readers, so nothing fn does may reach the original's memory.
//
// Invariant: the engine only replaces or appends to Workflow, CodeHash,
// CodeSealed, StepWaits, Events and a message's Failed and Skipped (never
// writes one of their elements in place), so those are shared, clipped to
// their length so that an append copies them; Messages, their Parts and
// Deadlines are changed in place, so they are copied.
func (r *Record) clone() *Record {
	c := *r
	c.Workflow = slices.Clip(r.Workflow)
	c.CodeHash = slices.Clip(r.CodeHash)
	c.CodeSealed = slices.Clip(r.CodeSealed)
	c.StepWaits = slices.Clip(r.StepWaits)
	c.Events = slices.Clip(r.Events)
	c.Messages = slices.Clone(r.Messages)
	for i := range c.Messages {
		m := &c.Messages[i]
		m.Parts = slices.Clone(m.Parts)
		m.Failed = slices.Clip(m.Failed)
		m.Skipped = slices.Clip(m.Skipped)
	}
	c.Deadlines = slices.Clone(r.Deadlines)
	c.ops = nil
	c.clearHanded = false
	return &c
}

// Pending reports whether the record counts for the (tenant, number) index.
func (r *Record) Pending() bool { return r.Status == "pending" }

// Message is one send of the code over one connector.
type Message struct {
	Channel   string `json:"channel"`
	Connector string `json:"connector,omitempty"`
	MessageID string `json:"message_id,omitempty"` // the connector's id (SMSC message id; the first part's); indexed
	// Parts: a message sent as several SMS has one entry per part (each id
	// indexed); it is delivered when every part is, undelivered when any is not.
	Parts []Part `json:"parts,omitempty"`
	// Failed: connectors that refused this message for good (never tried
	// again for it); Skipped: connectors left for the next one in this
	// round (down, or not answering), tried again after the back-off.
	Failed      []string  `json:"failed,omitempty"`
	Skipped     []string  `json:"skipped,omitempty"`
	State       string    `json:"state"` // queued, submitted, delivered, undelivered, failed
	Tries       int       `json:"tries,omitempty"`
	Error       string    `json:"error,omitempty"`
	QueuedAt    time.Time `json:"queued_at"`
	SubmittedAt time.Time `json:"submitted_at,omitzero"`
	DoneAt      time.Time `json:"done_at,omitzero"`
}

// Part is one SMS of a concatenated message.
type Part struct {
	ID    string `json:"id"`
	State string `json:"state"` // submitted, delivered, undelivered
}

// IDs returns every connector id of m: its parts', or its own.
func (m *Message) IDs() []string {
	if len(m.Parts) == 0 {
		if m.MessageID == "" {
			return nil
		}
		return []string{m.MessageID}
	}
	out := make([]string, len(m.Parts))
	for i, p := range m.Parts {
		out[i] = p.ID
	}
	return out
}

// Event is one line of a verification's history.
type Event struct {
	At        time.Time `json:"at"`
	Type      string    `json:"type"`
	Channel   string    `json:"channel,omitempty"`
	Connector string    `json:"connector,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// Deadline is a timer of a record: at At the engine is called with Kind.
type Deadline struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
}
