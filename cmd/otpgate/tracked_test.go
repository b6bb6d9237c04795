package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckTracked: scripts/check-tracked.sh (run by make test) refuses a
// tracked binary, whatever its name, and bulk outside testdata; it passes
// on this repository.
func TestCheckTracked(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	script, err := filepath.Abs("../../scripts/check-tracked.sh")
	if err != nil {
		t.Fatal(err)
	}
	run := func(dir string) (string, error) {
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), "CHECK_TRACKED_DIR="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("../.."); err != nil {
		t.Fatalf("this repository: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name    string
		content []byte
		want    string // "" for accepted
	}{
		{"otpgate", []byte("\x7fELF\x02\x01\x01 a binary"), "is an ELF binary"},
		{"tools/helper.exe", []byte("MZ\x90\x00"), "is a PE (Windows) binary"},
		{"build/tool", []byte("\xcf\xfa\xed\xfe mach-o"), "is a Mach-O binary"},
		{"dump.json", bytes.Repeat([]byte("x"), 2<<20), "over the 1 MiB allowed"},
		{"smpp/testdata/big.bin", bytes.Repeat([]byte("x"), 2<<20), ""},
		{"README.md", []byte("# small text\n"), ""},
	} {
		dir := t.TempDir()
		git := func(args ...string) {
			cmd := exec.Command("git", args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
		git("init", "-q")
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(c.name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.name), c.content, 0o644); err != nil {
			t.Fatal(err)
		}
		git("add", c.name)
		out, err := run(dir)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s refused: %s", c.name, out)
		case c.want != "" && err == nil:
			t.Errorf("%s accepted: %s", c.name, out)
		case c.want != "" && !strings.Contains(out, c.name+" "+c.want) && !strings.Contains(out, c.name+" is "):
			t.Errorf("%s: %s, want it to say %q", c.name, out, c.want)
		}
	}
}
