package engine

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/otpgate/otpgate/engine/store"
)

// Receipt is a delivery report from a connector.
type Receipt struct {
	Connector string
	MessageID string
	Delivered bool
	Final     bool   // a final state; intermediate ones (ENROUTE, ACCEPTD) are only logged as events
	State     string // the connector's own word: DELIVRD, UNDELIV, REJECTD…
	Err       string
	At        time.Time // when the far end says it happened (zero: when received)
	// AltIDs are other spellings of MessageID to try when it is not known
	// as given (an SMSC that reports receipt ids in decimal while its
	// submit_sm_resp gave hex, or the other way round).
	AltIDs []string
}

// HandleReceipt records r on its verification. A receipt may overtake the
// record of its own submit (the SMSC answers the submit and sends the
// receipt at once); such a receipt waits in memory for a short time and is
// applied as soon as the submit is recorded.
func (e *Engine) HandleReceipt(r Receipt) {
	if r.At.IsZero() {
		r.At = e.now()
	}
	id, ok, err := e.owner(&r)
	if err != nil {
		e.log.Error("receipt: index lookup failed", "connector", r.Connector, "message_id", r.MessageID, "err", err)
		return
	}
	if !ok {
		e.early.put(r, e.now())
		// The submit may have been recorded between the lookup and the put.
		if id, ok, _ = e.owner(&r); !ok {
			return
		}
		if _, mine := e.early.take(r.Connector, r.MessageID); !mine {
			return // the submit path took it
		}
	}
	e.applyReceipt(id, r)
}

// owner finds the verification of r's message, trying r.MessageID then its
// other spellings; on a match r.MessageID becomes the id as stored.
func (e *Engine) owner(r *Receipt) (string, bool, error) {
	for i, mid := range append([]string{r.MessageID}, r.AltIDs...) {
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

func (e *Engine) applyReceipt(id string, rc Receipt) {
	now := e.now()
	state := MsgUndelivered
	if rc.Delivered {
		state = MsgDelivered
	}
	var latency time.Duration
	advanced := false
	// Lazy commit: the SMSC already had its deliver_sm_resp, so syncing buys
	// nothing but a slower link.
	_, err := e.updateLazy(id, func(r *store.Record) error {
		for i := range r.Messages {
			m := &r.Messages[i]
			if m.Connector != rc.Connector || !slices.Contains(m.IDs(), rc.MessageID) {
				continue
			}
			detail := "stat " + rc.State
			if rc.Err != "" {
				detail += " err " + rc.Err
			}
			r.UpdatedAt = now
			if !rc.Final {
				r.Events = append(r.Events, store.Event{At: rc.At, Type: "receipt", Channel: m.Channel, Connector: m.Connector, MessageID: rc.MessageID, Detail: detail})
				return nil
			}
			if m.State == MsgDelivered || m.State == MsgUndelivered {
				return store.ErrNoChange // a repeated receipt, or a part of a message already decided
			}
			if len(m.Parts) > 0 {
				// a concatenated message: delivered when every part is,
				// undelivered as soon as one part is not
				pi := slices.IndexFunc(m.Parts, func(p store.Part) bool { return p.ID == rc.MessageID })
				if m.Parts[pi].State != MsgSubmitted {
					return store.ErrNoChange
				}
				m.Parts[pi].State = state
				detail = fmt.Sprintf("part %d of %d: %s", pi+1, len(m.Parts), detail)
				if state == MsgDelivered && slices.ContainsFunc(m.Parts, func(p store.Part) bool { return p.State != MsgDelivered }) {
					r.Events = append(r.Events, store.Event{At: rc.At, Type: "receipt", Channel: m.Channel, Connector: m.Connector, MessageID: rc.MessageID, Detail: detail})
					return nil
				}
			}
			m.State, m.DoneAt = state, rc.At
			latency = rc.At.Sub(m.SubmittedAt)
			r.Events = append(r.Events, store.Event{At: rc.At, Type: state, Channel: m.Channel, Connector: m.Connector, MessageID: rc.MessageID, Detail: detail})
			e.notify(r, "message."+state, now, m, detail)
			if state == MsgUndelivered && i == len(r.Messages)-1 && e.advance(r, now, "the SMS was not delivered") {
				advanced = true
			}
			return nil
		}
		return fmt.Errorf("receipt %s/%s: no such message on %s", rc.Connector, rc.MessageID, id)
	})
	if err != nil {
		e.log.Error("receipt: not recorded", "id", id, "connector", rc.Connector, "message_id", rc.MessageID, "err", err)
		return
	}
	if advanced {
		e.enqueue(id)
	}
	if rc.Final {
		observeReceipt(rc.Connector, state, latency)
		if e.cfg.Health != nil {
			e.cfg.Health.Observe(rc.Connector, rc.Delivered, rc.At)
		}
	}
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
