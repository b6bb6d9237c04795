package rcs

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// refreshBefore is how long before its expiry a token is replaced, so no
// request goes out with one that ends on its way.
const refreshBefore = time.Minute

// tokens fetches an access token with the service account's key (OAuth
// 2.0 JWT bearer grant, RS256, RFC 7523) and keeps it until refreshBefore
// its expiry. One fetch at a time runs, on its own deadline (timeout),
// whatever its callers' contexts; a caller whose context ends stops
// waiting for it without stopping it for the others.
type tokens struct {
	key     ServiceAccountKey
	url     string
	http    *http.Client
	now     func() time.Time
	timeout time.Duration // one fetch; default 10s

	mu       sync.Mutex
	token    string
	expires  time.Time
	fetches  int
	inflight chan struct{} // closed when the fetch in flight ends; nil: none
	lastErr  error         // the last fetch's
}

// get returns a valid token, fetching one when there is none or it ends
// within refreshBefore.
func (t *tokens) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	if t.token != "" && t.now().Before(t.expires.Add(-refreshBefore)) {
		tok := t.token
		t.mu.Unlock()
		return tok, nil
	}
	done := t.inflight
	if done == nil {
		done = make(chan struct{})
		t.inflight = done
		go t.refresh(done)
	}
	t.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastErr != nil {
		return "", t.lastErr
	}
	// fresh from the fetch, usable until it expires (even one issued with
	// less than refreshBefore to live)
	if t.token == "" || !t.now().Before(t.expires) {
		return "", errors.New("the token endpoint gave a token that has already expired")
	}
	return t.token, nil
}

// refresh runs one fetch and closes done when it has ended.
func (t *tokens) refresh(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(t.timeout, 10*time.Second))
	defer cancel()
	tok, life, err := t.fetch(ctx)
	t.mu.Lock()
	if err == nil {
		t.token, t.expires = tok, t.now().Add(life)
		t.fetches++
	}
	t.lastErr, t.inflight = err, nil
	t.mu.Unlock()
	close(done)
}

// drop forgets token (the API refused it), so the next get fetches anew.
func (t *tokens) drop(token string) {
	t.mu.Lock()
	if t.token == token {
		t.token = ""
	}
	t.mu.Unlock()
}

// Fetches is how many tokens were fetched.
func (t *tokens) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fetches
}

func (t *tokens) fetch(ctx context.Context) (string, time.Duration, error) {
	assertion, err := t.assertion()
	if err != nil {
		return "", 0, err
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := t.http.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("fetching an access token from %s: %w", t.url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.Unmarshal(raw, &body)
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", 0, &tokenError{status: resp.StatusCode, code: body.Error, desc: body.Description}
	}
	life := time.Duration(body.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour // the grant's usual lifetime when the answer does not say
	}
	return body.AccessToken, life, nil
}

// tokenError is a token endpoint's refusal.
type tokenError struct {
	status     int
	code, desc string
}

func (e *tokenError) Error() string {
	return fmt.Sprintf("the token endpoint refused the service account's grant: HTTP %d %s %s", e.status, e.code, e.desc)
}

// assertion is the signed JWT the grant presents: the service account as
// issuer, the RBM scope, the token URL as audience, an hour's validity
// from ten seconds ago (clocks disagree a little).
func (t *tokens) assertion() (string, error) {
	now := t.now().Add(-10 * time.Second)
	header := map[string]string{"alg": "RS256", "typ": "JWT"}
	if t.key.PrivateKeyID != "" {
		header["kid"] = t.key.PrivateKeyID
	}
	claims := map[string]any{"iss": t.key.ClientEmail, "scope": Scope, "aud": t.url, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signed := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, t.key.PrivateKey, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing the token request: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// VerifyAssertion checks a grant's JWT against the service account's
// public key and the token URL (the simulator's token endpoint uses it)
// and returns its issuer.
func VerifyAssertion(jwt string, pub *rsa.PublicKey, tokenURL string, now time.Time) (issuer string, err error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("not a JWT: %d parts", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", fmt.Errorf("signature: %v", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return "", fmt.Errorf("the signature does not verify under the service account's key")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(hb, &header) != nil || header.Alg != "RS256" {
		return "", fmt.Errorf("the header's alg is not RS256")
	}
	if err := json.Unmarshal(cb, &claims); err != nil {
		return "", fmt.Errorf("claims: %v", err)
	}
	switch {
	case claims.Aud != tokenURL:
		return "", fmt.Errorf("aud is %q, not %q", claims.Aud, tokenURL)
	case !strings.Contains(" "+claims.Scope+" ", " "+Scope+" "):
		return "", fmt.Errorf("scope %q lacks %s", claims.Scope, Scope)
	case claims.Exp <= now.Unix() || claims.Iat > now.Unix()+60:
		return "", fmt.Errorf("the assertion is not valid now (iat %d, exp %d)", claims.Iat, claims.Exp)
	case claims.Exp-claims.Iat > 3600:
		return "", fmt.Errorf("the assertion lives longer than an hour")
	}
	return claims.Iss, nil
}
