package smpp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
)

// maxSeq is the largest SMPP sequence number; numbers wrap to 1 after it.
const maxSeq = 0x7FFFFFFF

// maxLate is how many abandoned submit_sm (timed out or canceled) a session
// remembers, to recognise their late responses.
const maxLate = 4096

// session is one TCP (or TLS) connection of a bind to the SMSC.
//
// Goroutines: the reader (readLoop) decodes every PDU and answers the SMSC's
// requests; keepalive sends enquire_link. Writes from any goroutine go
// through write, the single writer path: a groupWriter that puts every PDU
// waiting at that moment into one socket write, with a write deadline. Requests we send (submit_sm, enquire_link, unbind) are
// registered in pending by sequence number before they are written; the
// reader hands each response to its waiter. A submit_sm whose waiter gave up
// moves to late, so that its response, if it ever comes, is recognised and
// counted as a possible duplicate.
type session struct {
	c   *Client
	b   *bind
	id  uint64
	log *slog.Logger

	conn net.Conn
	br   *bufio.Reader

	gw *groupWriter // the single writer path

	mu      sync.Mutex
	seq     uint32
	pending map[uint32]*call
	late    map[uint32]*lateSubmit
	lateSeq []uint32 // late's keys, oldest first, at most maxLate
	closed  bool
	err     error         // why the session ended; set before done is closed
	done    chan struct{} // closed when the session ends
}

// call is one request waiting for its response. ch is buffered and receives
// exactly one result, sent by whoever removes the call from pending.
type call struct {
	cmd  pdu.ID
	ch   chan result
	slot *slot // a submit_sm's window slot, given back by whoever sees the outcome first; nil for other requests
}

// slot is a window slot held by one submit_sm. The reader gives it back as
// the submit_sm_resp arrives, so the next submit can go out while the
// submitting goroutine is still waiting to be scheduled (under load that
// wait is milliseconds, and it used to be part of every window cycle); the
// submitter gives it back on a timeout, a lost link or a failed write.
type slot struct {
	c    *Client
	b    *bind
	held atomic.Bool
}

func (c *Client) newSlot(b *bind) *slot {
	s := &slot{c: c, b: b}
	s.held.Store(true)
	return s
}

// release gives the slot back once; ok resets the bind's throttle pause.
func (s *slot) release(ok bool) {
	if s != nil && s.held.CompareAndSwap(true, false) {
		s.c.release(s.b, ok)
	}
}

type result struct {
	p    pdu.Body   // the response; nil when it could not be decoded or the link was lost
	hdr  pdu.Header // the response header (also set when p is nil but the PDU was framed)
	err  error      // malformed response, or link lost
	lost bool       // the link was lost before a response came
}

// lateSubmit is a submit_sm sent on a session whose waiter stopped waiting
// for its response.
type lateSubmit struct {
	sentAt  time.Time
	to      string      // masked
	retried atomic.Bool // sent again on another bind
}

// notSentError: the request was never (completely) written to the socket, so
// the SMSC cannot have acted on it and it is safe to send it again.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return "not sent: " + e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

var errWaitTimeout = errors.New("response timeout")

func newSession(b *bind, id uint64, conn net.Conn) *session {
	s := &session{
		c:       b.c,
		b:       b,
		id:      id,
		log:     b.log.With("session", id),
		conn:    conn,
		br:      bufio.NewReaderSize(conn, 32<<10),
		pending: make(map[uint32]*call),
		late:    make(map[uint32]*lateSubmit),
		done:    make(chan struct{}),
	}
	s.gw = newGroupWriter(s.writeBatch)
	return s
}

// nextSeqLocked returns the next free sequence number in 1..0x7FFFFFFF.
// s.mu must be held.
func (s *session) nextSeqLocked() uint32 {
	for {
		s.seq++
		if s.seq == 0 || s.seq > maxSeq {
			s.seq = 1
		}
		if _, busy := s.pending[s.seq]; busy {
			continue
		}
		if _, busy := s.late[s.seq]; !busy {
			return s.seq
		}
	}
}

// write sends one serialized PDU; sent reports whether all of it reached
// the socket (see groupWriter). A failed write ends the session: a partial
// PDU leaves the stream unusable.
func (s *session) write(b []byte) (sent bool, err error) { return s.gw.Write(b) }

// writeBatch writes PDUs to the socket; a failure ends the session.
func (s *session) writeBatch(b []byte) (int, error) {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.c.cfg.WriteTimeout)); err != nil {
		err = fmt.Errorf("set write deadline: %w", err)
		s.close(err)
		return 0, err
	}
	n, err := s.conn.Write(b)
	if err != nil {
		err = fmt.Errorf("write %d octets (%d written): %w", len(b), n, err)
		s.close(err)
	}
	return n, err
}

// reply answers a request of the SMSC with a body-less response.
func (s *session) reply(id pdu.ID, seq uint32, status pdu.Status) {
	b, err := MarshalPDU(emptyRaw(id), seq, status)
	if err != nil {
		s.log.Error("smpp cannot serialize response", "command", CommandName(id), "seq", seq, "err", err)
		return
	}
	if _, err := s.write(b); err != nil {
		s.log.Debug("smpp response not written", "command", CommandName(id), "seq", seq, "err", err)
	}
}

// send registers and writes a request. The returned error is a
// *notSentError when nothing reached the socket.
func (s *session) send(p pdu.Body) (*call, uint32, error) { return s.sendWith(p, nil) }

// sendWith is send for a submit_sm holding window slot sl.
func (s *session) sendWith(p pdu.Body, sl *slot) (*call, uint32, error) {
	cmd := p.Header().ID
	s.mu.Lock()
	if s.closed {
		err := s.err
		s.mu.Unlock()
		return nil, 0, &notSentError{err}
	}
	seq := s.nextSeqLocked()
	cl := &call{cmd: cmd, ch: make(chan result, 1), slot: sl}
	s.pending[seq] = cl
	s.mu.Unlock()

	b, err := MarshalPDU(p, seq, 0)
	if err != nil {
		s.forget(seq, nil)
		return nil, 0, err
	}
	if sent, err := s.write(b); !sent {
		s.forget(seq, nil)
		return nil, 0, &notSentError{err}
	}
	// All of it went out (the link may have failed right after: then the
	// session's close hands cl a lost result, and the outcome is unknown).
	return cl, seq, nil
}

// forget removes a pending call; it reports whether the call was still
// pending (if not, its result is already in, or about to be in, cl.ch).
// late, when not nil, is remembered under seq to recognise a late response.
func (s *session) forget(seq uint32, late *lateSubmit) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[seq]; !ok {
		return false
	}
	delete(s.pending, seq)
	if late != nil && !s.closed {
		if len(s.lateSeq) >= maxLate {
			delete(s.late, s.lateSeq[0])
			s.lateSeq = s.lateSeq[1:]
		}
		s.late[seq] = late
		s.lateSeq = append(s.lateSeq, seq)
	}
	return true
}

// wait waits for the response to a sent request. It returns errWaitTimeout
// after timeout, or ctx's error; then late, if not nil, is remembered (see
// forget).
func (s *session) wait(ctx context.Context, cl *call, seq uint32, timeout time.Duration, late *lateSubmit) result {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-cl.ch:
		return r
	case <-t.C:
		if s.forget(seq, late) {
			return result{err: errWaitTimeout}
		}
	case <-ctx.Done():
		if s.forget(seq, late) {
			return result{err: ctx.Err()}
		}
	}
	// The response (or the link loss) won the race; it is in cl.ch.
	return <-cl.ch
}

// resolve hands a response to its waiter.
func (s *session) resolve(h pdu.Header, r result) {
	s.mu.Lock()
	cl := s.pending[h.Seq]
	var late *lateSubmit
	if cl != nil {
		delete(s.pending, h.Seq)
	} else if late = s.late[h.Seq]; late != nil && (h.ID == pdu.SubmitSMRespID || h.ID == pdu.GenericNACKID) {
		delete(s.late, h.Seq) // its seq stays in lateSeq until it ages out
	} else {
		late = nil
	}
	s.mu.Unlock()
	if late != nil {
		s.lateResponse(h, r, late)
		return
	}
	if cl == nil {
		s.log.Warn("smpp response matches no outstanding request", "command", CommandName(h.ID), "seq", h.Seq, "status", StatusName(h.Status))
		return
	}
	if h.ID != pdu.GenericNACKID && h.ID != cl.cmd|0x80000000 {
		r = result{hdr: h, err: fmt.Errorf("SMSC answered %s seq %d with %s", CommandName(cl.cmd), h.Seq, CommandName(h.ID))}
	}
	// The SMSC accepted this submit: its window slot is free now. Any other
	// answer leaves the slot to the submitter, which first pauses the bind
	// when the SMSC is throttling, so a freed slot cannot carry a resend
	// into the throttle.
	if r.err == nil && h.ID == pdu.SubmitSMRespID && h.Status == 0 {
		cl.slot.release(true)
	}
	cl.ch <- r
}

// lateResponse logs and counts a submit_sm_resp that came after its waiter
// gave up. With status 0 the SMSC did accept the message: if it was sent
// again on another bind, the handset may get it twice.
func (s *session) lateResponse(h pdu.Header, r result, late *lateSubmit) {
	s.b.m.lateResponses.Inc()
	status := h.Status
	if h.ID == pdu.GenericNACKID && status == 0 {
		status = StatusUnknownErr
	}
	id := ""
	if r.p != nil && status == 0 {
		id = FieldString(r.p, pdufield.MessageID)
	}
	s.log.Warn("smpp late submit_sm_resp after the submit gave up",
		"seq", h.Seq, "to", late.to, "status", StatusName(status), "message_id", id,
		"after", time.Since(late.sentAt).Round(time.Millisecond),
		"retried", late.retried.Load(), "possible_duplicate", status == 0)
}

// close ends the session once: it closes the socket, fails every waiter with
// a link-lost result, and takes the session off the client.
func (s *session) close(err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.err = err
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()

	s.c.clearSession(s.b, s)
	closeConn(s.conn)
	close(s.done)
	for _, cl := range pending {
		cl.ch <- result{err: err, lost: true}
	}
}

// closeConn closes a connection. A TLS connection first sends close_notify,
// which blocks (up to 5s) when the peer stops reading: past 250ms the socket
// under it is closed instead.
func closeConn(conn net.Conn) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		_ = conn.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tc.Close()
	}()
	select {
	case <-done:
	case <-time.After(250 * time.Millisecond):
		_ = tc.NetConn().Close()
	}
}

func (s *session) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// bindPDU returns the bind request of a bind kind and the command_id of its
// response.
func bindPDU(kind string) (pdu.Body, pdu.ID) {
	switch kind {
	case BindTransmitter:
		return pdu.NewBindTransmitter(), pdu.BindTransmitterRespID
	case BindReceiver:
		return pdu.NewBindReceiver(), pdu.BindReceiverRespID
	default:
		return pdu.NewBindTransceiver(), pdu.BindTransceiverRespID
	}
}

// bind sends the bind request of the session's kind and waits for its
// response, within Config.BindTimeout. It runs before the reader starts.
func (s *session) bind(ctx context.Context) error {
	cfg := &s.c.cfg
	stop := context.AfterFunc(ctx, func() { closeConn(s.conn) })
	defer stop()
	if err := s.conn.SetDeadline(time.Now().Add(cfg.BindTimeout)); err != nil {
		return fmt.Errorf("set bind deadline: %w", err)
	}
	p, respID := bindPDU(s.b.kind)
	reqID := p.Header().ID
	f := p.Fields()
	_ = f.Set(pdufield.SystemID, cfg.SystemID)
	_ = f.Set(pdufield.Password, cfg.Password)
	_ = f.Set(pdufield.SystemType, cfg.SystemType)
	_ = f.Set(pdufield.InterfaceVersion, cfg.InterfaceVersion)
	_ = f.Set(pdufield.AddrTON, cfg.AddrTON)
	_ = f.Set(pdufield.AddrNPI, cfg.AddrNPI)
	_ = f.Set(pdufield.AddressRange, cfg.AddressRange)
	s.mu.Lock()
	seq := s.nextSeqLocked()
	s.mu.Unlock()
	b, err := MarshalPDU(p, seq, 0)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%s to %s as system_id %q", CommandName(reqID), cfg.Addr, cfg.SystemID)
	if _, err := s.conn.Write(b); err != nil {
		return s.bindErr(ctx, what, fmt.Errorf("write: %w", err))
	}
	for {
		resp, err := ReadPDU(s.br)
		var de *DecodeError
		switch {
		case errors.As(err, &de):
			if de.Header.Seq == seq && (de.Header.ID == respID || de.Header.ID == pdu.GenericNACKID) && de.Header.Status != 0 {
				return fmt.Errorf("%s: %w", what, &StatusError{SMSC: cfg.Name, Command: reqID, Status: de.Header.Status})
			}
			if de.Header.Seq == seq {
				return fmt.Errorf("%s: malformed response: %w", what, err)
			}
			continue
		case errors.Is(err, io.EOF):
			return s.bindErr(ctx, what, errors.New("SMSC closed the connection before answering"))
		case err != nil:
			return s.bindErr(ctx, what, fmt.Errorf("read response: %w", err))
		}
		h := resp.Header()
		switch h.ID {
		case respID, pdu.GenericNACKID:
			if h.Seq != seq {
				s.log.Warn("smpp ignoring bind response with unexpected sequence number", "seq", h.Seq, "want", seq)
				continue
			}
			if h.ID == pdu.GenericNACKID && h.Status == 0 {
				h.Status = StatusUnknownErr
			}
			if h.Status != 0 {
				return fmt.Errorf("%s: %w", what, &StatusError{SMSC: cfg.Name, Command: reqID, Status: h.Status})
			}
			if err := s.conn.SetDeadline(time.Time{}); err != nil {
				return fmt.Errorf("clear bind deadline: %w", err)
			}
			s.log.Info("smpp bound", "addr", cfg.Addr, "tls", cfg.TLS != nil, "system_id", cfg.SystemID, "smsc_system_id", FieldString(resp, pdufield.SystemID))
			return nil
		case pdu.EnquireLinkID:
			b, _ := MarshalPDU(pdu.NewEnquireLinkResp(), h.Seq, 0)
			if _, err := s.conn.Write(b); err != nil {
				return s.bindErr(ctx, what, fmt.Errorf("write enquire_link_resp: %w", err))
			}
		default:
			s.log.Warn("smpp ignoring PDU received while binding", "command", CommandName(h.ID), "seq", h.Seq)
		}
	}
}

func (s *session) bindErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s: no response within %v: %w", what, s.c.cfg.BindTimeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readLoop reads and dispatches PDUs until the link fails or is closed.
func (s *session) readLoop() {
	for {
		p, err := ReadPDU(s.br)
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				s.handleUndecodable(de)
				continue
			}
			s.close(s.readErr(err))
			return
		}
		s.handle(p)
	}
}

func (s *session) readErr(err error) error {
	var fe *FrameError
	switch {
	case errors.As(err, &fe):
		s.log.Error("smpp garbage on the link, dropping it", "err", err)
		return fmt.Errorf("garbage from SMSC: %w", err)
	case errors.Is(err, io.EOF):
		return errors.New("SMSC closed the connection")
	case errors.Is(err, net.ErrClosed):
		return errors.New("connection closed")
	}
	return fmt.Errorf("read: %w", err)
}

// handle dispatches one decoded PDU.
func (s *session) handle(p pdu.Body) {
	h := *p.Header()
	switch h.ID {
	case pdu.SubmitSMRespID, pdu.EnquireLinkRespID, pdu.UnbindRespID, pdu.GenericNACKID:
		s.resolve(h, result{p: p, hdr: h})
	case pdu.EnquireLinkID:
		s.reply(pdu.EnquireLinkRespID, h.Seq, StatusOK)
	case pdu.DeliverSMID:
		if !s.deliver(p) {
			s.reply(pdu.DeliverSMRespID, h.Seq, StatusOK)
		}
	case pdu.UnbindID:
		s.log.Info("smpp SMSC sent unbind; answering and reconnecting")
		s.reply(pdu.UnbindRespID, h.Seq, StatusOK)
		s.close(errors.New("SMSC sent unbind"))
	default:
		if uint32(h.ID)&0x80000000 != 0 {
			s.resolve(h, result{p: p, hdr: h})
			return
		}
		s.log.Warn("smpp unsupported request from SMSC, answering generic_nack", "command", CommandName(h.ID), "seq", h.Seq)
		s.reply(pdu.GenericNACKID, h.Seq, StatusInvCmdID)
	}
}

// implemented are the requests go-smpp decodes; a decode error on one of
// them is a malformed PDU rather than an unknown command.
var implemented = map[pdu.ID]bool{
	pdu.BindReceiverID: true, pdu.BindTransmitterID: true, pdu.BindTransceiverID: true,
	pdu.QuerySMID: true, pdu.SubmitSMID: true, pdu.DeliverSMID: true, pdu.UnbindID: true,
	pdu.EnquireLinkID: true, pdu.SubmitMultiID: true,
}

// handleUndecodable answers a PDU that was framed correctly but could not be
// decoded; the stream is still in step.
func (s *session) handleUndecodable(de *DecodeError) {
	h := de.Header
	if uint32(h.ID)&0x80000000 != 0 {
		s.log.Warn("smpp malformed response", "err", de)
		s.resolve(h, result{hdr: h, err: de})
		return
	}
	if h.ID == pdu.DeliverSMID {
		// Acknowledge so the SMSC does not redeliver it forever; a receipt
		// that cannot be decoded cannot be used anyway.
		s.log.Error("smpp dropping undecodable deliver_sm (acknowledged)", "err", de)
		s.reply(pdu.DeliverSMRespID, h.Seq, StatusOK)
		return
	}
	status := StatusInvCmdID
	if implemented[h.ID] {
		status = StatusInvCmdLen
	}
	s.log.Warn("smpp undecodable request from SMSC, answering generic_nack", "err", de, "status", StatusName(status))
	s.reply(pdu.GenericNACKID, h.Seq, status)
}

// pendingReceipt is a receipt waiting for onReceipt, and how to acknowledge
// its deliver_sm once onReceipt has returned.
type pendingReceipt struct {
	r   Receipt
	ack func()
}

// deliver handles a deliver_sm: a receipt goes to the client's receipt
// queue and is acknowledged after onReceipt (deliver returns true); anything
// else is for the caller to acknowledge at once (mobile-originated messages
// are logged and dropped, unparsable receipts dropped).
func (s *session) deliver(p pdu.Body) bool {
	esm := FieldByte(p, pdufield.ESMClass)
	if !IsReceipt(esm) {
		s.log.Info("smpp mobile-originated deliver_sm acknowledged and dropped",
			"from", MaskNumber(FieldString(p, pdufield.SourceAddr)),
			"esm_class", esm, "octets", len(FieldBytes(p, pdufield.ShortMessage)))
		return false
	}
	r, err := ParseReceipt(p)
	if err != nil {
		s.log.Warn("smpp unparsable delivery receipt dropped", "seq", p.Header().Seq, "err", err)
		return false
	}
	r.SMSC = s.c.cfg.Name
	r.Bind = s.b.index
	r.IDFormat = s.c.cfg.ReceiptIDs
	s.b.m.receipt(r.Stat)
	s.b.receipts.Add(1)
	s.log.Debug("smpp receipt", "message_id", r.MessageID, "stat", r.Stat, "err_code", r.Err, "network_error", r.NetworkError)
	seq := p.Header().Seq
	q := s.c.receipts[receiptWorker(r.MessageID, len(s.c.receipts))]
	q <- pendingReceipt{r: r, ack: func() { s.reply(pdu.DeliverSMRespID, seq, StatusOK) }} // blocks when the queue is full: back-pressure on the SMSC
	return true
}

// keepalive sends enquire_link every Config.EnquireLink and ends the session
// when one is not answered within Config.EnquireLinkTimeout.
func (s *session) keepalive() {
	cfg := &s.c.cfg
	t := time.NewTicker(cfg.EnquireLink)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		cl, seq, err := s.send(pdu.NewEnquireLink())
		if err != nil {
			return // the session is ending
		}
		r := s.wait(context.Background(), cl, seq, cfg.EnquireLinkTimeout, nil)
		switch {
		case r.lost:
			return
		case errors.Is(r.err, errWaitTimeout):
			s.log.Warn("smpp no enquire_link_resp, dropping the link", "timeout", cfg.EnquireLinkTimeout)
			s.close(fmt.Errorf("no enquire_link_resp within %v", cfg.EnquireLinkTimeout))
			return
		case r.err != nil:
			s.log.Warn("smpp bad enquire_link response", "err", r.err)
		case r.hdr.ID == pdu.GenericNACKID:
			s.log.Warn("smpp SMSC answered enquire_link with generic_nack", "status", StatusName(r.hdr.Status))
		}
	}
}

// unbind sends unbind and waits up to Config.BindTimeout for unbind_resp.
// Responses to submits still outstanding are processed meanwhile.
func (s *session) unbind() {
	cl, seq, err := s.send(pdu.NewUnbind())
	if err != nil {
		return
	}
	r := s.wait(context.Background(), cl, seq, s.c.cfg.BindTimeout, nil)
	if r.err != nil {
		s.log.Warn("smpp no unbind_resp", "err", r.err)
		return
	}
	s.log.Info("smpp unbound")
}

// receiptWorker picks the receipt worker of a message id (FNV-1a), so one
// message's receipts are applied in order.
func receiptWorker(msgID string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(msgID); i++ {
		h = (h ^ uint32(msgID[i])) * 16777619
	}
	return int(h % uint32(n))
}
