// Package rcs owns the RCS channel: a connector that sends codes as agent
// messages through Google's RCS Business Messaging (RBM) API (one Client
// per agent, authenticated by a service account's OAuth 2.0 token), the
// webhook that takes Google's signed events (DELIVERED, READ, the TTL's
// revocation) and its set-up request, and, in rcs/sim, a simulator of the
// API for the sandbox, tests and benchmarks.
//
// It knows nothing of verifications: a message's id is made from the
// caller's opaque reference, so a retry of the same message has the same
// id and the API de-duplicates it, and events name that id.
package rcs

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Agent is one RBM agent the gateway sends from: a connector the router
// can pick (routes with match.channel rcs).
type Agent struct {
	// Name is the connector's name in routes, events and metrics.
	Name string
	// BaseURL of the RBM API. Default https://rcsbusinessmessaging.googleapis.com
	// (Google also serves regional hosts: us-, europe-, asia-…).
	BaseURL string
	// TokenURL is where access tokens are fetched. Default the key's
	// token_uri, else https://oauth2.googleapis.com/token.
	TokenURL string
	// AgentID is the agent's id ("…@rbm.goog").
	AgentID string
	// Key is the service account's key (ParseServiceAccountKey reads the
	// JSON file Google gives).
	Key ServiceAccountKey
	// ClientToken is the webhook's client token from the RBM console: it
	// answers Google's set-up request and keys the events' signatures.
	ClientToken string
	// CapabilityCheck asks the API whether a phone can take RCS before
	// sending to it (a phone that cannot is not sent to; the step fails at
	// once). Default false: the send's own 404 says the same, one request
	// later. Answers are cached for CapabilityCache.
	CapabilityCheck bool
	// CapabilityCache is how long a capability answer is kept. Default 1h.
	// Longer saves requests; shorter notices sooner a phone that gained or
	// lost RCS.
	CapabilityCache time.Duration
	// Rate is the messages a second the agent sends (a token bucket;
	// Google publishes no limit). Default 0: no limit.
	Rate float64
	// Timeout bounds one request. Default 10 s. A send that timed out is
	// sent again with the same message id, which the API de-duplicates.
	Timeout time.Duration
}

// Defaults of an agent.
const (
	DefaultBaseURL  = "https://rcsbusinessmessaging.googleapis.com"
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
)

// ServiceAccountKey is what the connector uses of a service account's JSON
// key.
type ServiceAccountKey struct {
	ClientEmail  string
	PrivateKeyID string
	PrivateKey   *rsa.PrivateKey
	TokenURI     string
}

// ParseServiceAccountKey reads a service account's JSON key file, as
// Google's console downloads it.
func ParseServiceAccountKey(b []byte) (ServiceAccountKey, error) {
	var f struct {
		Type         string `json:"type"`
		ClientEmail  string `json:"client_email"`
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return ServiceAccountKey{}, fmt.Errorf("not a service account key file: %v", err)
	}
	if f.Type != "" && f.Type != "service_account" {
		return ServiceAccountKey{}, fmt.Errorf("type is %q, not service_account", f.Type)
	}
	if f.ClientEmail == "" {
		return ServiceAccountKey{}, errors.New("client_email is missing")
	}
	block, _ := pem.Decode([]byte(f.PrivateKey))
	if block == nil {
		return ServiceAccountKey{}, errors.New("private_key is not a PEM key")
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return ServiceAccountKey{}, errors.New("private_key is not an RSA key")
		}
		key = rk
	} else if k, err2 := x509.ParsePKCS1PrivateKey(block.Bytes); err2 == nil {
		key = k
	} else {
		return ServiceAccountKey{}, fmt.Errorf("private_key: %v", err)
	}
	return ServiceAccountKey{ClientEmail: f.ClientEmail, PrivateKeyID: f.PrivateKeyID, PrivateKey: key, TokenURI: f.TokenURI}, nil
}

// MarshalServiceAccountKey writes k as a key file (the simulator hands the
// sandbox one).
func MarshalServiceAccountKey(k ServiceAccountKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(k.PrivateKey)
	b, _ := json.MarshalIndent(map[string]string{
		"type": "service_account", "client_email": k.ClientEmail, "private_key_id": k.PrivateKeyID,
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "token_uri": k.TokenURI,
	}, "", "  ")
	return b
}

// WithDefaults returns a with its zero fields set to their defaults.
func (a Agent) WithDefaults() Agent {
	if a.BaseURL == "" {
		a.BaseURL = DefaultBaseURL
	}
	if a.TokenURL == "" {
		a.TokenURL = a.Key.TokenURI
	}
	if a.TokenURL == "" {
		a.TokenURL = DefaultTokenURL
	}
	if a.CapabilityCache == 0 {
		a.CapabilityCache = time.Hour
	}
	if a.Timeout == 0 {
		a.Timeout = 10 * time.Second
	}
	return a
}

// FieldError names the agent field that is wrong.
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

var agentIDRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,128}$`)

// Validate checks a (with defaults applied) and returns every problem, each
// a *FieldError naming the field as the config spells it.
func (a Agent) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{field, fmt.Sprintf(format, args...)})
	}
	if a.Name == "" {
		bad("name", "required")
	}
	for _, f := range []struct{ field, u string }{{"base_url", a.BaseURL}, {"token_url", a.TokenURL}} {
		p, err := url.Parse(f.u)
		switch {
		case err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.RawQuery != "":
			bad(f.field, "%q is not an http(s) URL", f.u)
		case p.Scheme == "http" && !loopback(p.Hostname()):
			// the signed assertion (good for an hour of tokens) and the
			// tokens would cross the network in clear
			bad(f.field, "%q: https is required (plain http only to a loopback address, for a simulator)", f.u)
		}
	}
	if a.AgentID == "" {
		bad("agent_id", "required: the agent's id from the RBM console, e.g. acme-otp@rbm.goog")
	} else if !agentIDRE.MatchString(a.AgentID) {
		bad("agent_id", "%q is not an agent id (from the RBM console, e.g. acme-otp@rbm.goog)", a.AgentID)
	}
	if a.Key.PrivateKey == nil || a.Key.ClientEmail == "" {
		bad("key_file", "required: the service account's JSON key")
	}
	if strings.TrimSpace(a.ClientToken) == "" {
		bad("client_token", "required: the webhook's client token from the RBM console; events are checked with it")
	}
	if a.CapabilityCache < 0 || a.CapabilityCache > 7*24*time.Hour {
		bad("capability_cache", "%s is not a duration between 0 and 168h", a.CapabilityCache)
	}
	if a.Rate < 0 || a.Rate > 100000 {
		bad("rate", "%v is not a rate in messages a second", a.Rate)
	}
	if a.Timeout < 0 || a.Timeout > 2*time.Minute {
		bad("timeout", "%s is not a timeout between 0 and 2m", a.Timeout)
	}
	return errors.Join(errs...)
}

// loopback reports whether host is localhost or a loopback address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
