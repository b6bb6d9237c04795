package apispec

import (
	"strings"
	"testing"
)

const doc = `
openapi: 3.1.0
info: {title: T, version: "1"}
servers: [{url: "http://h/base"}]
paths:
  /v1/things/{id}:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
        '404': {$ref: '#/components/responses/Problem'}
  /v1/things:
    post:
      responses:
        '204': {description: none}
components:
  responses:
    Problem:
      description: p
      content:
        application/problem+json:
          schema: {type: object, required: [code], properties: {code: {type: string}}}
  schemas:
    Thing:
      type: object
      required: [id]
      additionalProperties: false
      properties:
        id: {type: string}
        n: {type: integer, minimum: 0}
`

// TestCheck: an answer passes only with a documented status, content type
// and a body valid under the schema; a $ref'd response is followed.
func TestCheck(t *testing.T) {
	d, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	op, ok := d.Find("GET", "/base/v1/things/abc")
	if !ok || op.Route() != "/base/v1/things/{}" {
		t.Fatalf("Find: %v %+v", ok, op)
	}
	if _, ok := d.Find("GET", "//base/v1//things/abc"); !ok {
		t.Fatal("empty segments are not skipped")
	}
	if _, ok := d.Find("DELETE", "/base/v1/things/abc"); ok {
		t.Fatal("found an undocumented method")
	}
	post, _ := d.Find("POST", "/base/v1/things")
	for _, c := range []struct {
		op     *Operation
		status int
		ct     string
		body   string
		want   string // "" for a pass, else a part of the error
	}{
		{op, 200, "application/json", `{"id":"a","n":1}`, ""},
		{op, 200, "application/json; charset=utf-8", `{"id":"a"}`, ""},
		{op, 200, "application/json", `{"id":"a","extra":1}`, "not as documented"},
		{op, 200, "application/json", `{"n":-1}`, "not as documented"},
		{op, 200, "text/plain", `{"id":"a"}`, "content type"},
		{op, 200, "application/json", `{"id":`, "not JSON"},
		{op, 500, "application/json", `{}`, "does not document"},
		{op, 404, "application/problem+json", `{"code":"not_found"}`, ""},
		{op, 404, "application/problem+json", `{}`, "not as documented"},
		{post, 204, "", ``, ""},
		{post, 204, "application/json", `{"a":1}`, ""}, // 204 bodies are the server's to drop
	} {
		err := d.Check(c.op, c.status, c.ct, []byte(c.body))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%d %s %s: %v", c.status, c.ct, c.body, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%d %s %s: %v, want an error saying %q", c.status, c.ct, c.body, err, c.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"/v2/verify/{id}":              "/v2/verify/{}",
		"/v2/verify/{request_id}/x":    "/v2/verify/{}/x",
		"/compat/smscx/otp":            "/compat/smscx/otp",
		"/v2/Services/{service}/{sid}": "/v2/Services/{}/{}",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
