package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPickTemplate(t *testing.T) {
	conf := Templates{"default": {"it": "CONF-IT {code}", "pt-br": "CONF-PTBR {code}"}, "promo": {"fr": "PROMO-FR {code}"}}
	for _, c := range []struct{ name, locale, want string }{
		{"default", "it", "CONF-IT"},
		{"default", "it-IT", "CONF-IT"},
		{"default", "pt_BR", "CONF-PTBR"},
		{"default", "de", "Ihr"},    // built-in German
		{"default", "xx", "Your"},   // built-in English fallback
		{"promo", "en", "PROMO-FR"}, // only locale of a named template
	} {
		got, ok := pick([]Templates{conf, BuiltinTemplates}, c.name, c.locale)
		if !ok || !strings.HasPrefix(got, c.want) {
			t.Errorf("pick(%s,%s) = %q, want prefix %q", c.name, c.locale, got, c.want)
		}
	}
	if _, ok := pick([]Templates{conf}, "nope", "en"); ok {
		t.Error("unknown template name found")
	}
}

func TestTemplateValidate(t *testing.T) {
	for text, ok := range map[string]bool{
		"{code}": true, "{brand}: {code} ({minutes} min)": true,
		"no code": false, "{code} {name}": false, "{code} {": false,
	} {
		err := Templates{"x": {"en": text}}.Validate("templates")
		if (err == nil) != ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", text, err, ok)
		}
	}
}

// TestLocaleFromCountry: an Italian number without a locale gets Italian.
func TestLocaleFromCountry(t *testing.T) {
	h := newHarness(t)
	h.tenant.Template = ""
	for num, want := range map[string]string{"+393471234567": "Il tuo codice", "+4915123456789": "Ihr acme", "+14155552671": "Your acme"} {
		if _, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: num}); err != nil {
			t.Fatal(err)
		}
		h.drain()
		got := h.smsc.msgs[len(h.smsc.msgs)-1].Text
		if !strings.HasPrefix(got, want) || !strings.Contains(strings.ToLower(got), "10 min") {
			t.Errorf("%s: text %q, want prefix %q and the validity", num, got, want)
		}
	}
}

// TestRequestTexts: a request's own texts are chosen by the number's
// language, then the one for any locale; with none for it, the template
// is sent; every text is checked, not only the one chosen.
func TestRequestTexts(t *testing.T) {
	h := newHarness(t)
	h.tenant.Template = ""
	texts := map[string]string{"": "Code {code}", "fr": "Votre code {code}", "bg": "Вашият код {code}", "pt-br": "Seu código {code}"}
	for _, c := range []struct {
		num   string
		texts map[string]string
		want  string
	}{
		{"+33612345678", texts, "Votre code "},
		{"+359888123456", texts, "Вашият код "},
		{"+5511912345678", texts, "Seu código "}, // Brazil reads pt-br
		{"+351912345678", texts, "Code "},        // Portugal: pt, and pt-br is not its text
		{"+14155552671", texts, "Code "},
		{"+393471234567", map[string]string{"fr": "Votre code {code}"}, "Il tuo codice"}, // none for it: the template
	} {
		if _, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: c.num, Texts: c.texts}); err != nil {
			t.Fatalf("%s: %v", c.num, err)
		}
		h.drain()
		if got := h.smsc.msgs[len(h.smsc.msgs)-1].Text; !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: text %q, want prefix %q", c.num, got, c.want)
		}
	}
	for _, bad := range []map[string]string{
		{"": "no placeholder"},
		{"": "Code {code}", "de": "Ihr {pin}"},
		{"fr": strings.Repeat("é", 1100) + "{code}"},
	} {
		_, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: "+14155550100", Texts: bad})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "template" {
			t.Errorf("texts %.40q: %v, want a FieldError on template", bad, err)
		}
	}
}
