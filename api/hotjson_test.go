package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// reflectDecode is the reference: the server's reflection-based decode.
func reflectDecode(body []byte, v any) *Problem {
	s := &Server{cfg: Config{MaxBodyBytes: 16 << 10}}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetBody(body)
	if s.decode(&ctx, v) {
		return nil
	}
	var p Problem
	json.Unmarshal(ctx.Response.Body(), &p)
	return &p
}

// sameOutcome fails when the hot decoder and the reference disagree on
// body: both take it with the same values, or both refuse it with the
// same code and field.
func sameOutcome(t *testing.T, body []byte) {
	t.Helper()
	var want CreateRequest
	wp := reflectDecode(body, &want)
	got, gp := decodeCreateRequest(body, 16<<10)
	switch {
	case (wp == nil) != (gp == nil):
		t.Fatalf("%q: hot %+v, reference %+v", body, gp, wp)
	case wp != nil && (wp.Code != gp.Code || wp.Field != gp.Field || wp.Status != gp.Status):
		t.Fatalf("%q: hot %s %s %d, reference %s %s %d", body, gp.Code, gp.Field, gp.Status, wp.Code, wp.Field, wp.Status)
	case wp != nil && gp.Code == "invalid_type" && gp.Detail != wp.Detail:
		t.Fatalf("%q: hot says %q, reference %q", body, gp.Detail, wp.Detail)
	case wp == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("%q: hot %+v, reference %+v", body, got, want)
	case wp == nil:
		canon, _ := json.Marshal(want)
		if string(canonicalCreate(&got)) != string(canon) {
			t.Fatalf("%q: canonical form %s, encoding/json %s", body, canonicalCreate(&got), canon)
		}
	}
	var wc, gc CheckRequest
	wp = reflectDecode(body, &wc)
	gc, gp = decodeCheckRequest(body, 16<<10)
	if (wp == nil) != (gp == nil) || (wp != nil && (wp.Code != gp.Code || wp.Field != gp.Field)) || (wp == nil && gc != wc) {
		t.Fatalf("check %q: hot %+v %+v, reference %+v %+v", body, gc, gp, wc, wp)
	}
}

var jsonSeeds = []string{
	`{"number":"+14155552671"}`,
	`{"number":"+14155552671","country":"US","channel":"sms","workflow":["sms","voice"],"brand":"A","sender_id":"S","locale":"it",` +
		`"code_length":6,"code_type":"numeric","ttl":600,"max_attempts":3,"template":"<b>{code}</b> & \u2028","next_event_wait":60,"callback_url":"https://h/x"}`,
	`{"NUMBER":"+1","Number":"+2"}`, `{"number":null,"ttl":null,"workflow":null}`, `null`, `[]`, `"x"`, `1`, ``, ` `,
	`{"number":"+1",}`, `{"number":"+1"} {}`, `{"colour":"red","number":1}`, `{"number":1,"colour":"red"}`,
	`{"ttl":"60"}`, `{"ttl":6.5}`, `{"ttl":1e2}`, `{"ttl":-0}`, `{"ttl":99999999999999999999}`, `{"workflow":"sms"}`,
	`{"workflow":["sms",1]}`, `{"workflow":[null,"sms"]}`, `{"number":"\ud800x"}`, "{\"number\":\"a\xffb\"}", `{"number":"\u0000"}`,
	`{"code":"123456"}`, `{"code":123456}`, `{"code":"12\n34"}`, `{"a":NaN}`, `{"number":'x'}`, `{"number":"+1","number":"+2"}`,
	"{\"n\xffumber\":1}",
}

func TestHotJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		sameOutcome(t, []byte(s))
	}
}

// FuzzHotJSON holds the hot decoder to the reflection-based one on any
// body.
func FuzzHotJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameOutcome(t, body) })
}

// FuzzHotAnswers holds the hand-written answers to encoding/json's bytes.
func FuzzHotAnswers(f *testing.F) {
	f.Add("0123456789abcdefghjkmnpqrs", "+14155552671", "US", "sms", int64(1_800_000_000_123456789), 5, true, "wrong_code")
	f.Add("<id>&", "\u2028\xff\"\\\n", "", "", int64(0), -1, false, "")
	f.Fuzz(func(t *testing.T, id, number, country, channel string, ns int64, n int, flag bool, reason string) {
		at := time.Unix(0, ns).UTC()
		c := CreateResponse{ID: id, Status: "pending", Number: number, Country: country, ExpiresAt: at, MaxAttempts: n, Reused: flag}
		if channel != "" {
			c.Workflow = []string{channel, number}
		}
		want, err := json.Marshal(c)
		if err != nil {
			return // a time encoding/json cannot write either
		}
		if got := appendCreateResponse(nil, &c); string(got) != string(want) {
			t.Fatalf("create answer\n %s\nencoding/json\n %s", got, want)
		}
		k := CheckResponse{ID: id, Status: country, Verified: flag, AttemptsLeft: n, Reason: reason}
		want, _ = json.Marshal(k)
		if got := appendCheckResponse(nil, &k); string(got) != string(want) {
			t.Fatalf("check answer\n %s\nencoding/json\n %s", got, want)
		}
	})
}
