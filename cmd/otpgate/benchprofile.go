package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/pprof/profile"
)

// bench profile: where a full verification's CPU and allocations go, by
// part, from the profiles of one in-process bench e2e run. The next round
// of speed work starts from this table, not from a hunt.

// parts attribute a sample to the first part, in this order, with a frame
// that matches: the more specific first (the store's work inside the
// engine's, the load generator's HTTP client before fasthttp).
var parts = []struct {
	name     string
	prefixes []string
}{
	{"garbage collection", []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge"}},
	{"load generator", []string{"github.com/otpgate/otpgate/bench."}},
	{"SMSC simulator", []string{"github.com/otpgate/otpgate/smpp/smsc."}},
	{"Pebble: flushes and compactions", []string{"github.com/cockroachdb/pebble/v2.(*DB).compact", "github.com/cockroachdb/pebble/v2.(*DB).flush", "github.com/cockroachdb/pebble/v2.(*DB).runCompaction"}},
	{"Pebble: WAL and commits", []string{"github.com/cockroachdb/pebble/v2/record.", "github.com/cockroachdb/pebble/v2.(*commitPipeline)", "github.com/cockroachdb/pebble/v2/wal."}},
	{"store (ours and Pebble reads)", []string{"github.com/otpgate/otpgate/engine/store.", "github.com/cockroachdb/pebble/"}},
	{"phone numbers", []string{"github.com/otpgate/otpgate/internal/phone."}},
	{"SMPP client", []string{"github.com/otpgate/otpgate/smpp."}},
	{"engine", []string{"github.com/otpgate/otpgate/engine."}},
	{"HTTP handlers (ours)", []string{"github.com/otpgate/otpgate/api."}},
	{"HTTP server (fasthttp)", []string{"github.com/valyala/fasthttp."}},
	{"network and disk syscalls", []string{"syscall.", "internal/runtime/syscall."}},
	{"scheduler and runtime", []string{"runtime."}},
}

const otherPart = "other"

// partOf names the part of a stack.
func partOf(s *profile.Sample) string {
	for _, p := range parts {
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				for _, pre := range p.prefixes {
					if strings.HasPrefix(line.Function.Name, pre) {
						return p.name
					}
				}
			}
		}
	}
	return otherPart
}

// profileReport is bench profile's JSON report.
type profileReport struct {
	Verifications int64         `json:"verifications"`
	Seconds       float64       `json:"seconds"`
	CPUMicros     float64       `json:"cpu_us_per_verification"`
	Bytes         float64       `json:"bytes_per_verification"`
	Parts         []profilePart `json:"parts"`
	Command       string        `json:"command"`
	StartedAt     time.Time     `json:"started_at"`
}

type profilePart struct {
	Name      string  `json:"name"`
	CPUMicros float64 `json:"cpu_us"`
	Bytes     float64 `json:"bytes"`
}

func runBenchProfile(args []string) error {
	fs := flag.NewFlagSet("bench profile", flag.ContinueOnError)
	duration := fs.Duration("duration", 10*time.Second, "measured duration of the bench e2e run")
	warmup := fs.Duration("warmup", 2*time.Second, "its warm-up")
	out := fs.String("out", filepath.Join("bench-results", "profile.json"), "JSON report path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "otpgate-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cpu, mem, e2e := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof"), filepath.Join(dir, "e2e.json")
	started := time.Now()
	if err := runBenchAPI([]string{"--mode", "e2e", "--ceiling=false", "--duration", duration.String(), "--warmup", warmup.String(),
		"--cpuprofile", cpu, "--memprofile", mem, "--out", e2e}); err != nil {
		return err
	}
	var rep struct {
		Results []struct {
			Ops      int64   `json:"ops"`
			Duration float64 `json:"duration_s"`
		} `json:"results"`
	}
	raw, err := os.ReadFile(e2e)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Results) == 0 || rep.Results[0].Ops == 0 {
		return fmt.Errorf("bench profile: no verifications in the e2e report (%v)", err)
	}
	n := rep.Results[0].Ops
	report := profileReport{Verifications: n, Seconds: rep.Results[0].Duration, StartedAt: started,
		Command: "bin/otpgate bench profile --duration " + duration.String()}
	byPart := map[string]*profilePart{}
	part := func(name string) *profilePart {
		if byPart[name] == nil {
			byPart[name] = &profilePart{Name: name}
		}
		return byPart[name]
	}
	cp, err := readProfile(cpu)
	if err != nil {
		return err
	}
	cpuIdx := sampleIndex(cp, "cpu")
	for _, s := range cp.Sample {
		us := float64(s.Value[cpuIdx]) / 1e3 / float64(n)
		part(partOf(s)).CPUMicros += us
		report.CPUMicros += us
	}
	// allocations of the measured part: the profile at its end less the one
	// at its start
	end, err := readProfile(mem)
	if err != nil {
		return err
	}
	start, err := readProfile(mem + ".start")
	if err != nil {
		return err
	}
	start.Scale(-1)
	diff, err := profile.Merge([]*profile.Profile{end, start})
	if err != nil {
		return err
	}
	memIdx := sampleIndex(diff, "alloc_space")
	for _, s := range diff.Sample {
		b := float64(s.Value[memIdx]) / float64(n)
		part(partOf(s)).Bytes += b
		report.Bytes += b
	}
	for _, p := range byPart {
		report.Parts = append(report.Parts, *p)
	}
	sort.Slice(report.Parts, func(i, j int) bool { return report.Parts[i].CPUMicros > report.Parts[j].CPUMicros })
	writeProfileTable(os.Stdout, report)
	b, _ := json.MarshalIndent(report, "", "  ")
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

func readProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench profile: %w", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("bench profile: %s: %w", path, err)
	}
	return p, nil
}

// sampleIndex is the index of the sample value of type typ.
func sampleIndex(p *profile.Profile, typ string) int {
	for i, st := range p.SampleType {
		if st.Type == typ {
			return i
		}
	}
	return len(p.SampleType) - 1
}

func writeProfileTable(w io.Writer, r profileReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "part\tCPU µs\tbytes\t\n")
	for _, p := range r.Parts {
		fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t\n", p.Name, p.CPUMicros, p.Bytes)
	}
	fmt.Fprintf(tw, "a full verification\t%.1f\t%.0f\t\n", r.CPUMicros, r.Bytes)
	tw.Flush()
	fmt.Fprintf(w, "(%d verifications in %.0f s of bench e2e; CPU of the whole process, load generator and SMSC simulator included)\n", r.Verifications, r.Seconds)
}
