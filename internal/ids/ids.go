// Package ids makes the unguessable identifiers Otpgate hands out:
// verification ids carry 128 random bits from crypto/rand.
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"fmt"
)

var enc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// Len is the length in characters of an id made by New.
const Len = 26

// New returns "128 random bits" in lower-case Crockford base32 (26 chars).
func New() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // crypto/rand never fails on Linux
	}
	return enc.EncodeToString(b[:])
}

// Valid reports whether s has the form of an id made by New.
func Valid(s string) bool {
	if len(s) != Len {
		return false
	}
	b, err := enc.DecodeString(s)
	return err == nil && len(b) == 16
}

// The vendor facades show a verification's id in their vendor's format,
// re-encoding its 128 bits (no lookup table): 32 hex digits (Vonage v1),
// a UUID (Vonage v2, SMS.CX), a prefix and 32 hex digits (Twilio's VE…).

// Bytes returns the 128 bits of an id made by New.
func Bytes(id string) (b [16]byte, ok bool) {
	if len(id) != Len {
		return b, false
	}
	raw, err := enc.DecodeString(id)
	if err != nil || len(raw) != 16 {
		return b, false
	}
	copy(b[:], raw)
	// only the canonical spelling (its last two bits zero) is an id, so
	// every id has exactly one form in each vendor's format
	return b, enc.EncodeToString(b[:]) == id
}

// FromBytes returns the id of 128 bits.
func FromBytes(b [16]byte) string { return enc.EncodeToString(b[:]) }

// Hex returns id's bits as 32 lower-case hex digits ("" for a malformed id).
func Hex(id string) string {
	b, ok := Bytes(id)
	if !ok {
		return ""
	}
	return hex.EncodeToString(b[:])
}

// FromHex reads 32 hex digits (either case) back into an id.
func FromHex(s string) (string, bool) {
	var b [16]byte
	if len(s) != 32 {
		return "", false
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return "", false
	}
	return FromBytes(b), true
}

// UUID returns id's bits as a UUID (8-4-4-4-12 hex digits).
func UUID(id string) string {
	h := Hex(id)
	if h == "" {
		return ""
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// FromUUID reads a UUID back into an id.
func FromUUID(s string) (string, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return "", false
	}
	return FromHex(s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
}
