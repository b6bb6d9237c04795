package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// ErrOverloaded: the sends queued and under way stayed at
// Config.MaxSendBacklog for Config.AdmitWait; the create was not stored.
var ErrOverloaded = errors.New("the gateway has more messages waiting to be sent than it admits; retry")

// gate is the back-pressure between the API and the send path. Creates
// wait (up to AdmitWait) while MaxSendBacklog sends are queued or under
// way, instead of storing verifications whose codes would leave late: an
// OTP sent a minute after its request is worse than a quick "retry". It
// also keeps a flood of requests from starving the send workers of CPU, so
// the rate accepted follows the rate the SMSCs take.
//
// Every enqueued send counts (creates, retries, timers, workflow steps);
// only creates wait.
type gate struct {
	max  int
	mu   sync.Mutex
	n    int
	wake chan struct{} // closed when n drops below max
}

var (
	sendBacklog   = metrics.NewGauge(`otpgate_send_backlog`, nil)
	admitWaits    = metrics.NewCounter(`otpgate_admission_waits_total`)
	admitRefusals = metrics.NewCounter(`otpgate_admission_refusals_total`)
)

func newGate(max int) *gate { return &gate{max: max, wake: make(chan struct{})} }

func (g *gate) add() {
	g.mu.Lock()
	g.n++
	sendBacklog.Set(float64(g.n))
	g.mu.Unlock()
}

func (g *gate) done() {
	g.mu.Lock()
	g.n--
	sendBacklog.Set(float64(g.n))
	if g.n < g.max {
		close(g.wake)
		g.wake = make(chan struct{})
	}
	g.mu.Unlock()
}

// admit returns when the backlog is below max, having taken a place in it
// for the caller's send (give it back with done if the send is not
// enqueued after all; enqueue it with enqueueAdmitted), or ErrOverloaded
// after wait, or ctx's error. Taking the place under the lock keeps a
// crowd of waiters woken together from overshooting max.
func (g *gate) admit(ctx context.Context, wait time.Duration) error {
	var timer *time.Timer
	for {
		g.mu.Lock()
		if g.n < g.max {
			g.n++
			sendBacklog.Set(float64(g.n))
			g.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return nil
		}
		w := g.wake
		g.mu.Unlock()
		if timer == nil {
			admitWaits.Inc()
			timer = time.NewTimer(wait)
		}
		select {
		case <-w:
		case <-timer.C:
			admitRefusals.Inc()
			return ErrOverloaded
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}
