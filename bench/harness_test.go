package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsOpsAndErrors(t *testing.T) {
	var n atomic.Int64
	var progress bytes.Buffer
	res, err := Run(context.Background(), Options{Name: "t", Workers: 4, Warmup: -1, Duration: 300 * time.Millisecond, Interval: 100 * time.Millisecond, Progress: &progress},
		func(ctx context.Context, w int) error {
			time.Sleep(time.Millisecond)
			if n.Add(1)%10 == 0 {
				return errors.New("every tenth fails")
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Errors == 0 || res.FirstErr != "every tenth fails" {
		t.Fatalf("result %+v", res)
	}
	if ratio := float64(res.Errors) / float64(res.Ops+res.Errors); ratio < 0.05 || ratio > 0.15 {
		t.Fatalf("error share %.2f, want about 0.1", ratio)
	}
	if res.P50Ms < 1 || len(res.Series) < 2 || !strings.Contains(progress.String(), "/s") {
		t.Fatalf("p50 %.2f ms, %d points, progress %q", res.P50Ms, len(res.Series), progress.String())
	}
	var table bytes.Buffer
	WriteTable(&table, res)
	if !strings.Contains(table.String(), "every tenth fails") {
		t.Fatal(table.String())
	}
	path := filepath.Join(t.TempDir(), "x", "r.json")
	if err := WriteJSON(path, res); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(`"rate_per_s"`)) {
		t.Fatal("json report")
	}
}

func TestWriteSVG(t *testing.T) {
	r := Result{Name: "api <create>", Series: []Point{{At: 1, Rate: 100, P50: 1, P99: 5}, {At: 2, Rate: 120, P50: 1.5, P99: 7}}}
	path := filepath.Join(t.TempDir(), "r.svg")
	if err := WriteSVG(path, r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	s := string(b)
	if !strings.HasPrefix(s, "<svg") || strings.Count(s, "<polyline") != 3 || !strings.Contains(s, "api &lt;create&gt;") {
		t.Fatalf("svg:\n%s", s)
	}
}

// TestOpenLoopCountsWaiting: at a fixed rate, an operation that cannot
// start on time (one worker, 20 ms per op, 100/s asked) shows the wait in
// its latency — a closed loop would report 20 ms.
func TestOpenLoopCountsWaiting(t *testing.T) {
	res, err := Run(context.Background(), Options{Name: "open", Workers: 1, Warmup: -1, Duration: 400 * time.Millisecond, Rate: 100},
		func(ctx context.Context, _ int) error { time.Sleep(20 * time.Millisecond); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.P99Ms < 100 || res.Rate > 60 {
		t.Fatalf("p99 %.1f ms at %.0f/s: the wait behind the schedule is not counted", res.P99Ms, res.Rate)
	}
}
