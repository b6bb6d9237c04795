package uas

import (
	"flag"
	"fmt"
	"github.com/otpgate/otpgate/internal/listflag"
	"strings"
)

// RegisterFlags defines a flag on fs for every knob of c (all but Log),
// writing into c when fs is parsed. A flag's default is c's current value,
// or the package default where c has none. It defines no flag for the
// listening address, so the caller can add its own (-listen).
//
// Flags: -realm, -username, -password, -rule (repeatable), -answer-delay,
// -max-record, -max-ring, -media-ip, -history, -codecs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.MaxRecord == 0 {
		c.MaxRecord = DefaultMaxRecord
	}
	if c.MaxRing == 0 {
		c.MaxRing = DefaultMaxRing
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	fs.StringVar(&c.Realm, "realm", c.Realm, "digest realm of the 401 challenge (used when -password is set)")
	fs.StringVar(&c.Username, "username", c.Username, "digest user name callers must give (any when empty; used when -password is set)")
	fs.StringVar(&c.Password, "password", c.Password, "when set, every INVITE is challenged with 401 digest auth; wrong credentials get 403")
	fs.Var(&listflag.Value[Rule]{List: &c.Rules, Parse: ParseRule}, "rule",
		"what a called number gets by prefix, PREFIX=ACTION with ACTION answer, busy (486), no_answer (ring until CANCEL) or fail (503); "+
			"repeatable, the longest prefix wins, unmatched numbers are answered; e.g. -rule '+1555=busy' -rule '+39=no_answer'")
	fs.DurationVar(&c.AnswerDelay, "answer-delay", c.AnswerDelay, "ringing time before a call is answered")
	fs.DurationVar(&c.MaxRecord, "max-record", c.MaxRecord, "stop recording a call's audio after this long")
	fs.DurationVar(&c.MaxRing, "max-ring", c.MaxRing, "a no_answer call that was not cancelled gets 480 after this long")
	fs.StringVar(&c.MediaIP, "media-ip", c.MediaIP, "address put in SDP and Contact (default: the listening host, or 127.0.0.1)")
	fs.IntVar(&c.History, "history", c.History, "calls (and recordings) kept, oldest dropped first")
	fs.Func("codecs", "codecs accepted, in order of preference, comma-separated: PCMU,PCMA (default both, PCMU first)", func(v string) error {
		c.Codecs = nil
		for _, name := range strings.Split(v, ",") {
			name = strings.ToUpper(strings.TrimSpace(name))
			if name != "PCMU" && name != "PCMA" {
				return fmt.Errorf("codec %q: want PCMU or PCMA", name)
			}
			c.Codecs = append(c.Codecs, name)
		}
		return nil
	})
}

// ParseRule reads a rule in the form PREFIX=ACTION, e.g. "+1555=busy".
func ParseRule(s string) (Rule, error) {
	prefix, action, ok := strings.Cut(strings.TrimSpace(s), "=")
	action = strings.ToLower(strings.TrimSpace(action))
	if !ok || action == "" {
		return Rule{}, fmt.Errorf("uas: rule %q: want PREFIX=ACTION, e.g. +1555=busy", s)
	}
	if action == "no-answer" || action == "noanswer" {
		action = ActionNoAnswer
	}
	if err := checkAction(action); err != nil {
		return Rule{}, err
	}
	return Rule{Prefix: strings.TrimSpace(prefix), Action: action}, nil
}

// String is the rule in ParseRule's form.
func (r Rule) String() string { return r.Prefix + "=" + r.Action }
