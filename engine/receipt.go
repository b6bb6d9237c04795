package engine

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/otpgate/otpgate/engine/store"
)

// Receipt is a delivery report from a connector: an SMSC's receipt, a
// WhatsApp or RCS status callback.
type Receipt struct {
	Connector string
	MessageID string
	Delivered bool
	// Read: the phone showed the message to its user (a chat channel's
	// "read"); it implies Delivered.
	Read  bool
	Final bool   // a final state; intermediate ones (ENROUTE, ACCEPTD, WhatsApp's sent) are only logged as events
	State string // the connector's own word: DELIVRD, UNDELIV, REJECTD, sent, failed…
	Err   string
	At    time.Time // when the far end says it happened (zero: when received)
	// AltIDs are other spellings of MessageID to try when it is not known
	// as given (an SMSC that reports receipt ids in decimal while its
	// submit_sm_resp gave hex, or the other way round).
	AltIDs []string
	// Ref is the message's reference as the far end echoed it
	// (Outbound.Ref), from a callback whose signature the connector
	// checked: it finds the verification when the message id is not
	// recorded (the send's answer was lost, or the process died before
	// recording it).
	Ref string
	// Durable: the far end sends the report again until it is answered
	// (an HTTP status callback), so HandleReceipt commits it durably
	// before returning and returns an error when it could not record it;
	// the caller then answers with a failure and the report comes again.
	// Without it (an SMPP receipt, acknowledged either way) the commit is
	// lazy.
	Durable bool
}

// errNoMessage: a receipt names a verification but none of its messages.
var errNoMessage = errors.New("no such message")

// HandleReceipt records r on its verification. A receipt may overtake the
// record of its own submit (the SMSC answers the submit and sends the
// receipt at once); such a receipt waits in memory for a short time and is
// applied as soon as the submit is recorded, unless its Ref names the
// message, which is then updated at once. The error is only for a receipt
// that could not be recorded for now (a store failure), which the far end
// may send again; one for no message of this gateway is logged, not an
// error.
func (e *Engine) HandleReceipt(r Receipt) error {
	if r.At.IsZero() {
		r.At = e.now()
	}
	id, ok, err := e.owner(&r)
	if err != nil {
		e.log.Error("receipt: index lookup failed", "connector", r.Connector, "message_id", r.MessageID, "err", err)
		return err
	}
	if !ok {
		if rid, _, byRef := ParseMessageRef(r.Ref); byRef {
			err := e.applyReceipt(rid, r)
			if !errors.Is(err, errNoMessage) {
				return err
			}
			// the ref names no message this connector may speak for yet:
			// wait for the submit's record like any early receipt
		}
		e.early.put(r, e.now())
		// The submit may have been recorded between the lookup and the put.
		if id, ok, _ = e.owner(&r); !ok {
			return nil
		}
		if _, mine := e.early.take(r.Connector, r.MessageID); !mine {
			return nil // the submit path took it
		}
	}
	err = e.applyReceipt(id, r)
	if errors.Is(err, errNoMessage) {
		return nil
	}
	return err
}

// owner finds the verification of r's message, trying r.MessageID then its
// other spellings; on a match r.MessageID becomes the id as stored.
func (e *Engine) owner(r *Receipt) (string, bool, error) {
	for i, mid := range append([]string{r.MessageID}, r.AltIDs...) {
		if mid == "" {
			continue
		}
		id, ok, err := e.st.Lookup(store.MessageIndex, r.Connector, mid)
		if err != nil || ok {
			if ok && i > 0 {
				r.MessageID = mid
			}
			return id, ok, err
		}
	}
	return "", false, nil
}

// receiptOutcome is what applying one receipt did, for what follows the
// update (metrics, route health, the next step's send).
type receiptOutcome struct {
	state    string // the message's new final state; "" when none
	channel  string
	latency  time.Duration
	advanced bool
	ended    bool // the verification failed: every step failed
	sent     bool // a chat channel's "sent", first seen
}

// applyReceipt records rc on verification id: nil when it was recorded or
// changed nothing, errNoMessage when id has no message rc may speak for,
// nil for a verification that is gone (purged), else the store's error.
func (e *Engine) applyReceipt(id string, rc Receipt) error {
	now := e.now()
	var out receiptOutcome
	fn := func(r *store.Record) error {
		out = receiptOutcome{}
		mi := receiptMessage(r, id, rc)
		if mi < 0 {
			return errNoMessage
		}
		return e.receiptOn(r, mi, rc, now, &out)
	}
	var err error
	if rc.Durable {
		_, err = e.update(id, fn)
	} else {
		// Lazy commit: the far end already had its answer
		// (deliver_sm_resp), so syncing buys nothing but a slower link.
		_, err = e.updateLazy(id, fn)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		e.log.Warn("receipt: its verification is gone", "id", id, "connector", rc.Connector, "message_id", rc.MessageID)
		return nil
	case errors.Is(err, errNoMessage):
		e.log.Warn("receipt: no such message on the verification", "id", id, "connector", rc.Connector, "message_id", rc.MessageID)
		return err
	case errors.Is(err, store.ErrCorrupt):
		e.log.Error("receipt: the verification does not decode", "id", id, "err", err)
		return nil // sending it again cannot help
	case err != nil:
		e.log.Error("receipt: not recorded", "id", id, "connector", rc.Connector, "message_id", rc.MessageID, "err", err)
		return err
	}
	if out.advanced {
		e.enqueue(id)
	}
	if out.sent {
		countMessage(out.channel, "sent")
	}
	if out.state != "" {
		observeReceipt(rc.Connector, out.channel, out.state, out.latency)
		if out.state == MsgFailed || out.state == MsgUndelivered {
			// a chat channel's reason is the connector's stable word
			// (not_on_whatsapp); an SMS's its receipt's stat (UNDELIV)
			reason := rc.State
			if out.channel != ChannelSMS {
				reason = cmp.Or(rc.Err, rc.State)
			}
			countMessageFailure(out.channel, reason)
		}
		// A chat message's failure is nearly always its recipient's (not
		// on WhatsApp, no RCS): it says nothing of the account's health.
		if e.cfg.Health != nil && (out.state == MsgDelivered || out.state == MsgUndelivered) {
			e.cfg.Health.Observe(rc.Connector, rc.Delivered, rc.At)
		}
	}
	if out.ended {
		if rec, err := e.st.Get(id); err == nil {
			countVerification(StatusFailed, rec)
		}
	}
	return nil
}

// receiptMessage finds the message of r that rc reports on: by connector
// and message id, else by rc.Ref: a chat message of this very verification
// that rc's connector may speak for (the one it was handed to, or, while
// the message is still queued, any connector that has not refused it: a
// failover's next account); -1 when none.
func receiptMessage(r *store.Record, id string, rc Receipt) int {
	if rc.MessageID != "" {
		for i := range r.Messages {
			m := &r.Messages[i]
			if m.Connector == rc.Connector && slices.Contains(m.IDs(), rc.MessageID) {
				return i
			}
		}
	}
	rid, mi, ok := ParseMessageRef(rc.Ref)
	if !ok || rid != id || mi >= len(r.Messages) {
		return -1
	}
	m := &r.Messages[mi]
	switch {
	case m.Channel == ChannelSMS || m.Channel == ChannelVoice:
		return -1
	case m.State == MsgQueued:
		if slices.Contains(m.Failed, rc.Connector) {
			return -1
		}
	case m.Connector != "" && m.Connector != rc.Connector:
		return -1
	}
	return mi
}

// receiptOn applies rc to message mi of r (inside an Update function).
// Every state moves forward only (queued → submitted → delivered → read,
// or → undelivered / failed), so a receipt repeated or replayed, or one
// that comes after a later state, changes nothing (store.ErrNoChange).
func (e *Engine) receiptOn(r *store.Record, mi int, rc Receipt, now time.Time, out *receiptOutcome) error {
	m := &r.Messages[mi]
	chat := m.Channel != ChannelSMS
	detail := "stat " + rc.State
	if rc.Err != "" {
		detail += " err " + rc.Err
	}
	changed := false
	if m.MessageID == "" && rc.MessageID != "" && (m.State == MsgQueued || m.State == MsgSubmitted) {
		// the send's answer was not recorded: the status brings the id
		m.MessageID, m.Connector = rc.MessageID, rc.Connector
		changed = true
	}
	if m.State == MsgQueued {
		// the status overtook the record of its own send (or the process
		// died before recording it): the message was sent
		m.State, m.Connector, m.SubmittedAt, m.Error = MsgSubmitted, rc.Connector, rc.At, ""
		m.Tries++
		m.Skipped = nil
		r.ClearHanded()
		dropDeadlines(r, deadlineDispatch)
		r.Events = append(r.Events, store.Event{At: rc.At, Type: "submitted", Channel: m.Channel, Connector: rc.Connector, MessageID: rc.MessageID, Detail: "recorded from its status callback"})
		e.holdNext(r, mi, rc.At)
		changed = true
	} else if m.Error == "outcome_unknown" && rc.MessageID != "" {
		m.Error = "" // a send whose answer was lost: the status says it went
		changed = true
	}
	if !rc.Final {
		if chat {
			// a chat channel's "sent": once per message
			if slices.ContainsFunc(r.Events, func(ev store.Event) bool {
				return ev.Type == rc.State && ev.Connector == m.Connector && ev.MessageID == rc.MessageID
			}) {
				return noChangeUnless(changed)
			}
			r.Events = append(r.Events, store.Event{At: rc.At, Type: rc.State, Channel: m.Channel, Connector: m.Connector, MessageID: rc.MessageID, Detail: detail})
			r.UpdatedAt = now
			out.channel, out.sent = m.Channel, true
			return nil
		}
		r.Events = append(r.Events, store.Event{At: rc.At, Type: "receipt", Channel: m.Channel, Connector: m.Connector, MessageID: rc.MessageID, Detail: detail})
		r.UpdatedAt = now
		return nil
	}
	switch m.State {
	case MsgSubmitted:
	case MsgDelivered:
		if !rc.Read {
			return noChangeUnless(changed) // a repeated receipt, or a part of a message already decided
		}
	default: // read, undelivered, failed, superseded: decided
		return noChangeUnless(changed)
	}
	state := MsgUndelivered
	switch {
	case rc.Read:
		state = MsgRead
	case rc.Delivered:
		state = MsgDelivered
	case chat:
		state = MsgFailed // WhatsApp's and RCS's own word
	}
	if len(m.Parts) > 0 {
		// a concatenated message: delivered when every part is,
		// undelivered as soon as one part is not
		pi := slices.IndexFunc(m.Parts, func(p store.Part) bool { return p.ID == rc.MessageID })
		if pi < 0 || m.Parts[pi].State != MsgSubmitted {
			return noChangeUnless(changed)
		}
		m.Parts[pi].State = state
		detail = fmt.Sprintf("part %d of %d: %s", pi+1, len(m.Parts), detail)
		if state == MsgDelivered && slices.ContainsFunc(m.Parts, func(p store.Part) bool { return p.State != MsgDelivered }) {
			r.Events = append(r.Events, store.Event{At: rc.At, Type: "receipt", Channel: m.Channel, Connector: m.Connector, MessageID: rc.MessageID, Detail: detail})
			r.UpdatedAt = now
			return nil
		}
	}
	r.UpdatedAt = now
	out.channel = m.Channel
	if state == MsgRead && m.State == MsgSubmitted {
		// read with no delivered before it (the far end skipped it, or it
		// is still on its way): delivered first
		m.State, m.DoneAt = MsgDelivered, rc.At
		out.latency = rc.At.Sub(m.SubmittedAt)
		r.Events = append(r.Events, store.Event{At: rc.At, Type: MsgDelivered, Channel: m.Channel, Connector: m.Connector, MessageID: rc.MessageID, Detail: "implied by read"})
		e.notify(r, "message."+MsgDelivered, now, m, "implied by read")
		countMessage(m.Channel, MsgDelivered)
	}
	if state != MsgRead {
		m.DoneAt = rc.At
		out.latency = rc.At.Sub(m.SubmittedAt)
	}
	if chat && state == MsgFailed {
		m.Error = cmp.Or(rc.Err, rc.State) // the reason, as a refused send has it
	}
	m.State = state
	out.state = state
	r.Events = append(r.Events, store.Event{At: rc.At, Type: state, Channel: m.Channel, Connector: m.Connector, MessageID: rc.MessageID, Detail: detail})
	e.notify(r, "message."+state, now, m, detail)
	if (state == MsgUndelivered || state == MsgFailed) && r.Status == StatusPending && mi == len(r.Messages)-1 {
		switch {
		case e.advance(r, now, notDeliveredWhy(m.Channel)):
			out.advanced = true
		case allStepsFailed(r):
			// the last step failed, as every one before it: nothing
			// more can reach the phone (as when every route refused)
			e.end(r, StatusFailed, now, "every channel failed")
			out.ended = true
		}
	}
	return nil
}

func notDeliveredWhy(channel string) string {
	if channel == ChannelSMS {
		return "the SMS was not delivered"
	}
	return "the " + channel + " message failed"
}

// noChangeUnless is nil when the record changed, else store.ErrNoChange.
func noChangeUnless(changed bool) error {
	if changed {
		return nil
	}
	return store.ErrNoChange
}

// earlyReceipts holds receipts whose message is not yet recorded, bounded in
// number and age.
type earlyReceipts struct {
	mu    sync.Mutex
	m     map[[2]string]earlyReceipt
	limit int
	ttl   time.Duration
}

type earlyReceipt struct {
	r  Receipt
	at time.Time
}

func newEarlyReceipts(limit int, ttl time.Duration) *earlyReceipts {
	return &earlyReceipts{m: make(map[[2]string]earlyReceipt), limit: limit, ttl: ttl}
}

func (q *earlyReceipts) put(r Receipt, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.m) >= q.limit {
		for k, v := range q.m {
			if now.Sub(v.at) > q.ttl {
				delete(q.m, k)
			}
		}
		if len(q.m) >= q.limit {
			return
		}
	}
	for _, id := range append([]string{r.MessageID}, r.AltIDs...) {
		q.m[[2]string{r.Connector, id}] = earlyReceipt{r, now}
	}
}

func (q *earlyReceipts) take(connector, msgID string) (Receipt, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := [2]string{connector, msgID}
	v, ok := q.m[k]
	if ok {
		delete(q.m, k)
	}
	return v.r, ok
}

// prune drops receipts older than the ttl: their message was never recorded
// here (a receipt for another gateway's message, or one we lost).
func (q *earlyReceipts) prune(now time.Time) (dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, v := range q.m {
		if now.Sub(v.at) > q.ttl {
			delete(q.m, k)
			dropped++
		}
	}
	return dropped
}
