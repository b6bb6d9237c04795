package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/valyala/fasthttp"
)

// Decode says how DecodeJSON reads a body.
type Decode struct {
	// MaxBytes refuses a longer body with 413 (0: no bound but the
	// server's own).
	MaxBytes int
	// AllowUnknown accepts fields v does not name (a facade whose vendor's
	// clients may send more than it reads); by default they are refused.
	AllowUnknown bool
}

// DecodeJSON reads a JSON object body into v, or answers a problem naming
// what is wrong: an oversize or empty body, bad JSON, a wrong type, data
// after the object, a field v does not name (unless allowed).
func DecodeJSON(ctx *fasthttp.RequestCtx, v any, o Decode) bool {
	if p := DecodeJSONBody(ctx.PostBody(), v, o); p != nil {
		WriteProblem(ctx, *p)
		return false
	}
	return true
}

// DecodeJSONBody is DecodeJSON's reading: nil, or the problem it answers.
func DecodeJSONBody(body []byte, v any, o Decode) *Problem {
	bad := func(code, field, detail string) *Problem {
		return &Problem{Status: 400, Code: code, Field: field, Detail: detail}
	}
	if o.MaxBytes > 0 && len(body) > o.MaxBytes {
		return &Problem{Status: 413, Code: "body_too_large", Detail: fmt.Sprintf("request body is %d bytes, the limit is %d", len(body), o.MaxBytes)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return bad("malformed_json", "", "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if !o.AllowUnknown {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return bad("malformed_json", "", "unexpected data after the JSON object")
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return bad("malformed_json", "", fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, syn))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return bad("malformed_json", "", "the body must be a JSON object")
		}
		return bad("invalid_type", typ.Field, fmt.Sprintf("%s must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad("malformed_json", "", "the JSON body ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return bad("unknown_field", field, fmt.Sprintf("unknown field %q", field))
	}
	return bad("malformed_json", "", err.Error())
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "uint", "float64":
		return "a number"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	case "ptr":
		return "a number"
	}
	return k
}
