package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Status is one message status from Meta's callback, for the account that
// sent the message.
type Status struct {
	Account   string // the connector's name
	MessageID string // the wamid
	// Ref is the biz_opaque_callback_data the message was sent with ("" if
	// the callback did not echo it).
	Ref       string
	Status    string // sent | delivered | read | failed
	At        time.Time
	Recipient string // digits, as Meta writes them
	// ErrorCode and ErrorTitle say why a failed message failed (Meta's
	// code: 131026 not on WhatsApp, …).
	ErrorCode  int
	ErrorTitle string
}

// Webhook serves the callback URL configured in Meta's App Dashboard: the
// GET handshake and the POSTed notifications, each checked against the
// app secret of the accounts it speaks for. It holds no state: a status
// repeated or replayed reaches onStatus again, which must be idempotent
// (the engine's receipts are).
type Webhook struct {
	apps         []app
	verifyTokens [][]byte
	onStatus     func(Status) error
	log          *slog.Logger
}

// app is one Meta app: its secret and the accounts (by phone number id)
// whose callbacks it signs.
type app struct {
	secret   []byte
	accounts map[string]string // phone_number_id → account name
}

// NewWebhook serves the callbacks of accounts; onStatus gets every status
// of a message sent from one of them, in the order Meta wrote them, and
// returns an error when it could not record one for now (Meta is then
// answered 503 and sends the notification again; statuses already
// recorded change nothing the second time).
func NewWebhook(accounts []Account, onStatus func(Status) error, log *slog.Logger) *Webhook {
	if log == nil {
		log = slog.Default()
	}
	w := &Webhook{onStatus: onStatus, log: log.With("component", "whatsapp_webhook")}
	for _, a := range accounts {
		i := 0
		for i < len(w.apps) && !hmac.Equal(w.apps[i].secret, []byte(a.AppSecret)) {
			i++
		}
		if i == len(w.apps) {
			w.apps = append(w.apps, app{secret: []byte(a.AppSecret), accounts: map[string]string{}})
		}
		w.apps[i].accounts[a.PhoneNumberID] = a.Name
		w.verifyTokens = append(w.verifyTokens, []byte(a.VerifyToken))
	}
	return w
}

// Verify answers Meta's handshake (GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…):
// 200 with the challenge when the token is one of the accounts', else 403.
func (w *Webhook) Verify(mode, token, challenge string) (status int, body string) {
	if mode != "subscribe" {
		return 403, fmt.Sprintf("hub.mode is %q, not subscribe", mode)
	}
	if challenge == "" || len(challenge) > 256 || strings.ContainsAny(challenge, "<>&\"'\r\n") {
		return 400, "hub.challenge is missing or not a plain token"
	}
	for _, t := range w.verifyTokens {
		if subtle.ConstantTimeCompare(t, []byte(token)) == 1 {
			callbacks("handshake").Inc()
			return 200, challenge
		}
	}
	callbacks("handshake_refused").Inc()
	return 403, "hub.verify_token does not match any account's verify_token"
}

// Notify handles one POSTed notification: signature is the
// X-Hub-Signature-256 header, body the raw body. It answers 200 once every
// status in it was recorded (Meta retries anything else for days), 503
// when one could not be (a store failure: the retry records it), 401 when
// the signature is missing or matches no app secret (nothing in the body
// is looked at), 400 when a signed body is not a notification.
func (w *Webhook) Notify(signature string, body []byte) (status int, msg string) {
	hexSig, ok := strings.CutPrefix(signature, "sha256=")
	sig, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(sig) != sha256.Size {
		callbacks("unsigned").Inc()
		return 401, "X-Hub-Signature-256 is missing or not sha256=<64 hex digits>"
	}
	var signer *app
	for i := range w.apps {
		m := hmac.New(sha256.New, w.apps[i].secret)
		m.Write(body)
		if hmac.Equal(m.Sum(nil), sig) {
			signer = &w.apps[i]
			break
		}
	}
	if signer == nil {
		callbacks("bad_signature").Inc()
		w.log.Warn("callback refused: its signature matches no app secret", "bytes", len(body))
		return 401, "X-Hub-Signature-256 does not match the body under any account's app_secret"
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		callbacks("malformed").Inc()
		return 400, "the body is not a WhatsApp notification: " + err.Error()
	}
	if n.Object != "whatsapp_business_account" {
		callbacks("ignored").Inc()
		return 200, fmt.Sprintf("object %q ignored", n.Object)
	}
	taken, failed := 0, 0
	for _, e := range n.Entry {
		for _, c := range e.Changes {
			if c.Field != "messages" || len(c.Value.Statuses) == 0 {
				continue
			}
			pid := c.Value.Metadata.PhoneNumberID
			acct, ok := signer.accounts[pid]
			if !ok {
				w.log.Warn("callback for a phone number id no account of this app has; ignored", "phone_number_id", pid)
				callbacks("unknown_number").Inc()
				continue
			}
			for _, s := range c.Value.Statuses {
				st, ok := w.status(acct, s)
				if !ok {
					continue
				}
				if err := w.onStatus(st); err != nil {
					failed++
					continue
				}
				taken++
			}
		}
	}
	if failed > 0 {
		callbacks("not_recorded").Inc()
		return 503, fmt.Sprintf("%d of %d statuses could not be recorded; send it again", failed, failed+taken)
	}
	callbacks("ok").Inc()
	return 200, fmt.Sprintf("%d statuses", taken)
}

// status reads one status item; false for one the connector does not use
// (played, an unknown word) or that names no message.
func (w *Webhook) status(acct string, s StatusItem) (Status, bool) {
	switch s.Status {
	case "sent", "delivered", "read", "failed":
	default:
		w.log.Debug("status ignored", "status", s.Status)
		return Status{}, false
	}
	if s.ID == "" || len(s.ID) > 256 {
		w.log.Warn("status without a usable message id ignored", "status", s.Status)
		return Status{}, false
	}
	st := Status{Account: acct, MessageID: s.ID, Ref: s.BizOpaqueCallbackData, Status: s.Status, Recipient: s.RecipientID}
	if sec, err := strconv.ParseInt(s.Timestamp, 10, 64); err == nil && sec > 0 && sec < 1<<40 {
		st.At = time.Unix(sec, 0).UTC()
	}
	if len(s.Errors) > 0 {
		st.ErrorCode, st.ErrorTitle = s.Errors[0].Code, s.Errors[0].Title
	}
	return st, true
}

func callbacks(result string) *metrics.Counter {
	return metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_whatsapp_callbacks_total{result=%q}`, result))
}

// Sign is the X-Hub-Signature-256 value of body under secret (what Meta
// sends; the simulator and tests sign with it).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
