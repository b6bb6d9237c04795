package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigData runs testdata/configs.txt: every bad file is refused with
// an error naming the field and the reason; good files load.
func TestConfigData(t *testing.T) {
	t.Setenv("TEST_SMSC_PASSWORD", "pw")
	t.Setenv("TEST_YAMLISH", "a: b\n#c")
	t.Setenv("OTPGATE_SERVER_KEY", "")
	raw, err := os.ReadFile("testdata/configs.txt")
	if err != nil {
		t.Fatal(err)
	}
	cases := strings.Split(string(raw), "\n=== ")
	n := 0
	for _, c := range cases[1:] {
		head, body, _ := strings.Cut(c, "\n")
		name, want, _ := strings.Cut(head, " => ")
		cfg, err := ParseConfig([]byte(body))
		switch {
		case want == "ok" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "ok" && err == nil:
			t.Errorf("%s: accepted, want %s", name, want)
		case want != "ok" && !strings.Contains(err.Error(), strings.TrimPrefix(want, "error ")):
			t.Errorf("%s: error %q, want it to contain %q", name, err, strings.TrimPrefix(want, "error "))
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

func TestServerKeyFromEnvironment(t *testing.T) {
	t.Setenv("OTPGATE_SERVER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	cfg, err := ParseConfig([]byte("smscs: [{name: a, address: \"h:1\", system_id: x}]\ntenants: [{id: t, api_keys: [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]}]\n"))
	if err != nil || cfg.Routes.Default != "a" {
		t.Fatalf("cfg %+v, err %v", cfg, err)
	}
}

// TestBadTenantDefaultsStopStart: defaults that would fail every request
// stop the start, naming the field.
func TestBadTenantDefaultsStopStart(t *testing.T) {
	for _, c := range []struct{ tenant, want string }{
		{`sender_id: "Acme Company Ltd"`, "tenants.acme.sender_id"},
		{`template: nosuch`, `tenants.acme.template: no template named "nosuch"`},
		{`brand: "` + strings.Repeat("b", 40) + `"`, "tenants.acme.brand"},
		{`templates: {default: {en: "{code} ` + strings.Repeat("long ", 330) + `"}}`, "more than the 10 a message may take"},
	} {
		cfg, err := ParseConfig([]byte("sandbox: true\ntenants: [{id: acme, api_keys: [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"], " + c.tenant + "}]\n"))
		if err != nil {
			t.Fatalf("%s: config: %v", c.tenant, err)
		}
		cfg.DataDir, cfg.HTTP.Listen = t.TempDir(), "127.0.0.1:0"
		g, err := startGateway(cfg, quietLog())
		if err == nil {
			g.Shutdown(ctxTimeout(t, 5*time.Second))
			t.Fatalf("%s: started", c.tenant)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.tenant, err, c.want)
		}
	}
}

func TestServeFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte("sandbox: true\nstore: {sync: none}\n"), 0o600)
	cfg, err := serveConfig([]string{"--config", path, "--http", "127.0.0.1:9", "--data", dir})
	if err != nil || cfg.HTTP.Listen != "127.0.0.1:9" || cfg.DataDir != dir || cfg.Store.Sync != "none" {
		t.Fatalf("cfg %+v err %v", cfg, err)
	}
	if _, err := serveConfig([]string{"--config", filepath.Join(dir, "missing.yaml")}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := serveConfig([]string{"extra"}); err == nil {
		t.Fatal("stray argument accepted")
	}
}

// TestExampleConfigParses: the documented example is a valid config.
func TestExampleConfigParses(t *testing.T) {
	t.Setenv("OTPGATE_SERVER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	t.Setenv("SMSC_MAIN_PASSWORD", "secret")
	t.Setenv("ACME_WEBHOOK_SECRET", "whsec_0123456789abcdef")
	t.Setenv("SIP_PASSWORD", "sip-secret")
	cfg, err := LoadConfig("../../docs/otpgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes.routes()) != 2 || cfg.SMSCs[0].Binds[0].Count != 2 || cfg.Tenants[0].RateLimit.PerSecond != 200 ||
		len(cfg.routeTable()) != 3 || cfg.Tenants[0].Workflow[1] != "voice" || cfg.Trunks[0].Password != "sip-secret" {
		t.Fatalf("example read wrongly: %+v", cfg)
	}
}
