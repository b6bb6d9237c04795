package rcs

// The RBM API's JSON as Google's reference gives it (phones.agentMessages,
// phones.getCapabilities, the Pub/Sub-shaped webhook envelope and the
// events in it). The simulator (rcs/sim) speaks the same types from the
// other side; golden files in testdata hold Google's own examples.

// AgentMessage is the body of phones.agentMessages.create, and its answer
// (which adds name, sendTime and expireTime).
type AgentMessage struct {
	Name               string         `json:"name,omitempty"`     // output: phones/{E.164}/agentMessages/{messageId}
	SendTime           string         `json:"sendTime,omitempty"` // output, RFC 3339
	ContentMessage     ContentMessage `json:"contentMessage"`
	MessageTrafficType string         `json:"messageTrafficType,omitempty"` // AUTHENTICATION for codes
	// TTL ("300s") or ExpireTime (RFC 3339): at most one; the message is
	// revoked when it passes undelivered.
	TTL        string `json:"ttl,omitempty"`
	ExpireTime string `json:"expireTime,omitempty"`
}

// ContentMessage is what the phone shows.
type ContentMessage struct {
	Text string `json:"text"` // at most 3072 characters
}

// Capabilities is the answer of phones.getCapabilities.
type Capabilities struct {
	Features []string `json:"features"`
}

// ErrorBody is a refusal: a google.rpc.Status.
type ErrorBody struct {
	Error RPCStatus `json:"error"`
}

// RPCStatus is google.rpc.Status as JSON.
type RPCStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"` // NOT_FOUND, PERMISSION_DENIED, RESOURCE_EXHAUSTED, …
}

// Envelope is what Google posts to the webhook: a Pub/Sub push message
// whose data is the base64 of the event's JSON.
type Envelope struct {
	Message struct {
		Attributes  map[string]string `json:"attributes,omitempty"`
		Data        string            `json:"data"`
		MessageID   string            `json:"messageId,omitempty"`
		PublishTime string            `json:"publishTime,omitempty"`
	} `json:"message"`
	Subscription string `json:"subscription,omitempty"`
}

// Event is the decoded data of an envelope: a user event (DELIVERED,
// READ, IS_TYPING, …, with senderPhoneNumber), a server event (the TTL's
// TTL_EXPIRATION_REVOKED or TTL_EXPIRATION_REVOKE_FAILED, with
// phoneNumber), or a user's message (text, no eventType).
type Event struct {
	AgentID           string `json:"agentId,omitempty"`
	SenderPhoneNumber string `json:"senderPhoneNumber,omitempty"`
	PhoneNumber       string `json:"phoneNumber,omitempty"`
	EventType         string `json:"eventType,omitempty"`
	EventID           string `json:"eventId,omitempty"`
	MessageID         string `json:"messageId,omitempty"`
	SendTime          string `json:"sendTime,omitempty"`
	Text              string `json:"text,omitempty"`
}

// Handshake is the webhook's verification request.
type Handshake struct {
	ClientToken string `json:"clientToken"`
	Secret      string `json:"secret"`
}

// Scope is the OAuth scope of every RBM call.
const Scope = "https://www.googleapis.com/auth/rcsbusinessmessaging"
