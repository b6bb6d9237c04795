package whatsapp

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The Cloud API's JSON, as Meta's reference gives it (the connector sends
// SendRequest and reads SendResponse or ErrorResponse; Meta posts
// Notification to the webhook). The simulator (whatsapp/sim) speaks the
// same types from the other side; the golden files in testdata hold
// Meta's own examples, so a type that drifted from the wire fails there,
// not only in a round trip through the simulator.

// SendRequest is POST /{version}/{phone-number-id}/messages for a
// template message.
type SendRequest struct {
	MessagingProduct string       `json:"messaging_product"` // "whatsapp"
	RecipientType    string       `json:"recipient_type"`    // "individual"
	To               string       `json:"to"`                // E.164 with "+": without it Meta prepends the business number's country code
	Type             string       `json:"type"`              // "template"
	Template         TemplateSend `json:"template"`
	// BizOpaqueCallbackData is echoed in the message's status callbacks
	// (at most 512 characters).
	BizOpaqueCallbackData string `json:"biz_opaque_callback_data,omitempty"`
}

// TemplateSend names the template and fills its parameters.
type TemplateSend struct {
	Name       string      `json:"name"`
	Language   Language    `json:"language"`
	Components []Component `json:"components,omitempty"`
}

// Language is a template's language ("en_US", "it", "pt_BR").
type Language struct {
	Code   string `json:"code"`
	Policy string `json:"policy,omitempty"` // "deterministic"; optional
}

// Component fills one part of a template: the body's parameters, or a
// button's (an authentication template's copy-code or one-tap button is
// sub_type "url", index "0", with the code as its parameter).
type Component struct {
	Type       string      `json:"type"` // body | button
	SubType    string      `json:"sub_type,omitempty"`
	Index      Index       `json:"index,omitempty"`
	Parameters []Parameter `json:"parameters"`
}

// Index is a button's index: Meta's examples send the string "0", some
// clients the number 0; both are read.
type Index string

// UnmarshalJSON reads a string or a number.
func (i *Index) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*i = Index(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("index: %s is neither a string nor a number", b)
	}
	*i = Index(n.String())
	return nil
}

// Parameter is one template parameter.
type Parameter struct {
	Type string `json:"type"` // text
	Text string `json:"text"`
}

// SendResponse is the answer to a send that the Cloud API accepted (it
// says nothing of delivery: the status callbacks do).
type SendResponse struct {
	MessagingProduct string    `json:"messaging_product"`
	Contacts         []Contact `json:"contacts"`
	Messages         []struct {
		ID string `json:"id"` // the wamid
		// MessageStatus: accepted, held_for_quality_assessment or paused;
		// only for paced templates (not authentication ones).
		MessageStatus string `json:"message_status,omitempty"`
	} `json:"messages"`
}

// Contact is the recipient as the Cloud API read it.
type Contact struct {
	Input string `json:"input"` // the "to" as sent
	WaID  string `json:"wa_id"` // digits only
}

// ErrorResponse is the body of a refused request.
type ErrorResponse struct {
	Error APIError `json:"error"`
}

// APIError is Meta's error object. Handling goes by Code (Meta's advice:
// not by HTTP status, subcode or title).
type APIError struct {
	Message   string `json:"message"` // "(#130429) Rate limit hit"
	Type      string `json:"type"`    // OAuthException
	Code      int    `json:"code"`
	ErrorData *struct {
		MessagingProduct string `json:"messaging_product,omitempty"`
		Details          string `json:"details,omitempty"`
	} `json:"error_data,omitempty"`
	ErrorSubcode int    `json:"error_subcode,omitempty"` // deprecated since v16.0
	FBTraceID    string `json:"fbtrace_id,omitempty"`
}

// Details is error_data.details, or "".
func (e *APIError) Details() string {
	if e.ErrorData == nil {
		return ""
	}
	return e.ErrorData.Details
}

// Notification is what Meta posts to the webhook.
type Notification struct {
	Object string  `json:"object"` // whatsapp_business_account
	Entry  []Entry `json:"entry"`
}

// Entry is one WhatsApp Business Account's changes.
type Entry struct {
	ID      string   `json:"id"` // the WABA id
	Changes []Change `json:"changes"`
}

// Change is one change; statuses come with field "messages".
type Change struct {
	Field string `json:"field"`
	Value Value  `json:"value"`
}

// Value holds a change's statuses (and, for received messages, which the
// connector ignores, messages).
type Value struct {
	MessagingProduct string `json:"messaging_product"`
	Metadata         struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Statuses []StatusItem `json:"statuses,omitempty"`
}

// StatusItem is one message's status.
type StatusItem struct {
	ID                    string         `json:"id"`     // the wamid
	Status                string         `json:"status"` // sent | delivered | read | failed | played
	Timestamp             string         `json:"timestamp"`
	RecipientID           string         `json:"recipient_id"`
	BizOpaqueCallbackData string         `json:"biz_opaque_callback_data,omitempty"`
	Conversation          map[string]any `json:"conversation,omitempty"`
	Pricing               map[string]any `json:"pricing,omitempty"`
	Errors                []StatusError  `json:"errors,omitempty"`
}

// StatusError says why a message failed.
type StatusError struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message,omitempty"`
	ErrorData *struct {
		Details string `json:"details,omitempty"`
	} `json:"error_data,omitempty"`
	Href string `json:"href,omitempty"`
}

// NormalizeNumber keeps the digits of a phone number as the Cloud API
// reads "to" (it allows "+", hyphens, parentheses and spaces) and as it
// writes wa_id and recipient_id.
func NormalizeNumber(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
