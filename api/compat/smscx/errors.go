package smscx

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/engine"
)

// docsURI is the error object's uri: where SMS.CX documents its errors.
const docsURI = "https://sms.cx/sms-api-documentation/#section/Errors"

// apiError is one of SMS.CX's errors: the HTTP status, and the type,
// code and message of {"error": {type, code, message, uri}}.
type apiError struct {
	status  int
	typ     string
	code    int
	message string
}

func (e apiError) write(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(e.status)
	ctx.SetContentType("application/json")
	ctx.SetBody(marshal(map[string]any{"error": map[string]any{"type": e.typ, "code": e.code, "message": e.message, "uri": docsURI}}))
}

func fail(ctx *fasthttp.RequestCtx, status int, typ string, code int, msg string) {
	apiError{status, typ, code, msg}.write(ctx)
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("smscx: " + err.Error()) // only maps, strings and numbers are marshalled
	}
	return b
}

// fieldErrors maps the engine's fields to SMS.CX's parameter errors.
var fieldErrors = map[string]apiError{
	"number":       {400, "invalid_param", 2020, "The phone number provided is invalid"},
	"country":      {400, "invalid_param", 2003, "Country ISO provided is invalid"},
	"sender_id":    {400, "invalid_param", 2005, "The parameter 'from' is not valid (min 3, max 15 characters)"},
	"template":     {400, "invalid_param", 2006, "The parameter 'template' is not valid"},
	"callback_url": {400, "invalid_param", 2019, "The parameter 'otpCallbackUrl' is not a valid URL"},
	"code_length":  {400, "invalid_param", 2017, "Invalid parameter 'pinLength'"},
	"code_type":    {400, "invalid_param", 2014, "Invalid parameter 'pinType'. Must be one of: letters, numbers, alphanumeric"},
	"ttl":          {400, "invalid_param", 2009, "Invalid parameter 'ttl'"},
	"max_attempts": {400, "invalid_param", 2012, "Invalid parameter 'maxAttempts'"},
}

// engineError answers an engine error in SMS.CX's words; what the engine
// says in detail follows the vendor's message.
func (f *Facade) engineError(ctx *fasthttp.RequestCtx, err error) {
	var fe *engine.FieldError
	var le *engine.LimitError
	switch {
	case errors.Is(err, engine.ErrNotFound):
		fail(ctx, 404, "not_found", 2021, "Otp ID not found")
	case errors.As(err, new(*engine.ConcurrentError)):
		fail(ctx, 403, "access_denied", 403, "The phone number has a pending verification made through another API of this gateway; cancel it there or wait for it to end")
	case errors.As(err, &fe) && (fe.Code == "destination_not_allowed" || fe.Code == "number_type_not_allowed"):
		fail(ctx, 403, "access_denied", 403, "Sending to this phone number is not allowed: "+fe.Detail)
	case errors.As(err, &fe) && fe.Code == "no_route":
		fail(ctx, 403, "no_coverage", 403, "No coverage for the phone number: "+fe.Detail)
	case errors.As(err, &fe):
		e, ok := fieldErrors[fe.Field]
		if !ok {
			e = apiError{400, "invalid_param", 2000, "Invalid parameter '" + fe.Field + "'"}
		}
		e.message += ": " + fe.Detail
		e.write(ctx)
	case errors.As(err, &le):
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(int((le.RetryAfter+time.Second-1)/time.Second)))
		ctx.Response.Header.Set("X-Rate-Limit-Reset", itoa(f.now().Add(le.RetryAfter).Add(time.Second-1).Unix()))
		fail(ctx, 429, "rate_limit", 429, fmt.Sprintf("Too many requests for this phone number: %s", le.Detail))
	case errors.Is(err, engine.ErrOverloaded):
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, 503, "service_unavailable", 503, "More messages wait to be sent than the gateway admits; retry in a second")
	case errors.Is(err, engine.ErrNotPending):
		fail(ctx, 403, "access_denied", 2031, "You cannot cancel a non-pending Otp")
	default:
		f.log.Error("smscx facade: engine failed", "path", string(ctx.Path()), "err", err)
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, 503, "service_unavailable", 503, "The gateway could not serve the request; retry")
	}
}
