package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/compat/messagecentral"
	"github.com/otpgate/otpgate/api/compat/nexcode"
	"github.com/otpgate/otpgate/api/compat/smscx"
	"github.com/otpgate/otpgate/api/compat/twilio"
	"github.com/otpgate/otpgate/api/compat/vonage"
	"github.com/otpgate/otpgate/internal/apispec"
	"github.com/otpgate/otpgate/rcs"
	"github.com/otpgate/otpgate/whatsapp"
)

// specs are every API's OpenAPI document, the native one first, with the
// path each is served at.
var specs = []struct {
	name, served string
	yaml         []byte
}{
	{"native", "/openapi.json", api.Spec()},
	{"vonage", vonage.Prefix + "/openapi.json", vonage.Spec()},
	{"twilio", twilio.Prefix + "/openapi.json", twilio.Spec()},
	{"smscx", smscx.Prefix + "/openapi.json", smscx.Spec()},
	{"messagecentral", messagecentral.Prefix + "/openapi.json", messagecentral.Spec()},
	{"nexcode", nexcode.Prefix + "/openapi.json", nexcode.Spec()},
}

// TestOpenAPI holds the running server to its OpenAPI documents: every
// route it has is an operation of one of them and every operation is a
// route; each document is served, as JSON, where it says; and the native
// API's answers to a run of requests (every operation, its errors among
// them) are each a status the operation documents, with a body valid
// under the documented schema. (Each facade's own tests hold its answers
// to its document.)
func TestOpenAPI(t *testing.T) {
	t.Setenv("OTPGATE_SANDBOX_KEY", "openapi-test-key")
	conf := "sandbox: true\nsandbox_sim: {smsc_rules: [\"+447912345=receipt:UNDELIV\"]}\n" + tenantsYAML() +
		"  - {id: strict, api_keys: [\"" + api.HashKey("strict-key") + "\"], pending_policy: reject, rate_limit: {per_second: 0.001, burst: 3}}\n"
	g := startTestGateway(t, conf, t.TempDir())
	base := "http://" + g.Addr()

	docs := make([]*apispec.Doc, len(specs))
	for i, s := range specs {
		d, err := apispec.Load(s.yaml)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		docs[i] = d
		want, _ := apispec.JSON(s.yaml)
		if st, _, got := send(t, "GET", base+s.served, ""); st != 200 || !bytes.Equal(got, want) {
			t.Errorf("GET %s: %d, not the %s document", s.served, st, s.name)
		}
	}

	// every route documented, every documented operation a route
	routes := map[string]bool{}
	for method, paths := range g.srv.Routes() {
		for _, p := range paths {
			routes[method+" "+apispec.Normalize(p)] = true
		}
	}
	documented := map[string]string{}
	for i, d := range docs {
		for _, op := range d.Operations() {
			documented[op.Method+" "+op.Route()] = specs[i].name
		}
	}
	for r := range routes {
		if documented[r] == "" {
			t.Errorf("the route %s is in no OpenAPI document", r)
		}
	}
	for r, doc := range documented {
		if !routes[r] {
			t.Errorf("the %s document has %s, which the server does not route", doc, r)
		}
	}

	// the native API's answers, each as documented
	native := docs[0]
	exercised := map[string]bool{}
	call := func(want int, method, path, body string, headers ...string) []byte {
		t.Helper()
		st, h, b := send(t, method, base+path, body, headers...)
		if st != want {
			t.Fatalf("%s %s: %d, want %d\n%s", method, path, st, want, b)
		}
		u, _ := url.Parse(path)
		op, ok := native.Find(method, u.Path)
		if !ok {
			t.Fatalf("%s %s is not in the native document", method, u.Path)
		}
		exercised[op.Method+" "+op.Path] = true
		if err := native.Check(op, st, h.Get("Content-Type"), b); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return b
	}
	demo := []string{"Authorization", "Bearer openapi-test-key"}
	strict := []string{"Authorization", "Bearer strict-key"}
	admin := []string{"Authorization", "Bearer " + g.sandbox.AdminKey}
	var created struct{ ID string }
	json.Unmarshal(call(202, "POST", "/v1/verifications", `{"number":"+14155550200","workflow":["sms","voice"]}`, demo...), &created)
	call(202, "POST", "/v1/verifications", `{"number":"+14155550201"}`, append(slices.Clone(demo), "Idempotency-Key", "k1")...)
	call(202, "POST", "/v1/verifications", `{"number":"+14155550201"}`, append(slices.Clone(demo), "Idempotency-Key", "k1")...)
	call(400, "POST", "/v1/verifications", `{"number":`, demo...)
	call(401, "POST", "/v1/verifications", `{"number":"+14155550202"}`)
	call(413, "POST", "/v1/verifications", `{"number":"+14155550202","template":"`+strings.Repeat("x", 1<<20)+`"}`, demo...)
	call(422, "POST", "/v1/verifications", `{"number":"+1415"}`, demo...)
	call(202, "POST", "/v1/verifications", `{"number":"+14155550203"}`, strict...)
	call(409, "POST", "/v1/verifications", `{"number":"+14155550203"}`, strict...)
	call(404, "GET", "/v1/verifications/00000000000000000000000000", "", strict...)
	call(429, "GET", "/v1/verifications/00000000000000000000000000", "", strict...)

	call(200, "GET", "/v1/verifications/"+created.ID, "", demo...)
	call(404, "GET", "/v1/verifications/00000000000000000000000000", "", demo...)
	call(401, "GET", "/v1/verifications/"+created.ID, "")
	call(200, "POST", "/v1/verifications/"+created.ID+"/check", `{"code":"000000"}`, demo...)
	call(422, "POST", "/v1/verifications/"+created.ID+"/check", `{"code":""}`, demo...)
	call(400, "POST", "/v1/verifications/"+created.ID+"/check", `[]`, demo...)
	call(404, "POST", "/v1/verifications/00000000000000000000000000/check", `{"code":"1234"}`, demo...)
	call(200, "POST", "/v1/verifications/"+created.ID+"/next", "", demo...)
	var calls struct{ Calls []api.SandboxCall }
	eventually(t, 10*time.Second, "the voice step's call", func() bool {
		json.Unmarshal(call(200, "GET", "/v1/sandbox/calls?number=%2B14155550200", "", demo...), &calls)
		return len(calls.Calls) > 0
	})
	call(200, "GET", calls.Calls[0].AudioURL, "", demo...)
	call(404, "GET", "/v1/sandbox/calls/nosuchcall/audio.wav", "", demo...)
	call(422, "GET", "/v1/sandbox/calls?number=x", "", demo...)
	call(200, "POST", "/v1/verifications/"+created.ID+"/cancel", "", demo...)
	call(409, "POST", "/v1/verifications/"+created.ID+"/cancel", "", demo...)
	call(409, "POST", "/v1/verifications/"+created.ID+"/next", "", demo...)
	call(404, "POST", "/v1/verifications/00000000000000000000000000/next", "", demo...)
	call(200, "GET", "/v1/sandbox/messages?number=%2B14155550200", "", demo...)
	call(422, "GET", "/v1/sandbox/messages?number=%2B", "", demo...)
	call(401, "GET", "/v1/sandbox/messages?number=%2B14155550200", "")
	call(200, "POST", "/admin/reload", "", admin...)
	call(401, "POST", "/admin/reload", "", demo...)
	call(200, "GET", "/admin/webhooks/dead?limit=10", "", admin...)
	call(401, "GET", "/admin/webhooks/dead", "")
	hook := statusBody("wamid.unknown", "", "delivered")
	call(200, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=sandbox-verify-token&hub.challenge=42", "")
	call(403, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42", "")
	call(400, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=sandbox-verify-token&hub.challenge=", "")
	call(200, "POST", "/webhooks/whatsapp", string(hook), "X-Hub-Signature-256", whatsapp.Sign([]byte(sandboxAppSecret), hook))
	call(401, "POST", "/webhooks/whatsapp", string(hook), "X-Hub-Signature-256", whatsapp.Sign([]byte("nope"), hook))
	call(400, "POST", "/webhooks/whatsapp", "{", "X-Hub-Signature-256", whatsapp.Sign([]byte(sandboxAppSecret), []byte("{")))
	call(413, "POST", "/webhooks/whatsapp", strings.Repeat(" ", 4<<20+1), "X-Hub-Signature-256", "sha256=00")
	rcsEvent := rcsEnvelope(t, "unknown-message", "DELIVERED")
	call(200, "POST", "/webhooks/rcs", `{"clientToken":"`+g.rcssim.ClientToken()+`","secret":"s3"}`)
	call(403, "POST", "/webhooks/rcs", `{"clientToken":"nope","secret":"s3"}`)
	call(200, "POST", "/webhooks/rcs", string(rcsEvent.body), "X-Goog-Signature", rcs.Sign(g.rcssim.ClientToken(), rcsEvent.data))
	call(401, "POST", "/webhooks/rcs", string(rcsEvent.body), "X-Goog-Signature", rcs.Sign("nope", rcsEvent.data))
	call(400, "POST", "/webhooks/rcs", "{", "X-Goog-Signature", rcs.Sign(g.rcssim.ClientToken(), []byte("{")))
	call(200, "GET", "/healthz", "")
	call(200, "GET", "/readyz", "")
	call(200, "GET", "/metrics", "")
	call(200, "GET", "/openapi.json", "")
	for _, op := range native.Operations() {
		if !exercised[op.Method+" "+op.Path] {
			t.Errorf("no request exercised the documented %s %s", op.Method, op.Path)
		}
	}
}

// lintDir holds the OpenAPI linter, pinned and installed by
// scripts/test-deps.sh.
const lintDir = "../../api/testdata/lint"

// TestOpenAPILint lints every OpenAPI document with Redocly's CLI and its
// recommended rules (api/testdata/lint/redocly.yaml): any error or
// warning fails.
func TestOpenAPILint(t *testing.T) {
	cli := filepath.Join(lintDir, "node_modules", "@redocly", "cli", "bin", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		t.Skipf("@redocly/cli is not installed in %s (scripts/test-deps.sh installs it with node 20.19 or later): %v", lintDir, err)
	}
	files := []string{"../../api/openapi.yaml"}
	for _, s := range specs[1:] {
		files = append(files, filepath.Join("../../api/compat", s.name, "openapi.yaml"))
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	args := append([]string{cli, "lint", "--config", filepath.Join(lintDir, "redocly.yaml"), "--format", "stylish"}, files...)
	cmd := exec.Command("node", args...)
	// no telemetry, no update check: the test reaches no network
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_UPDATE_NOTIFIER=1", "CI=true")
	out, err := cmd.CombinedOutput()
	if err != nil || slices.ContainsFunc(strings.Split(string(out), "\n"), func(l string) bool {
		return strings.Contains(l, " warning ") || strings.Contains(l, " error ")
	}) {
		t.Fatalf("redocly lint: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "valid") {
		t.Fatalf("redocly lint said nothing of validity:\n%s", out)
	}
	t.Log(fmt.Sprintf("%d documents lint clean", len(files)))
}
