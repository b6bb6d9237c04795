package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/engine"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// fakeEngine answers with what the test sets.
type fakeEngine struct {
	err    error
	tenant string
	got    engine.CreateRequest
}

func (f *fakeEngine) Create(ctx context.Context, r engine.CreateRequest) (*engine.Created, error) {
	f.got = r
	if f.err != nil {
		return nil, f.err
	}
	return &engine.Created{ID: "id", Status: "pending", Number: r.Number, MaxAttempts: 5}, nil
}
func (f *fakeEngine) DeadLetters(tenant string, limit int) ([]engine.DeadLetter, error) {
	return nil, f.err
}
func (f *fakeEngine) Check(ctx context.Context, tenant, id, code string) (engine.CheckResult, error) {
	f.tenant = tenant
	return engine.CheckResult{ID: id, Status: "verified", Verified: true}, f.err
}
func (f *fakeEngine) Get(ctx context.Context, tenant, id string) (*engine.View, error) {
	return nil, f.err
}
func (f *fakeEngine) Cancel(ctx context.Context, tenant, id string) (*engine.View, error) {
	return nil, f.err
}
func (f *fakeEngine) Next(ctx context.Context, tenant, id string) (*engine.View, error) {
	return nil, f.err
}

func serve(t *testing.T, eng Verifier) *http.Client {
	s, err := New(Config{Engine: eng, Keys: map[string]string{HashKey("k1"): "t1", HashKey("k2"): "t2"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()); ln.Close() })
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return ln.Dial() }}, Timeout: 5 * time.Second}
}

func call(t *testing.T, c *http.Client, method, path, key, body string) (int, Problem) {
	req, _ := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p Problem
	json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, p
}

const validID = "0123456789abcdefghjkmnpqrs"

func TestEngineErrorsMap(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{&engine.FieldError{Field: "number", Code: "no_route", Detail: "x"}, 422, "no_route"},
		{&engine.ConcurrentError{ID: "abc"}, 409, "concurrent_verification"},
		{engine.ErrNotFound, 404, "not_found"},
		{engine.ErrNotPending, 409, "not_pending"},
		{engine.ErrNoNextStep, 409, "no_next_step"},
		{engine.ErrOverloaded, 503, "overloaded"},
		{errors.New("store: commit: disk full"), 503, "unavailable"},
		{&engine.LimitError{Code: "number_send_limit", RetryAfter: 1500 * time.Millisecond}, 429, "number_send_limit"},
		{&engine.IdempotencyError{Key: "k"}, 409, "idempotency_key_reused"},
	} {
		f := &fakeEngine{err: c.err}
		cl := serve(t, f)
		st, p := call(t, cl, "POST", "/v1/verifications", "k1", `{"number":"+14155552671"}`)
		if st != c.status || p.Code != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.err, st, p.Code, c.status, c.code)
		}
		if c.status == 503 && strings.Contains(p.Detail, "disk") {
			t.Errorf("internal error leaked to the client: %q", p.Detail)
		}
	}
}

func TestAuthPicksTenant(t *testing.T) {
	f := &fakeEngine{}
	cl := serve(t, f)
	for key, tenant := range map[string]string{"k1": "t1", "k2": "t2"} {
		if st, _ := call(t, cl, "POST", "/v1/verifications/"+validID+"/check", key, `{"code":"1234"}`); st != 200 || f.tenant != tenant {
			t.Fatalf("key %s: %d tenant %q", key, st, f.tenant)
		}
	}
	if st, p := call(t, cl, "POST", "/v1/verifications", "k3", `{}`); st != 401 || p.Code != "invalid_api_key" {
		t.Fatalf("unknown key: %d %s", st, p.Code)
	}
}

func TestCreatePassesFields(t *testing.T) {
	f := &fakeEngine{}
	cl := serve(t, f)
	st, _ := call(t, cl, "POST", "/v1/verifications", "k1", `{"number":"3471234567","country":"IT","ttl":120,"code_length":8,"max_attempts":3,"next_event_wait":60,"locale":"it","brand":"B","sender_id":"S","code_type":"alpha","template":"{code}","workflow":["sms"]}`)
	want := engine.CreateRequest{Tenant: "t1", Number: "3471234567", Country: "IT", TTL: 2 * time.Minute, CodeLength: 8, MaxAttempts: 3,
		NextEventWait: time.Minute, Locale: "it", Brand: "B", SenderID: "S", CodeType: "alpha", Template: "{code}", Workflow: []string{"sms"}}
	if st != 202 || f.got.Tenant != want.Tenant || f.got.TTL != want.TTL || f.got.CodeLength != 8 || f.got.MaxAttempts != 3 ||
		f.got.NextEventWait != time.Minute || f.got.Country != "IT" || f.got.CodeType != "alpha" || f.got.Workflow[0] != "sms" {
		t.Fatalf("%d %+v", st, f.got)
	}
}

func TestKeyHash(t *testing.T) {
	h := HashKey("secret")
	if _, err := ParseKeyHash(h); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "md5:00", "sha256:zz", "sha256:" + strings.Repeat("0", 63)} {
		if _, err := ParseKeyHash(bad); err == nil {
			t.Errorf("ParseKeyHash(%q) accepted", bad)
		}
	}
	if _, err := New(Config{Engine: &fakeEngine{}, Keys: map[string]string{"nope": "t"}}); err == nil {
		t.Fatal("bad key hash accepted")
	}
}

// TestFacadeRoutesBoundBodies: a route a facade mounts refuses a body
// over MaxBodyBytes before its handler reads it, and its Tenant finds the
// tenant of a native key (NexCode's Bearer).
func TestFacadeRoutesBoundBodies(t *testing.T) {
	s, err := New(Config{Engine: &fakeEngine{}, Keys: map[string]string{HashKey("k1"): "t1"}, MaxBodyBytes: 100, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var ran int
	s.Handle("POST", "/compat/x/echo", "x_echo", func(ctx *fasthttp.RequestCtx) { ran++; ctx.SetStatusCode(204) })
	ln := fasthttputil.NewInmemoryListener()
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()); ln.Close() })
	cl := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return ln.Dial() }}, Timeout: 5 * time.Second}
	if st, _ := call(t, cl, "POST", "/compat/x/echo", "", strings.Repeat("x", 100)); st != 204 || ran != 1 {
		t.Fatalf("a body of the limit: %d, handler ran %d times", st, ran)
	}
	if st, p := call(t, cl, "POST", "/compat/x/echo", "", strings.Repeat("x", 101)); st != 413 || p.Code != "body_too_large" || ran != 1 {
		t.Fatalf("a body over the limit: %d %+v, handler ran %d times", st, p, ran)
	}
	if tn, ok := s.Tenant([]byte("k1")); !ok || tn != "t1" {
		t.Fatalf("Tenant(k1) = %q %v", tn, ok)
	}
	if _, ok := s.Tenant([]byte("k2")); ok {
		t.Fatal("an unknown key has a tenant")
	}
}
