package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// bench readme: README's performance section, made from the bench JSON
// reports and docs/performance.tmpl, so its figures and the commands that
// give them cannot drift apart. `bench readme --from bench-results` copies
// the reports of a run into docs/bench/ and writes the section;
// TestREADMEPerformance holds README to what docs/bench/ renders.

const (
	perfTemplate = "docs/performance.tmpl"
	perfReports  = "docs/bench"
	perfBegin    = "<!-- performance: made by `bin/otpgate bench readme` from docs/bench/*.json; do not edit -->"
	perfEnd      = "<!-- performance: end -->"
)

func runBenchReadme(args []string) error {
	fs := flag.NewFlagSet("bench readme", flag.ContinueOnError)
	from := fs.String("from", "", "copy the JSON reports of this directory (bench-results) into "+perfReports+" first")
	readme := fs.String("readme", "README.md", "the README to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from != "" {
		files, err := filepath.Glob(filepath.Join(*from, "*.json"))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(perfReports, 0o755); err != nil {
			return err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(perfReports, filepath.Base(f)), compactReport(b), 0o644); err != nil {
				return err
			}
		}
	}
	section, err := renderPerformance(perfTemplate, perfReports)
	if err != nil {
		return err
	}
	text, err := os.ReadFile(*readme)
	if err != nil {
		return err
	}
	out, err := replaceSection(string(text), section)
	if err != nil {
		return fmt.Errorf("%s: %w", *readme, err)
	}
	return os.WriteFile(*readme, []byte(out), 0o644)
}

// compactReport drops the per-second series (the charts have them) from a
// report kept in git.
func compactReport(b []byte) []byte {
	var r map[string]any
	if json.Unmarshal(b, &r) != nil {
		return b
	}
	if res, ok := r["results"].([]any); ok {
		for _, x := range res {
			if m, ok := x.(map[string]any); ok {
				delete(m, "series")
			}
		}
	}
	out, _ := json.MarshalIndent(r, "", "  ")
	return append(out, '\n')
}

// replaceSection puts section between README's performance markers.
func replaceSection(text, section string) (string, error) {
	i := strings.Index(text, perfBegin)
	j := strings.Index(text, perfEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("no performance markers (%q … %q)", perfBegin, perfEnd)
	}
	return text[:i+len(perfBegin)] + "\n" + section + text[j:], nil
}

// readmeSection returns what README holds between the markers.
func readmeSection(text string) (string, bool) {
	i := strings.Index(text, perfBegin)
	j := strings.Index(text, perfEnd)
	if i < 0 || j < i {
		return "", false
	}
	return strings.TrimPrefix(text[i+len(perfBegin):j], "\n"), true
}

// renderPerformance renders the template with the reports in dir.
func renderPerformance(tmplPath, dir string) (string, error) {
	reports := map[string]map[string]any{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		var r map[string]any
		if err := json.Unmarshal(b, &r); err != nil {
			return "", fmt.Errorf("%s: %w", f, err)
		}
		reports[strings.TrimSuffix(filepath.Base(f), ".json")] = r
	}
	result := func(file, name string) map[string]any {
		for _, x := range asList(reports[file]["results"]) {
			if m, ok := x.(map[string]any); ok && m["name"] == name {
				return m
			}
		}
		return nil
	}
	funcs := template.FuncMap{
		// rate FILE NAME: the operations a second of result NAME in FILE
		"rate": func(file, name string) string {
			if r := result(file, name); r != nil {
				return thousands(asFloat(r["rate_per_s"])) + "/s"
			}
			return "(not measured)"
		},
		// ms FILE NAME FIELD: a latency (p50, p99…) in milliseconds
		"ms": func(file, name, field string) string {
			if r := result(file, name); r != nil {
				return strconv.FormatFloat(asFloat(r[field+"_ms"]), 'f', 1, 64) + " ms"
			}
			return "(not measured)"
		},
		// extra FILE NAME KEY: a line a result carries
		"extra": func(file, name, key string) string {
			if r := result(file, name); r != nil {
				if m, ok := r["extra"].(map[string]any); ok && m[key] != nil {
					return fmt.Sprint(m[key])
				}
			}
			return "(not measured)"
		},
		// field FILE KEY: a top-level value of a report (kannel.json,
		// profile.json), for num
		"field": func(file, key string) any {
			if v, ok := reports[file][key]; ok {
				return v
			}
			return "(not measured)"
		},
		"machine": func(file string) string {
			if m, ok := reports[file]["machine"].(string); ok {
				return m
			}
			return "(not measured)"
		},
		// parts: profile.json's rows
		"parts": func() []map[string]any {
			var out []map[string]any
			for _, x := range asList(reports["profile"]["parts"]) {
				if m, ok := x.(map[string]any); ok {
					out = append(out, m)
				}
			}
			return out
		},
		// num V DIGITS: a number with DIGITS decimals (none: rounded, with
		// thousands separators)
		"num": func(v any, digits int) string {
			if s, ok := v.(string); ok && s == "(not measured)" {
				return s
			}
			if digits == 0 {
				return thousands(asFloat(v))
			}
			return strconv.FormatFloat(asFloat(v), 'f', digits, 64)
		},
	}
	t, err := template.New(filepath.Base(tmplPath)).Funcs(funcs).ParseFiles(tmplPath)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, nil); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

// thousands writes f rounded, with thin commas: 12,345.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
