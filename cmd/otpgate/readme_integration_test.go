package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runnableMark precedes a shell block of README.md that TestREADMEBlocks
// runs; the comment is invisible where the README is rendered.
const runnableMark = "<!-- runnable"

// readmeBlocks returns README.md's shell blocks marked runnable, with the
// line each starts on.
func readmeBlocks(t *testing.T) (blocks []string, lines []int, kinds []string) {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Split(string(raw), "\n")
	for i := 0; i < len(text); i++ {
		if !strings.HasPrefix(text[i], runnableMark) {
			continue
		}
		if i+1 >= len(text) || !strings.HasPrefix(text[i+1], "```sh") {
			t.Fatalf("README.md:%d: a runnable mark not followed by a ```sh block", i+1)
		}
		start := i + 2
		end := start
		for end < len(text) && !strings.HasPrefix(text[end], "```") {
			end++
		}
		blocks = append(blocks, strings.Join(text[start:end], "\n"))
		lines = append(lines, start+1)
		kind := ""
		if strings.HasPrefix(text[i], runnableMark+": node") {
			kind = "node" // needs the vendor SDKs
		}
		kinds = append(kinds, kind)
		i = end
	}
	return blocks, lines, kinds
}

// TestREADMEBlocks runs every shell block of README.md marked runnable, as
// a new user would: in a fresh directory where `make run` (the binary as
// bin/otpgate, `serve` with no flags) has started the sandbox. The blocks
// say localhost:8080; the test's gateway listens on a free port, which is
// put in their place. A block fails on any failed command (bash -e, curl
// -f, jq -e): README cannot drift from the API.
func TestREADMEBlocks(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/test-deps.sh installs jq): %v", tool, err)
		}
	}
	blocks, lines, kinds := readmeBlocks(t)
	if len(blocks) < 3 {
		t.Fatalf("README.md has %d runnable blocks", len(blocks))
	}
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(otpgateBinary(t), filepath.Join(work, "bin", "otpgate")); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(filepath.Join(work, "bin", "otpgate"), "serve", "--http", addr)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "OTPGATE_SANDBOX_KEY=")
	logf, err := os.Create(filepath.Join(work, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	waitReady(t, "http://"+addr)
	port := regexp.MustCompile(`localhost:8080|127\.0\.0\.1:8080`)
	// node blocks use the vendor SDKs scripts/test-deps.sh installs
	sdks, err := filepath.Abs(filepath.Join(sdkDir, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	_, sdkErr := os.Stat(filepath.Join(sdks, "twilio", "package.json"))
	for i, block := range blocks {
		if kinds[i] == "node" && sdkErr != nil {
			t.Logf("README.md:%d: skipped: the vendor SDKs are not installed (%v)", lines[i], sdkErr)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		sh := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", port.ReplaceAllString(block, addr))
		sh.Dir = work
		sh.Env = append(os.Environ(), "PATH="+filepath.Join(work, "bin")+":"+os.Getenv("PATH"), "NODE_PATH="+sdks)
		out, err := sh.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README.md:%d: the block failed: %v\n--- block\n%s\n--- output\n%s", lines[i], err, block, out)
		}
	}
	t.Logf("ran %d README blocks", len(blocks))
}
