package config

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Key returns the application's RSA public key, from public_key (PEM) or
// the file public_key_file names.
func (a VonageAppConf) Key() (*rsa.PublicKey, error) {
	text := []byte(a.PublicKey)
	switch {
	case a.PublicKey != "" && a.PublicKeyFile != "":
		return nil, errors.New("give public_key or public_key_file, not both")
	case a.PublicKeyFile != "":
		b, err := os.ReadFile(a.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("public_key_file: %w", err)
		}
		text = b
	case a.PublicKey == "":
		return nil, errors.New("public_key or public_key_file: required (the PEM public key of the application's private key)")
	}
	blk, _ := pem.Decode(text)
	if blk == nil {
		return nil, errors.New("public key: no PEM block in it")
	}
	var key any
	var err error
	switch blk.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("public key: a PEM %q block; want PUBLIC KEY or RSA PUBLIC KEY", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	rk, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: a %T, not an RSA key (Vonage signs with RS256)", key)
	}
	if rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("public key: %d bits; RS256 wants at least 2048", rk.N.BitLen())
	}
	return rk, nil
}
