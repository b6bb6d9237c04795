package httpx

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/engine"
)

// Problem is an RFC 9457 problem document: the native API's error body,
// and that of the facades whose vendors publish none (NexCode). Code is
// stable: clients branch on it, never on Detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail,omitempty"`
	ID     string `json:"id,omitempty"` // the verification a conflict is about
}

// WriteProblem answers p as application/problem+json; its Type and Title
// follow from its Code and Status.
func WriteProblem(ctx *fasthttp.RequestCtx, p Problem) {
	p.Type = "urn:otpgate:problem:" + p.Code
	p.Title = http.StatusText(p.Status)
	b, _ := json.Marshal(p)
	ctx.Response.Reset()
	ctx.SetStatusCode(p.Status)
	ctx.SetContentType("application/problem+json")
	ctx.SetBody(b)
}

// WriteLimited answers 429 with Retry-After in whole seconds, rounded up.
func WriteLimited(ctx *fasthttp.RequestCtx, code string, wait time.Duration, detail string) {
	secs := max(int64((wait+time.Second-1)/time.Second), 1)
	WriteProblem(ctx, Problem{Status: 429, Code: code, Detail: detail})
	ctx.Response.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
}

// WriteEngineError answers an engine error as a problem: what the client
// got wrong as 4xx with its code and field, a failure of the gateway as
// 503 with Retry-After (logged to log), never a 500.
func WriteEngineError(ctx *fasthttp.RequestCtx, err error, log *slog.Logger) {
	var fe *engine.FieldError
	var ce *engine.ConcurrentError
	var le *engine.LimitError
	var ie *engine.IdempotencyError
	switch {
	case errors.As(err, &le):
		WriteLimited(ctx, le.Code, le.RetryAfter, le.Detail)
	case errors.As(err, &ie):
		WriteProblem(ctx, Problem{Status: 409, Code: "idempotency_key_reused", Field: "Idempotency-Key", Detail: ie.Error()})
	case errors.As(err, &fe):
		WriteProblem(ctx, Problem{Status: 422, Code: fe.Code, Field: fe.Field, Detail: fe.Detail})
	case errors.As(err, &ce):
		WriteProblem(ctx, Problem{Status: 409, Code: "concurrent_verification", Field: "number", Detail: ce.Error(), ID: ce.ID})
	case errors.Is(err, engine.ErrNotFound):
		WriteProblem(ctx, Problem{Status: 404, Code: "not_found", Field: "id", Detail: "no such verification"})
	case errors.Is(err, engine.ErrNotPending):
		WriteProblem(ctx, Problem{Status: 409, Code: "not_pending", Field: "id", Detail: "the verification is no longer pending"})
	case errors.Is(err, engine.ErrNoNextStep):
		WriteProblem(ctx, Problem{Status: 409, Code: "no_next_step", Field: "id", Detail: err.Error()})
	case errors.Is(err, engine.ErrOverloaded):
		WriteProblem(ctx, Problem{Status: 503, Code: "overloaded", Detail: "more messages are waiting to be sent than the gateway admits; retry in a second"})
		ctx.Response.Header.Set("Retry-After", "1")
	default:
		log.Error("api: engine failed", "path", string(ctx.Path()), "err", err)
		WriteProblem(ctx, Problem{Status: 503, Code: "unavailable", Detail: "the gateway could not complete the request; retry"})
		ctx.Response.Header.Set("Retry-After", "1")
	}
}
