package api

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOversizeBodyAnswered413: a client that writes its whole oversize
// body before it reads (as Python's urllib does) reads the 413, not a
// connection reset, for a body just over the limit (answered by the
// handler) and for one far over it (refused by the server before reading).
func TestOversizeBodyAnswered413(t *testing.T) {
	s, err := New(Config{Engine: &fakeEngine{}, Keys: map[string]string{HashKey("k1"): "t1"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	for _, size := range []int{20 << 10, 1 << 20, 3 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// a small send buffer, as on a real network: the body cannot
			// sit in kernel buffers while the server closes
			c.(*net.TCPConn).SetWriteBuffer(64 << 10)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			body := `{"number":"` + strings.Repeat("1", size) + `"}`
			req := fmt.Sprintf("POST /v1/verifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
			if _, err := c.Write([]byte(req + body)); err != nil {
				t.Fatalf("writing the body: %v (the server reset the connection)", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 413 {
				t.Fatalf("status %d, want 413", resp.StatusCode)
			}
		})
	}
}
