package engine

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// ServerKeyLen is the length in bytes of the server key.
const ServerKeyLen = 32

// secrets holds the two keys derived from the server key: one for the
// keyed hash of codes, one for AES-GCM sealing. Deriving both from one key
// keeps configuration to one secret while never using a key for two jobs.
type secrets struct {
	hashKey []byte
	aead    cipher.AEAD
}

func newSecrets(serverKey []byte) (*secrets, error) {
	if len(serverKey) != ServerKeyLen {
		return nil, fmt.Errorf("server key is %d bytes, want %d", len(serverKey), ServerKeyLen)
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, serverKey)
		m.Write([]byte("otpgate v1 " + label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("seal"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &secrets{hashKey: derive("hash"), aead: aead}, nil
}

// hash is HMAC-SHA256 over the verification id and the code, so equal codes
// of two verifications never hash alike.
func (s *secrets) hash(id, code string) []byte {
	m := hmac.New(sha256.New, s.hashKey)
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// matches compares in constant time.
func (s *secrets) matches(id, code string, want []byte) bool {
	return subtle.ConstantTimeCompare(s.hash(id, code), want) == 1
}

// seal encrypts code with AES-GCM, the id as additional data so a sealed code
// cannot be moved to another record. Output: nonce || ciphertext.
func (s *secrets) seal(id, code string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(code)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(code), []byte(id))
}

var errUnseal = errors.New("sealed code does not open with this server key")

func (s *secrets) open(id string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errUnseal
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return "", errUnseal
	}
	return string(pt), nil
}
