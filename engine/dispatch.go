package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/router"
)

// The send path. A verification is stored with its first message queued and
// a dispatch deadline DispatchLease ahead; the id is given to a worker at
// once. The worker claims it (in-memory in-flight set), durably marks it
// handed (store.MarkHanded), asks the connector to send, and records the
// outcome in one Update that also clears the mark and removes the
// dispatch deadline (sent) or moves it to the next retry (a passing
// failure). The guarantee after a crash at any point, also kill -9:
//
//   - an accepted OTP is never dropped: its record is durable before the
//     202, with its dispatch deadline;
//   - a message never handed to a connector (no mark) is sent at once
//     after the restart (resumeUnhanded);
//   - a message handed but whose outcome is not durable (the mark is
//     still there) may have reached the SMSC: it is sent again once,
//     DispatchLease after it was handed (the mark holds when; fire moves
//     a dispatch deadline that comes sooner);
//   - a message whose "submitted" is durable is never sent again.

// enqueue hands id to the send workers; when they are saturated the dispatch
// deadline picks it up later.
func (e *Engine) enqueue(id string) {
	e.gate.add()
	e.enqueueAdmitted(id)
}

// enqueueAdmitted is enqueue for a send whose place in the backlog was
// taken by gate.admit.
func (e *Engine) enqueueAdmitted(id string) {
	select {
	case e.queue <- id:
	default:
		e.gate.done()
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
			e.gate.done()
		}
	}
}

// claim takes id for one dispatch. When another dispatch of id is under
// way, it says so and notes that id was asked for again: a status callback
// or receipt that started the next step while the send of the previous
// one was still finishing. release then enqueues it once more, so that
// step goes out at once rather than when its dispatch deadline comes.
func (e *Engine) claim(id string) bool {
	e.inflMu.Lock()
	defer e.inflMu.Unlock()
	if again, busy := e.infl[id]; busy {
		if !again {
			e.infl[id] = true
		}
		return false
	}
	e.infl[id] = false
	return true
}

func (e *Engine) release(id string) {
	e.inflMu.Lock()
	again := e.infl[id]
	delete(e.infl, id)
	e.inflMu.Unlock()
	if again {
		e.enqueue(id)
	}
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

// isUnknown: the connector could not tell whether the far end took the
// message (see Outbound).
func isUnknown(err error) bool {
	var u interface{ Unknown() bool }
	return errors.As(err, &u) && u.Unknown()
}

// recipientFailure: the far end refused the message for its recipient
// (not a WhatsApp user, no RCS), so no other route of the channel can do
// better and the step fails at once.
func recipientFailure(err error) bool {
	var r interface{ Recipient() bool }
	return errors.As(err, &r) && r.Recipient()
}

// retryAfter is the least wait a connector's error asks for before a
// retry (WhatsApp's pair rate: 6 s), or 0.
func retryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return min(r.RetryAfter(), time.Minute)
	}
	return 0
}

// blindResend says, per channel, whether a message whose fate is unknown
// (its send timed out, or the process died after handing it over) is sent
// again. SMS: yes, at most once (an SMSC has no idempotency key; one
// duplicate is the documented price of never dropping a code). RCS: yes,
// with the same client-chosen message id, which the RBM API refuses as a
// duplicate, so the phone gets it once. WhatsApp: no; the Cloud API has no
// idempotency key and a WhatsApp duplicate is visible in a chat the user
// keeps, so the step waits for the message's status callback (which finds
// it by its Ref) or for its time to run out.
var blindResend = map[string]bool{ChannelSMS: true, ChannelVoice: true, ChannelRCS: true, ChannelWhatsApp: false}

// MessageRef names message mi of verification id for a connector's far
// end to echo back (Outbound.Ref); ParseMessageRef reads it. A reference
// carries no secret: it is only ever believed in a callback whose
// signature the connector checked.
func MessageRef(id string, mi int) string { return fmt.Sprintf("%s.%d", id, mi) }

// ParseMessageRef is the inverse of MessageRef.
func ParseMessageRef(ref string) (id string, mi int, ok bool) {
	i := strings.LastIndexByte(ref, '.')
	if i <= 0 || i == len(ref)-1 || len(ref) > 128 {
		return "", 0, false
	}
	n, err := strconv.Atoi(ref[i+1:])
	if err != nil || n < 0 || n > 64 || ref[i+1] == '+' {
		return "", 0, false
	}
	return ref[:i], n, true
}

// useful is how long r's current message stays useful from now: until
// the next step's deadline, or the verification's expiry.
func (e *Engine) useful(r *store.Record, now time.Time) time.Duration {
	until := r.ExpiresAt
	for _, d := range r.Deadlines {
		if d.Kind == deadlineNext && d.At.Before(until) {
			until = d.At
		}
	}
	return max(until.Sub(now), 0)
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

func (e *Engine) route(r *store.Record, channel string) (router.Decision, bool) {
	var h router.Health
	if e.cfg.Health != nil {
		h = e.cfg.Health
	}
	return e.cfg.Router.Route(router.Request{Number: r.Number, Country: r.Country, Sender: r.SenderID, Tenant: r.Tenant, Channel: channel}, h)
}

// nextTarget is the first target of dec this message has not failed on for
// good, nor skipped in this round.
func nextTarget(dec *router.Decision, m *store.Message) (router.Target, bool) {
	for _, t := range dec.List() {
		if !slices.Contains(m.Failed, t.Connector) && !slices.Contains(m.Skipped, t.Connector) {
			return t, true
		}
	}
	return router.Target{}, false
}

// stickyResend says which channels send a message again on the connector
// that had it last, while that one is still a target of the route: their
// far end drops a copy of a message by an id made per connector (an RCS
// message id is the agent's), so a resend after a lost answer or a crash
// is a copy there and a second message anywhere else.
var stickyResend = map[string]bool{ChannelRCS: true}

// targetNamed is the target of dec on connector, when the message has not
// failed on it for good nor skipped it in this round.
func targetNamed(dec *router.Decision, m *store.Message, connector string) (router.Target, bool) {
	for _, t := range dec.List() {
		if t.Connector == connector && !slices.Contains(m.Failed, t.Connector) && !slices.Contains(m.Skipped, t.Connector) {
			return t, true
		}
	}
	return router.Target{}, false
}

// failoverReasons are the passing failures that move a message to the next
// route at once (the connector cannot send now) rather than retrying the
// same one after a back-off.
var failoverReasons = map[string]bool{
	"smsc_unavailable": true, // no bound bind within the send timeout
	"smsc_timeout":     true, // no submit_sm_resp, also after a retry on another bind
	"smsc_stopped":     true,
	"no_connector":     true,
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
	dec, ok := e.route(r, msg.Channel)
	if !ok {
		e.sendFailed(id, mi, "", nil, reasonError{fmt.Errorf("no %s route for %s", msg.Channel, r.Number), "no_route"}, true)
		return
	}
	target, ok := nextTarget(&dec, &msg)
	if stickyResend[msg.Channel] && msg.Connector != "" {
		if last, named := targetNamed(&dec, &msg, msg.Connector); named {
			target, ok = last, true
		}
	}
	if !ok { // every target failed for good, or the table changed under it
		e.sendFailed(id, mi, "", &dec, reasonError{errors.New("no route left to try"), "no_route"}, true)
		return
	}
	if msg.Channel == ChannelVoice {
		v := e.cfg.Voice[target.Connector]
		if v == nil {
			e.sendFailed(id, mi, target.Connector, &dec, reasonError{fmt.Errorf("route %s names trunk %q, which is not running", dec.Route, target.Connector), "no_connector"}, false)
			return
		}
		if err := e.takeCall(r); err != nil {
			// toll fraud: no call, this step fails and the next starts
			// (a store failure is tried again later)
			_, unknown := err.(errCallLimitUnknown)
			e.sendFailed(id, mi, "", nil, err, !unknown)
			return
		}
		code, err := e.sec.open(r.ID, r.CodeSealed)
		if err != nil {
			e.sendFailed(id, mi, target.Connector, &dec, reasonError{err, "code_unavailable"}, true)
			return
		}
		e.placeCall(id, mi, r, target, v, code)
		return
	}
	sender := e.cfg.Senders[target.Connector]
	if sender == nil {
		e.sendFailed(id, mi, target.Connector, &dec, reasonError{fmt.Errorf("route %s names connector %q, which is not running", dec.Route, target.Connector), "no_connector"}, false)
		return
	}
	code, err := e.sec.open(r.ID, r.CodeSealed)
	if err != nil {
		e.sendFailed(id, mi, target.Connector, &dec, reasonError{err, "code_unavailable"}, true)
		return
	}
	if err := e.st.MarkHanded(id, mi, target.Connector, e.now()); err != nil {
		// not marked, not sent: the dispatch deadline tries again
		if ctx.Err() == nil {
			e.log.Error("send: marking the message handed failed; not sending now", "id", id, "err", err)
		}
		return
	}
	sctx, cancel := context.WithTimeout(ctx, e.cfg.SendTimeout)
	start := time.Now()
	out := Outbound{To: r.Number, From: cmp.Or(dec.Sender, r.SenderID), Text: render(r.Template, code), TON: dec.SourceTON, NPI: dec.SourceNPI, Channel: msg.Channel}
	if msg.Channel != ChannelSMS {
		out.Code, out.Locale, out.Ref, out.Useful = code, r.Locale, MessageRef(id, mi), e.useful(r, start)
	}
	msgIDs, err := sender.Send(sctx, out)
	cancel()
	code, out.Text, out.Code = "", "", ""
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: the dispatch deadline resends after restart
		}
		if isUnknown(err) && !blindResend[msg.Channel] {
			e.sendUnknown(id, mi, target.Connector, reason(err))
			return
		}
		e.sendFailed(id, mi, target.Connector, &dec, err, isPermanent(err))
		return
	}
	observeSubmit(target.Connector, msg.Channel, time.Since(start))
	msgID := ""
	if len(msgIDs) > 0 {
		msgID = msgIDs[0]
	}
	now := e.now()
	// Lazy (no fsync wait): the next synced commit of any verification
	// makes it durable, a millisecond or so later. Until then a crash (the
	// process's or the machine's) loses it with the mark's removal, and the
	// mark makes the message go again once, after the lease: the one
	// duplicate the guarantee above allows. Waiting here cost a sixth of
	// the create rate.
	_, err = e.updateLazy(id, func(r *store.Record) error {
		r.ClearHanded()
		if mi >= len(r.Messages) || r.Messages[mi].State != MsgQueued {
			return nil // the mark goes; the record is as another path left it
		}
		m := &r.Messages[mi]
		m.State, m.Connector, m.MessageID, m.SubmittedAt, m.Error = MsgSubmitted, target.Connector, msgID, now, ""
		m.Tries++
		m.Skipped = nil
		if len(msgIDs) > 1 {
			m.Parts = make([]store.Part, len(msgIDs))
			for i, id := range msgIDs {
				m.Parts[i] = store.Part{ID: id, State: MsgSubmitted}
			}
		}
		r.UpdatedAt = now
		detail := dec.Rule
		if out.From != r.SenderID {
			detail += "; sender " + out.From
		}
		r.Events = append(r.Events, store.Event{At: now, Type: "submitted", Channel: m.Channel, Connector: target.Connector, MessageID: msgID, Detail: detail})
		dropDeadlines(r, deadlineDispatch)
		e.holdNext(r, mi, now)
		return nil
	})
	if err != nil {
		e.log.Error("send: recording submit failed; the message may be sent again", "id", id, "connector", target.Connector, "message_id", msgID, "err", err)
		return
	}
	for _, mid := range msgIDs {
		if rc, ok := e.early.take(target.Connector, mid); ok {
			rc.MessageID = mid // the spelling that matched
			e.applyReceipt(id, rc)
		}
	}
}

// sendFailed records a failed send of message mi on connector. A permanent
// failure excludes the connector for this message; a failover reason skips
// it for this round; either way the next target is tried at once. With no
// target left: the message fails when every target failed for good, else
// the round starts again after a back-off (the message waits in the store
// while its SMSCs are down).
func (e *Engine) sendFailed(id string, mi int, connector string, dec *router.Decision, cause error, perm bool) {
	now := e.now()
	why := reason(cause)
	failover := perm || failoverReasons[why]
	recipient := perm && recipientFailure(cause)
	var becameFailed, again bool
	rec, err := e.update(id, func(r *store.Record) error {
		becameFailed, again = false, false
		r.ClearHanded()
		if r.Status != StatusPending || mi >= len(r.Messages) || r.Messages[mi].State != MsgQueued {
			return nil // the mark goes; nothing else changes
		}
		m := &r.Messages[mi]
		m.Error = why
		m.Connector = connector
		r.UpdatedAt = now
		dropDeadlines(r, deadlineDispatch)
		if connector != "" && failover {
			if perm {
				m.Failed = append(m.Failed, connector)
			} else {
				m.Skipped = append(m.Skipped, connector)
			}
			if dec != nil && !recipient {
				if next, ok := nextTarget(dec, m); ok {
					r.Events = append(r.Events, store.Event{At: now, Type: "failover", Channel: m.Channel, Connector: connector, Detail: fmt.Sprintf("%s on %s; next %s", why, connector, next.Connector)})
					r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(e.cfg.DispatchLease), Kind: deadlineDispatch})
					again = true
					return nil
				}
			}
		}
		allFailed := perm
		if dec != nil && dec.N > 0 && !recipient {
			allFailed = !slices.ContainsFunc(dec.List(), func(t router.Target) bool { return !slices.Contains(m.Failed, t.Connector) })
		}
		m.Tries++
		// Unavailable connectors are waited for until the ttl; other
		// passing refusals count against MaxSendTries.
		giveUp := allFailed || (!failover && m.Tries >= e.cfg.MaxSendTries)
		if !giveUp {
			m.Skipped = nil // a new round
			wait := max(backoff(e.cfg.RetryMin, e.cfg.RetryMax, m.Tries), retryAfter(cause))
			r.Events = append(r.Events, store.Event{At: now, Type: "send_retry", Channel: m.Channel, Connector: connector, Detail: fmt.Sprintf("%s; try %d; next in %s", why, m.Tries, wait)})
			r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(wait), Kind: deadlineDispatch})
			return nil
		}
		m.State, m.DoneAt = MsgFailed, now
		r.Events = append(r.Events, store.Event{At: now, Type: "send_failed", Channel: m.Channel, Connector: connector, Detail: why})
		e.notify(r, "message.failed", now, m, why)
		switch {
		case e.advance(r, now, stepFailedWhy(m.Channel, why, recipient)):
			again = true
		case allStepsFailed(r):
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
	countSendFailure(connector, channelOf(rec, mi), why)
	if becameFailed {
		countVerification(StatusFailed, rec)
	}
	if again {
		e.enqueue(id)
	}
}

func stepFailedWhy(channel, why string, recipient bool) string {
	if recipient {
		return fmt.Sprintf("the %s message was refused for this number (%s)", channel, why)
	}
	return "every " + channel + " route failed"
}

// sendUnknown records a message whose send got no answer on a channel
// that is not sent again blindly (see blindResend): it counts as
// submitted, with no message id yet, and its status callback (found by
// the message's Ref) or the step's time decides what follows.
func (e *Engine) sendUnknown(id string, mi int, connector, why string) {
	now := e.now()
	_, err := e.update(id, func(r *store.Record) error {
		r.ClearHanded()
		if mi >= len(r.Messages) || r.Messages[mi].State != MsgQueued {
			return nil
		}
		e.markUnknown(r, mi, connector, now, why+": no answer from "+connector)
		return nil
	})
	if err != nil {
		e.log.Error("send: recording an unanswered send failed", "id", id, "err", err)
		return
	}
	e.log.Warn("send: no answer; not sending again on this channel, waiting for its status", "id", id, "connector", connector, "reason", why)
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_messages_unknown_total{connector=%q}`, connector)).Inc()
}

// markUnknown makes message mi of r submitted with its fate unknown
// (inside an Update function).
func (e *Engine) markUnknown(r *store.Record, mi int, connector string, now time.Time, detail string) {
	m := &r.Messages[mi]
	m.State, m.Connector, m.SubmittedAt, m.Error = MsgSubmitted, connector, now, "outcome_unknown"
	m.Tries++
	r.UpdatedAt = now
	r.Events = append(r.Events, store.Event{At: now, Type: "submitted", Channel: m.Channel, Connector: connector,
		Detail: "outcome unknown (" + detail + "); not sent again: waiting for its status or the step's time"})
	dropDeadlines(r, deadlineDispatch)
	e.holdNext(r, mi, now)
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
