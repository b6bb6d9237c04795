package smpp

import (
	"fmt"
	"strings"
)

// SMPP type-of-number and numbering-plan values used for addresses.
const (
	TONUnknown       byte = 0
	TONInternational byte = 1
	TONNational      byte = 2
	TONNetwork       byte = 3 // network specific: short codes
	TONAlphanumeric  byte = 5

	NPIUnknown byte = 0
	NPIE164    byte = 1 // ISDN/telephone numbering plan (E.164)
)

// Address is an SMPP address with its TON and NPI.
type Address struct {
	TON, NPI byte
	Addr     string
}

// maxShortCode is the longest all-digit originator sent as a short code.
const maxShortCode = 8

// SourceAddress maps an originator to its SMPP address:
//
//   - "" → TON 0 NPI 0, empty (the SMSC applies its default originator);
//   - "+" followed by digits, or more than 8 digits → international number,
//     TON 1 NPI 1, sent without the '+';
//   - 1..8 digits → short code, TON 3 (network specific) NPI 0;
//   - anything else → alphanumeric sender id, TON 5 NPI 0: 1..11 printable
//     ASCII characters (the GSM limit for alphanumeric originators).
func SourceAddress(from string) (Address, error) {
	switch {
	case from == "":
		return Address{TON: TONUnknown, NPI: NPIUnknown}, nil
	case strings.HasPrefix(from, "+"):
		digits := from[1:]
		if !isDigits(digits) || len(digits) < 2 || len(digits) > 15 {
			return Address{}, fmt.Errorf("smpp: originator %q: '+' must be followed by 2 to 15 digits", from)
		}
		return Address{TON: TONInternational, NPI: NPIE164, Addr: digits}, nil
	case isDigits(from) && len(from) <= maxShortCode:
		return Address{TON: TONNetwork, NPI: NPIUnknown, Addr: from}, nil
	case isDigits(from):
		if len(from) > 15 {
			return Address{}, fmt.Errorf("smpp: originator %q: international numbers have at most 15 digits", from)
		}
		return Address{TON: TONInternational, NPI: NPIE164, Addr: from}, nil
	default:
		if len(from) > 11 {
			return Address{}, fmt.Errorf("smpp: alphanumeric originator %q has %d characters, at most 11 are allowed", from, len(from))
		}
		for i := 0; i < len(from); i++ {
			if from[i] < 0x20 || from[i] > 0x7E {
				return Address{}, fmt.Errorf("smpp: alphanumeric originator %q: only printable ASCII is allowed", from)
			}
		}
		return Address{TON: TONAlphanumeric, NPI: NPIUnknown, Addr: from}, nil
	}
}

// DestAddress maps an E.164 number with its leading '+' (e.g. "+447911123456")
// to TON 1 NPI 1 without the '+'.
func DestAddress(to string) (Address, error) {
	digits, ok := strings.CutPrefix(to, "+")
	if !ok {
		return Address{}, fmt.Errorf("smpp: destination %q is not E.164: it must start with '+'", MaskNumber(to))
	}
	if !isDigits(digits) || len(digits) < 2 || len(digits) > 15 {
		return Address{}, fmt.Errorf("smpp: destination %q is not E.164: '+' must be followed by 2 to 15 digits", MaskNumber(to))
	}
	return Address{TON: TONInternational, NPI: NPIE164, Addr: digits}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MaskNumber hides the middle of a phone number for logs: "+447911123456"
// becomes "+4479*****456". Short inputs are masked whole.
func MaskNumber(n string) string {
	const head, tail = 5, 3
	if len(n) <= head+tail {
		return strings.Repeat("*", len(n))
	}
	return n[:head] + strings.Repeat("*", len(n)-head-tail) + n[len(n)-tail:]
}
