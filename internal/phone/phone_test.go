package phone

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers/v2"
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

var update = flag.Bool("update", false, "rewrite testdata/types.txt from libphonenumber's example numbers")

// TestTypes: libphonenumber's example number of every type for several
// countries, parsed, has the type testdata/types.txt gives it (regenerate
// with -update after a libphonenumber upgrade, and read the diff: a range
// that moved between types changes what the fraud guards let through).
func TestTypes(t *testing.T) {
	countries := []string{"IT", "GB", "DE", "FR", "ES", "US", "CA", "IN", "BR", "NG", "AU", "LV"}
	types := []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}
	var got strings.Builder
	v := NewValidator(0)
	for _, cc := range countries {
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForTypeInRegion(cc, typ)
			if ex == nil {
				continue
			}
			n, err := v.Parse(phonenumbers.Format(ex, phonenumbers.E164), "")
			if err != nil {
				fmt.Fprintf(&got, "%s %s %s error\n", cc, typeNames[typ], phonenumbers.Format(ex, phonenumbers.E164))
				continue
			}
			fmt.Fprintf(&got, "%s %s %s %s\n", cc, typeNames[typ], n.E164, n.Type)
		}
	}
	if *update {
		if err := os.WriteFile("testdata/types.txt", []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/types.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("types differ from testdata/types.txt (country, example's type, number, parsed type):\n got:\n%s\nwant:\n%s", got.String(), want)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		f := strings.Fields(line)
		if f[3] != "error" && !slices.Contains(Types, f[3]) {
			t.Errorf("%s: %q is not one of Types", line, f[3])
		}
	}
}
