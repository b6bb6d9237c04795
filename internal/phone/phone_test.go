package phone

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	v := NewValidator(4)
	cases := []struct {
		in, country string
		e164, cc    string
		errField    string
	}{
		{"+393471234567", "", "+393471234567", "IT", ""},
		{"0039 347 123 4567", "", "+393471234567", "IT", ""},
		{"347 123 4567", "it", "+393471234567", "IT", ""},
		{"+14155552671", "", "+14155552671", "US", ""},
		{"(415) 555-2671", "US", "+14155552671", "US", ""},
		{"+442071838750", "", "+442071838750", "GB", ""},
		{"4155552671", "", "", "", "number"},    // national without country
		{"+39347", "", "", "", "number"},        // too short for Italy
		{"+999123456789", "", "", "", "number"}, // no such country code
		{"", "", "", "", "number"},
		{"+39abc", "", "", "", "number"},
		{"3471234567", "XX", "", "", "country"},
		{"+14155552671", "IT", "", "", "number"}, // belongs to US
		{"+1234567890123456789012345678901234", "", "", "", "number"},
	}
	for _, c := range cases {
		for pass := 0; pass < 2; pass++ { // second pass hits the cache
			n, err := v.Parse(c.in, c.country)
			if c.errField != "" {
				var pe *Error
				if !errors.As(err, &pe) || pe.Field != c.errField {
					t.Fatalf("Parse(%q,%q) = %v, %v; want error on %s", c.in, c.country, n, err, c.errField)
				}
				continue
			}
			if err != nil || n.E164 != c.e164 || n.Country != c.cc {
				t.Fatalf("Parse(%q,%q) = %+v, %v; want %s %s", c.in, c.country, n, err, c.e164, c.cc)
			}
		}
	}
	if len(v.cache) > 4 {
		t.Fatalf("cache grew past its limit: %d", len(v.cache))
	}
}

func BenchmarkParseCached(b *testing.B) {
	v := NewValidator(0)
	for i := 0; i < b.N; i++ {
		if _, err := v.Parse("+393471234567", ""); err != nil {
			b.Fatal(err)
		}
	}
}
