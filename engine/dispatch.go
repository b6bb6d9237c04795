package engine

import (
	"context"

	"errors"
	"fmt"
	"github.com/VictoriaMetrics/metrics"
	"slices"
	"time"

	"github.com/otpgate/otpgate/engine/store"
)

// The send path. A verification is stored with its first message queued and
// a dispatch deadline DispatchLease ahead; the id is handed to a worker at
// once. The worker claims it (in-memory in-flight set), sends, and records
// the outcome in one Update that also removes the dispatch deadline (sent)
// or moves it to the next retry (a passing failure). If the process dies
// before that Update, the deadline comes due and the timer loop sends again:
// an accepted OTP is never dropped (it may be sent twice after a crash in
// the window between the far end's acknowledgement and our commit).

// enqueue hands id to the send workers; when they are saturated the dispatch
// deadline picks it up later.
func (e *Engine) enqueue(id string) {
	select {
	case e.queue <- id:
	default:
		e.log.Warn("send queue full; the timer loop will send", "id", id)
	}
}

func (e *Engine) worker(ctx context.Context) {
	defer e.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-e.queue:
			// A send that has started finishes (bounded by SendTimeout)
			// even when ctx ends: cutting it off after the far end took the
			// message would leave it unrecorded and sent again after the
			// restart. Shutdown waits for it before unbinding the links.
			e.dispatch(context.WithoutCancel(ctx), id)
		}
	}
}

func (e *Engine) claim(id string) bool {
	e.inflMu.Lock()
	defer e.inflMu.Unlock()
	if e.infl[id] {
		return false
	}
	e.infl[id] = true
	return true
}

func (e *Engine) release(id string) {
	e.inflMu.Lock()
	delete(e.infl, id)
	e.inflMu.Unlock()
}

// queuedMessage returns the index of the last message if it is queued.
func queuedMessage(r *store.Record) int {
	if n := len(r.Messages); n > 0 && r.Messages[n-1].State == MsgQueued {
		return n - 1
	}
	return -1
}

type permanent interface{ Permanent() bool }

func isPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) && p.Permanent()
}

// reason is what a tenant may read of a send error: the error's own
// Reason() when it has one (a stable word such as "smsc_timeout"), else
// "send_error". The raw error may name internal hosts; it goes to the log.
func reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return "send_error"
}

func (e *Engine) dispatch(ctx context.Context, id string) {
	if !e.claim(id) {
		return
	}
	defer e.release(id)
	r, err := e.st.Get(id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			e.log.Error("send: load failed", "id", id, "err", err)
		}
		return
	}
	mi := queuedMessage(r)
	if r.Status != StatusPending || mi < 0 {
		return
	}
	msg := r.Messages[mi]
	dec, ok := e.cfg.Router.Route(r.Number)
	var sender Sender
	if ok {
		sender = e.cfg.Senders[dec.Connector]
	}
	if sender == nil {
		e.sendFailed(id, mi, "", reasonError{fmt.Errorf("no %s route for %s", msg.Channel, r.Number), "no_route"}, true)
		return
	}
	code, err := e.sec.open(r.ID, r.CodeSealed)
	if err != nil {
		e.sendFailed(id, mi, dec.Connector, reasonError{err, "code_unavailable"}, true)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, e.cfg.SendTimeout)
	start := time.Now()
	msgIDs, err := sender.Send(sctx, Outbound{To: r.Number, From: r.SenderID, Text: render(r.Template, code)})
	cancel()
	code = ""
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: the dispatch deadline resends after restart
		}
		e.sendFailed(id, mi, dec.Connector, err, isPermanent(err))
		return
	}
	observeSubmit(dec.Connector, time.Since(start))
	msgID := ""
	if len(msgIDs) > 0 {
		msgID = msgIDs[0]
	}
	now := e.now()
	_, err = e.st.Update(id, func(r *store.Record) error {
		if mi >= len(r.Messages) || r.Messages[mi].State != MsgQueued {
			return store.ErrNoChange
		}
		m := &r.Messages[mi]
		m.State, m.Connector, m.MessageID, m.SubmittedAt, m.Error = MsgSubmitted, dec.Connector, msgID, now, ""
		m.Tries++
		if len(msgIDs) > 1 {
			m.Parts = make([]store.Part, len(msgIDs))
			for i, id := range msgIDs {
				m.Parts[i] = store.Part{ID: id, State: MsgSubmitted}
			}
		}
		r.UpdatedAt = now
		r.Events = append(r.Events, store.Event{At: now, Type: "submitted", Channel: m.Channel, Connector: dec.Connector, MessageID: msgID, Detail: "route " + dec.Rule})
		dropDeadlines(r, deadlineDispatch)
		return nil
	})
	if err != nil {
		e.log.Error("send: recording submit failed; the message may be sent again", "id", id, "connector", dec.Connector, "message_id", msgID, "err", err)
		return
	}
	for _, mid := range msgIDs {
		if rc, ok := e.early.take(dec.Connector, mid); ok {
			rc.MessageID = mid // the spelling that matched
			e.applyReceipt(id, rc)
		}
	}
}

func (e *Engine) sendFailed(id string, mi int, connector string, cause error, perm bool) {
	now := e.now()
	why := reason(cause)
	var becameFailed bool
	rec, err := e.st.Update(id, func(r *store.Record) error {
		becameFailed = false
		if r.Status != StatusPending || mi >= len(r.Messages) || r.Messages[mi].State != MsgQueued {
			return store.ErrNoChange
		}
		m := &r.Messages[mi]
		m.Tries++
		m.Error = why
		m.Connector = connector
		r.UpdatedAt = now
		dropDeadlines(r, deadlineDispatch)
		if !perm && m.Tries < e.cfg.MaxSendTries {
			wait := backoff(e.cfg.RetryMin, e.cfg.RetryMax, m.Tries)
			r.Events = append(r.Events, store.Event{At: now, Type: "send_retry", Channel: m.Channel, Connector: connector, Detail: fmt.Sprintf("%s; try %d of %d; next in %s", why, m.Tries, e.cfg.MaxSendTries, wait)})
			r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(wait), Kind: deadlineDispatch})
			return nil
		}
		m.State, m.DoneAt = MsgFailed, now
		r.Events = append(r.Events, store.Event{At: now, Type: "send_failed", Channel: m.Channel, Connector: connector, Detail: why})
		e.notify(r, "message.failed", now, m, why)
		if r.Step+1 >= len(r.Workflow) {
			e.end(r, StatusFailed, now, "every channel failed")
			becameFailed = true
		}
		return nil
	})
	if err != nil {
		e.log.Error("send: recording failure failed", "id", id, "err", err)
		return
	}
	e.log.Warn("send failed", "id", id, "connector", connector, "permanent", perm, "reason", why, "err", cause)
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_sms_send_failures_total{connector=%q,reason=%q}`, connector, why)).Inc()
	if becameFailed {
		countVerification(StatusFailed, rec)
	}
}

// reasonError gives an engine-made error its public reason.
type reasonError struct {
	err    error
	reason string
}

func (e reasonError) Error() string  { return e.err.Error() }
func (e reasonError) Unwrap() error  { return e.err }
func (e reasonError) Reason() string { return e.reason }

func dropDeadlines(r *store.Record, kind string) {
	r.Deadlines = slices.DeleteFunc(r.Deadlines, func(d store.Deadline) bool { return d.Kind == kind })
}

// backoff doubles from min per try, capped at max.
func backoff(min, max time.Duration, tries int) time.Duration {
	d := min
	for i := 1; i < tries && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}
