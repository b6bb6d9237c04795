// Package fraud decides which destinations a verification may reach: geo
// permissions (countries and E.164 prefixes, for every channel or one) and
// number types (libphonenumber's: premium rate, fixed line, …). It keeps no
// state and reads no clock: the rate limits and lockouts that need counts
// are the engine's, kept in its store.
//
// A decision is made of two policies, the gateway's and the tenant's; a
// destination must pass both. Every refusal carries a stable code and a
// detail that names the number's country or type and the list that refused
// it, for the API's answer, the verification's events and the metrics.
package fraud

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers/v2"
	"github.com/otpgate/otpgate/internal/phone"
)

// Refusal codes.
const (
	// DestinationNotAllowed: the number's country or prefix is outside the
	// geo permissions of the step's channel.
	DestinationNotAllowed = "destination_not_allowed"
	// NumberTypeNotAllowed: the number's type may not receive codes (premium
	// rate, shared cost), or not on any of the workflow's channels (a fixed
	// line with no voice step).
	NumberTypeNotAllowed = "number_type_not_allowed"
)

// Geo is a list of allowed and denied destinations, each an ISO 3166-1
// alpha-2 country ("IT") or an E.164 prefix ("+3934", "+882").
//
// A number is judged by the most specific entry that names it: the longest
// matching prefix of either list, or its country, which is more specific
// than a prefix no longer than the country's calling code (so {allow:
// ["+1"], deny: [CA]} refuses Canada, {allow: ["+44"], deny: [JE]} Jersey)
// and less specific than a longer one. At equal rank, Deny wins. A number
// no entry names is allowed when Allow is empty and denied otherwise (Allow
// is then the whole list of what may be reached). So {Allow: [GB], Deny: ["+4470"]} takes British numbers but
// not the +44 70 personal-number range, and {Deny: [US], Allow: ["+1415"]}
// takes San Francisco alone of the United States.
type Geo struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// Policy is one party's rules: the gateway's or a tenant's.
type Policy struct {
	// Geo applies to every channel. Channels["voice"] (or sms, whatsapp,
	// rcs) is asked first for that channel's steps: when one of its entries
	// names the number, it decides; else Geo does.
	Geo      Geo            `json:"geo"`
	Channels map[string]Geo `json:"channels,omitempty"`
	// DenyTypes are the number types refused on every channel (Default:
	// premium_rate and shared_cost, whose operators share the revenue of
	// traffic they receive, the pumping scheme's mark). Types not named
	// here and not in VoiceOnlyTypes take every channel.
	DenyTypes []string `json:"deny_number_types,omitempty"`
	// VoiceOnlyTypes are the types that take voice steps only (Default:
	// fixed_line: a landline gets no SMS, WhatsApp or RCS). A workflow
	// starts at its first voice step for them, and is refused when it has
	// none. fixed_line_or_mobile (every US and Canadian number) counts as
	// mobile.
	VoiceOnlyTypes []string `json:"voice_only_number_types,omitempty"`
}

// Defaults are the number-type rules a policy without its own takes.
var (
	DefaultDenyTypes      = []string{phone.PremiumRate, phone.SharedCost}
	DefaultVoiceOnlyTypes = []string{phone.FixedLine}
)

// PolicyError is what is wrong with a policy: Field is where, as the
// config spells it ("deny[0]", "channels.voice.allow[2]").
type PolicyError struct{ Field, Problem string }

func (e *PolicyError) Error() string { return e.Field + ": " + e.Problem }

// Check reports what is wrong with p: an entry that is neither a country
// nor a prefix, or an unknown number type, as a *PolicyError.
func (p Policy) Check() error {
	geo := func(where string, g Geo) error {
		for _, list := range []struct {
			name    string
			entries []string
		}{{"allow", g.Allow}, {"deny", g.Deny}} {
			for i, e := range list.entries {
				if err := checkEntry(e); err != nil {
					return &PolicyError{fmt.Sprintf("%s%s[%d]", where, list.name, i), err.Error()}
				}
			}
		}
		return nil
	}
	if err := geo("", p.Geo); err != nil {
		return err
	}
	for _, ch := range slices.Sorted(func(yield func(string) bool) {
		for k := range p.Channels {
			if !yield(k) {
				return
			}
		}
	}) {
		if !slices.Contains(Channels, ch) {
			return &PolicyError{"channels", fmt.Sprintf("%q is not a channel (%s)", ch, strings.Join(Channels, ", "))}
		}
		if err := geo("channels."+ch+".", p.Channels[ch]); err != nil {
			return err
		}
	}
	for _, list := range []struct {
		name  string
		types []string
	}{{"deny_number_types", p.DenyTypes}, {"voice_only_number_types", p.VoiceOnlyTypes}} {
		for i, t := range list.types {
			if !slices.Contains(phone.Types, t) {
				return &PolicyError{fmt.Sprintf("%s[%d]", list.name, i), fmt.Sprintf("%q is not a number type (%s)", t, strings.Join(phone.Types, ", "))}
			}
		}
	}
	return nil
}

// Channels are the channels a policy may name.
var Channels = []string{"sms", "voice", "whatsapp", "rcs"}

func checkEntry(e string) error {
	if digits, ok := strings.CutPrefix(e, "+"); ok {
		if digits == "" || len(digits) > 15 || strings.Trim(digits, "0123456789") != "" {
			return fmt.Errorf("%q is not an E.164 prefix (+ and 1 to 15 digits)", e)
		}
		return nil
	}
	if len(e) != 2 || strings.ToUpper(e) != e || strings.Trim(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return fmt.Errorf("%q is neither an ISO 3166-1 alpha-2 country (upper case, e.g. IT) nor an E.164 prefix (e.g. +3934)", e)
	}
	return nil
}

// verdict is one list's word on a number: unnamed, allowed or denied, and
// by what entry.
type verdict struct {
	named, allowed bool
	entry          string
}

// judge applies g to n (see Geo).
func (g Geo) judge(n phone.Number) verdict {
	best := verdict{}
	bestRank := 0 // twice the entry's length: a country ranks between prefixes
	countryRank := 2*(1+len(strconv.Itoa(phonenumbers.GetCountryCodeForRegion(n.Country)))) + 1
	for _, list := range []struct {
		entries []string
		allowed bool
	}{{g.Allow, true}, {g.Deny, false}} {
		for _, e := range list.entries {
			rank := 0
			switch {
			case strings.HasPrefix(e, "+") && strings.HasPrefix(n.E164, e):
				rank = 2 * len(e)
			case e == n.Country:
				rank = countryRank
			default:
				continue
			}
			if rank > bestRank || (rank == bestRank && !list.allowed) {
				best, bestRank = verdict{true, list.allowed, e}, rank
			}
		}
	}
	if best.named {
		return best
	}
	if len(g.Allow) > 0 {
		return verdict{true, false, "allow list"}
	}
	return verdict{}
}

// Refusal is why a step, or the whole request, may not go to a number.
type Refusal struct {
	Code    string // DestinationNotAllowed or NumberTypeNotAllowed
	Channel string // the step's; "" for every channel
	Detail  string // what a tenant may read: the country or type, and whose list
	// VoiceOnly: the number takes voice steps only (a landline) and the
	// request has none it may use (Twilio's 60205).
	VoiceOnly bool
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Detail }

// Party is a policy and whose it is ("gateway", "tenant acme"), for the
// refusals' details.
type Party struct {
	Name   string
	Policy Policy
}

// Skip is a workflow step left out, and why.
type Skip struct {
	Step    int // its index in the workflow as asked
	Refusal Refusal
}

// Plan judges a workflow for n under every party: the steps that remain
// (in order), those left out and why, or the refusal of the whole request
// (its first step's channel is outside the geo permissions, the number's
// type is denied, or no step is left).
func Plan(n phone.Number, workflow []string, parties ...Party) (steps []string, skipped []Skip, refused *Refusal) {
	if len(workflow) == 0 {
		return nil, nil, &Refusal{Code: DestinationNotAllowed, Detail: "no step to send"}
	}
	parties = typesResolved(parties)
	for _, p := range parties {
		deny := p.Policy.DenyTypes
		if slices.Contains(deny, n.Type) {
			return nil, nil, &Refusal{Code: NumberTypeNotAllowed,
				Detail: fmt.Sprintf("%s is a %s number, which the %s does not send codes to", n.E164, typeName(n.Type), p.Name)}
		}
	}
	for i, ch := range workflow {
		if r := stepRefusal(n, ch, parties); r != nil {
			if i == 0 && r.Code == DestinationNotAllowed {
				return nil, nil, r
			}
			skipped = append(skipped, Skip{Step: i, Refusal: *r})
			continue
		}
		steps = append(steps, ch)
	}
	if len(steps) == 0 {
		// a step the geo permissions refused says more than "voice only"
		// (a landline's voice step to a denied country)
		i := slices.IndexFunc(skipped, func(s Skip) bool { return s.Refusal.Code == DestinationNotAllowed })
		if i >= 0 {
			r := skipped[i].Refusal
			return nil, nil, &r
		}
		r := skipped[0].Refusal
		r.Detail = fmt.Sprintf("%s is a %s number, which takes voice steps only, and the workflow has none", n.E164, typeName(n.Type))
		r.Channel, r.VoiceOnly = "", true
		return nil, nil, &r
	}
	return steps, skipped, nil
}

// typesResolved gives every party its number-type lists: its own, else the
// defaults; but a tenant's own list (the last party's) replaces the
// gateway's defaults rather than adding to them, so a tenant may allow what
// only the defaults refuse, never what the gateway's own list refuses.
func typesResolved(parties []Party) []Party {
	out := slices.Clone(parties)
	last := len(out) - 1
	for i := range out {
		p := &out[i].Policy
		if p.DenyTypes == nil {
			p.DenyTypes = DefaultDenyTypes
			if i < last && out[last].Policy.DenyTypes != nil {
				p.DenyTypes = []string{}
			}
		}
		if p.VoiceOnlyTypes == nil {
			p.VoiceOnlyTypes = DefaultVoiceOnlyTypes
			if i < last && out[last].Policy.VoiceOnlyTypes != nil {
				p.VoiceOnlyTypes = []string{}
			}
		}
	}
	return out
}

// stepRefusal is why channel ch may not reach n, or nil.
func stepRefusal(n phone.Number, ch string, parties []Party) *Refusal {
	for _, p := range parties {
		only := p.Policy.VoiceOnlyTypes
		if ch != "voice" && slices.Contains(only, n.Type) {
			return &Refusal{Code: NumberTypeNotAllowed, Channel: ch,
				Detail: fmt.Sprintf("%s is a %s number: no %s to it, voice only (%s)", n.E164, typeName(n.Type), ch, p.Name)}
		}
		v := p.Policy.Geo.judge(n)
		if cg, ok := p.Policy.Channels[ch]; ok {
			if cv := cg.judge(n); cv.named {
				v = cv
			}
		}
		if v.named && !v.allowed {
			by := "denied by " + v.entry
			if v.entry == "allow list" {
				by = "not in the allow list"
			}
			return &Refusal{Code: DestinationNotAllowed, Channel: ch,
				Detail: fmt.Sprintf("%s to %s (%s) is not allowed: %s of the %s", ch, n.Country, n.E164, by, p.Name)}
		}
	}
	return nil
}

func typeName(t string) string { return strings.ReplaceAll(t, "_", " ") }
