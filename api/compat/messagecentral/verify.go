package messagecentral

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/phone"
)

// sendData is the data of a send's answer, as Message Central's example
// has it: verificationId, responseCode and timeout are JSON strings.
type sendData struct {
	VerificationID string  `json:"verificationId"`
	MobileNumber   string  `json:"mobileNumber"`
	ResponseCode   string  `json:"responseCode"`
	ErrorMessage   *string `json:"errorMessage"`
	Timeout        string  `json:"timeout"`
	SMSCLI         *string `json:"smsCLI"`
	TransactionID  string  `json:"transactionId"`
}

// validateData is the data of a validation's answer: verificationId is a
// JSON number here (Message Central documents it as a Long, and strictly
// typed clients parse it so).
type validateData struct {
	VerificationID     uint64  `json:"verificationId"`
	MobileNumber       string  `json:"mobileNumber"`
	VerificationStatus string  `json:"verificationStatus"`
	ResponseCode       string  `json:"responseCode"`
	ErrorMessage       *string `json:"errorMessage"`
	TransactionID      string  `json:"transactionId"`
}

// flowTypes: VerifyNow's flowType → the engine's channel.
var flowTypes = map[string]string{"SMS": engine.ChannelSMS, "WHATSAPP": engine.ChannelWhatsApp, "RCS": engine.ChannelRCS}

// send: POST …/send?countryCode=&mobileNumber=&flowType=[&otpLength=]
// [&customerId=]. v2 requires customerId, v3 takes it when sent; either
// must be the token's customer. A number with a verification pending is
// refused with 506 and that verification's id, as long as it lasts.
func (f *Facade) send(version int) handler {
	return func(ctx *fasthttp.RequestCtx, c call) {
		args := ctx.QueryArgs()
		if !f.customerMatches(ctx, c, version == 2) {
			return
		}
		flow := strings.ToUpper(strings.TrimSpace(string(args.Peek("flowType"))))
		ch, known := flowTypes[flow]
		switch {
		case flow == "":
			fail(ctx, codeBadRequest, "flowType: required (SMS, WHATSAPP, RCS)", nil)
			return
		case !known:
			fail(ctx, codeBadRequest, fmt.Sprintf("flowType: %q is not one this gateway sends (SMS, WHATSAPP, RCS)", flow), nil)
			return
		}
		req := engine.CreateRequest{Tenant: c.cust.Tenant, Channel: ch, CodeLength: 4, TTL: c.cust.OTPTTL,
			PendingPolicy: engine.PolicyReject, API: API, NumericID: true}
		if req.TTL <= 0 {
			req.TTL = DefaultOTPTTL
		}
		if raw := strings.TrimSpace(string(args.Peek("otpLength"))); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 4 || n > 8 {
				fail(ctx, codeBadRequest, fmt.Sprintf("otpLength: %q is not a number between 4 and 8", raw), nil)
				return
			}
			req.CodeLength = n
		}
		number, country, mobile, bad, detail := where(args)
		if bad.n != 0 {
			fail(ctx, bad, detail, nil)
			return
		}
		req.Number, req.Country = number, country
		created, err := f.eng.Create(ctx, req)
		var ce *engine.ConcurrentError
		if errors.As(err, &ce) {
			d := &errorData{MobileNumber: mobile}
			v, gerr := f.eng.Get(ctx, c.cust.Tenant, ce.ID)
			if gerr != nil || v.API != API {
				fail(ctx, codeExists, "a verification of this number made through another API of this gateway is pending; it ends there, or when it expires", d)
				return
			}
			d.VerificationID = strconv.FormatUint(v.Seq, 10)
			fail(ctx, codeExists, "a verification of this number is pending; validate it, or send again when it has ended", d)
			return
		}
		if err != nil {
			f.engineError(ctx, err)
			return
		}
		v, err := f.eng.Get(ctx, c.cust.Tenant, created.ID)
		if err != nil {
			f.engineError(ctx, err)
			return
		}
		write(ctx, 200, envelope{ResponseCode: 200, Message: codeSuccess.name, Data: sendData{
			VerificationID: strconv.FormatUint(v.Seq, 10), MobileNumber: mobile, ResponseCode: "200",
			Timeout: strconv.Itoa(int(v.ExpiresAt.Sub(v.CreatedAt).Seconds())), TransactionID: v.ID,
		}})
	}
}

// where reads countryCode and mobileNumber: the number to send to (in
// its country's national form, a trunk 0 allowed, or international with
// a leading +) and its country, and the mobileNumber as sent; or the code
// and detail of what is wrong (bad.n != 0).
func where(args *fasthttp.Args) (number, country, mobile string, bad code, detail string) {
	// a '+' sent without URL encoding arrives as a space
	cc := strings.TrimPrefix(strings.TrimSpace(string(args.Peek("countryCode"))), "+")
	mobile = strings.TrimSpace(string(args.Peek("mobileNumber")))
	switch {
	case cc == "":
		return "", "", "", codeBadRequest, "countryCode: required (the country calling code: 91, 44, 1…)"
	case mobile == "":
		return "", "", "", codeBadRequest, "mobileNumber: required"
	}
	n, err := strconv.Atoi(cc)
	region := ""
	if err == nil && n > 0 && len(cc) <= 3 {
		region = phone.CallingCodeRegion(n)
	}
	switch {
	case region == "":
		return "", "", "", codeInvalidCountry, fmt.Sprintf("countryCode: %q is not a country calling code", cc)
	case strings.HasPrefix(mobile, "+"):
		if !strings.HasPrefix(mobile, "+"+cc) {
			return "", "", "", codeBadRequest, fmt.Sprintf("mobileNumber: %q is not a number of countryCode %s", mobile, cc)
		}
		return mobile, "", mobile, code{}, ""
	case len(region) == 2:
		return mobile, region, mobile, code{}, ""
	}
	return "+" + cc + mobile, "", mobile, code{}, "" // a code of no one country (800, 870…)
}

// customerMatches checks a customerId parameter against the token's
// customer (required says v2 must send one); a mismatch is 501.
func (f *Facade) customerMatches(ctx *fasthttp.RequestCtx, c call, required bool) bool {
	id := strings.TrimSpace(string(ctx.QueryArgs().Peek("customerId")))
	switch {
	case id == "" && required:
		fail(ctx, codeBadRequest, "customerId: required", nil)
		return false
	case id != "" && id != c.cust.ID:
		fail(ctx, codeInvalidCustomer, "customerId: not the customer of the authToken", nil)
		return false
	}
	return true
}

// validate: GET …/validateOtp?verificationId=&code= (v2 also
// countryCode, mobileNumber and customerId, which must be the
// verification's and the token's).
func (f *Facade) validate(version int) handler {
	return func(ctx *fasthttp.RequestCtx, c call) {
		args := ctx.QueryArgs()
		if !f.customerMatches(ctx, c, false) {
			return
		}
		raw := strings.TrimSpace(string(args.Peek("verificationId")))
		otp := strings.TrimSpace(string(args.Peek("code")))
		seq, err := strconv.ParseUint(raw, 10, 64)
		switch {
		case raw == "":
			fail(ctx, codeBadRequest, "verificationId: required", nil)
			return
		case err != nil || seq == 0:
			fail(ctx, codeInvalidID, fmt.Sprintf("verificationId: %q is not a verification id (a number)", raw), nil)
			return
		case otp == "":
			fail(ctx, codeBadRequest, "code: required", nil)
			return
		case len(otp) > 64:
			fail(ctx, codeBadRequest, "code: longer than 64 characters", nil)
			return
		}
		v, err := f.eng.BySeq(ctx, c.cust.Tenant, seq)
		if err == nil && v.API != API {
			err = engine.ErrNotFound
		}
		if err != nil {
			f.engineError(ctx, err)
			return
		}
		mobile := strings.TrimSpace(string(args.Peek("mobileNumber")))
		if mobile == "" {
			mobile = phone.NationalNumber(v.Number)
		}
		d := &errorData{VerificationID: seq, MobileNumber: mobile}
		if version == 2 && args.Has("mobileNumber") {
			if number, country, _, bad, _ := where(args); bad.n != 0 || !f.sameNumber(number, country, v) {
				fail(ctx, codeInvalidID, "verificationId: not a verification of this countryCode and mobileNumber", d)
				return
			}
		}
		if ec, detail, done := ended(v); done {
			fail(ctx, ec, detail, d)
			return
		}
		res, err := f.eng.Check(ctx, c.cust.Tenant, v.ID, otp)
		if err != nil {
			f.engineError(ctx, err)
			return
		}
		switch {
		case res.Verified && res.Reason == "":
			write(ctx, 200, envelope{ResponseCode: 200, Message: codeSuccess.name, Data: validateData{
				VerificationID: seq, MobileNumber: d.MobileNumber, VerificationStatus: "VERIFICATION_COMPLETED",
				ResponseCode: "200", TransactionID: v.ID,
			}})
		case res.Reason == "wrong_code":
			fail(ctx, codeWrongOTP, fmt.Sprintf("the code is wrong; %d attempts left", res.AttemptsLeft), d)
		case res.Reason == "max_attempts" && v.Status == engine.StatusPending:
			fail(ctx, codeWrongOTP, "the code is wrong; no attempts left (send a new one)", d)
		case res.Reason == "expired":
			fail(ctx, codeExpired, "the code has expired (send a new one)", d)
		default: // it ended between the read and the check
			after, err := f.eng.Get(ctx, c.cust.Tenant, v.ID)
			if err != nil {
				f.engineError(ctx, err)
				return
			}
			ec, detail, _ := ended(after)
			fail(ctx, ec, detail, d)
		}
	}
}

// ended is the answer to a validation of a verification that has ended.
func ended(v *engine.View) (code, string, bool) {
	switch v.Status {
	case engine.StatusVerified:
		return codeVerified, "the verification was completed before", true
	case engine.StatusExpired:
		return codeExpired, "the code has expired (send a new one)", true
	case engine.StatusFailed:
		if v.Attempts < v.MaxAttempts {
			return codeAttemptsUsed, "the code could not be delivered (send a new one)", true
		}
		return codeAttemptsUsed, "no attempts are left (send a new one)", true
	case engine.StatusCanceled:
		return codeInvalidID, "the verification was canceled", true
	}
	return code{}, "", false
}

// sameNumber reports whether number (of country), parsed, is v's.
func (f *Facade) sameNumber(number, country string, v *engine.View) bool {
	n, err := f.phone.Parse(number, country)
	return err == nil && n.E164 == v.Number
}
