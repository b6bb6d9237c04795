package engine

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// Code alphabets. Letters leave out look-alikes: no I, L or O anywhere, and
// no 0 or 1 beside letters.
const (
	alphabetNumeric      = "0123456789"
	alphabetAlpha        = "ABCDEFGHJKMNPQRSTUVWXYZ"
	alphabetAlphanumeric = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
)

// Code types a request may ask for.
const (
	CodeNumeric      = "numeric"
	CodeAlpha        = "alpha"
	CodeAlphanumeric = "alphanumeric"
)

// Code length bounds.
const (
	MinCodeLength = 4
	MaxCodeLength = 10
)

func alphabet(codeType string) (string, bool) {
	switch codeType {
	case CodeNumeric:
		return alphabetNumeric, true
	case CodeAlpha:
		return alphabetAlpha, true
	case CodeAlphanumeric:
		return alphabetAlphanumeric, true
	}
	return "", false
}

// generateCode returns a code of n characters drawn uniformly from the
// alphabet of codeType with crypto/rand. Uniform: a random byte is used only
// when it falls below the largest multiple of the alphabet's size that fits
// in a byte (rejection sampling), so no character is favoured by a modulo.
func generateCode(n int, codeType string) (string, error) {
	abc, ok := alphabet(codeType)
	if !ok {
		return "", fmt.Errorf("unknown code type %q", codeType)
	}
	if n < MinCodeLength || n > MaxCodeLength {
		return "", fmt.Errorf("code length %d outside %d..%d", n, MinCodeLength, MaxCodeLength)
	}
	limit := byte(256 - 256%len(abc)) // 250 for 10, 253 for 23, 248 for 31
	out := make([]byte, 0, n)
	var buf [16]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("crypto/rand: %w", err)
		}
		for _, b := range buf {
			if b >= limit {
				continue // rejected: would bias the first 256%len characters
			}
			out = append(out, abc[int(b)%len(abc)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// normalizeCode turns what a user typed into the form codes are generated
// in: spaces and dashes dropped, letters upper-cased.
func normalizeCode(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t':
			return -1
		}
		return r
	}, s)
	return strings.ToUpper(s)
}

// customCode checks a code the client chose: 4 to 10 letters and digits
// (spaces and dashes dropped, letters upper-cased, as checks compare
// them), and says which type it is.
func customCode(s string) (code, codeType string, err error) {
	code = normalizeCode(s)
	if len(code) < MinCodeLength || len(code) > MaxCodeLength {
		return "", "", fmt.Errorf("a code of %d characters: give %d to %d", len(code), MinCodeLength, MaxCodeLength)
	}
	digits, letters := 0, 0
	for _, c := range code {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'A' && c <= 'Z':
			letters++
		default:
			return "", "", fmt.Errorf("%q is not a letter or a digit", c)
		}
	}
	switch {
	case letters == 0:
		return code, CodeNumeric, nil
	case digits == 0:
		return code, CodeAlpha, nil
	}
	return code, CodeAlphanumeric, nil
}
