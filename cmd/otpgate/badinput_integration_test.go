package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// TestBadRequests replays testdata/bad_requests.txt against a gateway: each
// bad request gets its status, a stable code and the field to blame, as
// problem+json, and nothing is stored or sent.
func TestBadRequests(t *testing.T) {
	sim := startSim(t, smsc.Config{})
	g := startTestGateway(t, "server_key: "+testKey+"\n"+simYAML(sim.Addr())+tenantsYAML()+
		"fraud: {deny: [NG, \"+4474\"]}\n", t.TempDir())
	f, err := os.Open("testdata/bad_requests.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		req, want, ok := strings.Cut(text, " => ")
		parts := strings.SplitN(req, " | ", 3)
		if !ok || len(parts) != 3 {
			t.Fatalf("line %d: malformed", line)
		}
		mp := strings.Fields(parts[0])
		key := map[string]string{"acme": keyAcme, "none": "", "wrong": "otp_wrong", "notbearer": "x"}[parts[1]]
		body := parts[2]
		switch body {
		case "-":
			body = ""
		case "BIG":
			body = `{"number":"+14155550100","brand":"` + strings.Repeat("x", 20<<10) + `"}`
		case "HUGE":
			body = `{"number":"+14155550100","brand":"` + strings.Repeat("x", 200<<10) + `"}`
		}
		c := client{t, "http://" + g.Addr(), key}
		if parts[1] == "notbearer" {
			c.key = "" // sent below as a Basic header
		}
		w := strings.Fields(want)
		wantStatus, _ := strconv.Atoi(w[0])
		st, hdr, raw := func() (int, map[string][]string, []byte) {
			if parts[1] == "notbearer" {
				return doRaw(t, "http://"+g.Addr(), mp[0], mp[1], body, "Basic "+keyAcme)
			}
			s, h, b := c.do(mp[0], mp[1], body, nil)
			return s, h, b
		}()
		var p api.Problem
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Errorf("line %d: answer is not JSON: %d %q", line, st, raw)
			continue
		}
		field := p.Field
		if field == "" {
			field = "-"
		}
		ct := ""
		if v := hdr["Content-Type"]; len(v) > 0 {
			ct = v[0]
		}
		if st != wantStatus || p.Code != w[1] || field != w[2] || ct != "application/problem+json" || p.Status != st {
			t.Errorf("line %d: %s %s => %d %s %s (%s) %q; want %s", line, mp[0], mp[1], st, p.Code, field, ct, p.Detail, want)
		}
		n++
	}
	if n < 30 {
		t.Fatalf("only %d cases", n)
	}
	if msgs := sim.Messages(""); len(msgs) != 0 {
		t.Fatalf("bad requests sent %d SMS", len(msgs))
	}
}
