package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEPerformance: README's performance section is what
// docs/performance.tmpl renders from the reports in docs/bench/ (run
// `bin/otpgate bench readme --from bench-results` after a bench run), so
// no figure in it lacks the report and the command behind it.
func TestREADMEPerformance(t *testing.T) {
	want, err := renderPerformance("../../"+perfTemplate, "../../"+perfReports)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := readmeSection(string(text))
	if !ok {
		t.Fatal("README.md has no performance markers")
	}
	if got != want {
		t.Fatalf("README's performance section is not what docs/performance.tmpl renders from docs/bench/ (run bin/otpgate bench readme):\n%s", firstDiff(got, want))
	}
	if strings.Contains(want, "(not measured)") {
		t.Errorf("the performance section names a figure no report in docs/bench/ has")
	}
}

// firstDiff shows where two texts part.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n README   " + x + "\n rendered " + y
		}
	}
	return ""
}
