package messagecentral

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/engine"
)

// code is one of VerifyNow's response codes: its number, its name (the
// envelope's message) and the HTTP status it is answered with.
type code struct {
	n      int
	name   string
	status int
}

// The response codes. Message Central lists them in its API document
// (Message_Central_Verify_Now_API_Doc.pdf, "Response Codes"), which is not
// public; these are as third-party clients quote it (see testdata). The
// HTTP status of an error is not documented either: an error comes with a
// non-2xx status (clients that branch on the status see a failure) and the
// envelope's responseCode says which.
var (
	codeSuccess         = code{200, "SUCCESS", 200}
	codeBadRequest      = code{400, "BAD_REQUEST", 400}
	codeUnauthorized    = code{401, "UNAUTHORIZED", 401} // Otpgate's: no code is published for a bad token
	codeServerError     = code{500, "SERVER_ERROR", 503}
	codeInvalidCustomer = code{501, "INVALID_CUSTOMER_ID", 401}
	codeInvalidID       = code{505, "INVALID_VERIFICATION_ID", 400}
	codeExists          = code{506, "REQUEST_ALREADY_EXISTS", 409}
	codeInvalidCountry  = code{511, "INVALID_COUNTRY_CODE", 400}
	codeWrongOTP        = code{702, "WRONG_OTP_PROVIDED", 400}
	codeVerified        = code{703, "ALREADY_VERIFIED", 409}
	codeExpired         = code{705, "VERIFICATION_EXPIRED", 400}
	codeLimit           = code{800, "MAXIMUM_LIMIT_REACHED", 429}
	// the same code for a verification whose attempts are used up: no
	// retry helps, so not 429
	codeAttemptsUsed = code{800, "MAXIMUM_LIMIT_REACHED", 400}
)

// envelope is every answer but the token's: {responseCode, message, data}.
type envelope struct {
	ResponseCode int    `json:"responseCode"`
	Message      string `json:"message"`
	Data         any    `json:"data"`
}

// errorData is the data of an error: what is wrong, and the verification
// when there is one.
type errorData struct {
	VerificationID any    `json:"verificationId,omitempty"`
	MobileNumber   string `json:"mobileNumber,omitempty"`
	ResponseCode   string `json:"responseCode"`
	ErrorMessage   string `json:"errorMessage"`
}

func write(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("messagecentral: " + err.Error()) // only strings, numbers and structs of them
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// fail answers c with detail in data.errorMessage; d, when given, adds the
// verification's id and number.
func fail(ctx *fasthttp.RequestCtx, c code, detail string, d *errorData) {
	if d == nil {
		d = &errorData{}
	}
	d.ResponseCode = strconv.Itoa(c.n)
	d.ErrorMessage = detail
	write(ctx, c.status, envelope{ResponseCode: c.n, Message: c.name, Data: d})
}

// engineError answers an engine error with VerifyNow's code for it.
func (f *Facade) engineError(ctx *fasthttp.RequestCtx, err error) {
	var fe *engine.FieldError
	var le *engine.LimitError
	switch {
	case errors.Is(err, engine.ErrNotFound):
		fail(ctx, codeInvalidID, "no verification with this verificationId", nil)
	case errors.As(err, &le):
		ctx.Response.Header.Set("Retry-After", itoa(int64((le.RetryAfter+time.Second-1)/time.Second)))
		fail(ctx, codeLimit, le.Detail, nil)
	case errors.As(err, &fe) && fe.Field == "country":
		fail(ctx, codeInvalidCountry, "countryCode: "+fe.Detail, nil)
	case errors.As(err, &fe):
		name := params[fe.Field]
		if name == "" {
			name = fe.Field
		}
		fail(ctx, codeBadRequest, fmt.Sprintf("%s: %s", name, fe.Detail), nil)
	case errors.Is(err, engine.ErrOverloaded):
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, codeServerError, "more messages wait to be sent than the gateway admits; retry in a second", nil)
	default:
		f.log.Error("messagecentral facade: engine failed", "path", string(ctx.Path()), "err", err)
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, codeServerError, "the gateway could not serve the request; retry", nil)
	}
}

// params names the query parameter behind each engine field.
var params = map[string]string{
	"number": "mobileNumber", "country": "countryCode", "code_length": "otpLength",
	"channel": "flowType", "workflow": "flowType",
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
