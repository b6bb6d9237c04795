package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// Two tenants' keys for the tests' configs.
const (
	keyAcme  = "otp_test_acme_key_0123456789abcdef"
	keyOther = "otp_test_other_key_0123456789abcdef"
	testKey  = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
)

// The tenants' country and range velocity limits are off: the load and
// fault tests walk one number range by construction (fraud tests set their
// own limits).
func tenantsYAML() string {
	return fmt.Sprintf(`tenants:
  - id: acme
    api_keys: ["%s"]
    brand: Acme
    fraud: {velocity: {country: {off: true}, prefix: {off: true}}}
  - id: other
    api_keys: ["%s"]
    fraud: {velocity: {country: {off: true}, prefix: {off: true}}}
`, api.HashKey(keyAcme), api.HashKey(keyOther))
}

// startSim starts an SMSC simulator on loopback for a test.
func startSim(t *testing.T, cfg smsc.Config) *smsc.Server {
	t.Helper()
	if cfg.SystemID == "" {
		cfg.SystemID, cfg.Password = "otpgate", "secret"
	}
	s, err := smsc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// simAgainAt starts a fresh simulator on the address of one that was
// closed (an SMSC coming back); the test skips if the port was taken.
func simAgainAt(t *testing.T, addr string) *smsc.Server {
	t.Helper()
	s, err := smsc.New(smsc.Config{SystemID: "otpgate", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(addr); err != nil {
		t.Skipf("could not listen again on %s: %v", addr, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func simYAML(addr string) string {
	return fmt.Sprintf(`smscs:
  - name: sim
    address: %s
    system_id: otpgate
    password: secret
    window: 20
    reconnect_min: 50ms
    reconnect_max: 500ms
`, addr)
}

// startTestGateway starts an in-process gateway from yamlText (data_dir and
// http.listen are set by the test) and stops it at the end of the test.
func startTestGateway(t *testing.T, yamlText, dataDir string) *gateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText), config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.DataDir = dataDir
	cfg.HTTP.Listen = "127.0.0.1:0"
	noDrain := config.Duration(0)
	cfg.HTTP.DrainDelay = &noDrain
	g, err := startGateway(cfg, source{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Shutdown(ctxTimeout(t, 10*time.Second)) })
	waitReady(t, "http://"+g.Addr())
	// every link up and known to the router's health tracker, so routing
	// does not skip a connector that is still binding
	eventually(t, 10*time.Second, "all links bound", func() bool {
		for _, c := range g.clients {
			if !c.Bound() || !g.tracker.State(c.Name()).Up {
				return false
			}
		}
		return true
	})
	return g
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	if err := waitHTTP(context.Background(), base+"/readyz", 10*time.Second); err != nil {
		t.Fatalf("%s not ready in 10s: %v", base, err)
	}
}

type client struct {
	t    *testing.T
	base string
	key  string
}

// do sends a request and decodes a JSON answer into out (when non-nil).
func (c client) do(method, path, body string, out any) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decoding %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, resp.Header, b
}

func (c client) create(body string) api.CreateResponse {
	c.t.Helper()
	var r api.CreateResponse
	if st, _, b := c.do("POST", "/v1/verifications", body, &r); st != 202 {
		c.t.Fatalf("create %s: %d %s", body, st, b)
	}
	return r
}

func (c client) check(id, code string) api.CheckResponse {
	c.t.Helper()
	var r api.CheckResponse
	b, _ := json.Marshal(api.CheckRequest{Code: code})
	if st, _, raw := c.do("POST", "/v1/verifications/"+id+"/check", string(b), &r); st != 200 {
		c.t.Fatalf("check: %d %s", st, raw)
	}
	return r
}

func (c client) get(id string) api.Verification {
	c.t.Helper()
	var v api.Verification
	if st, _, b := c.do("GET", "/v1/verifications/"+id, "", &v); st != 200 {
		c.t.Fatalf("get: %d %s", st, b)
	}
	return v
}

var codeRe = regexp.MustCompile(`\b[0-9A-Z]{4,10}\b`)

// codeFrom finds the code in an SMS text made from a "Code: {code}" or a
// built-in template.
func codeFrom(t *testing.T, text string) string {
	t.Helper()
	for _, m := range codeRe.FindAllString(text, -1) {
		if strings.IndexFunc(m, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0 {
			return m
		}
	}
	t.Fatalf("no code in %q", text)
	return ""
}

// waitMessage waits for the simulator to hold n messages for number.
func waitMessage(t *testing.T, sim *smsc.Server, number string, n int) smsc.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if msgs := sim.Messages(number); len(msgs) >= n {
			return msgs[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no SMS #%d for %s within 10s", n, number)
	return smsc.Message{}
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, d)
}

func eventTypes(v api.Verification) string {
	var s []string
	for _, e := range v.Events {
		s = append(s, e.Type)
	}
	return strings.Join(s, ",")
}

func mustNotContain(t *testing.T, what string, hay []byte, needle string) {
	t.Helper()
	if bytes.Contains(hay, []byte(needle)) {
		t.Fatalf("%s contains the code %q", what, needle)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func doRaw(t *testing.T, base, method, path, body, authz string) (int, map[string][]string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", authz)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// wrongCode is a code of the same length that is not code.
func wrongCode(code string) string {
	if strings.HasPrefix(code, "9") {
		return strings.Repeat("1", len(code))
	}
	return strings.Repeat("9", len(code))
}
