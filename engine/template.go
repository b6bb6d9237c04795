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

// countryLocale maps a number's country to the language of its SMS when
// the request names none: the language most of the country reads. A
// language without a template of that locale falls back to English
// (pick), so the table may name more languages than there are texts.
var countryLocale = map[string]string{
	"IT": "it", "SM": "it", "VA": "it",
	"FR": "fr", "BE": "fr", "LU": "fr", "MC": "fr", "SN": "fr", "CI": "fr", "CM": "fr", "ML": "fr", "BF": "fr",
	"NE": "fr", "TG": "fr", "BJ": "fr", "GA": "fr", "CG": "fr", "CD": "fr", "MG": "fr", "HT": "fr", "GN": "fr",
	"DE": "de", "AT": "de", "LI": "de", "CH": "de",
	"ES": "es", "MX": "es", "AR": "es", "CO": "es", "CL": "es", "PE": "es", "VE": "es", "EC": "es", "UY": "es",
	"BO": "es", "PY": "es", "GT": "es", "HN": "es", "SV": "es", "NI": "es", "CR": "es", "PA": "es", "DO": "es",
	"CU": "es", "GQ": "es",
	"PT": "pt", "BR": "pt-br", "AO": "pt", "MZ": "pt", "CV": "pt", "GW": "pt", "ST": "pt", "TL": "pt",
	"NL": "nl", "SR": "nl", "BG": "bg", "RO": "ro", "MD": "ro", "PL": "pl", "CZ": "cs", "SK": "sk",
	"HU": "hu", "GR": "el", "CY": "el", "TR": "tr", "RU": "ru", "BY": "ru", "UA": "uk", "SE": "sv",
	"DK": "da", "NO": "nb", "FI": "fi", "IS": "is", "EE": "et", "LV": "lv", "LT": "lt", "HR": "hr",
	"RS": "sr", "ME": "sr", "BA": "bs", "SI": "sl", "MK": "mk", "AL": "sq", "XK": "sq", "GE": "ka",
	"AM": "hy", "AZ": "az", "KZ": "kk", "UZ": "uz", "IL": "he", "IR": "fa", "AF": "fa", "PK": "ur",
	"BD": "bn", "TH": "th", "VN": "vi", "ID": "id", "MY": "ms", "CN": "zh", "TW": "zh-tw", "HK": "zh-hk",
	"MO": "zh-hk", "JP": "ja", "KR": "ko", "MN": "mn", "KH": "km", "LA": "lo", "MM": "my", "NP": "ne",
	"LK": "si", "ET": "am", "SO": "so", "TZ": "sw", "KE": "sw",
	"SA": "ar", "AE": "ar", "EG": "ar", "MA": "ar", "DZ": "ar", "TN": "ar", "JO": "ar", "KW": "ar",
	"QA": "ar", "BH": "ar", "OM": "ar", "IQ": "ar", "LB": "ar", "LY": "ar", "SY": "ar", "YE": "ar",
	"SD": "ar", "PS": "ar", "MR": "ar",
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

// pickText chooses a request's own text for locale: the locale's, its
// language's, then the one for any locale ("").
func pickText(texts map[string]string, locale string) (string, bool) {
	if len(texts) == 0 {
		return "", false
	}
	locale = strings.ToLower(strings.ReplaceAll(locale, "_", "-"))
	lang, _, _ := strings.Cut(locale, "-")
	for _, want := range []string{locale, lang, ""} {
		if t, ok := texts[want]; ok {
			return t, true
		}
	}
	return "", false
}

// fill replaces {brand} and {minutes}; {code} stays for the send.
func fill(text, brand string, minutes int) string {
	if strings.Contains(text, "{brand}") {
		text = strings.ReplaceAll(text, "{brand}", brand)
	}
	if strings.Contains(text, "{minutes}") {
		text = strings.ReplaceAll(text, "{minutes}", strconv.Itoa(minutes))
	}
	return text
}

// render puts the code into a filled template.
func render(filled, code string) string { return strings.ReplaceAll(filled, "{code}", code) }
