package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// GetOp is an operation that GETs url ({n} replaced by a running number)
// and wants a 2xx answer: the load generator for peers' send interfaces.
func GetOp(url string, conns int) Op {
	c := &fasthttp.Client{MaxConnsPerHost: conns, ReadTimeout: 30 * time.Second}
	var n atomic.Uint64
	return func(ctx context.Context, _ int) error {
		u := strings.ReplaceAll(url, "{n}", strconv.FormatUint(n.Add(1)%10_000_000, 10))
		status, body, err := c.Get(nil, u)
		if err != nil {
			return err
		}
		if status < 200 || status > 299 {
			return fmt.Errorf("GET: %d %s", status, truncate(body, 120))
		}
		return nil
	}
}
