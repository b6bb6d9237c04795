// Package httpx holds what the native API and the vendor facades share on
// fasthttp: the mount point of the one server (Mux), Basic credentials,
// secrets kept as hashes and compared in constant time, stateless access
// tokens, JSON answers and problem documents. Of ours it imports the
// engine alone (for its errors), so a facade depends on it and the engine
// only, never on package api.
package httpx

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Mux is where a facade mounts its routes: the API server, which wraps
// every route with its metrics (otpgate_http_requests_total{endpoint}),
// its drain behaviour and its panic guard.
type Mux interface {
	// Handle mounts h at method and path (fasthttp/router syntax:
	// /v2/Services/{service}/Verifications). endpoint names the route in
	// metrics, prefixed by the facade (twilio_verification_create).
	Handle(method, path, endpoint string, h fasthttp.RequestHandler)
	// Allow takes one request from tenant's request rate; when it is
	// used up it says how long until the next one is allowed.
	Allow(tenant string) (ok bool, wait time.Duration)
	// Tenant returns the tenant whose native API key key is, for a
	// facade that takes the native keys (NexCode publishes no auth).
	Tenant(key []byte) (tenant string, ok bool)
}

// HashSecret returns the form a config keeps a secret in: "sha256:<hex>".
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseHash reads "sha256:<64 hex>".
func ParseHash(h string) ([32]byte, error) {
	var sum [32]byte
	hexpart, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(h)), "sha256:")
	if !ok {
		return sum, fmt.Errorf("hash %q does not start with sha256: (make one with `otpgate key hash`)", h)
	}
	b, err := hex.DecodeString(hexpart)
	if err != nil || len(b) != 32 {
		return sum, fmt.Errorf("hash %q is not 64 hex digits after sha256:", h)
	}
	copy(sum[:], b)
	return sum, nil
}

// Matches reports in constant time whether secret hashes to sum.
func Matches(sum [32]byte, secret []byte) bool {
	got := sha256.Sum256(secret)
	return subtle.ConstantTimeCompare(got[:], sum[:]) == 1
}

// BasicAuth reads an Authorization: Basic header.
func BasicAuth(ctx *fasthttp.RequestCtx) (user, pass string, ok bool) {
	h := ctx.Request.Header.Peek("Authorization")
	if len(h) < 6 || !bytes.EqualFold(h[:6], []byte("Basic ")) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(h[6:])))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok
}

// WriteJSON answers status with v as JSON, Content-Type application/json
// (some SDKs parse nothing else).
func WriteJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		ctx.Error(`{"error":"response encoding failed"}`, fasthttp.StatusInternalServerError)
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// Time formats t as the vendors do, UTC with seconds: 2006-01-02T15:04:05Z.
func Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
