package smsc

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fiorix/go-smpp/smpp/pdu"
)

// Rule decides what happens to the submit_sm whose destination starts with
// Prefix. Of several matching rules the one with the longest prefix wins.
type Rule struct {
	// Prefix of the destination in E.164, with or without '+'; "" or "+"
	// matches every destination.
	Prefix string
	// Status, when not zero, rejects the submit_sm with this command_status
	// (e.g. 0x0B ESME_RINVDSTADR, 0x58 ESME_RTHROTTLED, 0x14 ESME_RMSGQFUL).
	Status pdu.Status
	// Receipt is the stat the receipts of accepted messages report:
	// "DELIVRD", "UNDELIV", "REJECTD" or "EXPIRED". "" leaves it to
	// Config.UndeliveredShare.
	Receipt string
	// NoResponse leaves the submit_sm unanswered, neither stored nor
	// receipted (to test response timeouts).
	NoResponse bool
}

// Receipt outcomes a Rule may choose (the stat: of the receipt text).
const (
	StatDelivered     = "DELIVRD"
	StatUndeliverable = "UNDELIV"
	StatRejected      = "REJECTD"
	StatExpired       = "EXPIRED"
)

// receiptStats are the outcomes with their message_state TLV value and the
// err: code of the receipt text.
var receiptStats = map[string]struct {
	state byte
	err   string
}{
	StatDelivered:     {2, "000"},
	StatExpired:       {3, "003"},
	StatUndeliverable: {5, "001"},
	StatRejected:      {8, "002"},
}

// statusNames are the command_status names ParseRule understands besides
// numbers.
var statusNames = map[string]pdu.Status{
	"ESME_RINVMSGLEN":   0x01,
	"ESME_RSYSERR":      0x08,
	"ESME_RINVSRCADR":   0x0A,
	"ESME_RINVDSTADR":   0x0B,
	"ESME_RMSGQFUL":     0x14,
	"ESME_RINVESMCLASS": 0x43,
	"ESME_RSUBMITFAIL":  0x45,
	"ESME_RINVDSTTON":   0x50,
	"ESME_RINVDSTNPI":   0x51,
	"ESME_RTHROTTLED":   0x58,
	"ESME_RINVDCS":      0x104,
	"ESME_RUNKNOWNERR":  0xFF,
}

// ParseRule reads a rule in the form PREFIX=ACTION[,ACTION...], where an
// ACTION is one of
//
//	status:CODE    reject with that command_status: a number (0x0B, 11) or
//	               a name (ESME_RINVDSTADR)
//	receipt:STAT   receipts say DELIVRD, UNDELIV, REJECTD or EXPIRED
//	noresponse     never answer
//
// for example "+3900=status:0x0B", "+44=receipt:UNDELIV" or
// "+1555=noresponse".
func ParseRule(s string) (Rule, error) {
	prefix, actions, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok || strings.TrimSpace(actions) == "" {
		return Rule{}, fmt.Errorf("smsc: rule %q: want PREFIX=ACTION[,ACTION...], e.g. +44=receipt:UNDELIV", s)
	}
	r := Rule{Prefix: strings.TrimSpace(prefix)}
	for _, a := range strings.Split(actions, ",") {
		key, val, _ := strings.Cut(strings.TrimSpace(a), ":")
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		switch key {
		case "status":
			st, err := parseStatus(val)
			if err != nil {
				return Rule{}, fmt.Errorf("smsc: rule %q: %w", s, err)
			}
			r.Status = st
		case "receipt":
			r.Receipt = strings.ToUpper(val)
		case "noresponse", "no-response":
			if val != "" {
				return Rule{}, fmt.Errorf("smsc: rule %q: noresponse takes no value", s)
			}
			r.NoResponse = true
		default:
			return Rule{}, fmt.Errorf("smsc: rule %q: unknown action %q (want status:CODE, receipt:STAT or noresponse)", s, a)
		}
	}
	if _, err := normRule(r); err != nil {
		return Rule{}, err
	}
	return r, nil
}

func parseStatus(v string) (pdu.Status, error) {
	if st, ok := statusNames[strings.ToUpper(v)]; ok {
		return st, nil
	}
	n, err := strconv.ParseUint(v, 0, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("status %q: want a non-zero command_status such as 0x0B or ESME_RINVDSTADR", v)
	}
	return pdu.Status(n), nil
}

// String renders r in ParseRule's form.
func (r Rule) String() string {
	var acts []string
	if r.Status != 0 {
		acts = append(acts, fmt.Sprintf("status:0x%02X", uint32(r.Status)))
	}
	if r.Receipt != "" {
		acts = append(acts, "receipt:"+r.Receipt)
	}
	if r.NoResponse {
		acts = append(acts, "noresponse")
	}
	return r.Prefix + "=" + strings.Join(acts, ",")
}

// normRule checks r and returns it with Prefix in the form "+digits".
func normRule(r Rule) (Rule, error) {
	p := strings.TrimPrefix(strings.TrimSpace(r.Prefix), "+")
	for _, c := range p {
		if c < '0' || c > '9' {
			return Rule{}, fmt.Errorf("smsc: rule %q: the prefix must be digits, with an optional leading '+'", r.String())
		}
	}
	r.Prefix = "+" + p
	if r.Receipt != "" {
		if _, ok := receiptStats[r.Receipt]; !ok {
			return Rule{}, fmt.Errorf("smsc: rule %q: receipt %q: want DELIVRD, UNDELIV, REJECTD or EXPIRED", r.String(), r.Receipt)
		}
	}
	if r.Status == 0 && r.Receipt == "" && !r.NoResponse {
		return Rule{}, fmt.Errorf("smsc: rule %q: does nothing (set a status, a receipt or noresponse)", r.String())
	}
	return r, nil
}

// sortRules checks rules and returns them normalized, longest prefix first.
func sortRules(rules []Rule) ([]Rule, error) {
	out := make([]Rule, 0, len(rules))
	seen := map[string]bool{}
	for _, r := range rules {
		n, err := normRule(r)
		if err != nil {
			return nil, fmt.Errorf("smsc: Config.Rules: %w", err)
		}
		if seen[n.Prefix] {
			return nil, fmt.Errorf("smsc: Config.Rules: two rules for prefix %s", n.Prefix)
		}
		seen[n.Prefix] = true
		out = append(out, n)
	}
	slices.SortStableFunc(out, func(a, b Rule) int { return len(b.Prefix) - len(a.Prefix) })
	return out, nil
}

// rule returns the rule for destination to ("+digits"), or the zero Rule.
func (s *Server) rule(to string) Rule {
	for _, r := range s.rules {
		if strings.HasPrefix(to, r.Prefix) {
			return r
		}
	}
	return Rule{}
}
