package vonage

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Verify v2 clients authenticate with a JWT their application signs (the
// official Node SDK always does): RS256, header {"alg":"RS256","typ":"JWT"},
// claims {jti, iat, exp, application_id}. A token is accepted when its
// signature checks with the application's public key, its algorithm is
// RS256 (never "none", never HMAC with a public key as secret), it says
// when it was issued (iat), not in the future, and it has not expired (a
// minute's skew allowed each way). As at Vonage, exp defaults to 15
// minutes after iat and may be at most 24 hours after it: a token that
// leaks is not good forever.

// b64 decodes JWT segments strictly: one spelling of each token.
var b64 = base64.RawURLEncoding.Strict()

// jwtSkew is the clock difference allowed between client and gateway.
const jwtSkew = time.Minute

// errJWTExpired is the one JWT failure with its own answer.
var errJWTExpired = errors.New("the JWT provided has expired")

// Token lifetimes: exp when the token has none, and the most it may say.
const (
	jwtDefaultLife = 15 * time.Minute
	jwtMaxLife     = 24 * time.Hour
)

// maxJWT bounds a token's length (an RS256 token is well under 2 KiB).
const maxJWT = 8 << 10

type jwtClaims struct {
	ApplicationID string   `json:"application_id"`
	Exp           *float64 `json:"exp"`
	Iat           *float64 `json:"iat"`
	Nbf           *float64 `json:"nbf"`
}

// verifyJWT checks token and returns the account of its application.
func (c *Credentials) verifyJWT(token string, now time.Time) (*Account, error) {
	if len(token) > maxJWT {
		return nil, errors.New("the JWT is too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT (three dot-separated parts)")
	}
	var header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return nil, err
	}
	if header.Alg != "RS256" {
		return nil, errors.New("the JWT's alg is " + header.Alg + "; only RS256 is accepted")
	}
	var claims jwtClaims
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, err
	}
	acct, key := c.app(claims.ApplicationID)
	if acct == nil {
		return nil, errors.New("the JWT's application_id is not a configured application")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("the JWT's signature is not base64url")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return nil, errors.New("the JWT's signature does not check with the application's public key")
	}
	unix := float64(now.Unix())
	if claims.Iat == nil {
		return nil, errors.New("the JWT has no iat (when it was issued)")
	}
	exp := *claims.Iat + jwtDefaultLife.Seconds()
	if claims.Exp != nil {
		exp = *claims.Exp
	}
	switch {
	case exp-*claims.Iat > jwtMaxLife.Seconds():
		return nil, errors.New("the JWT's exp is more than 24 hours after its iat")
	case exp+jwtSkew.Seconds() < unix:
		return nil, errJWTExpired
	case *claims.Iat-jwtSkew.Seconds() > unix:
		return nil, errors.New("the JWT was issued in the future")
	case claims.Nbf != nil && *claims.Nbf-jwtSkew.Seconds() > unix:
		return nil, errors.New("the JWT is not valid yet (nbf)")
	}
	return acct, nil
}

func decodeSegment(s string, v any) error {
	b, err := b64.DecodeString(s)
	if err != nil {
		return errors.New("a JWT segment is not base64url")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("a JWT segment is not a JSON object")
	}
	return nil
}
