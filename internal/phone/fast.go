package phone

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers/v2"
)

// The fast path. Most numbers arrive as "+" and digits. For those,
// libphonenumber's Parse spends most of its time normalising text that is
// already normal; this path builds the same PhoneNumber directly and
// declines (the caller falls back to Parse) wherever Parse could do
// anything else:
//
//   - the country calling code is found as Parse finds it (the first of 1,
//     2 or 3 leading digits that is a known code; a leading 0 declines);
//   - Parse strips a national prefix or carrier code when the region's
//     national_prefix_for_parsing matches the start of the national number:
//     this path declines when it matches, so it never strips;
//   - a national number with a leading 0 (Italian leading zeros) declines;
//   - non-geographic codes (+800, +882 …) decline.
//
// The answers are then libphonenumber's own (GetRegionCodeForNumber,
// IsValidNumberForRegion, Format). TestFastPathAgreesWithParse compares
// both paths over every country calling code.

// prefixes holds, per region, the compiled national_prefix_for_parsing
// (nil when the region has none). Loaded once.
var (
	prefixOnce sync.Once
	prefixes   map[string]*regexp.Regexp
	prefixErr  error
)

func loadPrefixes() {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		prefixErr = err
		return
	}
	prefixes = make(map[string]*regexp.Regexp)
	for _, md := range coll.GetMetadata() {
		var re *regexp.Regexp
		if p := md.GetNationalPrefixForParsing(); p != "" {
			if re, err = regexp.Compile("^(?:" + p + ")"); err != nil {
				prefixErr = err
				return
			}
		}
		prefixes[md.GetId()] = re
	}
}

// fastParse returns the parsed number and true, or false when s must go
// through phonenumbers.Parse.
func fastParse(s string) (*phonenumbers.PhoneNumber, bool) {
	if len(s) < 4 || s[0] != '+' || s[1] == '0' {
		return nil, false
	}
	digits := s[1:]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return nil, false
		}
	}
	prefixOnce.Do(loadPrefixes)
	if prefixErr != nil {
		return nil, false
	}
	cc, region := 0, ""
	for i := 1; i <= 3 && i < len(digits); i++ {
		c, _ := strconv.Atoi(digits[:i])
		if r := phonenumbers.GetRegionCodeForCountryCode(c); r != "ZZ" {
			cc, region, digits = c, r, digits[i:]
			break
		}
	}
	if cc == 0 || region == "001" || len(digits) < 2 || len(digits) > 17 || digits[0] == '0' {
		return nil, false
	}
	re, known := prefixes[region]
	if !known || (re != nil && re.MatchString(digits)) {
		return nil, false
	}
	nn, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return nil, false
	}
	cc32 := int32(cc)
	return &phonenumbers.PhoneNumber{CountryCode: &cc32, NationalNumber: &nn}, true
}
