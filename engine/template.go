package engine

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Templates are SMS texts by template name, then by locale ("en", "it",
// "pt-br"). A text holds {code} and may hold {brand} and {minutes} (the
// validity in whole minutes, rounded up).
type Templates map[string]map[string]string

// DefaultTemplateName is the template used when neither request nor tenant
// names one.
const DefaultTemplateName = "default"

// BuiltinTemplates are used for any name and locale the config leaves out.
var BuiltinTemplates = Templates{
	DefaultTemplateName: {
		"en": "Your {brand} verification code is {code}. It expires in {minutes} min.",
		"it": "Il tuo codice di verifica {brand} è {code}. Scade tra {minutes} min.",
		"fr": "Votre code de vérification {brand} est {code}. Il expire dans {minutes} min.",
		"de": "Ihr {brand} Bestätigungscode ist {code}. Er läuft in {minutes} Min. ab.",
		"es": "Tu código de verificación de {brand} es {code}. Caduca en {minutes} min.",
	},
}

// countryLocale maps a number's country to the locale of its SMS when the
// request names none.
var countryLocale = map[string]string{
	"IT": "it", "SM": "it", "VA": "it",
	"FR": "fr", "BE": "fr", "LU": "fr", "MC": "fr", "SN": "fr", "CI": "fr",
	"DE": "de", "AT": "de", "LI": "de", "CH": "de",
	"ES": "es", "MX": "es", "AR": "es", "CO": "es", "CL": "es", "PE": "es", "VE": "es", "EC": "es", "UY": "es",
}

// Validate checks every template of t: each text has {code} and only known
// placeholders. where names the config path for errors.
func (t Templates) Validate(where string) error {
	for name, byLocale := range t {
		if len(byLocale) == 0 {
			return fmt.Errorf("%s.%s: no locales", where, name)
		}
		for loc, text := range byLocale {
			if err := checkTemplateText(text); err != nil {
				return fmt.Errorf("%s.%s.%s: %w", where, name, loc, err)
			}
		}
	}
	return nil
}

func checkTemplateText(text string) error {
	if !strings.Contains(text, "{code}") {
		return fmt.Errorf("text has no {code} placeholder")
	}
	rest := text
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("unclosed '{' in text")
		}
		switch ph := rest[i : i+j+1]; ph {
		case "{code}", "{brand}", "{minutes}":
		default:
			return fmt.Errorf("unknown placeholder %s (known: {code}, {brand}, {minutes})", ph)
		}
		rest = rest[i+j+1:]
	}
}

// pick chooses the text of template name for locale, falling back to the
// locale's language, then to English, then to any locale; the config's
// templates first, then the built-in ones.
func pick(sets []Templates, name, locale string) (string, bool) {
	locale = strings.ToLower(strings.ReplaceAll(locale, "_", "-"))
	lang, _, _ := strings.Cut(locale, "-")
	for _, want := range []string{locale, lang, "en"} {
		for _, set := range sets {
			if t, ok := set[name][want]; ok && want != "" {
				return t, true
			}
		}
	}
	for _, set := range sets {
		if locales := slices.Sorted(maps.Keys(set[name])); len(locales) > 0 {
			return set[name][locales[0]], true
		}
	}
	return "", false
}

// fill replaces {brand} and {minutes}; {code} stays for the send.
func fill(text, brand string, minutes int) string {
	r := strings.NewReplacer("{brand}", brand, "{minutes}", strconv.Itoa(minutes))
	return r.Replace(text)
}

// render puts the code into a filled template.
func render(filled, code string) string { return strings.ReplaceAll(filled, "{code}", code) }
