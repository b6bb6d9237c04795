package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/otpgate/otpgate/engine/store"
)

// Run starts the send and webhook workers and the timer loop and blocks
// until ctx is done. Then it hangs up calls in progress and waits for sends
// and deliveries already started (each bounded by its timeout). Pending
// timers live in the store, so a restart resumes them.
func (e *Engine) Run(ctx context.Context) error {
	for i := 0; i < e.cfg.Workers; i++ {
		e.wg.Add(1)
		go e.worker(ctx)
	}
	for i := 0; i < e.cfg.Webhooks.Workers; i++ {
		e.wg.Add(1)
		go e.webhookWorker(ctx)
	}
	e.resumeUnhanded()
	e.timerLoop(ctx)
	// calls in progress end with the engine (their step's outcome is
	// recorded as the call ends)
	e.stopping.Store(true)
	e.calls.Range(func(_, c any) bool { c.(context.CancelFunc)(); return true })
	e.wg.Wait()
	return nil
}

// resumeUnhanded sends at once the queued messages that were never handed
// to a connector when the last process stopped (their dispatch deadline,
// up to DispatchLease ahead, would hold them back for nothing): messages
// waiting in the send queue at a crash, and those whose send was cut
// before its mark. Handed ones wait for their deadline (see dispatch.go).
// Messages whose deadline has come are the timer loop's.
func (e *Engine) resumeUnhanded() {
	now := e.now()
	var ids []string
	err := e.st.Deadlines(now, now.Add(e.cfg.DispatchLease), deadlineDispatch, func(d store.Due) bool {
		ids = append(ids, d.ID)
		return true
	})
	if err != nil {
		e.log.Error("resume: reading dispatch deadlines failed; queued messages wait for their lease", "err", err)
		return
	}
	resumed := 0
	for _, id := range ids {
		if e.handedNow(id) {
			continue
		}
		e.enqueue(id)
		resumed++
	}
	if resumed > 0 {
		e.log.Info("resume: sending the messages the last run had not handed to a connector", "messages", resumed)
	}
}

// handedNow reports whether id's queued message carries a handed mark: it
// may have reached the far end. A mark of another message (left by a
// crash before a later step) does not count.
func (e *Engine) handedNow(id string) bool {
	m, ok, err := e.st.Handed(id)
	if err != nil || !ok {
		return err != nil // unreadable: wait for the lease rather than risk a duplicate
	}
	r, err := e.st.Get(id)
	return err != nil || queuedMessage(r) == m.Message
}

// timerPoll is the longest the timer loop sleeps: it bounds how late a
// deadline written by another path (a short ttl) is seen.
const timerPoll = 50 * time.Millisecond

// timerBatch is how many due deadlines one pass reads; timerParallel how
// many it handles at once (each is one store update).
const (
	timerBatch    = 1024
	timerParallel = 16
)

func (e *Engine) timerLoop(ctx context.Context) {
	lastPrune := time.Now()
	for ctx.Err() == nil {
		seen, handled := e.runDue(ctx, timerBatch)
		if time.Since(lastPrune) > 10*time.Second {
			e.housekeeping()
			lastPrune = time.Now()
		}
		if seen == timerBatch && handled > 0 {
			continue // more are due and the last pass made progress
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
	seen, _ := e.runDue(ctx, limit)
	return seen
}

// runDue reads due deadlines and handles them, timerParallel at a time.
// Every due deadline it sees ends up removed or moved later (or the store
// failed), so repeated passes always make progress.
func (e *Engine) runDue(ctx context.Context, limit int) (seen, handled int) {
	now := e.now()
	due, _, err := e.st.Due(now, limit)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, store.ErrClosed) {
			e.log.Error("timers: reading deadlines failed", "err", err)
		}
		return 0, 0
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, timerParallel)
	for _, d := range due {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(d store.Due) {
			defer func() { <-sem; wg.Done() }()
			if e.fire(d, now) {
				mu.Lock()
				handled++
				mu.Unlock()
			}
		}(d)
	}
	wg.Wait()
	return len(due), handled
}

// fire handles one due deadline and reports whether its key is gone or
// moved (false only when the store failed).
func (e *Engine) fire(d store.Due, now time.Time) bool {
	timerLag.Update(now.Sub(d.At).Seconds())
	var expired *store.Record
	send, stale, purge := false, false, false
	var hookAt time.Time
	var mark store.Mark
	marked := false
	if d.Kind == deadlineDispatch {
		// read before the update (its fn must not call the store)
		var err error
		if mark, marked, err = e.st.Handed(d.ID); err != nil {
			e.log.Error("timers: reading a handed mark failed; retrying", "id", d.ID, "err", err)
			return false
		}
	}
	rec, err := e.update(d.ID, func(r *store.Record) error {
		expired, send, stale, purge, hookAt = nil, false, false, false, time.Time{}
		has := slices.ContainsFunc(r.Deadlines, func(x store.Deadline) bool { return x.Kind == d.Kind && x.At.Equal(d.At) })
		if !has {
			// The index names a deadline the record does not have: the
			// invariant was broken (by hand, or a bug). Drop the key so it
			// cannot block the timers.
			stale = true
			return store.ErrNoChange
		}
		switch d.Kind {
		case deadlineExpire:
			if r.Status == StatusPending && !now.Before(r.ExpiresAt) {
				e.end(r, StatusExpired, now, "ttl passed")
				expired = r
				return nil
			}
			dropDeadlines(r, deadlineExpire)
			if r.Status == StatusPending {
				r.Deadlines = append(r.Deadlines, store.Deadline{At: r.ExpiresAt, Kind: deadlineExpire})
			}
		case deadlineWebhook:
			dropDeadlines(r, deadlineWebhook)
			if r.HooksPending() {
				// claim for one attempt's time; the delivery's own Update moves it
				hookAt = now.Add(e.hookLease())
				r.Deadlines = append(r.Deadlines, store.Deadline{At: hookAt, Kind: deadlineWebhook})
			}
		case deadlineCall:
			// the process died during this call: it is lost
			dropDeadlines(r, deadlineCall)
			if n := len(r.Messages); n > 0 && r.Messages[n-1].State == MsgCalling {
				m := &r.Messages[n-1]
				m.State, m.DoneAt, m.Error = MsgFailed, now, "call_lost"
				r.Events = append(r.Events, store.Event{At: now, Type: "call_failed", Channel: ChannelVoice, Connector: m.Connector, Detail: "lost: the gateway stopped during the call"})
				if r.Status == StatusPending && e.advance(r, now, "the call was lost") {
					send = true
				}
			}
		case deadlineNext:
			dropDeadlines(r, deadlineNext)
			if r.Status == StatusPending && e.advance(r, now, "no successful check within next_event_wait") {
				send = true
			}
		case deadlinePurge:
			if r.HooksPending() {
				// webhooks still owed: keep the record until they are
				// delivered or dead-lettered
				dropDeadlines(r, deadlinePurge)
				r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(e.cfg.Webhooks.MaxAge), Kind: deadlinePurge})
				return nil
			}
			purge = true
			return store.ErrNoChange
		case deadlineDispatch:
			dropDeadlines(r, deadlineDispatch)
			mi := queuedMessage(r)
			if r.Status != StatusPending || mi < 0 {
				return nil
			}
			if until := mark.At.Add(e.cfg.DispatchLease); marked && mark.Message == mi && now.Before(until) {
				// handed less than a lease ago (it waited in the queue
				// after its deadline was set): the lease runs from then
				r.Deadlines = append(r.Deadlines, store.Deadline{At: until, Kind: deadlineDispatch})
				return nil
			}
			if marked && mark.Message == mi && !blindResend[r.Messages[mi].Channel] {
				// handed a lease ago and never recorded (the process
				// died): on this channel it is not sent again blindly
				r.ClearHanded()
				e.markUnknown(r, mi, mark.Connector, now, "the gateway stopped before recording the send")
				return nil
			}
			if marked && mark.Message == mi && mark.Connector != "" {
				// handed and never recorded: the resend goes to the same
				// connector where that matters (stickyResend)
				r.Messages[mi].Connector = mark.Connector
			}
			// claim for one lease; the send's own Update clears it
			r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(e.cfg.DispatchLease), Kind: deadlineDispatch})
			send = true
		default:
			e.log.Warn("timers: unknown deadline kind dropped", "id", d.ID, "kind", d.Kind)
			r.Deadlines = slices.DeleteFunc(r.Deadlines, func(x store.Deadline) bool { return x.Kind == d.Kind })
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound) || stale:
		return e.dropDeadline(d)
	case errors.Is(err, store.ErrCorrupt):
		// Its deadline can never be handled; drop it (the record stays for
		// inspection) so it does not block the rest.
		e.log.Error("timers: record does not decode; dropping its deadline", "id", d.ID, "kind", d.Kind, "err", err)
		return e.dropDeadline(d)
	case err != nil:
		if !errors.Is(err, store.ErrClosed) {
			e.log.Error("timers: deadline not handled; retrying", "id", d.ID, "kind", d.Kind, "err", err)
		}
		return false
	}
	if expired != nil {
		countVerification(StatusExpired, rec)
	}
	if send {
		e.enqueue(d.ID)
	}
	if !hookAt.IsZero() {
		e.enqueueHook(hookJob{d.ID, hookAt})
	}
	if purge {
		if err := e.st.Purge(d.ID); err != nil {
			e.log.Error("retention: purge failed", "id", d.ID, "err", err)
			return false
		}
		purged.Inc()
	}
	return true
}

var (
	purged = metrics.NewCounter(`otpgate_verifications_purged_total`)
	// timerLag: how late deadlines (expiry, sends, webhooks, purges) run.
	timerLag = metrics.NewPrometheusHistogram(`otpgate_timer_lag_seconds`)
)

// housekeeping removes expired keyed values (idempotency keys, limit
// counters), dead letters past the retention, and stale early receipts.
func (e *Engine) housekeeping() {
	now := e.now()
	e.early.prune(now)
	for {
		n, err := e.st.ExpireKeyed(now, 1000)
		if err != nil {
			e.log.Error("housekeeping: expiring keys failed", "err", err)
			break
		}
		if n < 1000 {
			break
		}
	}
	if err := e.st.PurgeDead(now.Add(-e.cfg.Retention)); err != nil {
		e.log.Error("housekeeping: purging dead letters failed", "err", err)
	}
}

func (e *Engine) dropDeadline(d store.Due) bool {
	if err := e.st.DropDeadline(d); err != nil {
		e.log.Error("timers: dropping deadline failed", "id", d.ID, "kind", d.Kind, "err", err)
		return false
	}
	return true
}

// Step does now, in the caller's goroutine, what Run's workers would: the
// sends and the webhook deliveries waiting in their queues, until none
// waits, and reports how many of each ran. It is for callers that drive
// the engine step by step instead of calling Run (the contract suite in
// engine/enginetest, tools); never call it while Run runs.
func (e *Engine) Step(ctx context.Context) (sends, hooks int) {
	for {
		select {
		case id := <-e.queue:
			e.dispatch(ctx, id)
			e.gate.done()
			sends++
		case j := <-e.hookQueue:
			e.deliver(ctx, j)
			hooks++
		default:
			return sends, hooks
		}
	}
}
