// Package apispec holds Otpgate's OpenAPI documents to their word. Each API
// (the native one, each vendor facade) keeps its document as YAML beside its
// code; JSON turns it into what the API serves, and Load reads it to check
// answers against it in tests: an answer's status must be one the
// operation documents, and its JSON body must validate against the
// documented schema (OpenAPI 3.1 schemas are JSON Schema 2020-12).
package apispec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// JSON converts a YAML OpenAPI document to JSON.
func JSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("apispec: %w", err)
	}
	return json.Marshal(v)
}

// Operation is one method on one path of a document.
type Operation struct {
	Method string
	Path   string // the document's path template: /v1/verifications/{id}
	Base   string // the path of the document's server URL: /compat/twilio
	parts  []string
	node   map[string]any
}

// Route is Base+Path with parameters written {} (the form routes are
// compared in).
func (o Operation) Route() string { return Normalize(o.Base + o.Path) }

// Doc is a loaded document.
type Doc struct {
	Title string
	ops   []*Operation
	c     *jsonschema.Compiler
	raw   any
}

// Load reads a YAML document.
func Load(doc []byte) (*Doc, error) {
	js, err := JSON(doc)
	if err != nil {
		return nil, err
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, err
	}
	root, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("apispec: not an object")
	}
	d := &Doc{raw: raw, c: jsonschema.NewCompiler()}
	d.c.DefaultDraft(jsonschema.Draft2020)
	if err := d.c.AddResource("doc.json", raw); err != nil {
		return nil, err
	}
	if info, ok := root["info"].(map[string]any); ok {
		d.Title, _ = info["title"].(string)
	}
	base := ""
	if servers, ok := root["servers"].([]any); ok && len(servers) > 0 {
		if s, ok := servers[0].(map[string]any); ok {
			if u, err := url.Parse(fmt.Sprint(s["url"])); err == nil {
				base = strings.TrimSuffix(u.Path, "/")
			}
		}
	}
	paths, _ := root["paths"].(map[string]any)
	for p, item := range paths {
		m, _ := item.(map[string]any)
		for method, op := range m {
			node, ok := op.(map[string]any)
			if !ok || method == "parameters" {
				continue
			}
			d.ops = append(d.ops, &Operation{Method: strings.ToUpper(method), Path: p, Base: base,
				parts: strings.Split(strings.Trim(base+p, "/"), "/"), node: node})
		}
	}
	sort.Slice(d.ops, func(i, j int) bool { return d.ops[i].Route()+d.ops[i].Method < d.ops[j].Route()+d.ops[j].Method })
	return d, nil
}

// Operations lists the document's operations.
func (d *Doc) Operations() []*Operation { return d.ops }

// Find returns the operation a request to path (a concrete path, no query)
// with method falls under.
func (d *Doc) Find(method, path string) (*Operation, bool) {
	var parts []string
	for _, p := range strings.Split(path, "/") {
		if p != "" { // "//" routes as "/"
			parts = append(parts, p)
		}
	}
	for _, op := range d.ops {
		if op.Method != method || len(op.parts) != len(parts) {
			continue
		}
		match := true
		for i, p := range op.parts {
			if !strings.HasPrefix(p, "{") && p != parts[i] {
				match = false
				break
			}
		}
		if match {
			return op, true
		}
	}
	return nil, false
}

// Check says what is wrong with an answer to op, or nil: its status must
// be documented (or covered by "default"), and a JSON body must validate
// against the schema documented for that status and content type.
func (d *Doc) Check(op *Operation, status int, contentType string, body []byte) error {
	responses, _ := op.node["responses"].(map[string]any)
	code := strconv.Itoa(status)
	resp, ok := responses[code]
	if !ok {
		resp, ok = responses["default"]
		code = "default"
	}
	if !ok {
		return fmt.Errorf("%s %s answered %d, which it does not document", op.Method, op.Path, status)
	}
	ptr := "/paths/" + escape(op.Path) + "/" + strings.ToLower(op.Method) + "/responses/" + code
	if m, ok := resp.(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok {
			ptr = strings.TrimPrefix(ref, "#")
			resp = d.at(ptr)
		}
	}
	content, _ := resp.(map[string]any)["content"].(map[string]any)
	mt, _, _ := mime.ParseMediaType(contentType)
	if len(content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 && status != 204 {
			return fmt.Errorf("%s %s %d: a body (%s) where none is documented", op.Method, op.Path, status, mt)
		}
		return nil
	}
	if _, ok := content[mt]; !ok {
		return fmt.Errorf("%s %s %d: content type %q is not documented", op.Method, op.Path, status, mt)
	}
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil
	}
	sch, err := d.c.Compile("doc.json#" + ptr + "/content/" + escape(mt) + "/schema")
	if err != nil {
		return fmt.Errorf("%s %s %d: the documented schema does not compile: %w", op.Method, op.Path, status, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s %d: the body is not JSON: %w", op.Method, op.Path, status, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s %s %d: the body is not as documented: %v\n%s", op.Method, op.Path, status, err, body)
	}
	return nil
}

func (d *Doc) at(ptr string) any {
	v := d.raw
	for _, p := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func escape(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

// Normalize writes a route's parameters as {}: /v2/verify/{id} and
// /v2/verify/{request_id} are the same route.
func Normalize(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			parts[i] = "{}"
		}
	}
	return strings.Join(parts, "/")
}
