package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
)

// sdkDir holds the vendors' official SDKs, pinned in its package.json and
// installed by scripts/test-deps.sh, and the scripts that drive them.
const sdkDir = "../../api/compat/testdata/sdk"

// TestVendorSDKs drives the facades with the vendors' official SDKs, as a
// tenant migrating to Otpgate would: the sandbox started by the binary,
// and each SDK pointed at it with only its base URL changed (Vonage's
// apiHost, Twilio's client.verify.baseUrl) and the sandbox's demo
// credentials. Each script runs a whole flow against the sandbox's SMSC
// and SIP simulators (request, SMS, wrong code, right code, search or
// fetch, cancel) and fails with the step that went wrong.
func TestVendorSDKs(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed (scripts/test-deps.sh installs it as root)")
	}
	if err := exec.Command("node", "-e", `const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)`).Run(); err != nil {
		t.Skip("node is older than 20.19, which the vendor SDKs need")
	}
	for _, pkg := range []string{"@vonage/server-sdk", "@vonage/verify2", "twilio"} {
		if _, err := os.Stat(filepath.Join(sdkDir, "node_modules", pkg, "package.json")); err != nil {
			t.Skipf("%s is not installed in %s (scripts/test-deps.sh installs it): %v", pkg, sdkDir, err)
		}
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "otpgate.yaml")
	// Verify v2: a key pair made here, its public half configured as
	// tenant v2's Vonage application, its private half given to the SDK
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	privPath := filepath.Join(dir, "app.key")
	os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPath := filepath.Join(dir, "app.pub")
	os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
	const appID, v2Key = "0b7e7e4c-6c39-4f43-9c2e-6f1a2d3b4c5d", "otp_sdk_test_tenant_key_0123456789"
	// SMS to +447912345… are reported undelivered, so workflow 1 calls
	conf := "sandbox: true\ndata_dir: " + filepath.Join(dir, "data") + "\nhttp: {listen: \"" + addr + "\"}\nstore: {sync: none}\nlog: {level: warn}\n" +
		"sandbox_sim: {smsc_rules: [\"+447912345=receipt:UNDELIV\"]}\n" +
		"tenants:\n  - id: v2\n    api_keys: [\"" + api.HashKey(v2Key) + "\"]\n" +
		"    vonage: {api_key: v2key, api_secret_hash: \"" + api.HashKey("unused-secret") + "\", applications: [{id: " + appID + ", public_key_file: " + pubPath + "}]}\n"
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTPGATE_SANDBOX_KEY", "")
	startProcess(t, cfgPath, addr)
	raw, err := os.ReadFile(filepath.Join(dir, "data", "sandbox.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sb sandboxState
	if err := json.Unmarshal(raw, &sb); err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{"vonage_v1.js", "vonage_v2.js", "twilio.js"} {
		t.Run(script, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", script)
			cmd.Dir = sdkDir
			key := sb.APIKey // the demo tenant's: it reads its SMS from the sandbox inbox
			if script == "vonage_v2.js" {
				key = v2Key
			}
			cmd.Env = append(os.Environ(), "BASE=http://"+addr, "KEY="+key,
				"VONAGE_APPLICATION_ID="+appID, "VONAGE_PRIVATE_KEY="+privPath)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node %s: %v\n%s", script, err, out)
			}
			t.Logf("node %s:\n%s", script, out)
		})
	}
}
