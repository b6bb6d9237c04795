// Package ids makes the unguessable identifiers Otpgate hands out:
// verification ids carry 128 random bits from crypto/rand.
package ids

import (
	"crypto/rand"
	"encoding/base32"
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
