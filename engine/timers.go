package engine

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/otpgate/otpgate/engine/store"
)

// Run starts the send workers and the timer loop and blocks until ctx is
// done, then waits for in-flight sends to return. Pending timers live in the
// store, so a restart resumes them.
func (e *Engine) Run(ctx context.Context) error {
	for i := 0; i < e.cfg.Workers; i++ {
		e.wg.Add(1)
		go e.worker(ctx)
	}
	e.timerLoop(ctx)
	e.wg.Wait()
	return nil
}

// timerPoll is the longest the timer loop sleeps: it bounds how late a
// deadline written by another path (a short ttl) is seen.
const timerPoll = 50 * time.Millisecond

func (e *Engine) timerLoop(ctx context.Context) {
	lastPrune := time.Now()
	for {
		n := e.RunDue(ctx, 1024)
		if time.Since(lastPrune) > time.Minute {
			e.early.prune(e.now())
			lastPrune = time.Now()
		}
		if n == 1024 {
			continue // more are due
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(timerPoll):
		}
	}
}

// RunDue handles up to limit due deadlines and returns how many it saw.
func (e *Engine) RunDue(ctx context.Context, limit int) int {
	now := e.now()
	due, _, err := e.st.Due(now, limit)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, store.ErrClosed) {
			e.log.Error("timers: reading deadlines failed", "err", err)
		}
		return 0
	}
	for _, d := range due {
		if ctx.Err() != nil {
			return len(due)
		}
		e.fire(d, now)
	}
	return len(due)
}

func (e *Engine) fire(d store.Due, now time.Time) {
	var expired *store.Record
	send := false
	rec, err := e.st.Update(d.ID, func(r *store.Record) error {
		expired, send = nil, false
		has := slices.ContainsFunc(r.Deadlines, func(x store.Deadline) bool { return x.Kind == d.Kind && x.At.Equal(d.At) })
		if !has {
			return store.ErrNoChange // already handled
		}
		switch d.Kind {
		case deadlineExpire:
			if r.Status == StatusPending && !now.Before(r.ExpiresAt) {
				endRecord(r, StatusExpired, now, "ttl passed")
				expired = r
				return nil
			}
			dropDeadlines(r, deadlineExpire)
			if r.Status == StatusPending {
				r.Deadlines = append(r.Deadlines, store.Deadline{At: r.ExpiresAt, Kind: deadlineExpire})
			}
		case deadlineDispatch:
			dropDeadlines(r, deadlineDispatch)
			if r.Status == StatusPending && queuedMessage(r) >= 0 {
				// claim for one lease; the send's own Update clears it
				r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(e.cfg.DispatchLease), Kind: deadlineDispatch})
				send = true
			}
		default:
			e.log.Warn("timers: unknown deadline kind dropped", "id", d.ID, "kind", d.Kind)
			r.Deadlines = slices.DeleteFunc(r.Deadlines, func(x store.Deadline) bool { return x.Kind == d.Kind })
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		_ = e.st.DropDeadline(d)
		return
	}
	if err != nil {
		e.log.Error("timers: deadline not handled", "id", d.ID, "kind", d.Kind, "err", err)
		return
	}
	if expired != nil {
		countVerification(StatusExpired, rec)
	}
	if send {
		e.enqueue(d.ID)
	}
}
