package phone

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers/v2"
)

// referenceParse is parse as it was before the fast path: libphonenumber's
// Parse and IsValidNumber on every input.
func referenceParse(s string) (Number, error) {
	pn, err := phonenumbers.Parse(s, "ZZ")
	if err != nil {
		return Number{}, err
	}
	if !phonenumbers.IsValidNumber(pn) {
		return Number{}, errors.New("invalid")
	}
	typ, ok := typeNames[phonenumbers.GetNumberType(pn)]
	if !ok {
		typ = Unknown
	}
	return Number{E164: phonenumbers.Format(pn, phonenumbers.E164), Country: phonenumbers.GetRegionCodeForNumber(pn), Type: typ}, nil
}

// TestFastPathAgreesWithParse: over every country calling code, national
// numbers of every length from random digits, numbers starting with each
// digit (national prefixes and carrier codes among them) and each
// country's example numbers, the validator gives exactly libphonenumber's
// answer, and the fast path handles most valid ones.
func TestFastPathAgreesWithParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var inputs []string
	for cc := 1; cc < 1000; cc++ {
		region := phonenumbers.GetRegionCodeForCountryCode(cc)
		if region == "ZZ" {
			continue
		}
		for _, r := range phonenumbers.GetRegionCodesForCountryCode(cc) {
			if ex := phonenumbers.GetExampleNumber(r); ex != nil {
				inputs = append(inputs, phonenumbers.Format(ex, phonenumbers.E164))
			}
			for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE, phonenumbers.TOLL_FREE} {
				if ex := phonenumbers.GetExampleNumberForTypeInRegion(r, typ); ex != nil {
					inputs = append(inputs, phonenumbers.Format(ex, phonenumbers.E164))
				}
			}
		}
		for n := 1; n <= 15; n++ {
			for lead := '0'; lead <= '9'; lead++ {
				var b strings.Builder
				fmt.Fprintf(&b, "+%d%c", cc, lead)
				for range n - 1 {
					b.WriteByte(byte('0' + rng.IntN(10)))
				}
				inputs = append(inputs, b.String())
			}
		}
	}
	var fast, valid int
	for _, in := range inputs {
		want, werr := referenceParse(in)
		got, gerr := parse(in, "")
		if (werr == nil) != (gerr == nil) || got != want {
			t.Fatalf("%s: validator %+v, %v; libphonenumber %+v, %v", in, got, gerr, want, werr)
		}
		if werr == nil {
			valid++
			if _, ok := fastParse(in); ok {
				fast++
			}
		}
	}
	t.Logf("%d inputs, %d valid, %d of them on the fast path", len(inputs), valid, fast)
	if valid < 1000 || fast < valid/2 {
		t.Fatalf("only %d of %d valid numbers took the fast path", fast, valid)
	}
}

func BenchmarkParseUncached(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		if _, err := parse(fmt.Sprintf("+39347%07d", i%10_000_000), ""); err != nil {
			b.Fatal(err)
		}
	}
}
