package smscx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
)

// The facade's defaults where a request leaves a field out. SMS.CX takes
// them from the application's settings in its dashboard; here the ttl is
// fixed inside SMS.CX's 60..1800 (a tenant's own may be outside it) and
// the rest are the tenant's.
const defaultTTL = 600 * time.Second

var (
	trackIDRe  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	templateRe = regexp.MustCompile(`^(?i:template_([a-z]{2}(?:[-_][a-z]{2,4})?))$`)
	countryRe  = regexp.MustCompile(`^[A-Za-z]{2}$`)
)

// pinTypes maps SMS.CX's pinType to the engine's code types.
var pinTypes = map[string]string{"numbers": engine.CodeNumeric, "letters": engine.CodeAlpha, "alphanumeric": engine.CodeAlphanumeric}

// create: POST /otp, a JSON NewOtpRequest. Numbers may come as numeric
// strings (the official PHP example sends them so). Fields SMS.CX does
// not know are ignored, as it does.
func (f *Facade) create(ctx *fasthttp.RequestCtx, c reqCtx) {
	body := bytes.TrimSpace(ctx.PostBody())
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		fail(ctx, 400, "invalid_param", 2000, "The request body is not a JSON object: "+jsonProblem(body, err))
		return
	}
	req := engine.CreateRequest{Tenant: c.tenant, Channel: engine.ChannelSMS, TTL: defaultTTL,
		PendingPolicy: engine.PolicyReplace, API: API}

	phone, set, ok := str(in, "phoneNumber")
	if !ok || !set || phone == "" {
		fail(ctx, 400, "invalid_param", 2001, "The parameter 'phoneNumber' is empty or not set")
		return
	}
	national := !strings.HasPrefix(phone, "+") && !strings.HasPrefix(phone, "00")
	country, set, ok := str(in, "countryIso")
	switch {
	case !ok:
		fail(ctx, 400, "invalid_param", 2003, "Country ISO provided is invalid: not a string")
		return
	case national && (!set || country == ""):
		fail(ctx, 400, "invalid_param", 2002, "The parameter 'countryIso' is empty or not set (phoneNumber "+quote(phone)+" is national, not E.164)")
		return
	case set && country != "" && !countryRe.MatchString(country):
		fail(ctx, 400, "invalid_param", 2003, "Country ISO provided is invalid: "+quote(country)+" is not two letters (ISO 3166 alpha-2, GB not UK)")
		return
	}
	req.Number = phone
	if national {
		req.Country = strings.ToUpper(country) // with E.164, countryIso is ignored, as at SMS.CX
	}

	if from, set, ok := str(in, "from"); set {
		switch {
		case !ok || from == "":
			fail(ctx, 400, "invalid_param", 2004, "The parameter 'from' is empty or not set")
			return
		case utf8.RuneCountInString(from) < 3 || utf8.RuneCountInString(from) > 15:
			fail(ctx, 400, "invalid_param", 2005, fmt.Sprintf("The parameter 'from' is not valid (min 3, max 15 characters): %d characters", utf8.RuneCountInString(from)))
			return
		}
		req.SenderID = from
	}

	texts := map[string]string{}
	for k, raw := range in {
		var locale string
		if k == "template" {
			locale = ""
		} else if m := templateRe.FindStringSubmatch(k); m != nil {
			locale = strings.ToLower(strings.ReplaceAll(m[1], "_", "-"))
		} else {
			continue
		}
		var text string
		if err := json.Unmarshal(raw, &text); err != nil || strings.TrimSpace(text) == "" {
			fail(ctx, 400, "invalid_param", 2006, "The parameter '"+k+"' is empty or not set")
			return
		}
		if !strings.Contains(text, "{{pin}}") {
			fail(ctx, 400, "invalid_param", 2006, "The parameter '"+k+"' does not contain placeholder {{pin}}")
			return
		}
		texts[locale] = strings.ReplaceAll(text, "{{pin}}", "{code}")
	}
	if len(texts) > 0 {
		req.Texts = texts
	}

	ttl, set, err := integer(in, "ttl")
	switch {
	case err != nil:
		fail(ctx, 400, "invalid_param", 2007, "The parameter 'ttl' is not a number")
		return
	case set && ttl < 60:
		fail(ctx, 400, "invalid_param", 2008, "Min value for 'ttl' is 60 seconds")
		return
	case set && ttl > 1800:
		fail(ctx, 400, "invalid_param", 2009, "Max value for 'ttl' is 1800 seconds (30 mins)")
		return
	case set:
		req.TTL = time.Duration(ttl) * time.Second
	}
	n, set, err := integer(in, "maxAttempts")
	switch {
	case err != nil:
		fail(ctx, 400, "invalid_param", 2010, "The parameter 'maxAttempts' is not a number")
		return
	case set && n < 1:
		fail(ctx, 400, "invalid_param", 2011, "Min value for 'maxAttempts' is 1")
		return
	case set && n > 10:
		fail(ctx, 400, "invalid_param", 2012, "Max value for 'maxAttempts' is 10")
		return
	case set:
		req.MaxAttempts = int(n)
	}
	if pt, set, ok := str(in, "pinType"); set {
		switch {
		case !ok || pt == "":
			fail(ctx, 400, "invalid_param", 2013, "The parameter 'pinType' is empty or not set")
			return
		case pinTypes[pt] == "":
			fail(ctx, 400, "invalid_param", 2014, "Invalid parameter 'pinType'. Must be one of: letters, numbers, alphanumeric")
			return
		}
		req.CodeType = pinTypes[pt]
	}
	n, set, err = integer(in, "pinLength")
	switch {
	case err != nil:
		fail(ctx, 400, "invalid_param", 2015, "The parameter 'pinLength' is not a number")
		return
	case set && n < 4:
		fail(ctx, 400, "invalid_param", 2016, "Min value for 'pinLength' is 4")
		return
	case set && n > 10:
		fail(ctx, 400, "invalid_param", 2017, "Max value for 'pinLength' is 10")
		return
	case set:
		req.CodeLength = int(n)
	}
	if tr, set, ok := str(in, "trackId"); set && (tr != "" || !ok) {
		if !ok || !trackIDRe.MatchString(tr) {
			fail(ctx, 400, "invalid_param", 2018, "Track ID provided (parameter 'trackId') is not a valid UUID (v1-v5)")
			return
		}
		req.ClientRef = tr
	}
	if cb, set, ok := str(in, "otpCallbackUrl"); set && (cb != "" || !ok) {
		if !ok {
			fail(ctx, 400, "invalid_param", 2019, "The parameter 'otpCallbackUrl' is not a valid URL")
			return
		}
		req.CallbackURL = cb
	}

	created, err := f.eng.Create(ctx, req)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	v, err := f.eng.Get(ctx, c.tenant, created.ID)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	httpx.WriteJSON(ctx, 201, render(v))
}

// find reads the verification an otpId names, of the caller's tenant and
// made through this facade; engine.ErrNotFound for any other.
func (f *Facade) find(ctx *fasthttp.RequestCtx, c reqCtx) (*engine.View, error) {
	raw, _ := ctx.UserValue("otpId").(string)
	id, ok := idOf(raw)
	if !ok {
		return nil, engine.ErrNotFound
	}
	v, err := f.eng.Get(ctx, c.tenant, id)
	if err != nil {
		return nil, err
	}
	if v.API != API {
		return nil, engine.ErrNotFound
	}
	return v, nil
}

// get: GET /otp/{otpId}, the OTP in any status.
func (f *Facade) get(ctx *fasthttp.RequestCtx, c reqCtx) {
	v, err := f.find(ctx, c)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	httpx.WriteJSON(ctx, 200, render(v))
}

// check: POST /otp/{otpId} {"pin": "…"}. A right pin is 200
// {"status":"VERIFIED"}; everything else a 400 with the reason's code.
// Two pairs of codes tell whether this check ended the OTP: 2028 (this
// check came after the expiry; the OTP is marked expired now) and 2027
// (this wrong pin used the last attempt), against 2025 and 2026 for an
// OTP that had already ended so.
func (f *Facade) check(ctx *fasthttp.RequestCtx, c reqCtx) {
	v, err := f.find(ctx, c)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	var in struct {
		Pin json.RawMessage `json:"pin"`
	}
	body := bytes.TrimSpace(ctx.PostBody())
	if err := json.Unmarshal(body, &in); err != nil {
		fail(ctx, 400, "invalid_param", 2022, "The parameter pin is empty or not set: the body is not a JSON object: "+jsonProblem(body, err))
		return
	}
	pin, err := pinOf(in.Pin)
	if err != nil {
		fail(ctx, 400, "invalid_param", 2022, "The parameter pin is empty or not set: "+err.Error())
		return
	}
	if e, ended := endedError(v); ended {
		e.write(ctx)
		return
	}
	res, err := f.eng.Check(ctx, c.tenant, v.ID, pin)
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	switch {
	case res.Verified && res.Reason == "":
		httpx.WriteJSON(ctx, 200, map[string]string{"status": "VERIFIED"})
	case res.Reason == "wrong_code":
		fail(ctx, 400, "invalid_pin", 2029, fmt.Sprintf("The PIN provided does not verify (%d attempts left)", res.AttemptsLeft))
	case res.Reason == "max_attempts" && v.Status == engine.StatusPending:
		fail(ctx, 400, "otp_failed", 2027, "Max attempts reached: the PIN provided does not verify and no attempts are left")
	case res.Reason == "expired" && !markedExpired(v):
		fail(ctx, 400, "otp_expired", 2028, "The PIN has expired")
	default: // it ended between the read and the check
		after, err := f.eng.Get(ctx, c.tenant, v.ID)
		if err != nil {
			f.engineError(ctx, err)
			return
		}
		e, _ := endedError(after)
		e.write(ctx)
	}
}

// endedError is the answer to a check of an OTP that has ended.
func endedError(v *engine.View) (apiError, bool) {
	switch v.Status {
	case engine.StatusVerified:
		return apiError{400, "otp_verified", 2023, "The OTP was already verified"}, true
	case engine.StatusCanceled:
		return apiError{400, "otp_cancelled", 2024, "The OTP was canceled"}, true
	case engine.StatusFailed:
		if v.Attempts < v.MaxAttempts {
			return apiError{400, "otp_failed", 2026, "The OTP has failed: the PIN could not be delivered"}, true
		}
		return apiError{400, "otp_failed", 2026, "The OTP has failed, maximum attempts reached"}, true
	case engine.StatusExpired:
		if !markedExpired(v) {
			return apiError{}, false // past its expiry, not yet marked: the check marks it (2028)
		}
		return apiError{400, "otp_expired", 2025, "The OTP has expired"}, true
	}
	return apiError{}, false
}

// markedExpired reports whether the store holds v as expired (the view
// says expired as soon as the time has passed).
func markedExpired(v *engine.View) bool {
	for _, e := range v.Events {
		if e.Type == engine.StatusExpired {
			return true
		}
	}
	return false
}

// pinOf reads the pin: a string, or a number as some clients send it.
func pinOf(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("no pin in the body")
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("pin is not a string")
		}
	} else if _, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
		s = string(raw)
	} else {
		return "", errors.New("pin is not a string")
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("pin is empty")
	case len(s) > 64:
		return "", errors.New("pin is longer than 64 characters")
	}
	return s, nil
}

// cancel: DELETE /otp/{otpId}. Only a pending OTP can be cancelled: 403
// 2030 for one cancelled before, 2031 for one that ended otherwise.
func (f *Facade) cancel(ctx *fasthttp.RequestCtx, c reqCtx) {
	v, err := f.find(ctx, c)
	if err == nil {
		_, err = f.eng.Cancel(ctx, c.tenant, v.ID)
	}
	if errors.Is(err, engine.ErrNotPending) {
		if v, err = f.eng.Get(ctx, c.tenant, v.ID); err == nil {
			if v.Status == engine.StatusCanceled {
				fail(ctx, 403, "access_denied", 2030, "Otp already cancelled")
			} else {
				fail(ctx, 403, "access_denied", 2031, "You cannot cancel a non-pending Otp (it is "+statusOf[v.Status]+")")
			}
			return
		}
	}
	if err != nil {
		f.engineError(ctx, err)
		return
	}
	httpx.WriteJSON(ctx, 200, map[string]any{"info": map[string]string{"id": OTPID(v.ID)}})
}

// str reads a string field: set when present and not null, ok when a
// string (or a number, taken as its digits).
func str(in map[string]json.RawMessage, k string) (s string, set, ok bool) {
	raw, present := in[k]
	if !present || string(bytes.TrimSpace(raw)) == "null" {
		return "", false, true
	}
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s), true, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), true, true
	}
	return "", true, false
}

// integer reads a whole number, given as a JSON number or a numeric
// string.
func integer(in map[string]json.RawMessage, k string) (n int64, set bool, err error) {
	raw, present := in[k]
	if !present || string(bytes.TrimSpace(raw)) == "null" {
		return 0, false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(bytes.TrimSpace(raw))
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1e9 {
		return 0, true, fmt.Errorf("%s is not a whole number", k)
	}
	return int64(f), true, nil
}

func jsonProblem(body []byte, err error) string {
	switch {
	case len(body) == 0:
		return "the body is empty"
	case err == nil:
		return "null"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at byte %d", se, se.Offset)
	}
	return err.Error()
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
