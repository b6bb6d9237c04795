package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/internal/ids"
	"github.com/otpgate/otpgate/router"
)

// Workflows. A verification's workflow is a list of steps (channels), e.g.
// sms, voice, voice. Step 0 starts at creation; the next one starts when
// NextEventWait passes without a successful check (a "next" deadline), at
// once when the current SMS is reported undelivered or every route refused
// it, or on POST …/next. The code stays the same across steps. A verified,
// canceled or expired verification starts no step (end() drops the
// deadlines) and a call still ringing or playing is hung up.

// DefaultNextEventWait is the wait between steps when neither request nor
// tenant says.
const DefaultNextEventWait = 2 * time.Minute

const deadlineNext = "next"

// Voice messages' states.
const (
	MsgCalling  = "calling"
	MsgAnswered = "answered"
	MsgBusy     = "busy"
	MsgNoAnswer = "no_answer"
	// MsgSuperseded: a message that had not gone out when the next step began.
	MsgSuperseded = "superseded"
)

// Voicer places one call that reads the code (a voice connector: a SIP
// trunk with text to speech). It returns when the call has ended, or fails
// with an error that may have Permanent() and Reason() as for Sender.
// Cancelling ctx hangs the call up.
type Voicer interface {
	Call(ctx context.Context, c VoiceCall) (VoiceResult, error)
}

// VoiceCall is one call to place.
type VoiceCall struct {
	// ID names the call before it is placed (the SIP Call-ID): it is the
	// message's id from the moment the call starts, so a receipt-like
	// lookup (the sandbox's call list) finds the verification while the
	// phone still rings.
	ID     string
	To     string // E.164
	Code   string // the code to read; never log it
	Locale string
	Brand  string
	From   string // caller id; "" for the trunk's
}

// VoiceResult is how a call ended.
type VoiceResult struct {
	CallID   string
	Outcome  string        // answered | busy | no_answer | failed
	Answered time.Duration // ring time until answer (answered calls)
	Talk     time.Duration // answered to hang-up
	// Language the announcement was spoken in; "" when the connector does
	// not say. When it is not the verification's locale's (no prompts
	// for it), the call's event says so.
	Language string
}

// advance starts the next step of r (inside an Update function) and says
// whether there was one.
func (e *Engine) advance(r *store.Record, now time.Time, why string) bool {
	if r.Status != StatusPending || r.Step+1 >= len(r.Workflow) {
		return false
	}
	if n := len(r.Messages); n > 0 && r.Messages[n-1].State == MsgQueued {
		// a step still waiting to send (a retry back-off) is superseded
		r.Messages[n-1].State, r.Messages[n-1].DoneAt = MsgSuperseded, now
	}
	e.hangup(r.ID) // a call of the previous step still ringing ends
	r.Step++
	ch := r.Workflow[r.Step]
	r.Messages = append(r.Messages, store.Message{Channel: ch, State: MsgQueued, QueuedAt: now})
	dropDeadlines(r, deadlineNext)
	dropDeadlines(r, deadlineDispatch)
	r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(e.cfg.DispatchLease), Kind: deadlineDispatch})
	detail := fmt.Sprintf("step %d of %d: %s", r.Step+1, len(r.Workflow), why)
	if r.Step+1 < len(r.Workflow) {
		wait, raised := e.stepWait(r)
		if raised {
			detail += "; " + raisedNote(ch, wait)
		}
		r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(wait), Kind: deadlineNext})
	}
	r.Events = append(r.Events, store.Event{At: now, Type: "step", Channel: ch, Detail: detail})
	r.UpdatedAt = now
	return true
}

// stepWait is how long r's current step waits before the next one: its
// own wait, raised to the channel's MinStepWait (and then raised says so).
func (e *Engine) stepWait(r *store.Record) (wait time.Duration, raised bool) {
	wait = nextWait(r)
	if min := e.cfg.MinStepWait[r.Workflow[r.Step]]; wait < min {
		return min, true
	}
	return wait, false
}

// lateGrace is how long after a message's lifetime a channel may still
// report it delivered (Meta advises a small buffer).
const lateGrace = 5 * time.Second

// holdNext keeps the next step from starting while message mi, accepted
// by its channel at at, may still arrive: on a channel whose messages live
// MinStepWait, the next step's deadline moves to at least at + that +
// lateGrace. A send that waited (throttled, retried) before the channel
// took it so never lets its code arrive after the workflow moved on.
func (e *Engine) holdNext(r *store.Record, mi int, at time.Time) {
	life := e.cfg.MinStepWait[r.Messages[mi].Channel]
	if life <= 0 || mi != len(r.Messages)-1 {
		return
	}
	until := at.Add(life + lateGrace)
	for i := range r.Deadlines {
		if d := &r.Deadlines[i]; d.Kind == deadlineNext && d.At.Before(until) {
			d.At = until
		}
	}
}

// checkRaisedWaits refuses a workflow whose last step, with a step's wait
// raised to its channel's message lifetime (MinStepWait), would start no
// earlier than the verification expires: its fallback would never go out.
// A workflow no wait was raised in keeps its own timing.
func (e *Engine) checkRaisedWaits(p plan) error {
	r := &store.Record{Workflow: p.workflow, StepWaits: p.stepWaits, NextEventWait: p.nextWait}
	var start time.Duration
	raisedBy := ""
	for r.Step = 0; r.Step+1 < len(r.Workflow); r.Step++ {
		wait, raised := e.stepWait(r)
		if raised {
			raisedBy = fmt.Sprintf("the %s step waits %s (the lifetime of its message)", r.Workflow[r.Step], wait)
		}
		start += wait
	}
	if raisedBy != "" && start+lateGrace >= p.ttl {
		return fieldErr("ttl", "%s before the next step, so the last step would start %s after the request, no earlier than the ttl of %s ends; give a longer ttl, or put %s last",
			raisedBy, start, p.ttl, p.workflow[slices.IndexFunc(p.workflow, func(ch string) bool { return e.cfg.MinStepWait[ch] > 0 })])
	}
	return nil
}

func raisedNote(channel string, wait time.Duration) string {
	return fmt.Sprintf("waits %s, the lifetime of a %s message, before the next step", wait, channel)
}

func nextWait(r *store.Record) time.Duration {
	if r.Step < len(r.StepWaits) {
		return r.StepWaits[r.Step]
	}
	if r.NextEventWait > 0 {
		return r.NextEventWait
	}
	return DefaultNextEventWait
}

// ErrNoNextStep: POST …/next on a verification whose workflow has no step left.
var ErrNoNextStep = errors.New("the workflow has no next step")

// Next starts the next workflow step at once.
func (e *Engine) Next(ctx context.Context, tenant, id string) (*View, error) {
	now := e.now()
	rec, err := e.update(id, func(r *store.Record) error {
		if r.Tenant != tenant {
			return ErrNotFound
		}
		if r.Status != StatusPending || !now.Before(r.ExpiresAt) {
			return ErrNotPending
		}
		if !e.advance(r, now, "asked for by the tenant") {
			return ErrNoNextStep
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	e.enqueue(id)
	return e.view(rec), nil
}

// callKey names one call: a verification may have an old step's call
// ending while the next one starts.
func callKey(id string, mi int) string { return fmt.Sprintf("%s/%d", id, mi) }

// deadlineCall bounds a call: if the process dies during one, the message
// would stay "calling"; this deadline marks it lost and moves on.
const deadlineCall = "call"

// maxCall bounds one call (ring plus announcement).
const maxCall = 5 * time.Minute

// placeCall runs one voice step's call in its own goroutine (a call lasts
// tens of seconds; send workers must not wait for it). The hang-up is
// registered before the message is marked "calling", so a verification
// that ends meanwhile always finds and cancels it.
func (e *Engine) placeCall(id string, mi int, r *store.Record, target router.Target, v Voicer, code string) {
	ctx, cancel := context.WithTimeout(context.Background(), maxCall)
	key := callKey(id, mi)
	e.calls.Store(key, cancel)
	now := e.now()
	callID := ids.New()
	_, err := e.update(id, func(r *store.Record) error {
		if mi != len(r.Messages)-1 || r.Messages[mi].State != MsgQueued || r.Status != StatusPending {
			return errNotStarted
		}
		r.ClearHanded() // a call is recorded before it is placed: no mark of an earlier send stays
		m := &r.Messages[mi]
		m.State, m.Connector, m.MessageID, m.SubmittedAt = MsgCalling, target.Connector, callID, now
		m.Tries++
		dropDeadlines(r, deadlineDispatch)
		r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(maxCall + time.Minute), Kind: deadlineCall})
		r.Events = append(r.Events, store.Event{At: now, Type: "call_started", Channel: ChannelVoice, Connector: target.Connector, MessageID: callID})
		return nil
	})
	if err != nil || ctx.Err() != nil {
		e.calls.Delete(key)
		cancel()
		if err != nil && !errors.Is(err, errNotStarted) {
			e.log.Error("voice: recording the call start failed; not calling", "id", id, "err", err)
		}
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		defer e.calls.Delete(key)
		callsInProgress.Add(1)
		res, err := v.Call(ctx, VoiceCall{ID: callID, To: r.Number, Code: code, Locale: r.Locale, Brand: r.SenderID})
		if res.CallID == "" {
			res.CallID = callID
		}
		callsInProgress.Add(-1)
		e.callEnded(id, mi, target.Connector, res, err, ctx.Err() != nil)
	}()
}

var errNotStarted = errors.New("call not started")

var callsInProgress = metrics.NewGauge(`otpgate_voice_calls_in_progress`, nil)

// hangup ends every call of verification id that is ringing or playing.
func (e *Engine) hangup(id string) {
	prefix := id + "/"
	e.calls.Range(func(k, c any) bool {
		if strings.HasPrefix(k.(string), prefix) {
			c.(context.CancelFunc)()
		}
		return true
	})
}

// callEnded records a call's outcome. A call that could not be placed goes
// to the next trunk of its route, and when none is left the next step
// starts at once; busy and no answer end the step and the next one follows
// after NextEventWait. A call we hung up (the verification ended, the next
// step began, or shutdown) starts nothing; one cut by shutdown is queued
// again so the restart places it.
func (e *Engine) callEnded(id string, mi int, trunk string, res VoiceResult, cerr error, hungUp bool) {
	now := e.now()
	outcome := res.Outcome
	if outcome == "" {
		outcome = MsgFailed
	}
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_voice_calls_total{trunk=%q,outcome=%q}`, trunk, outcome)).Inc()
	if outcome == MsgAnswered {
		metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_voice_call_duration_seconds{trunk=%q}`, trunk)).Update(res.Talk.Seconds())
	}
	again := false
	stopping := e.stopping.Load()
	_, err := e.update(id, func(r *store.Record) error {
		again = false
		if mi >= len(r.Messages) || r.Messages[mi].State != MsgCalling {
			return store.ErrNoChange
		}
		m := &r.Messages[mi]
		current := mi == len(r.Messages)-1 && r.Status == StatusPending
		dropDeadlines(r, deadlineCall)
		r.UpdatedAt = now
		if hungUp && stopping && current && outcome != MsgAnswered {
			// cut by shutdown before anyone answered: place it again after the restart
			m.State = MsgQueued
			r.Events = append(r.Events, store.Event{At: now, Type: "call_interrupted", Channel: ChannelVoice, Connector: trunk, Detail: "gateway stopping; will call again"})
			r.Deadlines = append(r.Deadlines, store.Deadline{At: now, Kind: deadlineDispatch})
			return nil
		}
		m.State, m.MessageID, m.DoneAt = outcome, res.CallID, now
		detail := outcome
		if cerr != nil {
			m.Error = reason(cerr)
			detail += ": " + m.Error
		}
		if outcome == MsgAnswered {
			detail = fmt.Sprintf("answered after %s, %s on the line", res.Answered.Round(time.Millisecond), res.Talk.Round(time.Millisecond))
			if l := res.Language; l != "" && !sameLanguage(r.Locale, l) {
				detail += fmt.Sprintf("; spoken in %s (no voice prompts for %s)", l, r.Locale)
			}
		}
		if hungUp {
			detail += " (hung up)"
		}
		r.Events = append(r.Events, store.Event{At: now, Type: "call_" + outcome, Channel: ChannelVoice, Connector: trunk, MessageID: res.CallID, Detail: detail})
		e.notify(r, "message."+outcome, now, m, detail)
		if outcome != MsgFailed || hungUp || !current {
			return nil
		}
		// a failed call: the next trunk, else the next step, else the end
		if !isPermanent(cerr) {
			m.Skipped = append(m.Skipped, trunk)
		} else {
			m.Failed = append(m.Failed, trunk)
		}
		if dec, ok := e.route(r, ChannelVoice); ok {
			if next, ok := nextTarget(&dec, m); ok {
				m.State, m.DoneAt = MsgQueued, time.Time{}
				r.Events = append(r.Events, store.Event{At: now, Type: "failover", Channel: ChannelVoice, Connector: trunk, Detail: "next " + next.Connector})
				r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(e.cfg.DispatchLease), Kind: deadlineDispatch})
				again = true
				return nil
			}
		}
		switch {
		case e.advance(r, now, "the call failed on every trunk"):
			again = true
		case allStepsFailed(r):
			e.end(r, StatusFailed, now, "every channel failed")
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrClosed) {
		e.log.Error("voice: recording the call outcome failed", "id", id, "err", err)
		return
	}
	if again {
		e.enqueue(id)
	}
}

// allStepsFailed: every message of r failed (nothing reached the user).
func allStepsFailed(r *store.Record) bool {
	for _, m := range r.Messages {
		if m.State != MsgFailed {
			return false
		}
	}
	return true
}

// sameLanguage reports whether locale (it-IT, pt-br, en) is in language (it).
func sameLanguage(locale, language string) bool {
	primary, _, _ := strings.Cut(strings.ToLower(strings.ReplaceAll(locale, "_", "-")), "-")
	return primary == "" || primary == language
}
