package compattest

import (
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// Mux mounts a facade's routes on a router alone, for tests that call the
// handlers directly (fuzzing): no server, no network.
type Mux struct {
	r *router.Router
	// Keys are the native API keys: key → tenant.
	Keys map[string]string
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	r := router.New()
	r.RedirectTrailingSlash, r.RedirectFixedPath = false, false // as the API server
	return &Mux{r: r}
}

// Handle implements httpx.Mux.
func (m *Mux) Handle(method, path, endpoint string, h fasthttp.RequestHandler) {
	m.r.Handle(method, path, h)
}

// Allow implements httpx.Mux: every request is allowed.
func (m *Mux) Allow(string) (bool, time.Duration) { return true, 0 }

// Tenant implements httpx.Mux.
func (m *Mux) Tenant(key []byte) (string, bool) {
	t, ok := m.Keys[string(key)]
	return t, ok
}

// Do runs one request through the routes and returns the answer.
func (m *Mux) Do(method, uri, contentType string, headers map[string]string, body []byte) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	if contentType != "" {
		ctx.Request.Header.SetContentType(contentType)
	}
	for k, v := range headers {
		ctx.Request.Header.Set(k, v)
	}
	ctx.Request.SetBody(body)
	m.r.Handler(&ctx)
	var resp fasthttp.Response
	ctx.Response.CopyTo(&resp)
	return &resp
}
