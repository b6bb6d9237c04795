package config

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/rcs"
)

// TestConfigData runs testdata/configs.txt: every bad file is refused with
// exactly the error given there (line, field path and reason); good files
// load.
func TestConfigData(t *testing.T) {
	t.Setenv("TEST_SMSC_PASSWORD", "pw")
	t.Setenv("TEST_YAMLISH", "a: b\n#c")
	t.Setenv("TEST_TRUE", "true")
	t.Setenv("TEST_NUMBER", "512")
	t.Setenv("OTPGATE_SERVER_KEY", "")
	t.Setenv("TEST_RCS_KEY_FILE", writeRCSKey(t))
	raw, err := os.ReadFile("testdata/configs.txt")
	if err != nil {
		t.Fatal(err)
	}
	cases := strings.Split(string(raw), "\n=== ")
	n := 0
	for _, c := range cases[1:] {
		head, body, _ := strings.Cut(c, "\n")
		name, want, _ := strings.Cut(head, " => ")
		cfg, err := Parse([]byte(body), Options{})
		switch {
		case want == "ok" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "ok" && err == nil:
			t.Errorf("%s: accepted, want %s", name, want)
		case want != "ok" && err.Error() != strings.TrimPrefix(want, "error "):
			t.Errorf("%s:\n got error %s\nwant error %s", name, err, strings.TrimPrefix(want, "error "))
		}
		if name == "full" && cfg != nil && cfg.SMSCs[0].Password != "pw" {
			t.Errorf("full: ${ENV} not expanded: %q", cfg.SMSCs[0].Password)
		}
		if name == "env-secret-with-yaml-syntax" && cfg != nil && cfg.SMSCs[0].Password != "a: b\n#c" {
			t.Errorf("%s: secret became %q", name, cfg.SMSCs[0].Password)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d cases", n)
	}
}

// TestLoadNamesTheFile: errors of a file read from disk start FILE:LINE.
func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otpgate.yaml")
	os.WriteFile(path, []byte("sandbox: true\nstore:\n  sync: sometimes\n"), 0o600)
	_, err := Load(path, Options{})
	want := path + `:3: store.sync: "sometimes" is not one of always, batch, none`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), Options{}); err == nil || !strings.Contains(err.Error(), "missing.yaml: ") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestRoutingOnlyNeedsNoSecrets: `otpgate route` reads a production file
// without the secrets it never uses.
func TestRoutingOnlyNeedsNoSecrets(t *testing.T) {
	t.Setenv("OTPGATE_SERVER_KEY", "not base64!")
	text := []byte(`smscs:
  - {name: a, address: "h:1", system_id: "${NOT_SET_ANYWHERE_ID}", password: "${NOT_SET_ANYWHERE_PW}"}
tenants:
  - id: t
    api_keys: ["${NOT_SET_ANYWHERE_KEY}"]
    webhook_secret: "${NOT_SET_ANYWHERE_WH}"
    twilio: {account_sid: "${NOT_SET_ANYWHERE_AC}", auth_token_hash: "${NOT_SET_ANYWHERE_TOK}"}
admin: {api_keys: ["${NOT_SET_ANYWHERE_ADMIN}"]}
`)
	if _, err := Parse(text, Options{}); err == nil || !strings.Contains(err.Error(), "is not set") {
		t.Fatalf("serving: %v", err)
	}
	cfg, err := Parse(text, Options{RoutingOnly: true})
	if err != nil {
		t.Fatalf("routing only: %v", err)
	}
	if len(cfg.RouteTable()) != 1 {
		t.Fatalf("routes: %+v", cfg.RouteTable())
	}
}

// TestLocate: an error found after loading (a tenant default the engine
// refuses) gets the file and line of its field.
func TestLocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("sandbox: true\ntenants:\n  - id: t\n    api_keys: [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]\n    sender_id: \"Far Too Long Name\"\n"), 0o600)
	cfg, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Locate("tenants[0].sender_id", errors.New("too long")).Error()
	if want := path + ":5: tenants[0].sender_id: too long"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestServerKeyFromEnvironment(t *testing.T) {
	t.Setenv("OTPGATE_SERVER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	cfg, err := Parse([]byte("smscs: [{name: a, address: \"h:1\", system_id: x}]\ntenants: [{id: t, api_keys: [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]}]\n"), Options{})
	if err != nil || cfg.Routes.Default != "a" {
		t.Fatalf("cfg %+v, err %v", cfg, err)
	}
}

// TestExampleConfigParses: the documented example is a valid config.
func TestExampleConfigParses(t *testing.T) {
	t.Setenv("OTPGATE_SERVER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	t.Setenv("SMSC_MAIN_PASSWORD", "secret")
	t.Setenv("ACME_WEBHOOK_SECRET", "whsec_0123456789abcdef")
	t.Setenv("SIP_PASSWORD", "sip-secret")
	t.Setenv("WA_TOKEN", "EAAG-token")
	t.Setenv("WA_APP_SECRET", "app-secret")
	t.Setenv("WA_VERIFY_TOKEN", "verify-token")
	t.Setenv("RBM_KEY_FILE", writeRCSKey(t))
	t.Setenv("RBM_CLIENT_TOKEN", "client-token")
	cfg, err := Load("../../docs/otpgate.example.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes.Routes()) != 2 || cfg.SMSCs[0].Binds[0].Count != 1 || cfg.Tenants[0].RateLimit.PerSecond != 200 ||
		len(cfg.RouteTable()) != 5 || cfg.Tenants[0].Workflow[1] != "voice" || cfg.Trunks[0].Password != "sip-secret" ||
		cfg.WhatsApp[0].Token != "EAAG-token" || cfg.WhatsApp[0].MessageTTL.D() != 2*time.Minute ||
		cfg.RCS[0].Agent().Key.ClientEmail != "otp@acme.iam.gserviceaccount.com" || cfg.RCS[0].ClientToken != "client-token" {
		t.Fatalf("example read wrongly: %+v", cfg)
	}
}

// TestSandboxDefaults: the built-in sandbox config and its defaults.
func TestSandboxDefaults(t *testing.T) {
	cfg, err := Sandbox()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Sandbox || cfg.HTTP.Listen != "127.0.0.1:8080" || cfg.DataDir != "./otpgate-data" ||
		cfg.SMS.SendTimeout.D() != 25*time.Second || cfg.SMS.DispatchLease.D() != 50*time.Second {
		t.Fatalf("sandbox defaults: %+v", cfg)
	}
}

// writeRCSKey writes a service account key file (a fresh RSA key) and
// returns its path.
func writeRCSKey(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rbm-key.json")
	key := rcs.ServiceAccountKey{ClientEmail: "otp@acme.iam.gserviceaccount.com", PrivateKeyID: "k1", PrivateKey: k}
	if err := os.WriteFile(path, rcs.MarshalServiceAccountKey(key), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
