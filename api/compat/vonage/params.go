package vonage

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// params are a Verify v1 request's parameters, from wherever its client put
// them: the query string (curl and the docs' examples), a form body (the
// older SDKs, Python's), or a JSON body (the Node SDK). JSON numbers and
// strings are both text here: the Node SDK sends workflow_id as "4" and
// code_length as 4.
type params map[string][]string

// maxParams bounds how many values a request may carry.
const maxParams = 64

func readParams(ctx *fasthttp.RequestCtx) (params, bool) {
	p := params{}
	n := 0
	add := func(k, v string) {
		if n < maxParams {
			p[k] = append(p[k], v)
			n++
		}
	}
	ctx.QueryArgs().VisitAll(func(k, v []byte) { add(string(k), string(v)) })
	body := bytes.TrimSpace(ctx.PostBody())
	ct := string(ctx.Request.Header.ContentType())
	switch {
	case len(body) == 0:
	case strings.HasPrefix(ct, "application/json") || body[0] == '{':
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, false
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				add(k, v)
			case json.Number:
				add(k, v.String())
			case bool:
				add(k, strconv.FormatBool(v))
			case []any:
				for _, e := range v {
					if s, ok := e.(string); ok {
						add(k, s)
					}
				}
			}
		}
	default:
		ctx.PostArgs().VisitAll(func(k, v []byte) { add(string(k), string(v)) })
	}
	return p, true
}

// get returns the first value of name ("" when absent).
func (p params) get(name string) string {
	if v := p[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// has reports whether name was given at all.
func (p params) has(name string) bool { return len(p[name]) > 0 }

// int reads name as a whole number; ok is false when it is given and is
// not one (a JSON 4.0 counts, as Node sends numbers).
func (p params) int(name string) (v int, given, ok bool) {
	s := p.get(name)
	if s == "" {
		return 0, false, true
	}
	s = strings.TrimSuffix(s, ".0")
	n, err := strconv.Atoi(s)
	return n, true, err == nil
}
