package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rule decides what happens to messages to numbers starting with Prefix
// (E.164 with "+", or digits). The longest matching prefix wins; a number
// no rule matches is delivered.
type Rule struct {
	Prefix string
	Action string        // see Actions
	Code   int           // for refuse and fail: Meta's error code
	Delay  time.Duration // for offline: how long until the phone comes online
}

// Actions a rule may take.
var Actions = map[string]string{
	"deliver":         "sent, then delivered (the default)",
	"read":            "sent, delivered, then read",
	"not-on-whatsapp": "accepted, then failed with 131026 (not a WhatsApp user), as the Cloud API does",
	"fail":            "accepted, then failed with fail:CODE",
	"refuse":          "refused at once with refuse:CODE (130429 throttled, 132001 no template, …)",
	"offline":         "offline:DURATION: sent, delivered after DURATION if the template's TTL allows, else dropped with no delivered status",
	"silent":          "sent, then nothing (never delivered)",
	"no-answer":       "the message is taken and its statuses follow, but the send request gets no answer (a timeout)",
}

// ParseRule reads "PREFIX=ACTION[:ARG]", e.g. "+1555=not-on-whatsapp",
// "+44=fail:131049", "+49=offline:90s".
func ParseRule(s string) (Rule, error) {
	prefix, action, ok := strings.Cut(s, "=")
	prefix, action = strings.TrimSpace(prefix), strings.TrimSpace(action)
	if !ok || prefix == "" || action == "" {
		return Rule{}, fmt.Errorf("rule %q: want PREFIX=ACTION, e.g. +1555=not-on-whatsapp", s)
	}
	digits := strings.TrimPrefix(prefix, "+")
	for _, r := range digits {
		if r < '0' || r > '9' {
			return Rule{}, fmt.Errorf("rule %q: prefix %q is not digits (with an optional +)", s, prefix)
		}
	}
	name, arg, hasArg := strings.Cut(action, ":")
	r := Rule{Prefix: "+" + digits, Action: name}
	if _, ok := Actions[name]; !ok {
		return Rule{}, fmt.Errorf("rule %q: %q is not an action (deliver, read, not-on-whatsapp, fail:CODE, refuse:CODE, offline:DURATION, silent, no-answer)", s, name)
	}
	switch name {
	case "fail", "refuse":
		n, err := strconv.Atoi(arg)
		if !hasArg || err != nil || n <= 0 {
			return Rule{}, fmt.Errorf("rule %q: %s needs a Meta error code, e.g. %s:131049", s, name, name)
		}
		r.Code = n
	case "offline":
		d, err := time.ParseDuration(arg)
		if !hasArg || err != nil || d <= 0 {
			return Rule{}, fmt.Errorf("rule %q: offline needs a duration, e.g. offline:90s", s)
		}
		r.Delay = d
	default:
		if hasArg {
			return Rule{}, fmt.Errorf("rule %q: %s takes no argument", s, name)
		}
	}
	return r, nil
}

// String is the rule as ParseRule reads it.
func (r Rule) String() string {
	switch r.Action {
	case "fail", "refuse":
		return fmt.Sprintf("%s=%s:%d", r.Prefix, r.Action, r.Code)
	case "offline":
		return fmt.Sprintf("%s=offline:%s", r.Prefix, r.Delay)
	}
	return r.Prefix + "=" + r.Action
}

// match is the rule for number (E.164), the longest prefix first.
func match(rules []Rule, number string) Rule {
	best := Rule{Action: "deliver"}
	for _, r := range rules {
		if strings.HasPrefix(number, r.Prefix) && len(r.Prefix) > len(best.Prefix) {
			best = r
		}
	}
	return best
}
