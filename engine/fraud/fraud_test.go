package fraud

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/phone"
)

// TestPlan runs testdata/plan.txt: a number and a workflow under the
// gateway's and a tenant's policies, and the steps kept, skipped or the
// refusal, each with its exact detail.
func TestPlan(t *testing.T) {
	raw, err := os.ReadFile("testdata/plan.txt")
	if err != nil {
		t.Fatal(err)
	}
	v := phone.NewValidator(0)
	n := 0
	for _, c := range strings.Split(string(raw), "\n=== ")[1:] {
		lines := strings.Split(strings.TrimSpace(c), "\n")
		name := lines[0]
		var gw, tn Policy
		var number string
		var workflow []string
		var want []string
		for _, l := range lines[1:] {
			key, val, _ := strings.Cut(l, ": ")
			switch {
			case key == "gateway":
				mustJSON(t, name, val, &gw)
			case key == "tenant":
				mustJSON(t, name, val, &tn)
			case key == "number":
				number = val
			case key == "workflow":
				workflow = strings.Fields(val)
			case strings.HasPrefix(l, "=> "):
				want = append(want, strings.TrimPrefix(l, "=> "))
			default:
				t.Fatalf("%s: cannot read %q", name, l)
			}
		}
		num, err := v.Parse(number, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range []Policy{gw, tn} {
			if err := p.Check(); err != nil {
				t.Fatalf("%s: policy: %v", name, err)
			}
		}
		steps, skipped, refused := Plan(num, workflow, Party{"gateway", gw}, Party{"tenant acme", tn})
		var got []string
		for _, s := range skipped {
			got = append(got, fmt.Sprintf("skip %d %s", s.Step, s.Refusal.Code))
		}
		switch {
		case refused != nil:
			got = append(got, "refused "+refused.Error())
		default:
			got = append(got, "steps "+strings.Join(steps, " "))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s (%s, %s):\n got %s\nwant %s", name, num.E164, num.Type, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d cases read", n)
	}
}

func mustJSON(t *testing.T, name, s string, v any) {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("%s: %q: %v", name, s, err)
	}
}

// TestCheck: what a policy may not say, named by where it is.
func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		p    Policy
		want string
	}{
		{Policy{Geo: Geo{Allow: []string{"IT", "+39"}}}, ""},
		{Policy{Geo: Geo{Deny: []string{"it"}}}, `deny[0]: "it" is neither an ISO 3166-1 alpha-2 country (upper case, e.g. IT) nor an E.164 prefix (e.g. +3934)`},
		{Policy{Geo: Geo{Allow: []string{"+3x"}}}, `allow[0]: "+3x" is not an E.164 prefix (+ and 1 to 15 digits)`},
		{Policy{Channels: map[string]Geo{"fax": {}}}, `channels: "fax" is not a channel (sms, voice, whatsapp, rcs)`},
		{Policy{Channels: map[string]Geo{"voice": {Deny: []string{"+"}}}}, `channels.voice.deny[0]: "+" is not an E.164 prefix (+ and 1 to 15 digits)`},
		{Policy{DenyTypes: []string{"premium"}}, `deny_number_types[0]: "premium" is not a number type (mobile, fixed_line, fixed_line_or_mobile, toll_free, premium_rate, shared_cost, voip, personal_number, pager, uan, voicemail, unknown)`},
	} {
		got := ""
		if err := tt.p.Check(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%+v:\n got %s\nwant %s", tt.p, got, tt.want)
		}
	}
}
