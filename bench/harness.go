// Package bench owns Otpgate's load tests: one small harness (warm-up, a
// fixed duration, closed or open loop, a live progress line, latencies in
// HDR histograms, a table for people, a JSON report for machines and an SVG
// chart) and the scenarios that run in it (bench api now;
// smpp, voice and end-to-end scenarios join later).
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Options configure one run.
type Options struct {
	Name     string        // scenario name in reports
	Workers  int           // concurrent closed-loop workers; default 16
	Warmup   time.Duration // run but not measured; default 2s
	Duration time.Duration // measured; default 10s
	// Progress receives a live line per Interval (nil: none).
	Progress io.Writer
	Interval time.Duration // default 1s
	// Rate, when > 0, makes the run open loop: operations start on a fixed
	// schedule of Rate per second whatever the answers do, and each latency
	// is measured from its scheduled start, so waiting behind a slow answer
	// counts (no coordinated omission). Workers then bound the operations
	// in flight. 0: closed loop, each worker starts its next operation when
	// the last one ends.
	Rate float64
	// OnMeasure, when set, is called as measuring starts (after the
	// warm-up), e.g. to reset a scenario's own counters.
	OnMeasure func()
}

// Op is one operation of a worker; the harness times it. A returned error
// counts as an error and its time is not recorded.
type Op func(ctx context.Context, worker int) error

// Point is one interval of the run.
type Point struct {
	At   float64 `json:"at_s"` // seconds since measuring began
	Rate float64 `json:"rate_per_s"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	Errs uint64  `json:"errors"`
}

// Result is a run's outcome.
type Result struct {
	Name      string            `json:"name"`
	Workers   int               `json:"workers"`
	Duration  float64           `json:"duration_s"`
	Ops       uint64            `json:"ops"`
	Errors    uint64            `json:"errors"`
	FirstErr  string            `json:"first_error,omitempty"`
	Rate      float64           `json:"rate_per_s"`
	MeanMs    float64           `json:"mean_ms"`
	P50Ms     float64           `json:"p50_ms"`
	P90Ms     float64           `json:"p90_ms"`
	P99Ms     float64           `json:"p99_ms"`
	P999Ms    float64           `json:"p999_ms"`
	MaxMs     float64           `json:"max_ms"`
	Series    []Point           `json:"series"`
	Extra     map[string]string `json:"extra,omitempty"`
	StartedAt time.Time         `json:"started_at"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

type worker struct {
	mu   sync.Mutex
	hdr  *hdrhistogram.Histogram // whole run, µs, 3 significant digits
	tick Histogram               // current interval
	errs uint64
}

func newWorker() *worker {
	return &worker{hdr: hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), 3)}
}

func (w *worker) record(d time.Duration) {
	_ = w.hdr.RecordValue(max(1, d.Microseconds()))
	w.tick.Record(d)
}

// Run drives op from opts.Workers goroutines in a closed loop: warm-up,
// then the measured duration, then the result.
func Run(ctx context.Context, opts Options, op Op) (Result, error) {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.Warmup < 0 {
		opts.Warmup = 0
	} else if opts.Warmup == 0 {
		opts.Warmup = 2 * time.Second
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws := make([]*worker, opts.Workers)
	var measuring atomic.Bool
	var firstErr atomic.Value
	var wg sync.WaitGroup
	// open loop: a schedule of start times the workers take from
	var tickets chan time.Time
	if opts.Rate > 0 {
		tickets = make(chan time.Time, 1<<16)
		go func() {
			interval := time.Duration(float64(time.Second) / opts.Rate)
			next := time.Now()
			for ctx.Err() == nil {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				select {
				case tickets <- next:
				default: // the backlog is full: the gateway is far behind; the latencies already show it
				}
				next = next.Add(interval)
			}
		}()
	}
	for i := range ws {
		ws[i] = newWorker()
		wg.Add(1)
		go func(i int, w *worker) {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				if tickets != nil {
					select {
					case start = <-tickets: // latency from the scheduled start
					case <-ctx.Done():
						return
					}
				}
				err := op(ctx, i)
				d := time.Since(start)
				if !measuring.Load() {
					continue
				}
				w.mu.Lock()
				if err != nil {
					if ctx.Err() == nil {
						w.errs++
						firstErr.CompareAndSwap(nil, err.Error())
					}
				} else {
					w.record(d)
				}
				w.mu.Unlock()
			}
		}(i, ws[i])
	}
	if opts.Warmup > 0 {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "%s: warming up for %s with %d workers\n", opts.Name, opts.Warmup, opts.Workers)
		}
		select {
		case <-time.After(opts.Warmup):
		case <-ctx.Done():
		}
	}
	res := Result{Name: opts.Name, Workers: opts.Workers, StartedAt: time.Now()}
	if opts.OnMeasure != nil {
		opts.OnMeasure()
	}
	measuring.Store(true)
	begin := time.Now()
	t := time.NewTicker(opts.Interval)
	end := time.After(opts.Duration)
	last := begin
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case now := <-t.C:
			var h Histogram
			var errs uint64
			for _, w := range ws {
				w.mu.Lock()
				h.Merge(&w.tick)
				w.tick.Reset()
				errs += w.errs
				w.mu.Unlock()
			}
			p := Point{At: now.Sub(begin).Seconds(), Rate: float64(h.Count()) / now.Sub(last).Seconds(),
				P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)), Errs: errs}
			last = now
			res.Series = append(res.Series, p)
			if opts.Progress != nil {
				fmt.Fprintf(opts.Progress, "\r%s: %5.0fs  %9.0f/s  p50 %7.2f ms  p99 %7.2f ms  errors %d   ",
					opts.Name, p.At, p.Rate, p.P50, p.P99, errs)
			}
		}
	}
	measuring.Store(false)
	elapsed := time.Since(begin)
	t.Stop()
	cancel()
	wg.Wait()
	if opts.Progress != nil {
		fmt.Fprintln(opts.Progress)
	}
	h := hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), 3)
	for _, w := range ws {
		h.Merge(w.hdr)
		res.Errors += w.errs
	}
	us := func(v int64) float64 { return float64(v) / 1000 }
	res.Duration = elapsed.Seconds()
	res.Ops = uint64(h.TotalCount())
	res.Rate = float64(res.Ops) / elapsed.Seconds()
	res.MeanMs, res.P50Ms, res.P90Ms = h.Mean()/1000, us(h.ValueAtQuantile(50)), us(h.ValueAtQuantile(90))
	res.P99Ms, res.P999Ms, res.MaxMs = us(h.ValueAtQuantile(99)), us(h.ValueAtQuantile(99.9)), us(h.Max())
	if opts.Rate > 0 {
		res.Extra = map[string]string{"mode": fmt.Sprintf("open loop at %.0f/s (latency from the scheduled start)", opts.Rate)}
	}
	if v, ok := firstErr.Load().(string); ok {
		res.FirstErr = v
	}
	return res, nil
}

// WriteTable prints results as a table for people.
func WriteTable(w io.Writer, results ...Result) {
	fmt.Fprintf(w, "%-28s %7s %10s %11s %8s %9s %9s %9s %9s\n", "scenario", "workers", "ops", "rate/s", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms")
	for _, r := range results {
		fmt.Fprintf(w, "%-28s %7d %10d %11.0f %8d %9.2f %9.2f %9.2f %9.2f\n", r.Name, r.Workers, r.Ops, r.Rate, r.Errors, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs)
		for k, v := range r.Extra {
			fmt.Fprintf(w, "    %s: %s\n", k, v)
		}
		if r.FirstErr != "" {
			fmt.Fprintf(w, "    first error: %s\n", r.FirstErr)
		}
	}
}

// Machine describes where a report was measured: figures from machines of
// one kind differ by up to three times, so each report names its own.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %d GiB", (kb+512*1024)>>20)
		}
	}
	return fmt.Sprintf("%d cores (%s)%s, %s", runtime.NumCPU(), model, mem, runtime.Version())
}

// WriteJSON writes results to path (creating its directory), with the
// machine they were measured on.
func WriteJSON(path string, results ...Result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]any{"results": results, "machine": Machine()}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
