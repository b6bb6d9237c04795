package bench

import (
	"net"

	"github.com/valyala/fasthttp"
)

// Ceiling is a trivial fasthttp server: it reads a request and answers 202
// with a small JSON body, nothing else. Driven by the same load generator
// as the API, it shows what this machine can do at all, so an API figure
// can be read as a share of it.
type Ceiling struct {
	ln  net.Listener
	srv *fasthttp.Server
}

// StartCeiling starts the server on 127.0.0.1.
func StartCeiling() (*Ceiling, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	body := []byte(`{"id":"ceiling","status":"pending"}`)
	c := &Ceiling{ln: ln, srv: &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		_ = ctx.PostBody()
		ctx.SetStatusCode(202)
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}}}
	go c.srv.Serve(ln)
	return c, nil
}

// URL is the server's base URL.
func (c *Ceiling) URL() string { return "http://" + c.ln.Addr().String() }

// Close stops it.
func (c *Ceiling) Close() error { return c.srv.Shutdown() }
