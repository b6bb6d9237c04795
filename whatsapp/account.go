// Package whatsapp owns the WhatsApp channel: a connector that sends
// codes as authentication-template messages through Meta's WhatsApp
// Business Cloud API (one Client per business phone number, under a
// token bucket that keeps it within its throughput), the webhook that
// takes Meta's signed status callbacks (sent, delivered, read, failed)
// and the verification handshake, and, in whatsapp/sim, a simulator of
// the Cloud API for the sandbox, tests and benchmarks.
//
// It knows nothing of verifications: a message carries an opaque
// reference (sent as biz_opaque_callback_data and echoed in its
// statuses), and statuses go to a function the caller gives.
package whatsapp

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Account is one WhatsApp Business phone number the gateway sends from:
// a connector the router can pick (routes with match.channel whatsapp).
type Account struct {
	// Name is the connector's name in routes, events and metrics.
	Name string
	// BaseURL of the Graph API. Default https://graph.facebook.com; the
	// simulator's address in the sandbox and tests.
	BaseURL string
	// APIVersion, e.g. "v23.0". Default DefaultAPIVersion. Meta keeps a
	// version about two years; a newer one changes some callback fields
	// (v24.0 drops "conversation"), which the connector does not read.
	APIVersion string
	// PhoneNumberID is the business phone number's id (not the number).
	PhoneNumberID string
	// Token is a system user's access token with
	// whatsapp_business_messaging. Keep it in the environment.
	Token string
	// AppSecret signs Meta's webhook calls (X-Hub-Signature-256); a call
	// that does not match it is refused.
	AppSecret string
	// VerifyToken is the token set beside the callback URL in the App
	// Dashboard: Meta's GET handshake must present it.
	VerifyToken string
	// Template is the name of the approved authentication template (with
	// a copy-code or one-tap button) that carries the code.
	Template string
	// Languages are the languages the template is approved in, as Meta
	// names them ("en_US", "it", "pt_BR"); the first is the fallback for
	// a locale none of them serves.
	Languages []string
	// Templates names another template for a language (a key of it must
	// be one of Languages), where that language's authentication template
	// is approved under its own name. Default none: Template for all.
	Templates map[string]string
	// MessageTTL is the template's message_send_ttl_seconds as set at
	// Meta (30 s to 15 min for authentication templates; Meta's default is
	// 10 min): a message not delivered within it is dropped. A workflow
	// step on WhatsApp waits at least this long before the next step, so
	// a phone that comes online late never gets the code after the
	// workflow moved on. Required: it is a setting at Meta that the
	// gateway cannot read.
	MessageTTL time.Duration
	// Rate is the messages a second this number may send (Meta: 80 by
	// default, 1,000 after an upgrade, 20 for a number shared with the
	// WhatsApp Business app). Default 80. Sends wait for it rather than
	// be refused with 130429.
	Rate float64
	// Timeout bounds one send request. Default 10 s. A send that gets no
	// answer in time is not sent again (the Cloud API has no idempotency
	// key): its step waits for the status callback.
	Timeout time.Duration
}

// DefaultAPIVersion is the Graph API version used when an account names
// none.
const DefaultAPIVersion = "v23.0"

// TTL bounds of authentication templates (Meta's time-to-live reference).
const (
	MinMessageTTL = 30 * time.Second
	MaxMessageTTL = 15 * time.Minute
)

var (
	versionRE = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,2}$`)
	digitsRE  = regexp.MustCompile(`^[0-9]{1,32}$`)
	// template names: lower-case letters, digits and underscores (Meta's rule)
	templateRE = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	languageRE = regexp.MustCompile(`^[a-z]{2,3}(_[A-Za-z]{2,4})?$`)
)

// WithDefaults returns a with its zero fields set to their defaults.
func (a Account) WithDefaults() Account {
	if a.BaseURL == "" {
		a.BaseURL = "https://graph.facebook.com"
	}
	if a.APIVersion == "" {
		a.APIVersion = DefaultAPIVersion
	}
	if a.Rate == 0 {
		a.Rate = 80
	}
	if a.Timeout == 0 {
		a.Timeout = 10 * time.Second
	}
	return a
}

// FieldError names the account field that is wrong.
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Validate checks a (with defaults applied) and returns every problem, each
// a *FieldError naming the field as the config spells it.
func (a Account) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{field, fmt.Sprintf(format, args...)})
	}
	if a.Name == "" {
		bad("name", "required")
	}
	if u, err := url.Parse(a.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		bad("base_url", "%q is not an http(s) URL", a.BaseURL)
	}
	if !versionRE.MatchString(a.APIVersion) {
		bad("api_version", "%q is not a Graph API version such as %s", a.APIVersion, DefaultAPIVersion)
	}
	if !digitsRE.MatchString(a.PhoneNumberID) {
		bad("phone_number_id", "%q is not a phone number id (digits, from the WhatsApp Manager; not the phone number)", a.PhoneNumberID)
	}
	if strings.TrimSpace(a.Token) == "" {
		bad("token", "required (a system user's access token; give it as ${ENV_VAR})")
	} else if strings.ContainsAny(a.Token, " \t\r\n") {
		bad("token", "contains white space")
	}
	if a.AppSecret == "" {
		bad("app_secret", "required: status callbacks are checked against it")
	}
	if a.VerifyToken == "" {
		bad("verify_token", "required: Meta's webhook handshake presents it")
	}
	if !templateRE.MatchString(a.Template) {
		bad("template", "%q is not a template name (lower-case letters, digits, _)", a.Template)
	}
	if len(a.Languages) == 0 {
		bad("languages", "at least one (the languages the template is approved in, e.g. en_US)")
	}
	for i, l := range a.Languages {
		if !languageRE.MatchString(l) {
			bad(fmt.Sprintf("languages[%d]", i), "%q is not a WhatsApp language code such as en_US, it, pt_BR", l)
		}
	}
	for _, l := range slices.Sorted(maps.Keys(a.Templates)) {
		switch {
		case !slices.Contains(a.Languages, l):
			bad(fmt.Sprintf("templates[%q]", l), "%q is not one of languages", l)
		case !templateRE.MatchString(a.Templates[l]):
			bad(fmt.Sprintf("templates[%q]", l), "%q is not a template name (lower-case letters, digits, _)", a.Templates[l])
		}
	}
	switch {
	case a.MessageTTL == 0:
		bad("message_ttl", "required: the template's message_send_ttl_seconds as set at Meta (30s to 15m)")
	case a.MessageTTL < MinMessageTTL || a.MessageTTL > MaxMessageTTL:
		bad("message_ttl", "%s is outside Meta's range for authentication templates (30s to 15m)", a.MessageTTL)
	}
	if a.Rate < 0 || a.Rate > 10000 {
		bad("rate", "%v is not a rate in messages a second (Meta: 80, 1000 after an upgrade)", a.Rate)
	}
	if a.Timeout < 0 || a.Timeout > 2*time.Minute {
		bad("timeout", "%s is not a timeout between 0 and 2m", a.Timeout)
	}
	return errors.Join(errs...)
}

// TemplateFor is the template (name and language) a message in locale
// goes as.
func (a Account) TemplateFor(locale string) (name, language string) {
	language = a.Language(locale)
	if n, ok := a.Templates[language]; ok {
		return n, language
	}
	return a.Template, language
}

// Language is the template language for locale (the verification's, as
// "pt-br" or "en"): the configured language that is the same locale, else
// one of its language ("en" for "en-gb", or "en_US" for "en"), else the
// first configured.
func (a Account) Language(locale string) string {
	want := strings.ToLower(strings.ReplaceAll(locale, "-", "_"))
	base, _, _ := strings.Cut(want, "_")
	sameBase := ""
	for _, l := range a.Languages {
		ll := strings.ToLower(l)
		if ll == want {
			return l
		}
		if lb, _, _ := strings.Cut(ll, "_"); lb == base && (sameBase == "" || ll == base) {
			sameBase = l
		}
	}
	if sameBase != "" {
		return sameBase
	}
	if len(a.Languages) > 0 {
		return a.Languages[0]
	}
	return "en_US"
}
