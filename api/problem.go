package api

import (
	"encoding/json"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/otpgate/otpgate/api/httpx"
)

// Problem is an RFC 9457 problem document (httpx.Problem).
type Problem = httpx.Problem

func writeProblem(ctx *fasthttp.RequestCtx, status int, code, field, detail string) {
	httpx.WriteProblem(ctx, Problem{Status: status, Code: code, Field: field, Detail: detail})
}

func writeProblemDoc(ctx *fasthttp.RequestCtx, p Problem) { httpx.WriteProblem(ctx, p) }

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(ctx, http.StatusInternalServerError, "internal", "", "response encoding failed")
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
