// Package api owns Otpgate's HTTP surface on fasthttp: the native API v1,
// tenant authentication, problem+json errors, health and readiness,
// Prometheus metrics and, in sandbox mode only, the simulator inboxes. It
// speaks to the engine through the small Verifier interface below, and to
// the sandbox through Inbox, which cmd/otpgate wires to the simulators.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/fasthttp/router"
	"github.com/otpgate/otpgate/api/httpx"
	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/ids"
	"github.com/otpgate/otpgate/internal/tokenbucket"
	"github.com/valyala/fasthttp"
)

// Verifier is what the API needs of the engine.
type Verifier interface {
	Create(ctx context.Context, req engine.CreateRequest) (*engine.Created, error)
	Check(ctx context.Context, tenant, id, code string) (engine.CheckResult, error)
	Get(ctx context.Context, tenant, id string) (*engine.View, error)
	Cancel(ctx context.Context, tenant, id string) (*engine.View, error)
	Next(ctx context.Context, tenant, id string) (*engine.View, error)
	DeadLetters(tenant string, limit int) ([]engine.DeadLetter, error)
}

// Inbox lists what a sandbox simulator received for a number, newest
// first: only the messages of tenant's own verifications (they hold codes).
type Inbox interface {
	Messages(tenant, number string) []SandboxMessage
}

// CallInbox lists the calls the sandbox SIP simulator answered, newest
// first, and serves each call's recording as a WAV file: only the calls of
// tenant's own verifications (a recording speaks the code).
type CallInbox interface {
	Calls(tenant, number string) []SandboxCall
	CallAudio(tenant, callID string) (wav []byte, ok bool)
}

// SandboxCall is one call the sandbox SIP simulator took.
type SandboxCall struct {
	ID       string    `json:"id"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Outcome  string    `json:"outcome"`
	Codec    string    `json:"codec,omitempty"`
	Started  time.Time `json:"started"`
	Answered time.Time `json:"answered,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	Seconds  float64   `json:"audio_seconds"`
	AudioURL string    `json:"audio_url"`
}

// Config configures the HTTP server.
type Config struct {
	Engine Verifier
	// Keys maps the SHA-256 of each tenant API key ("sha256:<hex>" as
	// printed by `otpgate key new`) to its tenant id.
	Keys map[string]string
	// Sandbox, when non-nil, serves GET /v1/sandbox/messages.
	Sandbox Inbox
	// SandboxCalls, when non-nil, serves GET /v1/sandbox/calls and each
	// call's audio.wav.
	SandboxCalls CallInbox
	// Ready reports readiness for /readyz: ok, and the reasons when not.
	Ready func() (bool, []string)
	// MaxBodyBytes bounds a request body. Default 16 KiB.
	MaxBodyBytes int
	// MaxCallbackBytes bounds the body of a channel provider's callback
	// (HandleCallback): Meta batches statuses into one notification of up
	// to 3 MB, and a notification refused as too large is retried, and
	// refused, for 7 days. Default 4 MiB. The server reads at most the larger of
	// this and 4×MaxBodyBytes before any handler runs, so a larger value
	// lets any client make the server buffer that much per request.
	MaxCallbackBytes int
	// AdminKeys are the hashes of the admin API keys ("sha256:<hex>"), for
	// /admin/…; without any, every /admin/… request is refused.
	AdminKeys []string
	// Rates are the tenants' request rates (token buckets); a tenant not
	// listed is not limited.
	Rates map[string]Rate
	// Reload, when set, serves POST /admin/reload: it re-reads the config
	// and says what changed live and what needs a restart, or why the file
	// was refused (the running config then stays).
	Reload func() (ReloadResult, error)
	Logger *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	cfg      Config
	router   *router.Router
	auth_    atomic.Pointer[authTable] // swapped whole by SetAuth (config reload)
	draining atomic.Bool
	log      *slog.Logger
	srv      *fasthttp.Server
}

type keyEntry struct {
	hash   [32]byte
	tenant string
}

// New checks cfg and builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("api: no engine")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 10
	}
	if cfg.MaxCallbackBytes <= 0 {
		cfg.MaxCallbackBytes = 4 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if err := s.SetAuth(cfg.Keys, cfg.AdminKeys, cfg.Rates); err != nil {
		return nil, err
	}
	r := router.New()
	s.router = r
	r.POST("/v1/verifications", s.wrap("create", s.auth(s.create)))
	r.GET("/v1/verifications/{id}", s.wrap("get", s.auth(s.get)))
	r.POST("/v1/verifications/{id}/check", s.wrap("check", s.auth(s.check)))
	r.POST("/v1/verifications/{id}/cancel", s.wrap("cancel", s.auth(s.cancel)))
	r.POST("/v1/verifications/{id}/next", s.wrap("next", s.auth(s.next)))
	if cfg.Sandbox != nil {
		r.GET("/v1/sandbox/messages", s.wrap("sandbox_messages", s.auth(s.sandboxMessages)))
	}
	if cfg.SandboxCalls != nil {
		r.GET("/v1/sandbox/calls", s.wrap("sandbox_calls", s.auth(s.sandboxCalls)))
		r.GET("/v1/sandbox/calls/{call_id}/audio.wav", s.wrap("sandbox_call_audio", s.auth(s.sandboxCallAudio)))
	}
	r.GET("/admin/webhooks/dead", s.wrap("admin_dead_letters", s.adminAuth(s.deadLetters)))
	if cfg.Reload != nil {
		r.POST("/admin/reload", s.wrap("admin_reload", s.adminAuth(s.reload)))
	}
	r.GET("/openapi.json", s.wrap("openapi", func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(specJSON())
	}))
	r.GET("/healthz", s.wrap("healthz", func(ctx *fasthttp.RequestCtx) { writeJSON(ctx, 200, map[string]string{"status": "ok"}) }))
	r.GET("/readyz", s.wrap("readyz", s.readyz))
	r.GET("/metrics", s.closeWhileDraining(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain; version=0.0.4")
		metrics.WritePrometheus(ctx, true)
	}))
	r.NotFound = s.wrap("not_found", func(ctx *fasthttp.RequestCtx) {
		writeProblem(ctx, 404, "not_found", "", fmt.Sprintf("no endpoint %s %s", ctx.Method(), ctx.Path()))
	})
	r.MethodNotAllowed = s.wrap("method_not_allowed", func(ctx *fasthttp.RequestCtx) {
		writeProblem(ctx, 405, "method_not_allowed", "", fmt.Sprintf("%s is not allowed on %s", ctx.Method(), ctx.Path()))
	})
	r.PanicHandler = func(ctx *fasthttp.RequestCtx, v any) {
		s.log.Error("api: handler panicked", "path", string(ctx.Path()), "panic", fmt.Sprint(v))
		writeProblem(ctx, 500, "internal", "", "internal error")
		if s.draining.Load() {
			ctx.SetConnectionClose()
		}
	}
	// No redirects: a client that POSTs to a near-miss path (a trailing
	// slash, another case) gets a 404 naming it, not a 308 many clients
	// do not follow with their body.
	r.RedirectTrailingSlash, r.RedirectFixedPath = false, false
	s.srv = &fasthttp.Server{
		Handler:            cleanPath(r.Handler),
		Name:               "otpgate",
		MaxRequestBodySize: max(cfg.MaxBodyBytes*4, cfg.MaxCallbackBytes), // hard cap; handlers answer 413 past their own limit
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       10 * time.Second,
		IdleTimeout:        60 * time.Second,
		// During Shutdown, answers carry Connection: close so clients do not
		// reuse a connection the server is about to close.
		CloseOnShutdown: true,
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			// fasthttp closes the connection after this answer, maybe
			// with the client still sending: let it read the answer
			lingerOnClose(ctx.Conn())
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				ctx.SetConnectionClose()
				writeProblem(ctx, 408, "request_timeout", "", "the request was not received in time")
				return
			}
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				writeProblem(ctx, 413, "body_too_large", "", fmt.Sprintf("request body over %d bytes", cfg.MaxBodyBytes))
				return
			}
			writeProblem(ctx, 400, "malformed_request", "", "malformed HTTP request: "+err.Error())
		},
		Logger: fasthttpLogger{s.log},
	}
	return s, nil
}

// cleanPath routes a path with doubled slashes (an SDK whose base URL ends
// in "/" asks for /compat/vonage//verify/json) as the path without them.
func cleanPath(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if orig := ctx.Request.URI().PathOriginal(); bytes.Contains(orig, []byte("//")) {
			ctx.Request.URI().SetPathBytes(ctx.Path()) // fasthttp's normalised path
		}
		h(ctx)
	}
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("fasthttp: " + fmt.Sprintf(format, args...))
}

// Handler returns the request handler (for tests and in-process use).
func (s *Server) Handler() fasthttp.RequestHandler { return s.srv.Handler }

// Serve serves on ln until Shutdown. Connections close lingering (see
// linger.go), so a client still sending reads the answer, not a reset.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(newLingerListener(ln)) }

// Shutdown stops accepting, lets in-flight requests finish, and returns
// when they have or ctx is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.ShutdownWithContext(ctx) }

// Handle mounts a route of a facade (httpx.Mux): h is wrapped like the
// native routes (metrics by endpoint, Connection: close while draining).
// Call it before Serve.
//
// A body over MaxBodyBytes is refused (413) before h runs, as the native
// routes refuse it: no facade reads more than an operator allowed.
func (s *Server) Handle(method, path, endpoint string, h fasthttp.RequestHandler) {
	s.router.Handle(method, path, s.wrap(endpoint, func(ctx *fasthttp.RequestCtx) {
		if n := len(ctx.PostBody()); n > s.cfg.MaxBodyBytes {
			writeProblem(ctx, 413, "body_too_large", "", fmt.Sprintf("request body is %d bytes, the limit is %d (http.max_body_bytes)", n, s.cfg.MaxBodyBytes))
			return
		}
		h(ctx)
	}))
}

// HandleCallback mounts a channel provider's callback (WhatsApp's
// webhook): no tenant key (the handler checks the provider's signature),
// bodies up to MaxCallbackBytes, metrics by endpoint.
func (s *Server) HandleCallback(method, path, endpoint string, h fasthttp.RequestHandler) {
	s.router.Handle(method, path, s.wrap(endpoint, func(ctx *fasthttp.RequestCtx) {
		if n := len(ctx.PostBody()); n > s.cfg.MaxCallbackBytes {
			writeProblem(ctx, 413, "body_too_large", "", fmt.Sprintf("callback body is %d bytes, the limit is %d (http.max_callback_bytes)", n, s.cfg.MaxCallbackBytes))
			return
		}
		h(ctx)
	}))
}

// Routes lists the server's routes, method → paths (the native API's and
// every facade's), so a test can hold them to the OpenAPI documents.
func (s *Server) Routes() map[string][]string { return s.router.List() }

// Allow takes one request from tenant's request rate (httpx.Mux), so the
// facades count against the same bucket as the native API.
func (s *Server) Allow(tenant string) (bool, time.Duration) {
	if b := s.auth_.Load().buckets[tenant]; b != nil {
		return b.Take(time.Now())
	}
	return true, 0
}

// ParseKeyHash reads "sha256:<64 hex>".
func ParseKeyHash(h string) ([32]byte, error) { return httpx.ParseHash(h) }

// HashKey returns the hash of an API key in the form the config holds.
func HashKey(key string) string { return httpx.HashSecret(key) }

// authTable is the keys and rates in force; replaced whole on a reload.
type authTable struct {
	keys    map[uint64][]keyEntry // by the first 8 bytes of the key hash
	admin   map[uint64][]keyEntry
	buckets map[string]*tokenbucket.Bucket
}

// SetAuth replaces the tenant keys, admin keys and tenant rates (a config
// reload). A tenant whose rate is unchanged keeps its bucket.
func (s *Server) SetAuth(keys map[string]string, adminKeys []string, rates map[string]Rate) error {
	t, err := buildAuth(keys, adminKeys)
	if err != nil {
		return err
	}
	old := s.auth_.Load()
	for tenant, r := range rates {
		if r.PerSecond <= 0 {
			continue
		}
		if old != nil && old.buckets[tenant] != nil && sameRate(old.buckets[tenant], r) {
			t.buckets[tenant] = old.buckets[tenant]
			continue
		}
		t.buckets[tenant] = newBucket(r)
	}
	s.auth_.Store(t)
	return nil
}

// CheckAuth says what SetAuth would refuse, changing nothing (a reload
// checks everything before it swaps anything in).
func (s *Server) CheckAuth(keys map[string]string, adminKeys []string) error {
	_, err := buildAuth(keys, adminKeys)
	return err
}

func buildAuth(keys map[string]string, adminKeys []string) (*authTable, error) {
	t := &authTable{keys: map[uint64][]keyEntry{}, admin: map[uint64][]keyEntry{}, buckets: map[string]*tokenbucket.Bucket{}}
	for h, tenant := range keys {
		sum, err := ParseKeyHash(h)
		if err != nil {
			return nil, fmt.Errorf("api: tenant %s: %w", tenant, err)
		}
		k := binary.BigEndian.Uint64(sum[:8])
		t.keys[k] = append(t.keys[k], keyEntry{sum, tenant})
	}
	for _, h := range adminKeys {
		sum, err := ParseKeyHash(h)
		if err != nil {
			return nil, fmt.Errorf("api: admin key: %w", err)
		}
		k := binary.BigEndian.Uint64(sum[:8])
		t.admin[k] = append(t.admin[k], keyEntry{sum, "admin"})
	}
	return t, nil
}

func (s *Server) tenantFor(key []byte) (string, bool) { return lookupKey(s.auth_.Load().keys, key) }

// Tenant returns the tenant of a native API key (httpx.Mux).
func (s *Server) Tenant(key []byte) (string, bool) { return s.tenantFor(key) }

func lookupKey(keys map[uint64][]keyEntry, key []byte) (string, bool) {
	sum := sha256.Sum256(key)
	for _, e := range keys[binary.BigEndian.Uint64(sum[:8])] {
		if subtle.ConstantTimeCompare(sum[:], e.hash[:]) == 1 {
			return e.tenant, true
		}
	}
	return "", false
}

type handler func(ctx *fasthttp.RequestCtx, tenant string)

// auth resolves the bearer key to a tenant.
func (s *Server) auth(h handler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		authz := ctx.Request.Header.Peek("Authorization")
		var key []byte
		ok := len(authz) > 7 && bytes.EqualFold(authz[:7], []byte("Bearer "))
		if ok {
			key = authz[7:]
		}
		if len(authz) == 0 {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="otpgate"`)
			writeProblem(ctx, 401, "missing_api_key", "Authorization", "send Authorization: Bearer <api key>")
			return
		}
		tenant, found := "", false
		if ok {
			tenant, found = s.tenantFor(bytes.TrimSpace(key))
		}
		if !found {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="otpgate", error="invalid_token"`)
			writeProblem(ctx, 401, "invalid_api_key", "Authorization", "the API key is not valid")
			return
		}
		if ok, wait := s.Allow(tenant); !ok {
			writeLimited(ctx, "tenant_rate_limit", wait, "the tenant's requests per second are used up")
			return
		}
		h(ctx, tenant)
	}
}

// adminAuth admits the admin keys only.
func (s *Server) adminAuth(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		authz := ctx.Request.Header.Peek("Authorization")
		if len(authz) <= 7 || !bytes.EqualFold(authz[:7], []byte("Bearer ")) {
			writeProblem(ctx, 401, "missing_api_key", "Authorization", "send Authorization: Bearer <admin key>")
			return
		}
		if _, ok := lookupKey(s.auth_.Load().admin, bytes.TrimSpace(authz[7:])); !ok {
			writeProblem(ctx, 401, "invalid_api_key", "Authorization", "not an admin key")
			return
		}
		h(ctx)
	}
}

func writeLimited(ctx *fasthttp.RequestCtx, code string, wait time.Duration, detail string) {
	httpx.WriteLimited(ctx, code, wait, detail)
}

// ReloadResult is the answer of POST /admin/reload.
type ReloadResult struct {
	Reloaded     []string `json:"reloaded"`      // what now runs with the new values
	NeedsRestart []string `json:"needs_restart"` // what changed in the file but runs with the old values until a restart
}

func (s *Server) reload(ctx *fasthttp.RequestCtx) {
	res, err := s.cfg.Reload()
	if err != nil {
		writeProblem(ctx, 422, "invalid_config", "", err.Error()+" (the running configuration stays)")
		return
	}
	if res.Reloaded == nil {
		res.Reloaded = []string{}
	}
	if res.NeedsRestart == nil {
		res.NeedsRestart = []string{}
	}
	writeJSON(ctx, 200, res)
}

func (s *Server) deadLetters(ctx *fasthttp.RequestCtx) {
	limit := 100
	if v := ctx.QueryArgs().GetUintOrZero("limit"); v > 0 && v <= 1000 {
		limit = v
	}
	dl, err := s.cfg.Engine.DeadLetters(string(ctx.QueryArgs().Peek("tenant")), limit)
	if err != nil {
		s.engineError(ctx, err)
		return
	}
	if dl == nil {
		dl = []engine.DeadLetter{}
	}
	writeJSON(ctx, 200, map[string]any{"dead_letters": dl})
}

// wrap counts and times a request by endpoint and status.
func (s *Server) wrap(endpoint string, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	hist := metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_http_request_duration_seconds{endpoint=%q}`, endpoint))
	h = s.closeWhileDraining(h)
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		h(ctx)
		hist.UpdateDuration(start)
		metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_http_requests_total{endpoint=%q,status="%d"}`, endpoint, ctx.Response.StatusCode())).Inc()
	}
}

// closeWhileDraining: while draining, every answer closes its connection
// (set after the handler, which may reset the response), so clients stop
// reusing connections that would be closed under them when the listener
// closes; the next request opens a new connection, which the load
// balancer sends elsewhere (or is refused).
func (s *Server) closeWhileDraining(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h(ctx)
		if s.draining.Load() {
			ctx.SetConnectionClose()
		}
	}
}

// decode reads a JSON body into v strictly: unknown fields, wrong types,
// trailing data and oversize bodies are refused with a problem naming them.
func (s *Server) decode(ctx *fasthttp.RequestCtx, v any) bool {
	return httpx.DecodeJSON(ctx, v, httpx.Decode{MaxBytes: s.cfg.MaxBodyBytes})
}

// engineError maps an engine error to a problem.
func (s *Server) engineError(ctx *fasthttp.RequestCtx, err error) {
	httpx.WriteEngineError(ctx, err, s.log)
}

// maxNumber bounds every numeric field before it is scaled, so no value
// can overflow into a valid-looking duration.
const maxNumber = 10_000_000

func positive(p *int, field string, scale time.Duration) (time.Duration, *Problem) {
	if p == nil {
		return 0, nil
	}
	if *p <= 0 || *p > maxNumber {
		return 0, &Problem{Status: 422, Code: "invalid_field", Field: field, Detail: fmt.Sprintf("%s %d is out of range", field, *p)}
	}
	return time.Duration(*p) * scale, nil
}

func (s *Server) create(ctx *fasthttp.RequestCtx, tenant string) {
	req, prob := decodeCreateRequest(ctx.PostBody(), s.cfg.MaxBodyBytes)
	if prob != nil {
		writeProblemDoc(ctx, *prob)
		return
	}
	er := engine.CreateRequest{
		Tenant: tenant, Number: req.Number, Country: req.Country, Channel: req.Channel,
		Workflow: req.Workflow, Brand: req.Brand, SenderID: req.SenderID, Locale: req.Locale,
		CodeType: req.CodeType, Template: req.Template, CallbackURL: req.CallbackURL,
		ClientIP: req.ClientIP, ClientRef: req.ClientRef, EndUser: req.ClientRef,
	}
	if req.Number == "" {
		writeProblem(ctx, 422, "invalid_field", "number", "number is required")
		return
	}
	for _, f := range []struct {
		p     *int
		name  string
		scale time.Duration
		dst   any
	}{
		{req.CodeLength, "code_length", 1, &er.CodeLength},
		{req.TTL, "ttl", time.Second, &er.TTL},
		{req.MaxAttempts, "max_attempts", 1, &er.MaxAttempts},
		{req.NextEventWait, "next_event_wait", time.Second, &er.NextEventWait},
	} {
		d, prob := positive(f.p, f.name, f.scale)
		if prob != nil {
			writeProblemDoc(ctx, *prob)
			return
		}
		switch dst := f.dst.(type) {
		case *int:
			*dst = int(d)
		case *time.Duration:
			*dst = d
		}
	}
	if key := ctx.Request.Header.Peek("Idempotency-Key"); len(key) > 0 {
		// The request as parsed, not its bytes: a retry serialised
		// another way (spacing, key order) is the same request.
		sum := sha256.Sum256(canonicalCreate(&req))
		er.IdempotencyKey, er.BodyHash = string(key), sum[:]
	}
	c, err := s.cfg.Engine.Create(ctx, er)
	if err != nil {
		s.engineError(ctx, err)
		return
	}
	if c.Replayed {
		ctx.Response.Header.Set("Idempotent-Replayed", "true")
	}
	writeBytes(ctx, 202, func(b []byte) []byte {
		return appendCreateResponse(b, &CreateResponse{
			ID: c.ID, Status: c.Status, Number: c.Number, Country: c.Country, Workflow: c.Workflow,
			ExpiresAt: c.ExpiresAt, MaxAttempts: c.MaxAttempts, Reused: c.Reused,
		})
	})
}

func pathID(ctx *fasthttp.RequestCtx) (string, bool) {
	id, _ := ctx.UserValue("id").(string)
	if !ids.Valid(id) {
		writeProblem(ctx, 404, "not_found", "id", "no such verification")
		return "", false
	}
	return id, true
}

func (s *Server) check(ctx *fasthttp.RequestCtx, tenant string) {
	id, ok := pathID(ctx)
	if !ok {
		return
	}
	req, prob := decodeCheckRequest(ctx.PostBody(), s.cfg.MaxBodyBytes)
	if prob != nil {
		writeProblemDoc(ctx, *prob)
		return
	}
	if strings.TrimSpace(req.Code) == "" {
		writeProblem(ctx, 422, "invalid_field", "code", "code is required")
		return
	}
	if len(req.Code) > 64 {
		writeProblem(ctx, 422, "invalid_field", "code", "code is longer than 64 bytes")
		return
	}
	res, err := s.cfg.Engine.Check(ctx, tenant, id, req.Code)
	if err != nil {
		s.engineError(ctx, err)
		return
	}
	writeBytes(ctx, 200, func(b []byte) []byte {
		return appendCheckResponse(b, &CheckResponse{ID: res.ID, Status: res.Status, Verified: res.Verified, AttemptsLeft: res.AttemptsLeft, Reason: res.Reason})
	})
}

func (s *Server) get(ctx *fasthttp.RequestCtx, tenant string) {
	id, ok := pathID(ctx)
	if !ok {
		return
	}
	v, err := s.cfg.Engine.Get(ctx, tenant, id)
	if err != nil {
		s.engineError(ctx, err)
		return
	}
	writeJSON(ctx, 200, v)
}

func (s *Server) cancel(ctx *fasthttp.RequestCtx, tenant string) {
	id, ok := pathID(ctx)
	if !ok {
		return
	}
	v, err := s.cfg.Engine.Cancel(ctx, tenant, id)
	if err != nil {
		s.engineError(ctx, err)
		return
	}
	writeJSON(ctx, 200, v)
}

func (s *Server) next(ctx *fasthttp.RequestCtx, tenant string) {
	id, ok := pathID(ctx)
	if !ok {
		return
	}
	v, err := s.cfg.Engine.Next(ctx, tenant, id)
	if err != nil {
		s.engineError(ctx, err)
		return
	}
	writeJSON(ctx, 200, v)
}

func (s *Server) sandboxMessages(ctx *fasthttp.RequestCtx, tenant string) {
	number, ok := sandboxNumber(ctx)
	if !ok {
		return
	}
	msgs := s.cfg.Sandbox.Messages(tenant, number)
	if msgs == nil {
		msgs = []SandboxMessage{}
	}
	writeJSON(ctx, 200, SandboxMessages{Messages: msgs})
}

// sandboxNumber reads ?number=, which must be a whole E.164 number: an
// inbox is never listed for "" or a fragment. A '+' sent unencoded arrives
// as a space and is taken as the '+' it was.
func sandboxNumber(ctx *fasthttp.RequestCtx) (string, bool) {
	raw := string(ctx.QueryArgs().Peek("number"))
	number := raw
	if strings.HasPrefix(number, " ") {
		number = "+" + strings.TrimLeft(number, " ")
	}
	if !isE164(number) {
		detail := fmt.Sprintf("number %q is not an E.164 number such as +14155552671 (URL-encode + as %%2B)", raw)
		if raw == "" {
			detail = "give ?number=+E164, such as ?number=%2B14155552671"
		}
		writeProblem(ctx, 422, "invalid_field", "number", detail)
		return "", false
	}
	return number, true
}

// isE164 reports whether n is '+' and 7 to 15 digits, the first not 0.
func isE164(n string) bool {
	if len(n) < 8 || len(n) > 16 || n[0] != '+' || n[1] == '0' {
		return false
	}
	for _, c := range n[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Drain makes /readyz answer 503 "draining" from now on, so load
// balancers stop sending before the listener closes.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) sandboxCalls(ctx *fasthttp.RequestCtx, tenant string) {
	number, ok := sandboxNumber(ctx)
	if !ok {
		return
	}
	calls := s.cfg.SandboxCalls.Calls(tenant, number)
	if calls == nil {
		calls = []SandboxCall{}
	}
	writeJSON(ctx, 200, map[string]any{"calls": calls})
}

func (s *Server) sandboxCallAudio(ctx *fasthttp.RequestCtx, tenant string) {
	id, _ := ctx.UserValue("call_id").(string)
	wav, ok := s.cfg.SandboxCalls.CallAudio(tenant, id)
	if !ok {
		writeProblem(ctx, 404, "not_found", "call_id", "no such call")
		return
	}
	ctx.SetContentType("audio/wav")
	ctx.SetBody(wav)
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	if s.draining.Load() {
		writeJSON(ctx, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return
	}
	ok, reasons := true, []string(nil)
	if s.cfg.Ready != nil {
		ok, reasons = s.cfg.Ready()
	}
	if !ok {
		writeJSON(ctx, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "reasons": reasons})
		return
	}
	writeJSON(ctx, 200, map[string]string{"status": "ready"})
}
