package smpp

import (
	"context"
	"errors"
	"fmt"
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
}

// Client is an ESME connected to one SMSC over one bind_transceiver session.
// Run keeps the link up; Submit may be called from any number of goroutines,
// before, while and after the link is up (it waits), until Run returns.
type Client struct {
	cfg       Config
	log       *slog.Logger
	onReceipt func(Receipt)
	m         *clientMetrics

	window   chan struct{} // a token per submit in flight or waiting for a session
	inUseMu  sync.Mutex    // keeps the window gauge in step with inUse
	inUse    int
	sessions atomic.Uint64 // session ids, for logs
	receipts chan Receipt  // acknowledged receipts waiting for onReceipt

	mu      sync.Mutex
	sess    *session      // the bound session, nil while down
	boundCh chan struct{} // closed when sess is set; replaced when it is cleared
	lastErr error
	started bool
	stopped chan struct{} // closed when Run has returned
}

// NewClient checks cfg (applying defaults) and returns a client that is not
// connected yet; call Run. onReceipt, when not nil, gets every delivery
// receipt, one at a time from a single goroutine, after the deliver_sm has
// been acknowledged; a slow onReceipt eventually stops the link from reading
// (see Config.ReceiptQueue). log may be nil.
func NewClient(cfg Config, onReceipt func(Receipt), log *slog.Logger) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:       cfg,
		log:       log.With("smsc", cfg.Name),
		onReceipt: onReceipt,
		m:         newClientMetrics(cfg.Name),
		window:    make(chan struct{}, cfg.Window),
		receipts:  make(chan Receipt, cfg.ReceiptQueue),
		boundCh:   make(chan struct{}),
		stopped:   make(chan struct{}),
	}, nil
}

// Name returns Config.Name.
func (c *Client) Name() string { return c.cfg.Name }

// Bound reports whether a session is bound right now.
func (c *Client) Bound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil
}

// LastError returns why the link is down (the last connect, bind or link
// error), or nil while bound and before the first attempt.
func (c *Client) LastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// setSession publishes s as the bound session, unless it has already ended
// (its close then finds it published and clears it: lock order c.mu → s.mu).
func (c *Client) setSession(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	c.sess = s
	c.lastErr = nil
	close(c.boundCh)
	c.m.bound.Set(1)
}

// clearSession takes s off the client if it is the bound session.
func (c *Client) clearSession(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != s {
		return
	}
	c.sess = nil
	c.boundCh = make(chan struct{})
	c.m.bound.Set(0)
}

func (c *Client) setLastErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
}

// Run connects, binds as a transceiver, and keeps the link up — reconnecting
// with exponential back-off (Config.ReconnectMin..ReconnectMax, ±20% jitter)
// after any failure, including a rejected bind — until ctx is done. Then it
// sends unbind, waits up to Config.BindTimeout for unbind_resp (responses to
// submits still outstanding are processed meanwhile), closes the connection
// and returns nil. Run may be called once; after it returns, Submit fails
// with ErrClosed.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return fmt.Errorf("smpp %s: Run called more than once", c.cfg.Name)
	}
	c.started = true
	c.mu.Unlock()

	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		for r := range c.receipts {
			if c.onReceipt != nil {
				c.onReceipt(r)
			}
		}
	}()
	defer func() {
		close(c.stopped)
		close(c.receipts) // every session's reader has exited
		<-dispatched
		c.log.Info("smpp client stopped")
	}()

	failures := 0
	for {
		bound, err := c.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		c.setLastErr(err)
		if bound {
			failures = 0
			c.m.reconnects.Inc()
		}
		delay := backoff(c.cfg.ReconnectMin, c.cfg.ReconnectMax, failures)
		failures++
		if bound {
			c.log.Warn("smpp link lost, reconnecting", "err", err, "delay", delay)
		} else {
			c.log.Error("smpp connect or bind failed, retrying", "err", err, "delay", delay, "attempt", failures)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
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

// runSession connects, binds and serves one session until it ends or ctx is
// done. bound reports whether the bind succeeded.
func (c *Client) runSession(ctx context.Context) (bound bool, err error) {
	d := net.Dialer{Timeout: c.cfg.BindTimeout}
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return false, fmt.Errorf("connect to %s: %w", c.cfg.Addr, err)
	}
	s := newSession(c, c.sessions.Add(1), conn)
	if err := s.bind(ctx); err != nil {
		_ = conn.Close()
		return false, err
	}

	c.setSession(s)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.readLoop() }()
	go func() { defer wg.Done(); s.keepalive() }()

	select {
	case <-ctx.Done():
		c.clearSession(s) // new submits wait (and end with ErrClosed)
		s.unbind()
		s.close(errors.New("client stopping"))
	case <-s.done:
	}
	wg.Wait()
	return true, s.closedErr()
}

func (c *Client) addInUse(d int) {
	c.inUseMu.Lock()
	c.inUse += d
	c.m.windowInUse.Set(float64(c.inUse))
	c.inUseMu.Unlock()
}

// waitSession returns the bound session, waiting for one.
func (c *Client) waitSession(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, ch := c.sess, c.boundCh
		c.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.stopped:
			return nil, ErrClosed
		}
	}
}

// Submit sends one SMS with submit_sm (registered_delivery=1) and returns
// the SMSC's message id from submit_sm_resp — the id receipts carry.
//
// It waits, as long as ctx allows, for a bound session and a free window
// slot: a full window or a link that is momentarily down delays Submit but
// never fails it. A submit_sm that could not be written is sent again on the
// next session. Errors:
//   - ErrTooLong, or an address or empty-text error: nothing was sent;
//   - *StatusError: the SMSC rejected the message (command_status ≠ 0, or a
//     generic_nack); StatusError.Temporary tells whether to retry later;
//   - ErrTimeout (wrapped): no submit_sm_resp within Config.SubmitTimeout;
//   - *LinkError with Sent true: the link died while the submit_sm was
//     outstanding;
//   - ctx.Err() (wrapped), ErrClosed.
//
// After ErrTimeout, a LinkError or a ctx error once the submit_sm was sent,
// the SMSC may have accepted the message: retrying may deliver it twice.
//
// The message id may be "" if the SMSC accepted the message but gave no id
// (then its receipts cannot be matched). A receipt may reach onReceipt before
// Submit has returned its id to the caller.
func (c *Client) Submit(ctx context.Context, m Message) (messageID string, err error) {
	p, info, err := buildSubmit(m)
	if err != nil {
		return "", fmt.Errorf("smpp %s: %w: %w", c.cfg.Name, ErrInvalidMessage, err)
	}
	select {
	case <-c.stopped:
		return "", ErrClosed
	default:
	}
	select {
	case c.window <- struct{}{}:
	case <-ctx.Done():
		c.m.submit("canceled")
		return "", fmt.Errorf("smpp %s: waiting for a window slot: %w", c.cfg.Name, ctx.Err())
	case <-c.stopped:
		return "", ErrClosed
	}
	c.addInUse(1)
	defer func() {
		<-c.window
		c.addInUse(-1)
	}()

	for {
		s, err := c.waitSession(ctx)
		if errors.Is(err, ErrClosed) {
			return "", err
		}
		if err != nil {
			c.m.submit("canceled")
			return "", fmt.Errorf("smpp %s: waiting for a bound session (last error: %v): %w", c.cfg.Name, c.LastError(), err)
		}
		id, err := s.submit(ctx, p, info)
		var ns *notSentError
		if errors.As(err, &ns) {
			s.log.Debug("smpp submit_sm not sent, retrying on the next session", "to", info.to, "err", ns.err)
			// A failed write ends the session; make sure it is gone before
			// looking for the next one.
			select {
			case <-s.done:
			case <-ctx.Done():
			}
			continue
		}
		return id, err
	}
}

// submitInfo is what may be logged about a message.
type submitInfo struct {
	to       string // masked
	encoding string
	units    int
}

// buildSubmit validates m and builds its submit_sm.
func buildSubmit(m Message) (pdu.Body, submitInfo, error) {
	if m.Text == "" {
		return nil, submitInfo{}, errors.New("message text is empty")
	}
	enc, units, segments := Segments(m.Text)
	info := submitInfo{to: MaskNumber(m.To), encoding: enc, units: units}
	if segments > 1 {
		max := GSM7SingleSegment
		if enc == EncodingUCS2 {
			max = UCS2SingleSegment
		}
		return nil, info, fmt.Errorf("%w: %d %s units, one segment holds %d", ErrTooLong, units, enc, max)
	}
	src, err := SourceAddress(m.From)
	if err != nil {
		return nil, info, err
	}
	dst, err := DestAddress(m.To)
	if err != nil {
		return nil, info, err
	}
	dc, payload := Encode(m.Text)
	p := pdu.NewSubmitSM(nil)
	f := p.Fields()
	for _, kv := range []struct {
		k pdufield.Name
		v any
	}{
		{pdufield.ServiceType, ""},
		{pdufield.SourceAddrTON, src.TON},
		{pdufield.SourceAddrNPI, src.NPI},
		{pdufield.SourceAddr, src.Addr},
		{pdufield.DestAddrTON, dst.TON},
		{pdufield.DestAddrNPI, dst.NPI},
		{pdufield.DestinationAddr, dst.Addr},
		{pdufield.ESMClass, uint8(0)},
		{pdufield.ProtocolID, uint8(0)},
		{pdufield.PriorityFlag, uint8(0)},
		{pdufield.ScheduleDeliveryTime, ""},
		{pdufield.ValidityPeriod, ""},
		{pdufield.RegisteredDelivery, uint8(1)},
		{pdufield.ReplaceIfPresentFlag, uint8(0)},
		{pdufield.DataCoding, dc},
		{pdufield.SMDefaultMsgID, uint8(0)},
		{pdufield.ShortMessage, payload}, // also sets sm_length
	} {
		if err := f.Set(kv.k, kv.v); err != nil {
			return nil, info, fmt.Errorf("build submit_sm field %s: %w", kv.k, err)
		}
	}
	return p, info, nil
}

// submit sends one submit_sm on s and waits for its response.
func (s *session) submit(ctx context.Context, p pdu.Body, info submitInfo) (string, error) {
	c := s.c
	name := c.cfg.Name
	cl, seq, err := s.send(p)
	if err != nil {
		return "", err
	}
	sentAt := time.Now()
	r := s.wait(ctx, cl, seq, c.cfg.SubmitTimeout)
	log := s.log.With("seq", seq, "to", info.to, "encoding", info.encoding, "units", info.units)
	switch {
	case r.lost:
		c.m.submit("link_lost")
		log.Warn("smpp link lost with submit_sm outstanding", "err", r.err)
		return "", &LinkError{SMSC: name, Sent: true, Err: r.err}
	case errors.Is(r.err, errWaitTimeout):
		c.m.submit("timeout")
		log.Warn("smpp submit_sm timed out", "timeout", c.cfg.SubmitTimeout)
		return "", fmt.Errorf("smpp %s: submit_sm seq %d to %s: %w (%v)", name, seq, info.to, ErrTimeout, c.cfg.SubmitTimeout)
	case r.err != nil && ctx.Err() != nil && errors.Is(r.err, ctx.Err()):
		c.m.submit("canceled")
		return "", fmt.Errorf("smpp %s: submit_sm seq %d was sent, gave up waiting for submit_sm_resp (outcome unknown): %w", name, seq, r.err)
	}
	c.m.duration.UpdateDuration(sentAt)
	status := r.hdr.Status
	if r.hdr.ID == pdu.GenericNACKID && status == 0 {
		status = StatusUnknownErr
	}
	if status != 0 {
		c.m.submit(StatusName(status))
		log.Warn("smpp submit_sm rejected", "status", StatusName(status))
		return "", &StatusError{SMSC: name, Command: pdu.SubmitSMID, Status: status}
	}
	if r.err != nil || r.p == nil {
		// A malformed or mismatched response with status 0: the SMSC most
		// likely accepted the message, but we cannot know its id.
		c.m.submit("bad_response")
		log.Error("smpp bad submit_sm_resp", "err", r.err)
		return "", fmt.Errorf("smpp %s: submit_sm seq %d to %s: bad response (the message may have been accepted): %w", name, seq, info.to, r.err)
	}
	id := FieldString(r.p, pdufield.MessageID)
	c.m.submit("ok")
	if id == "" {
		log.Warn("smpp submit_sm_resp without message_id; receipts cannot be matched")
	} else {
		log.Debug("smpp submit_sm accepted", "message_id", id)
	}
	return id, nil
}
