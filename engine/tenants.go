package engine

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Tenants: their defaults checked at start and on a reload, and swapped
// whole.

// TenantError: a tenant's defaults would fail every request (a template
// too long for the connector, a sender id no SMSC takes), so the start or
// the reload is refused. Field is the tenant's field (templates.otp.en).
type TenantError struct {
	Tenant, Field string
	Err           error
}

func (e *TenantError) Error() string {
	return "tenants." + e.Tenant + "." + e.Field + ": " + e.Err.Error()
}

func (e *TenantError) Unwrap() error { return e.Err }

// tenantError splits validateTenant's "field: what" into a *TenantError.
func tenantError(id string, err error) *TenantError {
	field, what, _ := strings.Cut(err.Error(), ": ")
	return &TenantError{Tenant: id, Field: field, Err: errors.New(what)}
}

// validateTenant checks a tenant's defaults at start, so a bad default
// stops the start instead of failing every request. Errors start with the
// field name.
func validateTenant(cfg Config, t *Tenant) error {
	if err := t.Templates.Validate("templates"); err != nil {
		return err
	}
	if err := checkSenderID(cmp.Or(t.SenderID, cfg.DefaultSenderID)); err != nil {
		return fmt.Errorf("sender_id: %w", err)
	}
	if len(cmp.Or(t.Brand, t.ID)) > 32 {
		return fmt.Errorf("brand: longer than 32 bytes")
	}
	if len(t.Locale) > 16 {
		return fmt.Errorf("locale: longer than 16 bytes")
	}
	if t.CallbackURL != "" {
		if err := checkCallbackURL(t.CallbackURL, cfg.Webhooks); err != nil {
			return fmt.Errorf("callback_url: %w", err)
		}
		if t.WebhookSecret == "" {
			return fmt.Errorf("webhook_secret: required with a callback_url")
		}
	}
	name := cmp.Or(t.Template, DefaultTemplateName)
	sets := []Templates{t.Templates, cfg.Templates, BuiltinTemplates}
	if _, ok := pick(sets, name, "en"); !ok {
		return fmt.Errorf("template: no template named %q", name)
	}
	if cfg.CheckText != nil {
		ttl := t.TTL
		if ttl == 0 {
			ttl = 10 * time.Minute
		}
		code := strings.Repeat("0", cmp.Or(t.CodeLength, 6))
		for _, set := range sets {
			for loc, text := range set[name] {
				if err := cfg.CheckText(render(fill(text, cmp.Or(t.Brand, t.ID), int((ttl+time.Minute-1)/time.Minute)), code)); err != nil {
					return fmt.Errorf("template: %s (locale %s): %w", name, loc, err)
				}
			}
		}
	}
	return nil
}

func checkSenderID(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	digits := strings.TrimPrefix(s, "+")
	allDigits := true
	for _, c := range digits {
		if c < '0' || c > '9' {
			allDigits = false
		}
	}
	if allDigits {
		if len(digits) < 3 || len(digits) > 15 {
			return fmt.Errorf("numeric sender %q must have 3 to 15 digits", s)
		}
		return nil
	}
	if len(s) > 11 {
		return fmt.Errorf("alphanumeric sender %q is longer than 11 characters", s)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("alphanumeric sender %q contains %q (letters, digits, space, - . _)", s, c)
		}
	}
	return nil
}

// SetTenants swaps in a new set of tenants (a config reload) after checking
// each as New does; on an error the running set stays.
func (e *Engine) SetTenants(ts map[string]*Tenant) error {
	for id, t := range ts {
		if err := validateTenant(e.cfg, t); err != nil {
			return tenantError(id, err)
		}
	}
	e.tenants.Store(&ts)
	return nil
}
