package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestHelpExitsZero: every command's --help prints its usage and exits 0.
func TestHelpExitsZero(t *testing.T) {
	bin := otpgateBinary(t)
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"smsc-sim", "--help"}, {"sip-sim", "--help"},
		{"route", "--help"}, {"key", "--help"}, {"bench", "--help"}, {"bench", "api", "--help"}, {"bench", "memory", "-h"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || len(out) == 0 || strings.Contains(string(out), "flag: help requested") {
			t.Errorf("otpgate %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
