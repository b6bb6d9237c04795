package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/smpp/smsc"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// otpgateBinary builds the command once per test run.
func otpgateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "otpgate-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "otpgate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess starts `otpgate serve --config path` and waits until ready.
func startProcess(t *testing.T, path, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(otpgateBinary(t), "serve", "--config", path)
	logf, _ := os.Create(path + ".log")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	waitReady(t, "http://"+addr)
	return cmd
}

// TestKill9Recovery: every verification acknowledged with a 202 survives a
// kill -9 of the gateway: after a restart it is there, its SMS reaches the
// SMSC (sent again if the crash came before the send was recorded), its
// code checks, and one with a short ttl expires on time.
func TestKill9Recovery(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	dir := t.TempDir()
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "otpgate.yaml")
	conf := fmt.Sprintf("server_key: %s\ndata_dir: %s\nhttp: {listen: %q}\nlog: {level: warn}\n%s%s",
		testKey, filepath.Join(dir, "data"), addr, simYAML(sim.Addr()), tenantsYAML())
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := startProcess(t, cfgPath, addr)
	c := client{t, "http://" + addr, keyAcme}

	short := c.create(`{"number":"+14155559000","ttl":30}`)
	ids := map[string]string{} // number → id
	for i := 0; i < 20; i++ {
		num := fmt.Sprintf("+1415555%04d", 9100+i)
		ids[num] = c.create(fmt.Sprintf(`{"number":%q,"template":"Code: {code}"}`, num)).ID
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	startProcess(t, cfgPath, addr)
	for num, id := range ids {
		if v := c.get(id); v.Status != "pending" || v.Number != num {
			t.Fatalf("after kill -9: %s is %s %s", id, v.Status, v.Number)
		}
	}
	// every SMS reaches the SMSC (the dispatch lease resends unsent ones)
	deadline := time.Now().Add(60 * time.Second)
	for num, id := range ids {
		var msgs []smsc.Message
		for time.Now().Before(deadline) {
			if msgs = sim.Messages(num); len(msgs) > 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(msgs) == 0 {
			t.Fatalf("no SMS for %s after restart", num)
		}
		if r := c.check(id, strings.TrimPrefix(msgs[0].Text, "Code: ")); !r.Verified {
			t.Fatalf("check of %s after restart: %+v", id, r)
		}
	}
	// the short one expires on time, by the timer (an "expired" event)
	eventually(t, 45*time.Second, "expiry after restart", func() bool {
		return strings.HasSuffix(eventTypes(c.get(short.ID)), "expired")
	})
	if v := c.get(short.ID); v.UpdatedAt.Sub(v.ExpiresAt) > 2*time.Second || v.UpdatedAt.Before(v.ExpiresAt) {
		t.Fatalf("expired at %v, expires_at %v", v.UpdatedAt, v.ExpiresAt)
	}
}
