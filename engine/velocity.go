package engine

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/otpgate/otpgate/engine/store"
)

// Velocity limits: creates per tenant and destination country, per number
// prefix, and per end user (client_ip, client_ref). Each is a token bucket
// taken in the create's own commit (store.Bucket), so the counts survive a
// restart and, with a shared store, are shared by every node. They bound
// what an attacker with a tenant's key, or a bot on the tenant's sign-up
// page, can make the gateway send: the per-number limits stop nobody who
// walks a range, and pumping walks ranges.

// Velocity is a token bucket: Rate creates a second on average, Burst at
// once. A zero Rate takes the default; a negative one turns the limit off.
type Velocity struct {
	Rate  float64
	Burst int
}

// VelocityLimits are the velocity limits of a tenant (Tenant.Velocity) or
// of every tenant (Limits.Velocity). A zero field takes the gateway's, then
// the default.
type VelocityLimits struct {
	// Country: creates to one country. Default 20 a second, burst 200.
	Country Velocity
	// Prefix: creates to one number range, the first PrefixDigits digits
	// of the E.164 number (country code included). Default 1 every 6 s
	// (10 a minute), burst 20, over 8 digits (+39 347 123: a range of
	// 100,000 Italian numbers; +1 415 555 5: 1,000 American ones).
	Prefix       Velocity
	PrefixDigits int
	// Client: creates for one end user, by client_ip (an IPv6 address by
	// its /64) and, separately, by client_ref. Default 1 a minute, burst 5.
	Client Velocity
}

// Defaults of the velocity limits.
var (
	DefaultCountryVelocity = Velocity{Rate: 20, Burst: 200}
	DefaultPrefixVelocity  = Velocity{Rate: 1.0 / 6, Burst: 20}
	DefaultPrefixDigits    = 8
	DefaultClientVelocity  = Velocity{Rate: 1.0 / 60, Burst: 5}
)

// velocityOf is the limit in force: the tenant's, else the gateway's, else
// the default; ok false when it is off.
func velocityOf(tenant, gateway, def Velocity) (Velocity, bool) {
	v := tenant
	if v.Rate == 0 {
		v = gateway
	}
	if v.Rate == 0 {
		v = def
	}
	if v.Rate < 0 {
		return v, false
	}
	v.Burst = max(v.Burst, 1)
	return v, true
}

// velocity is the buckets a create of rec takes from.
func (e *Engine) velocity(rec *store.Record, p plan) []store.Bucket {
	tv := p.velocity
	gv := e.cfg.Limits.Velocity
	now := rec.CreatedAt
	var out []store.Bucket
	add := func(kind, key string, v Velocity) {
		out = append(out, store.Bucket{Name: "v\x00" + kind + "\x00" + rec.Tenant + "\x00" + key, Rate: v.Rate, Burst: v.Burst, Now: now})
	}
	if v, ok := velocityOf(tv.Country, gv.Country, DefaultCountryVelocity); ok {
		add("country", rec.Country, v)
	}
	if v, ok := velocityOf(tv.Prefix, gv.Prefix, DefaultPrefixVelocity); ok {
		digits := cmp.Or(tv.PrefixDigits, gv.PrefixDigits, DefaultPrefixDigits)
		add("prefix", rangeOf(rec.Number, digits), v)
	}
	if v, ok := velocityOf(tv.Client, gv.Client, DefaultClientVelocity); ok {
		if p.clientIP != "" {
			add("client_ip", p.clientIP, v)
		}
		if p.endUser != "" {
			add("client_ref", p.endUser, v)
		}
	}
	return out
}

// rangeOf is the first digits digits of an E.164 number, with its "+".
func rangeOf(e164 string, digits int) string {
	if len(e164) <= digits+1 {
		return e164
	}
	return e164[:digits+1]
}

// velocityRefusal is the 429 for a create a velocity bucket refused.
func (e *Engine) velocityRefusal(le *store.LimitedError, rec *store.Record) (*LimitError, bool) {
	parts := strings.SplitN(le.Name, "\x00", 4)
	if len(parts) != 4 || parts[0] != "v" {
		return nil, false
	}
	kind, key := parts[1], parts[3]
	var what string
	switch kind {
	case "country":
		what = "verifications to " + key + " for this tenant (fraud velocity: country)"
	case "prefix":
		what = "verifications to the numbers starting " + key + " for this tenant (fraud velocity: prefix)"
	case "client_ip":
		what = "verifications for the end user at " + key + " (fraud velocity: client, client_ip)"
	case "client_ref":
		what = "verifications for the end user " + key + " (fraud velocity: client, client_ref)"
	}
	fraudRefused("velocity_limit", "", rec.Country)
	return &LimitError{Code: "velocity_limit", RetryAfter: le.RetryAfter,
		Detail: fmt.Sprintf("too many %s; retry in %s", what, le.RetryAfter.Round(time.Millisecond))}, true
}

// Defaults of the call limits (Limits.CallsPerNumber, CallsPerPrefix).
var (
	DefaultCallsPerNumber = Velocity{Rate: 3.0 / 3600, Burst: 3}
	DefaultCallsPerPrefix = Velocity{Rate: 20.0 / 3600, Burst: 20}
)

// takeCall takes a call to r's number from its tenant's limits; an error
// (reason voice_limit) when one is used up. Per tenant: another tenant's
// traffic never uses up a number's calls (a landline's only channel).
func (e *Engine) takeCall(r *store.Record) error {
	now := e.now()
	l := e.cfg.Limits
	for _, c := range []struct {
		kind, key string
		v         Velocity
		def       Velocity
	}{
		{"number", r.Number, l.CallsPerNumber, DefaultCallsPerNumber},
		{"prefix", rangeOf(r.Number, cmp.Or(l.CallPrefixDigits, DefaultPrefixDigits)), l.CallsPerPrefix, DefaultCallsPerPrefix},
	} {
		v, ok := velocityOf(Velocity{}, c.v, c.def)
		if !ok {
			continue
		}
		err := e.st.TakeBucket(store.Bucket{Name: "c\x00" + c.kind + "\x00" + r.Tenant + "\x00" + c.key, Rate: v.Rate, Burst: v.Burst, Now: now})
		var le *store.LimitedError
		if errors.As(err, &le) {
			fraudRefused("voice_limit", ChannelVoice, r.Country)
			return reasonError{fmt.Errorf("too many calls to this %s (%s) for now; next in %s", c.kind, c.key, le.RetryAfter.Round(time.Second)), "voice_limit"}
		}
		if err != nil {
			return errCallLimitUnknown{err}
		}
	}
	return nil
}

// errCallLimitUnknown: the call limits could not be read (the store
// failed); the call waits and is tried again, never placed unchecked.
type errCallLimitUnknown struct{ err error }

func (e errCallLimitUnknown) Error() string  { return "call limits unavailable: " + e.err.Error() }
func (e errCallLimitUnknown) Reason() string { return "store_unavailable" }
