package smpp

import (
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/otpgate/otpgate/internal/tokenbucket"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
)

// Message is one SMS to send.
type Message struct {
	// From is the originator: an alphanumeric sender id (≤11 characters,
	// TON 5 NPI 0), a short code of ≤8 digits (TON 3 NPI 0), or an
	// international number with optional leading '+' (TON 1 NPI 1). Empty
	// lets the SMSC choose (TON 0 NPI 0).
	From string
	// To is the destination in E.164 with leading '+', sent as TON 1 NPI 1
	// without the '+'.
	To string
	// Text is the message. It is never logged: it holds the code.
	Text string
	// SourceTON and SourceNPI, when set, replace the TON/NPI inferred from
	// From (a route that must send a numeric sender as national, say).
	SourceTON, SourceNPI *byte
}

// Sent is what the SMSC gave back for a message sent with Send.
type Sent struct {
	// IDs are the SMSC's message ids, one per part in order — the ids its
	// receipts carry (a multipart message is delivered when every part is).
	// An id may be "" if the SMSC accepted a part without giving one. When
	// Send fails part-way, IDs holds the parts accepted before the failure.
	IDs []string
	// Encoding is EncodingGSM7, EncodingUCS2 or EncodingLatin1.
	Encoding string
	// Parts is how many submit_sm the message needs: 1, or up to MaxParts
	// for a concatenated message.
	Parts int
}

// Client is an ESME connected to one SMSC over one or more binds (see
// Config.Binds). Run keeps every bind up; Send and Submit may be called from
// any number of goroutines, before, while and after the binds are up (they
// wait), until Run returns.
//
// Each transmitting bind has its own window of Config.Window outstanding
// submit_sm; a submit takes a slot on the bound, unpaused bind with the
// fewest outstanding, and waits when every window is full or every bind is
// down. Receipts may arrive on any receiving bind.
type Client struct {
	cfg       Config
	log       *slog.Logger
	onReceipt func(Receipt)
	m         *clientMetrics
	binds     []*bind
	tps       *tokenbucket.Bucket // Config.TPS; nil for none
	text      textOptions
	ref       atomic.Uint32         // concatenation references
	sessions  atomic.Uint64         // session ids, for logs
	receipts  []chan pendingReceipt // per receipt worker, by message id: receipts waiting for onReceipt, acknowledged after it

	mu      sync.Mutex
	waiters list.List // of *waiter, first come first served
	rr      int       // where pickLocked starts looking, for fair ties
	started bool
	stopped chan struct{} // closed when Run has returned
}

// NewClient checks cfg (applying defaults) and returns a client that is not
// connected yet; call Run. onReceipt, when not nil, gets every delivery
// receipt from every bind, from Config.ReceiptWorkers goroutines (the
// receipts of one message id from the same one, in order); the deliver_sm
// is acknowledged after onReceipt returns. A slow onReceipt eventually
// stops the binds from reading (see Config.ReceiptQueue). log may be nil.
func NewClient(cfg Config, onReceipt func(Receipt), log *slog.Logger) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:       cfg,
		log:       log.With("smsc", cfg.Name),
		onReceipt: onReceipt,
		m:         newClientMetrics(cfg.Name),
		tps:       newBucket(cfg.TPS),
		text:      textOptions{latin1: cfg.Latin1, concat: cfg.Concat},
		receipts:  make([]chan pendingReceipt, cfg.ReceiptWorkers),
		stopped:   make(chan struct{}),
	}
	for i := range c.receipts {
		c.receipts[i] = make(chan pendingReceipt, max(cfg.ReceiptQueue/cfg.ReceiptWorkers, 1))
	}
	c.ref.Store(rand.Uint32())
	for i, kind := range cfg.bindKinds() {
		b := &bind{
			c:         c,
			index:     i,
			kind:      kind,
			transmits: kind != BindReceiver,
			log:       c.log.With("bind", i, "kind", kind),
			m:         newBindMetrics(cfg.Name, i),
			tps:       newBucket(cfg.BindTPS),
			pause:     cfg.ThrottleMin,
		}
		b.m.bound.Set(0)
		b.m.windowInUse.Set(0)
		c.binds = append(c.binds, b)
	}
	return c, nil
}

// Name returns Config.Name.
func (c *Client) Name() string { return c.cfg.Name }

// Segments reports how text would be sent with this client's settings
// (Config.Latin1, Config.Concat): its encoding, its length in that
// encoding's units, and how many parts it needs. More than MaxParts parts
// means Send would refuse it with ErrTooLong.
func (c *Client) Segments(text string) (encoding string, units int, parts int) {
	sp := splitText(text, c.text.latin1, c.text.concat)
	return sp.encoding, sp.units, len(sp.parts)
}

// Run connects and binds every bind of Config.Binds, and keeps each up —
// reconnecting it on its own with exponential back-off
// (Config.ReconnectMin..ReconnectMax, ±20% jitter) after any failure,
// including a rejected bind or an unbind from the SMSC — until ctx is done.
// Then every bind sends unbind, waits up to Config.BindTimeout for
// unbind_resp (responses to submits still outstanding are processed
// meanwhile) and closes its connection, and Run returns nil. Run may be
// called once; after it returns, Send and Submit fail with ErrClosed.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return fmt.Errorf("smpp %s: Run called more than once", c.cfg.Name)
	}
	c.started = true
	c.mu.Unlock()

	receives := false
	for _, b := range c.binds {
		receives = receives || b.kind != BindTransmitter
	}
	if !receives {
		c.log.Warn("smpp no receiving bind (transceiver or receiver) configured: no delivery receipt can arrive")
	}

	var dispatched sync.WaitGroup
	for _, q := range c.receipts {
		dispatched.Add(1)
		go func() {
			defer dispatched.Done()
			for pr := range q {
				if c.onReceipt != nil {
					c.onReceipt(pr.r)
				}
				// Acknowledged only now: a receipt the process dies holding
				// is not acknowledged, so the SMSC delivers it again.
				pr.ack()
			}
		}()
	}

	var wg sync.WaitGroup
	for _, b := range c.binds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.run(ctx)
		}()
	}
	wg.Wait()
	close(c.stopped)
	for _, q := range c.receipts { // every session's reader has exited
		close(q)
	}
	dispatched.Wait()
	c.log.Info("smpp client stopped")
	return nil
}

// run keeps b bound until ctx is done.
func (b *bind) run(ctx context.Context) {
	c := b.c
	failures := 0
	for {
		bound, err := b.runSession(ctx)
		if ctx.Err() != nil {
			return
		}
		c.setLastErr(b, err)
		if bound {
			failures = 0
			b.m.reconnects.Inc()
		}
		delay := backoff(c.cfg.ReconnectMin, c.cfg.ReconnectMax, failures)
		failures++
		if bound {
			b.log.Warn("smpp link lost, reconnecting", "err", err, "delay", delay)
		} else {
			b.log.Error("smpp connect or bind failed, retrying", "err", err, "delay", delay, "attempt", failures)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// backoff returns min·2^failures capped at max, with ±20% jitter.
func backoff(min, max time.Duration, failures int) time.Duration {
	d := min
	for i := 0; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// dial connects to the SMSC, over TLS when configured, within
// Config.BindTimeout.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: c.cfg.BindTimeout}
	if c.cfg.TLS == nil {
		conn, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", c.cfg.Addr, err)
		}
		return conn, nil
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.BindTimeout)
	defer cancel()
	td := &tls.Dialer{NetDialer: d, Config: c.cfg.TLS}
	conn, err := td.DialContext(dctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s over TLS: %w", c.cfg.Addr, err)
	}
	return conn, nil
}

// runSession connects, binds and serves one session of b until it ends or
// ctx is done. bound reports whether the bind succeeded.
func (b *bind) runSession(ctx context.Context) (bound bool, err error) {
	c := b.c
	conn, err := c.dial(ctx)
	if err != nil {
		return false, err
	}
	s := newSession(b, c.sessions.Add(1), conn)
	if err := s.bind(ctx); err != nil {
		closeConn(conn)
		return false, err
	}

	c.setSession(b, s)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.readLoop() }()
	go func() { defer wg.Done(); s.keepalive() }()

	select {
	case <-ctx.Done():
		c.clearSession(b, s) // new submits go elsewhere or wait (and end with ErrClosed)
		s.unbind()
		s.close(errors.New("client stopping"))
	case <-s.done:
	}
	wg.Wait()
	return true, s.closedErr()
}

// Submit sends m and returns the SMSC's message id — for a concatenated
// message, the first part's id only: use Send, which returns every part's.
// It behaves as Send otherwise.
func (c *Client) Submit(ctx context.Context, m Message) (messageID string, err error) {
	sent, err := c.Send(ctx, m)
	if err != nil {
		return "", err
	}
	return sent.IDs[0], nil
}

// Send sends one SMS — several, concatenated, when the text is longer than
// one (see Config.Concat; at most MaxParts) — with submit_sm
// (registered_delivery 1 on every part) and returns the SMSC's message ids.
// Parts are sent one after the other, each once the previous was accepted,
// on the same bind when it has a free slot.
//
// It waits, as long as ctx allows, for a bound bind with a free window slot
// (and for the Config.TPS / BindTPS token buckets): full windows or binds
// that are momentarily down delay Send but never fail it. A submit_sm that
// could not be written is sent again. A submit_sm refused with
// ESME_RTHROTTLED or ESME_RMSGQFUL pauses its bind and is sent again, on any
// bind, until ctx ends: the SMSC did not take it, so this cannot duplicate.
// A submit_sm without a response within Config.SubmitTimeout is sent once
// more on another bound bind if there is one (the SMSC may then deliver it
// twice; a late response is logged and counted). Errors:
//   - ErrInvalidMessage (wrapping ErrTooLong, or an address or empty-text
//     error): nothing was sent, and sending it again cannot help;
//   - *StatusError: the SMSC refused a part (command_status ≠ 0, or a
//     generic_nack); Permanent tells whether this SMSC can ever take it,
//     Temporary whether to retry later. When ctx ended while the SMSC kept
//     throttling, the error wraps both the last throttling StatusError and
//     ctx's error;
//   - ErrTimeout (wrapped): no submit_sm_resp within Config.SubmitTimeout
//     (after the retry on another bind, if there was one);
//   - *LinkError with Sent true: the link died while the submit_sm was
//     outstanding;
//   - ctx.Err() (wrapped): while waiting for a slot (nothing sent), or while
//     waiting for a response (outcome unknown; the error says which);
//   - ErrClosed: Run has returned.
//
// After ErrTimeout, a LinkError or a ctx error once the submit_sm was sent,
// the SMSC may have accepted the message: sending it again may deliver it
// twice. A receipt may reach onReceipt before Send has returned its id.
func (c *Client) Send(ctx context.Context, m Message) (Sent, error) {
	pdus, info, err := buildMessage(m, c.text, uint16(c.ref.Add(1)))
	if err != nil {
		return Sent{}, fmt.Errorf("smpp %s: %w: %w", c.cfg.Name, ErrInvalidMessage, err)
	}
	select {
	case <-c.stopped:
		return Sent{}, ErrClosed
	default:
	}
	sent := Sent{Encoding: info.encoding, Parts: len(pdus), IDs: make([]string, 0, len(pdus))}
	prefer := -1
	for i, p := range pdus {
		id, b, err := c.submitPart(ctx, p, info, i+1, prefer)
		if err != nil {
			if len(pdus) > 1 && !errors.Is(err, ErrClosed) {
				err = fmt.Errorf("smpp %s: part %d of %d (%d accepted before): %w", c.cfg.Name, i+1, len(pdus), i, err)
			}
			return sent, err
		}
		sent.IDs = append(sent.IDs, id)
		prefer = b
	}
	return sent, nil
}

// attemptKind classifies one submit_sm attempt.
type attemptKind int

const (
	attemptOK        attemptKind = iota
	attemptNotSent               // never written: safe to send again
	attemptThrottled             // ESME_RTHROTTLED / ESME_RMSGQFUL: not accepted, send again after a pause
	attemptTimeout               // no response in time: outcome unknown
	attemptFailed                // anything else: err says what
)

type attempt struct {
	kind   attemptKind
	id     string
	err    error
	sentAt time.Time
	late   *lateSubmit // for attemptTimeout
}

// submitPart sends one submit_sm: it takes a window slot (on bind prefer
// when it has one free), waits for the token buckets, sends, and handles
// throttling and a response timeout as Send describes. It returns the
// message id and the index of the bind that accepted it.
func (c *Client) submitPart(ctx context.Context, p pdu.Body, info submitInfo, part, prefer int) (string, int, error) {
	name := c.cfg.Name
	exclude := -1
	var timedOut *attempt // the attempt that timed out, once retried elsewhere
	var retryFrom *bind
	var throttled error // the last throttling refusal
	// gaveUp is the error when ctx ends (or the wait for a bind fails)
	// before the submit_sm is sent (again).
	gaveUp := func(err error) error {
		switch {
		case errors.Is(err, ErrClosed):
			return ErrClosed
		case errors.Is(err, errNoOtherBind):
			return fmt.Errorf("%w; no other bind left to retry on", timedOut.err)
		case timedOut != nil:
			return fmt.Errorf("%w; gave up waiting for another bind to retry on: %w", timedOut.err, err)
		}
		c.m.waitCanceled.Inc()
		if throttled != nil {
			return fmt.Errorf("smpp %s: the SMSC kept throttling, gave up: %w (%w)", name, throttled, err)
		}
		return fmt.Errorf("smpp %s: waiting for a bound bind with a free window slot (last error: %v): %w", name, c.LastError(), err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return "", -1, gaveUp(err)
		}
		b, s, err := c.acquire(ctx, prefer, exclude)
		if err != nil {
			return "", -1, gaveUp(err)
		}
		if retryFrom != nil {
			retryFrom.log.Warn("smpp submit_sm outcome unknown, retried on another bind", "to", info.to, "part", part, "retry_bind", b.index)
			retryFrom = nil
		}
		if err := waitTokens(ctx, c.tps, b.tps); err != nil {
			c.release(b, false)
			return "", -1, gaveUp(err)
		}
		sl := c.newSlot(b)
		a := s.submit(ctx, p, info, part, sl)
		if a.kind == attemptThrottled {
			throttled = a.err
			c.throttled(b, a.sentAt) // before the slot is free again
		}
		sl.release(a.kind == attemptOK) // unless the reader already did
		switch a.kind {
		case attemptOK:
			b.accepted.Add(1)
			return a.id, b.index, nil
		case attemptNotSent:
			// A failed write ends the session; let it go before looking
			// for the next one.
			select {
			case <-s.done:
			case <-ctx.Done():
			}
		case attemptThrottled: // paused above; try again
		case attemptTimeout:
			if timedOut == nil && c.anotherBound(b.index) {
				timedOut, retryFrom, exclude = &a, b, b.index
				a.late.retried.Store(true)
				b.m.timeoutRetries.Inc()
				continue
			}
			return "", -1, a.err
		default:
			if throttled != nil { // a resend after throttling ran out of time: say both
				return "", -1, fmt.Errorf("%w (after the SMSC throttled it: %w)", a.err, throttled)
			}
			return "", -1, a.err
		}
	}
}

// anotherBound reports whether a transmitting bind other than index is bound.
func (c *Client) anotherBound(index int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.boundLocked(index)
}

// submit sends one submit_sm on s and waits for its response.
func (s *session) submit(ctx context.Context, p pdu.Body, info submitInfo, part int, sl *slot) attempt {
	c, b := s.c, s.b
	name := c.cfg.Name
	cl, seq, err := s.sendWith(p, sl)
	if err != nil {
		var ns *notSentError
		if errors.As(err, &ns) {
			s.log.Debug("smpp submit_sm not sent, sending it again", "to", info.to, "err", ns.err)
			return attempt{kind: attemptNotSent, err: err}
		}
		return attempt{kind: attemptFailed, err: fmt.Errorf("smpp %s: %w", name, err)}
	}
	sentAt := time.Now()
	late := &lateSubmit{sentAt: sentAt, to: info.to}
	r := s.wait(ctx, cl, seq, c.cfg.SubmitTimeout, late)
	log := s.log.With("seq", seq, "to", info.to, "encoding", info.encoding, "units", info.units)
	if info.parts > 1 {
		log = log.With("part", part, "parts", info.parts)
	}
	switch {
	case r.lost:
		b.m.submit("link_lost")
		log.Warn("smpp link lost with submit_sm outstanding", "err", r.err)
		return attempt{kind: attemptFailed, err: &LinkError{SMSC: name, Sent: true, Err: r.err}}
	case errors.Is(r.err, errWaitTimeout):
		b.m.submit("timeout")
		b.m.timeouts.Inc()
		log.Warn("smpp submit_sm timed out", "timeout", c.cfg.SubmitTimeout)
		return attempt{kind: attemptTimeout, sentAt: sentAt, late: late,
			err: fmt.Errorf("smpp %s: submit_sm seq %d to %s on bind %d: %w (%v)", name, seq, info.to, b.index, ErrTimeout, c.cfg.SubmitTimeout)}
	case r.err != nil && ctx.Err() != nil && errors.Is(r.err, ctx.Err()):
		b.m.submit("canceled")
		return attempt{kind: attemptFailed,
			err: fmt.Errorf("smpp %s: submit_sm seq %d was sent, gave up waiting for submit_sm_resp (outcome unknown): %w", name, seq, r.err)}
	}
	b.m.duration.UpdateDuration(sentAt)
	status := r.hdr.Status
	if r.hdr.ID == pdu.GenericNACKID && status == 0 {
		status = StatusUnknownErr
	}
	if status != 0 {
		b.m.submit(StatusName(status))
		se := &StatusError{SMSC: name, Command: pdu.SubmitSMID, Status: status}
		if status == StatusThrottled || status == StatusMsgQFul {
			log.Debug("smpp submit_sm throttled", "status", StatusName(status))
			return attempt{kind: attemptThrottled, sentAt: sentAt, err: se}
		}
		log.Warn("smpp submit_sm rejected", "status", StatusName(status))
		return attempt{kind: attemptFailed, err: se}
	}
	if r.err != nil || r.p == nil {
		// A malformed or mismatched response with status 0: the SMSC most
		// likely accepted the message, but we cannot know its id.
		b.m.submit("bad_response")
		log.Error("smpp bad submit_sm_resp", "err", r.err)
		return attempt{kind: attemptFailed,
			err: fmt.Errorf("smpp %s: submit_sm seq %d to %s: bad response (the message may have been accepted): %w", name, seq, info.to, r.err)}
	}
	id := FieldString(r.p, pdufield.MessageID)
	b.m.submit("ok")
	if id == "" {
		log.Warn("smpp submit_sm_resp without message_id; receipts cannot be matched")
	} else {
		log.Debug("smpp submit_sm accepted", "message_id", id)
	}
	return attempt{kind: attemptOK, id: id}
}
