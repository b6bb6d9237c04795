package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/bench"
)

func readReport(t *testing.T, path string) []bench.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct{ Results []bench.Result }
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Results
}

// `otpgate bench e2e` runs the whole path and reports every leg, the
// receipt legs included.
func TestBenchE2EReportsEveryLeg(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gateway under load")
	}
	out := filepath.Join(t.TempDir(), "e2e.json")
	if err := runBench([]string{"e2e", "--duration", "1s", "--warmup", "200ms", "--workers", "4", "--ceiling=false", "--out", out}); err != nil {
		t.Fatal(err)
	}
	res := readReport(t, out)
	if len(res) != 1 || res[0].Ops == 0 || res[0].Errors != 0 {
		t.Fatalf("report: %+v", res)
	}
	for _, leg := range []string{"leg 1 api answer", "leg 2 202 to submit_sm at the SMSC", "leg 3 check", "leg 4 receipt deliver_sm to stored (deliver_sm_resp)", "leg 5 request to receipt stored"} {
		if !strings.Contains(res[0].Extra[leg], "p99") {
			t.Errorf("no %q in %v", leg, res[0].Extra)
		}
	}
	if !strings.Contains(res[0].Extra["at_smsc"], "reached the SMSC") {
		t.Errorf("no SMSC count in %v", res[0].Extra)
	}
}

// `otpgate bench memory` fills a store through the batch path, runs the
// gateway on it as its own process and reports that process's memory.
func TestBenchMemoryFillsAndMeasures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a gateway process under load")
	}
	out := filepath.Join(t.TempDir(), "memory.json")
	if err := runBench([]string{"memory", "--records", "3000", "--pending", "300", "--batch", "500", "--duration", "1s", "--workers", "4",
		"--dir", t.TempDir(), "--out", out, "--gateway-bin", otpgateBinary(t)}); err != nil {
		t.Fatal(err)
	}
	res := readReport(t, out)
	if len(res) != 1 || res[0].Ops == 0 {
		t.Fatalf("report: %+v", res)
	}
	for _, k := range []string{"fill", "rss_started", "rss_peak"} {
		if !strings.Contains(res[0].Extra[k], "MiB") {
			t.Errorf("%s missing or without a size: %v", k, res[0].Extra)
		}
	}
	if !strings.Contains(res[0].Extra["fill"], "3000 records") {
		t.Errorf("fill: %q", res[0].Extra["fill"])
	}
}
