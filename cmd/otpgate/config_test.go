package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/config"
)

// TestBadTenantDefaultsStopStart: defaults that would fail every request
// stop the start, naming the field.
func TestBadTenantDefaultsStopStart(t *testing.T) {
	for _, c := range []struct{ tenant, want string }{
		{`sender_id: "Acme Company Ltd"`, "line 2: tenants[0].sender_id: alphanumeric sender"},
		{`template: nosuch`, `line 2: tenants[0].template: no template named "nosuch"`},
		{`brand: "` + strings.Repeat("b", 40) + `"`, "line 2: tenants[0].brand: longer than 32 bytes"},
		{`templates: {default: {en: "{code} ` + strings.Repeat("long ", 330) + `"}}`, "line 2: tenants[0].template: default (locale en): the message is"},
	} {
		cfg, err := config.Parse([]byte("sandbox: true\ntenants: [{id: acme, api_keys: [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"], "+c.tenant+"}]\n"), config.Options{})
		if err != nil {
			t.Fatalf("%s: config: %v", c.tenant, err)
		}
		cfg.DataDir, cfg.HTTP.Listen = t.TempDir(), "127.0.0.1:0"
		g, err := startGateway(cfg, source{}, quietLog())
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
	cfg, _, err := serveConfig([]string{"--config", path, "--http", "127.0.0.1:9", "--data", dir})
	if err != nil || cfg.HTTP.Listen != "127.0.0.1:9" || cfg.DataDir != dir || cfg.Store.Sync != "none" {
		t.Fatalf("cfg %+v err %v", cfg, err)
	}
	if _, _, err := serveConfig([]string{"--config", filepath.Join(dir, "missing.yaml")}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
	if _, _, err := serveConfig([]string{"extra"}); err == nil {
		t.Fatal("stray argument accepted")
	}
}
