package rcs

import (
	"crypto/hmac"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Status is one message event from Google, for the agent that sent the
// message.
type Status struct {
	Agent     string // the connector's name
	MessageID string // the agent's message id
	// Status: delivered, read, or failed (the TTL passed and the message
	// was revoked, or could not be: for a code, the workflow moves on
	// either way, as Google advises).
	Status string
	Reason string // for failed: rcs_expired, rcs_expired_unrevoked
	At     time.Time
	Phone  string
}

// Webhook serves the agents' webhook: Google's set-up request and the
// events, each checked against the client tokens of the agents it speaks
// for. It holds no state: an event repeated reaches onStatus again, which
// must be idempotent (the engine's receipts are).
type Webhook struct {
	agents   []Agent
	onStatus func(Status) error
	log      *slog.Logger
	lastWarn atomic.Int64 // unix nanos of the last refused-event warning
}

// maxEventData bounds an event's base64 data: Google's events are under
// 2 KB; anything larger is refused before it is decoded or hashed.
const maxEventData = 64 << 10

// NewWebhook serves the events of agents; onStatus gets each message
// event and returns an error when it could not record it for now (Google
// is then answered 503 and sends it again).
func NewWebhook(agents []Agent, onStatus func(Status) error, log *slog.Logger) *Webhook {
	if log == nil {
		log = slog.Default()
	}
	return &Webhook{agents: agents, onStatus: onStatus, log: log.With("component", "rcs_webhook")}
}

// Handle answers one POST: the set-up request ({clientToken, secret}) with
// the secret as plain text when the client token is an agent's (403
// otherwise); an event with 200 once it was recorded (or ignored: a user's
// reply, typing, another agent's event, a signed event it cannot read),
// 401 when X-Goog-Signature does not match the event under any agent's
// client token (nothing in it is used), 400 when the body is neither (or
// its data is over maxEventData), 503 when it could not be recorded now.
func (w *Webhook) Handle(signature string, body []byte) (status int, answer string) {
	var probe struct {
		ClientToken *string          `json:"clientToken"`
		Secret      string           `json:"secret"`
		Message     *json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		rcsCallbacks("malformed").Inc()
		return 400, "the body is not JSON: " + err.Error()
	}
	if probe.ClientToken != nil {
		for _, a := range w.agents {
			if subtle.ConstantTimeCompare([]byte(a.ClientToken), []byte(*probe.ClientToken)) == 1 {
				rcsCallbacks("handshake").Inc()
				return 200, probe.Secret
			}
		}
		rcsCallbacks("handshake_refused").Inc()
		return 403, "clientToken matches no agent's client_token"
	}
	var env Envelope
	if probe.Message == nil || json.Unmarshal(body, &env) != nil || env.Message.Data == "" {
		rcsCallbacks("malformed").Inc()
		return 400, "neither a set-up request nor an event envelope (message.data)"
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != sha512.Size {
		rcsCallbacks("unsigned").Inc()
		return 401, "X-Goog-Signature is missing or not the base64 of an HMAC-SHA512"
	}
	if len(env.Message.Data) > maxEventData {
		rcsCallbacks("malformed").Inc()
		return 400, fmt.Sprintf("message.data is %d bytes; an event is at most %d", len(env.Message.Data), maxEventData)
	}
	data, err := base64.StdEncoding.DecodeString(env.Message.Data)
	if err != nil {
		rcsCallbacks("malformed").Inc()
		return 400, "message.data is not base64: " + err.Error()
	}
	var signers []Agent
	for _, a := range w.agents {
		m := hmac.New(sha512.New, []byte(a.ClientToken))
		m.Write(data)
		if hmac.Equal(m.Sum(nil), sig) {
			signers = append(signers, a)
		}
	}
	if len(signers) == 0 {
		rcsCallbacks("bad_signature").Inc()
		// at most one warning a second: a flood of forgeries is counted,
		// not logged line by line
		if now := time.Now().UnixNano(); now-w.lastWarn.Load() > int64(time.Second) {
			w.lastWarn.Store(now)
			w.log.Warn("event refused: its signature matches no agent's client token (see otpgate_rcs_callbacks_total)", "bytes", len(data))
		}
		return 401, "X-Goog-Signature does not match the event under any agent's client_token"
	}
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		// signed by Google, yet unreadable to us: a 200, or Google would
		// send it again for days and hold up the agent's other events
		rcsCallbacks("malformed").Inc()
		w.log.Warn("a signed event is not one this gateway reads; taken and dropped", "error", err)
		return 200, "ignored: message.data is not an event: " + err.Error()
	}
	st, ok := w.status(ev, signers)
	if !ok {
		rcsCallbacks("ignored").Inc()
		return 200, "ignored"
	}
	if err := w.onStatus(st); err != nil {
		rcsCallbacks("not_recorded").Inc()
		return 503, "the event could not be recorded; send it again"
	}
	rcsCallbacks("ok").Inc()
	return 200, "ok"
}

// status reads a message event; false for what the connector does not use
// (typing, a user's reply, subscribe) or that names no message.
func (w *Webhook) status(ev Event, signers []Agent) (Status, bool) {
	agent := signers[0]
	if ev.AgentID != "" {
		// a partner-level webhook carries every agent of the partner:
		// those of agents not configured here are not ours
		i := slices.IndexFunc(signers, func(a Agent) bool { return a.AgentID == ev.AgentID })
		if i < 0 {
			return Status{}, false
		}
		agent = signers[i]
	}
	st := Status{Agent: agent.Name, MessageID: ev.MessageID, Phone: ev.SenderPhoneNumber + ev.PhoneNumber}
	switch ev.EventType {
	case "DELIVERED":
		st.Status = "delivered"
	case "READ":
		st.Status = "read"
	case "TTL_EXPIRATION_REVOKED":
		st.Status, st.Reason = "failed", "rcs_expired"
	case "TTL_EXPIRATION_REVOKE_FAILED":
		// not revoked, not known delivered: for a code Google advises the
		// fallback now (a late delivery then changes nothing)
		st.Status, st.Reason = "failed", "rcs_expired_unrevoked"
	default:
		return Status{}, false
	}
	if st.MessageID == "" || len(st.MessageID) > 128 {
		return Status{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, ev.SendTime); err == nil {
		st.At = t.UTC()
	}
	return st, true
}

func rcsCallbacks(result string) *metrics.Counter {
	return metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_rcs_callbacks_total{result=%q}`, result))
}

// Sign is the X-Goog-Signature of an event's JSON under clientToken (what
// Google sends; the simulator and tests sign with it).
func Sign(clientToken string, data []byte) string {
	m := hmac.New(sha512.New, []byte(clientToken))
	m.Write(data)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
