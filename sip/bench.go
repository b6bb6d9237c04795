package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// BenchOptions for RunBench.
type BenchOptions struct {
	Addr      string  // the SIP simulator (or any UAS that answers and waits for BYE)
	Transport string  // udp (default) or tcp
	Calls     int     // concurrent calls, all placed at once (unless CPS)
	Audio     []byte  // µ-law audio every call plays
	CPS       float64 // calls per second while setting up; 0: no limit
	Log       *slog.Logger
}

// BenchReport is what RunBench measured. Pacing is over every RTP packet
// sent: how late it left against its ideal 20 ms schedule.
type BenchReport struct {
	Calls, Answered, Failed int
	Packets                 uint64
	P50, P99, Max           time.Duration
	Elapsed                 time.Duration
	// MaxConcurrent is the most calls that were playing at once.
	MaxConcurrent int
}

func (r BenchReport) String() string {
	return fmt.Sprintf("%d calls (%d answered, %d failed, at most %d playing at once), %d RTP packets in %v; pacing error p50 %v p99 %v max %v",
		r.Calls, r.Answered, r.Failed, r.MaxConcurrent, r.Packets, r.Elapsed.Round(time.Millisecond), r.P50, r.P99, r.Max)
}

// RunBench places opts.Calls concurrent calls on one trunk at opts.Addr, each
// playing opts.Audio, and reports the RTP pacing error. It fails when a call
// fails (the report still counts them).
func RunBench(ctx context.Context, opts BenchOptions) (BenchReport, error) {
	rep := BenchReport{Calls: opts.Calls}
	if opts.Calls <= 0 || len(opts.Audio) == 0 {
		return rep, errors.New("sip bench: need calls > 0 and audio")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c, err := NewClient(Trunk{
		Name: "bench", Addr: opts.Addr, Transport: opts.Transport, MaxCalls: opts.Calls, CPS: opts.CPS,
	}, log)
	if err != nil {
		return rep, err
	}
	defer c.Close()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		playing  int
	)
	start := time.Now()
	for i := range opts.Calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Place(ctx, Call{To: fmt.Sprintf("+1999%07d", i), Audio: opts.Audio, OnRTP: nil})
			mu.Lock()
			defer mu.Unlock()
			if err != nil || res.Outcome != OutcomeAnswered {
				rep.Failed++
				if firstErr == nil {
					firstErr = fmt.Errorf("call %d: outcome %s: %v", i, res.Outcome, err)
				}
				return
			}
			rep.Answered++
		}()
	}
	// Sample how many streams play at once.
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			thePacer.mu.Lock()
			playing = max(playing, thePacer.n)
			thePacer.mu.Unlock()
		}
	}
	rep.Elapsed = time.Since(start)
	rep.MaxConcurrent = playing
	rep.P50, rep.P99, rep.Max, rep.Packets = c.PacingSummary()
	if firstErr != nil {
		return rep, fmt.Errorf("sip bench: %d of %d calls failed; first: %w", rep.Failed, rep.Calls, firstErr)
	}
	return rep, nil
}

// Bench places calls concurrent calls on the SIP simulator at addr (UDP),
// each playing audio, and returns the median and 99th percentile of the RTP
// pacing error. See RunBench for the full report.
func Bench(ctx context.Context, addr string, calls int, audio []byte) (p50, p99 time.Duration, err error) {
	r, err := RunBench(ctx, BenchOptions{Addr: addr, Calls: calls, Audio: audio})
	return r.P50, r.P99, err
}
