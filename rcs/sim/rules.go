package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rule decides what happens to messages to numbers starting with Prefix.
// The longest matching prefix wins; a number no rule matches can take RCS
// and gets its messages delivered.
type Rule struct {
	Prefix string
	Action string        // see Actions
	Status int           // for refuse: the HTTP status
	Delay  time.Duration // for offline
}

// Actions a rule may take.
var Actions = map[string]string{
	"deliver":        "DELIVERED (the default)",
	"read":           "DELIVERED, then READ",
	"no-rcs":         "the phone cannot take RCS: the send and the capability check answer 404 NOT_FOUND",
	"offline":        "offline:DURATION: delivered after DURATION if the message's TTL allows, else revoked at the TTL (TTL_EXPIRATION_REVOKED)",
	"unrevoked":      "at the TTL the revocation fails (TTL_EXPIRATION_REVOKE_FAILED)",
	"silent":         "no event at all",
	"refuse":         "refuse:STATUS: the send answers that HTTP status (429, 403, 500, …)",
	"no-answer-once": "the first try of a message is taken but never answered (the client times out); a retry with its id is answered, and the phone gets it once",
}

// ParseRule reads "PREFIX=ACTION[:ARG]", e.g. "+1555=no-rcs",
// "+44=offline:90s", "+49=refuse:429".
func ParseRule(s string) (Rule, error) {
	prefix, action, ok := strings.Cut(s, "=")
	prefix, action = strings.TrimSpace(prefix), strings.TrimSpace(action)
	if !ok || prefix == "" || action == "" {
		return Rule{}, fmt.Errorf("rule %q: want PREFIX=ACTION, e.g. +1555=no-rcs", s)
	}
	digits := strings.TrimPrefix(prefix, "+")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return Rule{}, fmt.Errorf("rule %q: prefix %q is not digits (with an optional +)", s, prefix)
	}
	name, arg, hasArg := strings.Cut(action, ":")
	if _, ok := Actions[name]; !ok {
		return Rule{}, fmt.Errorf("rule %q: %q is not an action (deliver, read, no-rcs, offline:DURATION, unrevoked, silent, refuse:STATUS, no-answer-once)", s, name)
	}
	r := Rule{Prefix: "+" + digits, Action: name}
	switch name {
	case "refuse":
		n, err := strconv.Atoi(arg)
		if !hasArg || err != nil || n < 400 || n > 599 {
			return Rule{}, fmt.Errorf("rule %q: refuse needs an HTTP status 400..599, e.g. refuse:429", s)
		}
		r.Status = n
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
	case "refuse":
		return fmt.Sprintf("%s=refuse:%d", r.Prefix, r.Status)
	case "offline":
		return fmt.Sprintf("%s=offline:%s", r.Prefix, r.Delay)
	}
	return r.Prefix + "=" + r.Action
}

func match(rules []Rule, number string) Rule {
	best := Rule{Action: "deliver"}
	for _, r := range rules {
		if strings.HasPrefix(number, r.Prefix) && len(r.Prefix) > len(best.Prefix) {
			best = r
		}
	}
	return best
}
