package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/otpgate/otpgate/api/httpx"
)

// The hot endpoints (create and check) read their JSON on fastjson's
// pooled parser and write it by hand: no reflection, no maps, no decoder
// per request. They mean exactly what the reflection-based path (decode,
// encoding/json) means: the same fields, matched without regard to case,
// the last of a repeated key winning, the first problem in the document's
// order reported with the same code and field, invalid UTF-8 read as
// U+FFFD; FuzzHotJSON holds the two to the same outcome on any body, and
// the answers to encoding/json's bytes.

var parsers fastjson.ParserPool

// bufs hold the answers being written (fasthttp copies them).
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeBytes answers status with the JSON that appendTo writes.
func writeBytes(ctx *fasthttp.RequestCtx, status int, appendTo func([]byte) []byte) {
	bp := bufs.Get().(*[]byte)
	*bp = appendTo((*bp)[:0])
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(*bp)
	bufs.Put(bp)
}

// jsonField is one field of a request: its name, and how to take a value.
type jsonField struct {
	name string
	kind string // "a string", "a number", "an array": what a wrong type is told it must be
	set  func(v *fastjson.Value) (wrong string)
}

// decodeHot reads body, a JSON object of fields, into what fields set; a
// problem when it is not one (the same codes as decode). A body fastjson
// cannot parse is read by the reference decoder into v (all of v's fields
// are what fields set): malformed bodies are not the hot path, and the
// reference decides what is wrong with them, and in which order.
func decodeHot(body []byte, maxBytes int, v any, fields []jsonField) *Problem {
	if maxBytes > 0 && len(body) > maxBytes {
		return &Problem{Status: 413, Code: "body_too_large", Detail: fmt.Sprintf("request body is %d bytes, the limit is %d", len(body), maxBytes)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &Problem{Status: 400, Code: "malformed_json", Detail: "the request body is empty; send a JSON object"}
	}
	p := parsers.Get()
	defer parsers.Put(p)
	// json.Valid (encoding/json's own scanner, no reflection) holds
	// fastjson to encoding/json's grammar: fastjson also takes NaN and
	// other forms encoding/json refuses
	if !json.Valid(body) || hasSurrogateEscape(body) {
		return httpx.DecodeJSONBody(body, v, httpx.Decode{MaxBytes: maxBytes})
	}
	doc, err := p.ParseBytes(body)
	if err != nil {
		return httpx.DecodeJSONBody(body, v, httpx.Decode{MaxBytes: maxBytes})
	}
	switch doc.Type() {
	case fastjson.TypeNull:
		return nil // encoding/json leaves the request as it was: empty
	case fastjson.TypeObject:
	default:
		return &Problem{Status: 400, Code: "malformed_json", Detail: "the body must be a JSON object"}
	}
	obj, _ := doc.Object()
	var first *Problem
	obj.Visit(func(key []byte, fv *fastjson.Value) {
		if first != nil {
			return
		}
		for i := range fields {
			f := &fields[i]
			if !strings.EqualFold(f.name, string(key)) {
				continue
			}
			if fv.Type() == fastjson.TypeNull {
				return // null leaves the field as it was
			}
			if wrong := f.set(fv); wrong != "" {
				kind := f.kind
				if rest, ok := strings.CutPrefix(wrong, elementWrong); ok {
					kind, wrong = "a string", rest // an element of an array of strings
				}
				first = &Problem{Status: 400, Code: "invalid_type", Field: f.name, Detail: fmt.Sprintf("%s must be %s, not %s", f.name, kind, wrong)}
			}
			return
		}
		// named as the reference names it: the %q of the key, unquoted
		field := strings.Trim(fmt.Sprintf("%q", validString(key)), `"`)
		first = &Problem{Status: 400, Code: "unknown_field", Field: field, Detail: fmt.Sprintf("unknown field %q", field)}
	})
	return first
}

// hasSurrogateEscape reports whether body holds a \uD800-\uDFFF escape:
// fastjson and encoding/json read a lone one differently, so such a body
// goes to the reference decoder (no client sends one in a phone number).
func hasSurrogateEscape(body []byte) bool {
	for {
		i := bytes.Index(body, []byte(`\u`))
		if i < 0 || i+6 > len(body) {
			return false
		}
		if n, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16); err == nil && n >= 0xD800 && n <= 0xDFFF {
			return true
		}
		body = body[i+2:]
	}
}

// typeName is how encoding/json names a value of the wrong type.
func typeName(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		return "string"
	case fastjson.TypeNumber:
		return "number"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "bool"
	case fastjson.TypeArray:
		return "array"
	}
	return "object"
}

func stringField(name string, dst *string) jsonField {
	return jsonField{name: name, kind: "a string", set: func(v *fastjson.Value) string {
		b, err := v.StringBytes()
		if err != nil {
			return typeName(v)
		}
		*dst = validString(b)
		return ""
	}}
}

func intField(name string, dst **int) jsonField {
	return jsonField{name: name, kind: "a number", set: func(v *fastjson.Value) string {
		if v.Type() != fastjson.TypeNumber {
			return typeName(v)
		}
		lit := v.String()
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil || int64(int(n)) != n {
			return "number " + lit
		}
		i := int(n)
		*dst = &i
		return ""
	}}
}

// validString is b with each byte of invalid UTF-8 read as U+FFFD, as
// encoding/json reads it.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// decodeCreateRequest reads a create's body.
func decodeCreateRequest(body []byte, maxBytes int) (CreateRequest, *Problem) {
	var r CreateRequest
	fields := []jsonField{
		stringField("number", &r.Number), stringField("country", &r.Country), stringField("channel", &r.Channel),
		workflowField(&r.Workflow),
		stringField("brand", &r.Brand), stringField("sender_id", &r.SenderID), stringField("locale", &r.Locale),
		intField("code_length", &r.CodeLength), stringField("code_type", &r.CodeType), intField("ttl", &r.TTL),
		intField("max_attempts", &r.MaxAttempts), stringField("template", &r.Template),
		intField("next_event_wait", &r.NextEventWait), stringField("callback_url", &r.CallbackURL),
		stringField("client_ip", &r.ClientIP), stringField("client_ref", &r.ClientRef),
	}
	return r, decodeHot(body, maxBytes, &r, fields)
}

// workflowField takes an array of strings; an element of another type is
// "workflow must be a string, not …", as encoding/json says it.
func workflowField(dst *[]string) jsonField {
	return jsonField{name: "workflow", kind: "an array", set: func(v *fastjson.Value) string {
		arr, err := v.Array()
		if err != nil {
			return typeName(v)
		}
		out := make([]string, len(arr))
		for i, e := range arr {
			if e.Type() == fastjson.TypeNull {
				continue
			}
			b, err := e.StringBytes()
			if err != nil {
				return elementWrong + typeName(e)
			}
			out[i] = validString(b)
		}
		*dst = out
		return ""
	}}
}

// elementWrong marks a wrong element type: decodeHot words it as the
// element's ("must be a string").
const elementWrong = "\x00element:"

// decodeCheckRequest reads a check's body.
func decodeCheckRequest(body []byte, maxBytes int) (CheckRequest, *Problem) {
	var r CheckRequest
	return r, decodeHot(body, maxBytes, &r, []jsonField{stringField("code", &r.Code)})
}

// canonicalCreate is the request as encoding/json marshals it: the form
// idempotency hashes are taken of (stored hashes from before stay valid).
func canonicalCreate(r *CreateRequest) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"number":`...)
	b = appendJSONString(b, r.Number)
	opt := func(name, v string) {
		if v != "" {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = appendJSONString(b, v)
		}
	}
	optInt := func(name string, v *int) {
		if v != nil {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = strconv.AppendInt(b, int64(*v), 10)
		}
	}
	opt("country", r.Country)
	opt("channel", r.Channel)
	if len(r.Workflow) > 0 {
		b = append(b, `,"workflow":[`...)
		for i, s := range r.Workflow {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	opt("brand", r.Brand)
	opt("sender_id", r.SenderID)
	opt("locale", r.Locale)
	optInt("code_length", r.CodeLength)
	opt("code_type", r.CodeType)
	optInt("ttl", r.TTL)
	optInt("max_attempts", r.MaxAttempts)
	opt("template", r.Template)
	optInt("next_event_wait", r.NextEventWait)
	opt("callback_url", r.CallbackURL)
	opt("client_ip", r.ClientIP)
	opt("client_ref", r.ClientRef)
	return append(b, '}')
}

// appendCreateResponse writes a create's answer as encoding/json would.
func appendCreateResponse(b []byte, c *CreateResponse) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, c.ID)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, c.Status)
	b = append(b, `,"number":`...)
	b = appendJSONString(b, c.Number)
	b = append(b, `,"country":`...)
	b = appendJSONString(b, c.Country)
	b = append(b, `,"workflow":`...)
	if c.Workflow == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range c.Workflow {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	b = append(b, `,"expires_at":`...)
	b = appendJSONTime(b, c.ExpiresAt)
	b = append(b, `,"max_attempts":`...)
	b = strconv.AppendInt(b, int64(c.MaxAttempts), 10)
	if c.Reused {
		b = append(b, `,"reused":true`...)
	}
	return append(b, '}')
}

// appendCheckResponse writes a check's answer as encoding/json would.
func appendCheckResponse(b []byte, c *CheckResponse) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, c.ID)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, c.Status)
	b = append(b, `,"verified":`...)
	b = strconv.AppendBool(b, c.Verified)
	b = append(b, `,"attempts_left":`...)
	b = strconv.AppendInt(b, int64(c.AttemptsLeft), 10)
	if c.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, c.Reason)
	}
	return append(b, '}')
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does: ", \ and control
// characters escaped, <, > and & as \u003c…, U+2028 and U+2029 escaped,
// invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
