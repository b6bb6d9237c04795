package api

import (
	"encoding/json"
	"net/http"

	"github.com/valyala/fasthttp"
)

// Problem is an RFC 9457 problem document. Code is stable: clients branch
// on it, never on Detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail,omitempty"`
	ID     string `json:"id,omitempty"` // the verification a conflict is about
}

func writeProblem(ctx *fasthttp.RequestCtx, status int, code, field, detail string) {
	writeProblemDoc(ctx, Problem{Status: status, Code: code, Field: field, Detail: detail})
}

func writeProblemDoc(ctx *fasthttp.RequestCtx, p Problem) {
	p.Type = "urn:otpgate:problem:" + p.Code
	p.Title = http.StatusText(p.Status)
	b, _ := json.Marshal(p)
	ctx.Response.Reset()
	ctx.SetStatusCode(p.Status)
	ctx.SetContentType("application/problem+json")
	ctx.SetBody(b)
}

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
