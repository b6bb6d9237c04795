package vonage

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/ids"
)

// Verify v1. Every answer is HTTP 200 with a JSON object whose "status" is
// a string ("0" for success) and, for an error, "error_text"; the SDKs
// never look at the HTTP status, and read Content-Type application/json
// only.

// answer is a v1 answer: every value a string, as Vonage sends them.
type answer map[string]any

func reply(ctx *fasthttp.RequestCtx, a answer) { httpx.WriteJSON(ctx, 200, a) }

func failure(ctx *fasthttp.RequestCtx, status, text string, extra ...string) {
	a := answer{"status": status, "error_text": text}
	for i := 0; i+1 < len(extra); i += 2 {
		a[extra[i]] = extra[i+1]
	}
	reply(ctx, a)
}

func missing(ctx *fasthttp.RequestCtx, name string) {
	failure(ctx, "2", "Your request is incomplete and missing the mandatory parameter `"+name+"`")
}

func invalid(ctx *fasthttp.RequestCtx, name, why string) {
	text := "Invalid value for parameter `" + name + "`"
	if why != "" {
		text += ": " + why
	}
	failure(ctx, "3", text)
}

// v1Call is an authenticated v1 request.
type v1Call struct {
	acct *Account
	p    params
}

// v1 reads the parameters and the credentials (a Basic header, or api_key
// and api_secret among the parameters) and takes one request from the
// tenant's rate.
func (f *Facade) v1(h func(ctx *fasthttp.RequestCtx, c v1Call)) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		p, ok := readParams(ctx)
		if !ok {
			failure(ctx, "3", "Invalid value for parameter `body`: the JSON body does not parse")
			return
		}
		key, secret, basic := httpx.BasicAuth(ctx)
		if !basic {
			key, secret = p.get("api_key"), p.get("api_secret")
		}
		switch {
		case key == "":
			missing(ctx, "api_key")
			return
		case secret == "" && p.has("sig"):
			failure(ctx, "4", "Signed requests (sig) are not supported by this gateway: send api_secret, or Basic credentials")
			return
		case secret == "":
			missing(ctx, "api_secret")
			return
		}
		acct := f.creds.Load().Accounts[key]
		if acct == nil || !httpx.Matches(acct.Secret, []byte(secret)) {
			failure(ctx, "4", "Invalid credentials were provided")
			return
		}
		if ok, _ := f.mux.Allow(acct.Tenant); !ok {
			failure(ctx, "1", "Throttled")
			return
		}
		h(ctx, v1Call{acct: acct, p: p})
	}
}

// workflow is one of Vonage's seven: its steps and the default wait after
// each (the last until the request expires).
type workflow struct {
	steps []string
	waits []time.Duration
}

var (
	sms, voice = engine.ChannelSMS, engine.ChannelVoice
	workflows  = map[int]workflow{
		1: {[]string{sms, voice, voice}, secs(125, 180, 300)},
		2: {[]string{sms, sms, voice}, secs(125, 180, 300)},
		3: {[]string{voice, voice}, secs(150, 150)},
		4: {[]string{sms, sms}, secs(120, 180)},
		5: {[]string{sms, voice}, secs(125, 300)},
		6: {[]string{sms}, secs(300)},
		7: {[]string{voice}, secs(300)},
	}
)

func secs(s ...int) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = time.Duration(v) * time.Second
	}
	return out
}

// languages are the lg values of /verify/json; psd2Languages of
// /verify/psd2/json.
var (
	languages     = set("ar-xa cs-cz cy-cy cy-gb da-dk de-de el-gr en-au en-gb en-in en-us es-es es-mx es-us fi-fi fil-ph fr-ca fr-fr hi-in hu-hu id-id is-is it-it ja-jp ko-kr nb-no nl-nl pl-pl pt-br pt-pt ro-ro ru-ru sv-se th-th tr-tr vi-vn yue-cn zh-cn zh-tw")
	psd2Languages = set("en-gb bg-bg cs-cz da-dk de-de ee-et el-gr es-es fi-fi fr-fr ga-ie hu-hu it-it lv-lv lt-lt mt-mt nl-nl pl-pl sk-sk sl-si sv-se")
)

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// request: /verify/json.
func (f *Facade) request(ctx *fasthttp.RequestCtx, c v1Call) {
	brand := c.p.get("brand")
	switch {
	case brand == "":
		missing(ctx, "brand")
		return
	case len([]rune(brand)) > 18:
		invalid(ctx, "brand", "longer than 18 characters")
		return
	}
	req, ok := f.v1Create(ctx, c, languages, "en-us")
	if !ok {
		return
	}
	req.Brand = brand
	if sender := c.p.get("sender_id"); sender != "" {
		if utf8.RuneCountInString(sender) > 11 {
			invalid(ctx, "sender_id", "longer than 11 characters")
			return
		}
		req.SenderID = sender
	}
	if code := c.p.get("pin_code"); code != "" {
		req.Code, req.CodeLength = code, 0
	}
	f.v1Start(ctx, c, req)
}

// psd2: /verify/psd2/json, a payment's strong authentication: the message
// names the payee and the amount.
func (f *Facade) psd2(ctx *fasthttp.RequestCtx, c v1Call) {
	payee, amount := c.p.get("payee"), c.p.get("amount")
	switch {
	case payee == "":
		missing(ctx, "payee")
		return
	case len([]rune(payee)) > 18:
		invalid(ctx, "payee", "longer than 18 characters")
		return
	case amount == "":
		missing(ctx, "amount")
		return
	}
	eur, err := strconv.ParseFloat(amount, 64)
	if err != nil || !(eur > 0 && eur <= 1e9) { // NaN fails both
		invalid(ctx, "amount", "not a positive amount in euros")
		return
	}
	if strings.ContainsAny(payee, "{}") {
		invalid(ctx, "payee", "must not hold { or }")
		return
	}
	req, ok := f.v1Create(ctx, c, psd2Languages, "en-gb")
	if !ok {
		return
	}
	req.Template = fmt.Sprintf("Your code to approve the payment of €%.2f to %s is {code}. It expires in {minutes} min.", eur, payee)
	f.v1Start(ctx, c, req)
}

// v1Create reads what /verify/json and /verify/psd2/json share: number,
// country, code_length, lg, workflow_id, next_event_wait, pin_expiry.
func (f *Facade) v1Create(ctx *fasthttp.RequestCtx, c v1Call, langs map[string]bool, defaultLang string) (engine.CreateRequest, bool) {
	req := engine.CreateRequest{Tenant: c.acct.Tenant, API: APIv1, MaxAttempts: 3, PendingPolicy: engine.PolicyReject, CodeLength: 4,
		ClientIP: c.p.get("ip_address")} // the end user's, for the velocity limit per user
	number := c.p.get("number")
	if number == "" {
		missing(ctx, "number")
		return req, false
	}
	req.Country = strings.ToUpper(c.p.get("country"))
	if req.Country == "" && !strings.HasPrefix(number, "+") {
		number = "+" + strings.TrimPrefix(number, "00")
	}
	req.Number = number
	if n, given, ok := c.p.int("code_length"); given {
		if !ok || (n != 4 && n != 6) {
			invalid(ctx, "code_length", "4 or 6")
			return req, false
		}
		req.CodeLength = n
	}
	lg := strings.ToLower(c.p.get("lg"))
	if lg == "" {
		lg = defaultLang
	}
	if !langs[lg] {
		invalid(ctx, "lg", fmt.Sprintf("%q is not a language of this endpoint", lg))
		return req, false
	}
	if c.p.has("lg") {
		req.Locale = lg // else the number's country decides, as at Vonage
	}
	id := 1
	if n, given, ok := c.p.int("workflow_id"); given {
		if _, known := workflows[n]; !ok || !known {
			invalid(ctx, "workflow_id", "one of 1 to 7")
			return req, false
		}
		id = n
	}
	wf := workflows[id]
	req.Workflow = wf.steps
	req.StepWaits = append([]time.Duration(nil), wf.waits...)
	last := len(req.StepWaits) - 1
	nextWait := time.Duration(0)
	if n, given, ok := c.p.int("next_event_wait"); given {
		if !ok || n < 60 || n > 900 {
			invalid(ctx, "next_event_wait", "60 to 900 seconds")
			return req, false
		}
		nextWait = time.Duration(n) * time.Second
		for i := range last { // between events; the last event's wait is the workflow's
			req.StepWaits[i] = nextWait
		}
	}
	pinExpiry := 300 * time.Second
	if n, given, ok := c.p.int("pin_expiry"); given {
		if !ok || n < 60 || n > 3600 {
			invalid(ctx, "pin_expiry", "60 to 3600 seconds")
			return req, false
		}
		pinExpiry = time.Duration(n) * time.Second
		if nextWait > 0 && pinExpiry%nextWait != 0 {
			pinExpiry = nextWait // as Vonage: not a multiple of next_event_wait, it equals it
		}
	}
	// The request lives through its events, then as long as the last
	// event's wait or pin_expiry, whichever is longer. The code stays the
	// same throughout (Vonage makes a new one when pin_expiry passes
	// mid-workflow; see the package comment).
	req.StepWaits[last] = max(req.StepWaits[last], pinExpiry)
	for _, w := range req.StepWaits {
		req.TTL += w
	}
	return req, true
}

// v1Start creates the verification and answers with its request_id.
func (f *Facade) v1Start(ctx *fasthttp.RequestCtx, c v1Call, req engine.CreateRequest) {
	created, err := f.eng.Create(ctx, req)
	if err != nil {
		f.v1CreateError(ctx, err)
		return
	}
	reply(ctx, answer{"request_id": RequestID(created.ID), "status": "0"})
}

func (f *Facade) v1CreateError(ctx *fasthttp.RequestCtx, err error) {
	var fe *engine.FieldError
	var ce *engine.ConcurrentError
	var le *engine.LimitError
	switch {
	case errors.As(err, &ce):
		failure(ctx, "10", "Concurrent verifications to the same number are not allowed", "request_id", RequestID(ce.ID))
	case errors.As(err, &le), errors.Is(err, engine.ErrOverloaded):
		failure(ctx, "1", "Throttled")
	case errors.As(err, &fe) && fe.Code == "custom_code_not_allowed":
		failure(ctx, "20", "This account does not support the parameter: pin_code.")
	case errors.As(err, &fe) && fe.Code == "destination_not_allowed":
		failure(ctx, "7", "The number you are trying to verify is blacklisted for verification ("+fe.Detail+")")
	case errors.As(err, &fe) && fe.Code == "number_type_not_allowed":
		failure(ctx, "15", "The destination number is not in a supported network ("+fe.Detail+")")
	case errors.As(err, &fe) && fe.Code == "no_route":
		failure(ctx, "15", "The destination number is not in a supported network ("+fe.Detail+")")
	case errors.As(err, &fe) && fe.Code == "channel_unavailable":
		failure(ctx, "6", "The Vonage platform was unable to process this message for the following reason: The request could not be routed. ("+fe.Detail+")")
	case errors.As(err, &fe):
		invalid(ctx, v1Param(fe.Field), fe.Detail)
	default:
		f.internal(ctx, err)
	}
}

// v1Param names the request parameter behind an engine field.
func v1Param(field string) string {
	switch field {
	case "code":
		return "pin_code"
	case "locale":
		return "lg"
	case "template":
		return "brand"
	case "workflow", "channel":
		return "workflow_id"
	case "client_ip":
		return "ip_address"
	}
	return field
}

// find reads the verification a request_id names, of this account's
// tenant and made through v1: engine.ErrNotFound for any other, another
// error when the engine failed.
func (f *Facade) find(ctx *fasthttp.RequestCtx, c v1Call, requestID string) (*engine.View, error) {
	id, ok := idOfV1(requestID)
	if !ok {
		return nil, engine.ErrNotFound
	}
	v, err := f.eng.Get(ctx, c.acct.Tenant, id)
	if err != nil {
		return nil, err
	}
	if v.API != APIv1 {
		return nil, engine.ErrNotFound
	}
	return v, nil
}

// internal answers status 5 for an engine failure (a store that failed).
func (f *Facade) internal(ctx *fasthttp.RequestCtx, err error, extra ...string) {
	f.log.Error("vonage facade: engine failed", "path", string(ctx.Path()), "err", err)
	failure(ctx, "5", "Internal Error", extra...)
}

// check: /verify/check/json. Three wrong codes end the request (17).
func (f *Facade) check(ctx *fasthttp.RequestCtx, c v1Call) {
	rid, code := c.p.get("request_id"), c.p.get("code")
	switch {
	case rid == "":
		missing(ctx, "request_id")
		return
	case code == "":
		missing(ctx, "code")
		return
	case len(code) > 64:
		invalid(ctx, "code", "longer than 64 characters")
		return
	}
	notFound := func() {
		failure(ctx, "6", "The Vonage platform was unable to process this message for the following reason: Request '"+rid+"' was not found or it has been verified already.", "request_id", rid)
	}
	v, err := f.find(ctx, c, rid)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		notFound()
		return
	case err != nil:
		f.internal(ctx, err, "request_id", rid)
		return
	}
	res, err := f.eng.Check(ctx, c.acct.Tenant, v.ID, code)
	var le *engine.LimitError
	switch {
	case errors.As(err, &le):
		failure(ctx, "1", "Throttled", "request_id", rid)
		return
	case errors.Is(err, engine.ErrNotFound):
		notFound()
		return
	case err != nil:
		f.internal(ctx, err, "request_id", rid)
		return
	}
	switch {
	case res.Verified:
		reply(ctx, answer{"request_id": rid, "event_id": eventID(v, len(v.Messages)-1), "status": "0",
			"price": "0.00000000", "currency": "EUR", "estimated_price_messages_sent": "0.00000000"})
	case res.Reason == "wrong_code":
		failure(ctx, "16", "The code provided does not match the expected value", "request_id", rid)
	case res.Reason == "max_attempts" && v.Status == engine.StatusPending:
		failure(ctx, "17", "The wrong code was provided too many times. Request terminated", "request_id", rid)
	default: // ended: verified before, failed, expired, canceled
		notFound()
	}
}

// eventID names message i of v as a Vonage event id: 32 hex digits, the
// verification's bits with the last byte changed by the message's place.
func eventID(v *engine.View, i int) string {
	b, ok := ids.Bytes(v.ID)
	if !ok {
		return ""
	}
	b[15] ^= byte(i + 1)
	return hex.EncodeToString(b[:])
}

// search: /verify/search/json, one request_id or several (request_ids,
// repeated, or a comma-separated list as the Node SDK sends an array).
func (f *Facade) search(ctx *fasthttp.RequestCtx, c v1Call) {
	var want []string
	for _, v := range append(c.p["request_id"], c.p["request_ids"]...) {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				want = append(want, s)
			}
		}
	}
	switch {
	case len(want) == 0:
		missing(ctx, "request_id")
		return
	case len(want) > 10:
		invalid(ctx, "request_ids", "at most 10")
		return
	}
	var found []answer
	for _, rid := range want {
		v, err := f.find(ctx, c, rid)
		switch {
		case err == nil:
			found = append(found, f.searchResult(c, v))
		case !errors.Is(err, engine.ErrNotFound):
			f.internal(ctx, err)
			return
		}
	}
	switch {
	case len(found) == 0:
		failure(ctx, "101", "No response found")
	case len(want) == 1:
		reply(ctx, found[0])
	default:
		reply(ctx, answer{"verification_requests": found})
	}
}

// vonageTime is the search's time format.
func vonageTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func (f *Facade) searchResult(c v1Call, v *engine.View) answer {
	st := map[string]string{
		engine.StatusPending: "IN PROGRESS", engine.StatusVerified: "SUCCESS", engine.StatusFailed: "FAILED",
		engine.StatusExpired: "EXPIRED", engine.StatusCanceled: "CANCELLED",
	}[v.Status]
	a := answer{
		"request_id": RequestID(v.ID), "account_id": c.acct.Key, "number": strings.TrimPrefix(v.Number, "+"),
		"sender_id": v.SenderID, "date_submitted": vonageTime(v.CreatedAt), "status": st,
		"price": "0.00000000", "currency": "EUR", "estimated_price_messages_sent": "0.00000000",
	}
	if v.Status != engine.StatusPending {
		a["date_finalized"] = vonageTime(v.UpdatedAt)
	}
	// checks: never the code a user typed (Otpgate keeps none)
	checks := []answer{}
	for _, e := range v.Events {
		switch e.Type {
		case "check_failed":
			checks = append(checks, answer{"date_received": vonageTime(e.At), "code": "", "status": "INVALID", "ip_address": ""})
		case engine.StatusVerified:
			checks = append(checks, answer{"date_received": vonageTime(e.At), "code": "", "status": "VALID", "ip_address": ""})
		}
	}
	a["checks"] = checks
	events := []answer{}
	for i, m := range v.Messages {
		if m.State == engine.MsgQueued || m.State == engine.MsgSuperseded {
			continue // not sent (yet)
		}
		typ := "sms"
		if m.Channel == engine.ChannelVoice {
			typ = "tts"
		}
		events = append(events, answer{"id": eventID(v, i), "type": typ})
		if _, ok := a["first_event_date"]; !ok {
			a["first_event_date"] = vonageTime(m.QueuedAt)
		}
		a["last_event_date"] = vonageTime(m.QueuedAt)
	}
	a["events"] = events
	return a
}

// control: /verify/control/json, cmd cancel or trigger_next_event.
func (f *Facade) control(ctx *fasthttp.RequestCtx, c v1Call) {
	rid, cmd := c.p.get("request_id"), c.p.get("cmd")
	switch {
	case rid == "":
		missing(ctx, "request_id")
		return
	case cmd == "":
		missing(ctx, "cmd")
		return
	case cmd != "cancel" && cmd != "trigger_next_event":
		invalid(ctx, "cmd", "cancel or trigger_next_event")
		return
	}
	gone := func() {
		failure(ctx, "6", "The requestId '"+rid+"' does not exist or its no longer active.")
	}
	v, err := f.find(ctx, c, rid)
	switch {
	case err == nil && v.Status == engine.StatusPending:
	case err == nil, errors.Is(err, engine.ErrNotFound):
		gone()
		return
	default:
		f.internal(ctx, err)
		return
	}
	if cmd == "cancel" {
		// Vonage's rule: not in the first 30 seconds, nor once the second
		// event has happened
		switch {
		case f.now().Sub(v.CreatedAt) < 30*time.Second:
			failure(ctx, "19", "Verification request ['"+rid+"'] can't be cancelled within the first 30 seconds.")
			return
		case len(v.Messages) > 1:
			failure(ctx, "19", "Verification request  ['"+rid+"'] can't be cancelled now. Too many attempts to re-deliver have already been made.")
			return
		}
		_, err = f.eng.Cancel(ctx, c.acct.Tenant, v.ID)
	} else {
		_, err = f.eng.Next(ctx, c.acct.Tenant, v.ID)
	}
	switch {
	case errors.Is(err, engine.ErrNoNextStep):
		failure(ctx, "19", "No more events are left to execute for the request ['"+rid+"']")
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrNotPending):
		gone()
	case err != nil:
		f.internal(ctx, err)
	default:
		reply(ctx, answer{"status": "0", "command": cmd})
	}
}
