package vonage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/api/compat/compattest"
)

// TestWorkflowTimings runs each of Vonage's workflows 1 to 7, and the
// waits next_event_wait and pin_expiry make: each event on its channel
// and in its order, none a second early, each a second after its wait;
// the request alive (a wrong code is 16) a second before its end, gone
// (6) a second after it. The request lives through its events, then the
// last event's wait or pin_expiry, whichever is longer (pin_expiry
// becomes next_event_wait when it is not a multiple of it, as at Vonage).
func TestWorkflowTimings(t *testing.T) {
	for _, c := range []struct {
		name   string
		params string
		steps  []string
		waits  []int // between events
		life   int   // seconds from the request to its end
	}{
		{"1", "workflow_id=1", []string{sms, voice, voice}, []int{125, 180}, 125 + 180 + 300},
		{"2", "workflow_id=2", []string{sms, sms, voice}, []int{125, 180}, 125 + 180 + 300},
		{"3", "workflow_id=3", []string{voice, voice}, []int{150}, 150 + 300},
		{"4", "workflow_id=4", []string{sms, sms}, []int{120}, 120 + 300},
		{"5", "workflow_id=5", []string{sms, voice}, []int{125}, 125 + 300},
		{"6", "workflow_id=6", []string{sms}, nil, 300},
		{"7", "workflow_id=7", []string{voice}, nil, 300},
		{"1, next_event_wait 60", "workflow_id=1&next_event_wait=60", []string{sms, voice, voice}, []int{60, 60}, 60 + 60 + 300},
		{"6, next_event_wait 60", "workflow_id=6&next_event_wait=60", []string{sms}, nil, 300},
		{"6, pin_expiry 3600", "workflow_id=6&pin_expiry=3600", []string{sms}, nil, 3600},
		{"4, pin_expiry 600", "workflow_id=4&pin_expiry=600", []string{sms, sms}, []int{120}, 120 + 600},
		{"4, pin_expiry not a multiple of next_event_wait", "workflow_id=4&next_event_wait=120&pin_expiry=500", []string{sms, sms}, []int{120}, 120 + 180},
	} {
		t.Run(c.name, func(t *testing.T) {
			const number = "+14155553001"
			var f strings.Builder
			fmt.Fprintf(&f, "POST /compat/vonage/verify/json\nAuthorization: Basic acmekey:acmesecret\nContent-Type: application/x-www-form-urlencoded\n\nnumber=%s&brand=Acme&%s\n>>> 200\n{\"request_id\": \"{{rid}}\", \"status\": \"0\"}\n\n",
				strings.TrimPrefix(number, "+"), c.params)
			nsms, ncalls, at := 0, 0, 0
			expect := func() {
				fmt.Fprintf(&f, "! sent %s %d\n! calls %s %d\n", number, nsms, number, ncalls)
			}
			advanceTo := func(s int) {
				fmt.Fprintf(&f, "! advance %ds\n! tick\n", s-at)
				at = s
			}
			for i, step := range c.steps {
				if i > 0 {
					due := 0
					for _, w := range c.waits[:i] {
						due += w
					}
					advanceTo(due - 1)
					expect() // not yet
					advanceTo(due + 1)
				}
				if step == sms {
					nsms++
				} else {
					ncalls++
				}
				expect()
			}
			check := func(status string) {
				fmt.Fprintf(&f, "GET /compat/vonage/verify/check/json?api_key=acmekey&api_secret=acmesecret&request_id={{rid}}&code=0000\n>>> 200\n")
				if status == "16" {
					f.WriteString("{\"request_id\": \"{{rid}}\", \"status\": \"16\", \"error_text\": \"The code provided does not match the expected value\"}\n\n")
				} else {
					f.WriteString("{\"request_id\": \"{{rid}}\", \"status\": \"6\", \"error_text\": \"{{*}}\"}\n\n")
				}
			}
			advanceTo(c.life - 1)
			check("16")
			advanceTo(c.life + 1)
			expect() // nothing more was sent
			check("6")
			path := filepath.Join(t.TempDir(), "timings.txt")
			if err := os.WriteFile(path, []byte(f.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			h := harness(t, compattest.Options{})
			h.Run(path)
		})
	}
}
