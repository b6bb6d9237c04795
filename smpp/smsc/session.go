package smsc

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/otpgate/otpgate/smpp"
)

// writeTimeout bounds one write to a client; a client that does not read for
// that long is disconnected.
const writeTimeout = 10 * time.Second

// smscSystemID is the system_id the simulator gives in bind responses.
const smscSystemID = "otpgate-smsc"

// session is one client connection. Goroutines: serve (the reader, which
// answers every request), sendReceipts (writes queued receipts) and, with
// Config.SubmitDelay, respondLater (writes delayed submit_sm_resp).
type session struct {
	srv  *Server
	id   uint64
	log  *slog.Logger
	conn net.Conn
	br   *bufio.Reader

	wmu sync.Mutex // one PDU written at a time
	seq atomic.Uint32

	// kind (the bind command, 0 while unbound) and systemID are guarded by
	// srv.mu.
	kind     pdu.ID
	systemID string

	receipts chan receipt
	delayed  chan delayedResp
	done     chan struct{}
	once     sync.Once
}

type delayedResp struct {
	due time.Time
	seq uint32
	id  string
}

func newSession(s *Server, id uint64, conn net.Conn) *session {
	ss := &session{
		srv:      s,
		id:       id,
		log:      s.log.With("session", id, "remote", conn.RemoteAddr().String()),
		conn:     conn,
		br:       bufio.NewReaderSize(conn, 32<<10),
		receipts: make(chan receipt, s.cfg.ReceiptQueue),
		done:     make(chan struct{}),
	}
	if s.cfg.SubmitDelay > 0 {
		ss.delayed = make(chan delayedResp, 4096)
	}
	return ss
}

// receives reports whether receipts may be sent on ss. srv.mu must be held.
func (ss *session) receives() bool {
	return ss.kind == pdu.BindReceiverID || ss.kind == pdu.BindTransceiverID
}

func (ss *session) close() {
	ss.once.Do(func() {
		_ = ss.conn.Close()
		close(ss.done)
	})
}

// serve runs the session until the connection ends, then cleans up.
func (ss *session) serve() {
	s := ss.srv
	defer s.wg.Done()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ss.sendReceipts() }()
	if ss.delayed != nil {
		wg.Add(1)
		go func() { defer wg.Done(); ss.respondLater() }()
	}

	ss.readLoop()
	ss.close()
	wg.Wait()

	s.mu.Lock()
	delete(s.sessions, ss)
	// Receipts queued for this session wait for the next receiver bind.
	if !s.closed {
		for {
			select {
			case r := <-ss.receipts:
				r.origin = nil
				s.pendLocked(r)
				continue
			default:
			}
			break
		}
	}
	s.mu.Unlock()
	ss.log.Debug("smsc session closed")
}

func (ss *session) readLoop() {
	for {
		p, err := smpp.ReadPDU(ss.br)
		if err != nil {
			var de *smpp.DecodeError
			var fe *smpp.FrameError
			switch {
			case errors.As(err, &de):
				ss.undecodable(de)
				continue
			case errors.As(err, &fe):
				ss.srv.n.garbage.Add(1)
				ss.log.Warn("smsc garbage from client, closing the connection", "err", err)
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			default:
				ss.log.Info("smsc read failed, closing the connection", "err", err)
			}
			return
		}
		if !ss.handle(p) {
			return
		}
	}
}

// write sends one PDU and reports whether it was written; a failed write
// closes the session.
func (ss *session) write(p pdu.Body, seq uint32, status pdu.Status) bool {
	b, err := smpp.MarshalPDU(p, seq, status)
	if err != nil {
		ss.log.Error("smsc cannot serialize PDU", "err", err)
		return false
	}
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	_ = ss.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := ss.conn.Write(b); err != nil {
		ss.log.Info("smsc write failed, closing the connection", "err", err)
		ss.close()
		return false
	}
	return true
}

func (ss *session) nack(seq uint32, status pdu.Status) {
	ss.srv.n.genericNACKs.Add(1)
	ss.write(pdu.NewGenericNACK(), seq, status)
}

// handle answers one PDU; false ends the session.
func (ss *session) handle(p pdu.Body) bool {
	s := ss.srv
	h := p.Header()
	switch h.ID {
	case pdu.BindTransmitterID, pdu.BindReceiverID, pdu.BindTransceiverID:
		return ss.bind(p)
	case pdu.SubmitSMID:
		ss.submit(p)
	case pdu.EnquireLinkID:
		s.n.enquireLinks.Add(1)
		ss.write(pdu.NewEnquireLinkResp(), h.Seq, smpp.StatusOK)
	case pdu.UnbindID:
		s.n.unbinds.Add(1)
		ss.write(pdu.NewUnbindResp(), h.Seq, smpp.StatusOK)
		return false
	case pdu.DeliverSMRespID:
		s.n.deliverAcks.Add(1)
	case pdu.EnquireLinkRespID, pdu.GenericNACKID, pdu.UnbindRespID:
	default:
		if uint32(h.ID)&0x80000000 != 0 {
			return true // a response we did not ask for: ignore
		}
		ss.log.Info("smsc unsupported command, answering generic_nack", "command", smpp.CommandName(h.ID), "seq", h.Seq)
		ss.nack(h.Seq, smpp.StatusInvCmdID)
	}
	return true
}

// undecodable answers a well-framed PDU that could not be decoded.
func (ss *session) undecodable(de *smpp.DecodeError) {
	h := de.Header
	if uint32(h.ID)&0x80000000 != 0 {
		return
	}
	ss.log.Info("smsc undecodable PDU, answering generic_nack", "err", de)
	status := smpp.StatusInvCmdID
	if h.ID.String() != "" {
		status = smpp.StatusInvCmdLen
	}
	ss.nack(h.Seq, status)
}

func bindResp(id pdu.ID) pdu.Body {
	switch id {
	case pdu.BindReceiverID:
		return pdu.NewBindReceiverResp()
	case pdu.BindTransmitterID:
		return pdu.NewBindTransmitterResp()
	default:
		return pdu.NewBindTransceiverResp()
	}
}

// bind checks a bind request; false (wrong credentials) ends the session.
func (ss *session) bind(p pdu.Body) bool {
	s := ss.srv
	h := p.Header()
	resp := bindResp(h.ID)
	_ = resp.Fields().Set(pdufield.SystemID, smscSystemID)
	systemID := smpp.FieldString(p, pdufield.SystemID)
	password := smpp.FieldString(p, pdufield.Password)

	s.mu.Lock()
	already := ss.kind != 0
	s.mu.Unlock()
	var status pdu.Status
	switch {
	case already:
		status = smpp.StatusAlyBnd
	case systemID != s.cfg.SystemID:
		status = smpp.StatusInvSysID
	case password != s.cfg.Password:
		status = smpp.StatusInvPaswd
	}
	if status != 0 {
		s.n.bindFailures.Add(1)
		ss.log.Warn("smsc bind rejected", "command", smpp.CommandName(h.ID), "system_id", systemID, "status", smpp.StatusName(status))
		ss.write(resp, h.Seq, status)
		return already // a second bind on a bound session keeps the first
	}

	// Answer first: no receipt may reach the client before its bind response.
	ss.write(resp, h.Seq, smpp.StatusOK)
	s.mu.Lock()
	ss.kind = h.ID
	ss.systemID = systemID
	if ss.receives() {
		s.flushPendingLocked(ss)
	}
	s.mu.Unlock()
	s.n.binds.Add(1)
	ss.log.Info("smsc bound", "command", smpp.CommandName(h.ID), "system_id", systemID)
	return true
}

// submit accepts or rejects one submit_sm.
func (ss *session) submit(p pdu.Body) {
	s := ss.srv
	h := p.Header()
	s.mu.Lock()
	kind, systemID := ss.kind, ss.systemID
	s.mu.Unlock()
	reject := func(status pdu.Status, why string) {
		s.n.rejected.Add(1)
		ss.log.Info("smsc submit_sm rejected", "seq", h.Seq, "status", smpp.StatusName(status), "reason", why)
		ss.write(pdu.NewSubmitSMResp(), h.Seq, status)
	}
	if kind != pdu.BindTransmitterID && kind != pdu.BindTransceiverID {
		reject(smpp.StatusInvBndSts, "session not bound as transmitter or transceiver")
		return
	}
	dst := smpp.FieldString(p, pdufield.DestinationAddr)
	if dst == "" {
		reject(smpp.StatusInvDstAdr, "empty destination_addr")
		return
	}
	payload := smpp.FieldBytes(p, pdufield.ShortMessage)
	if len(payload) == 0 {
		if b, ok := smpp.TLVBytes(p, pdutlv.TagMessagePayload); ok {
			payload = b
		}
	}
	if esm := smpp.FieldByte(p, pdufield.ESMClass); esm&0x40 != 0 && len(payload) > 0 {
		// UDHI: skip the user data header (concatenation info).
		if udhl := int(payload[0]); 1+udhl <= len(payload) {
			payload = payload[1+udhl:]
		}
	}
	dc := smpp.FieldByte(p, pdufield.DataCoding)
	text, enc := smpp.DecodeText(dc, payload)
	srcTON := smpp.FieldByte(p, pdufield.SourceAddrTON)
	srcNPI := smpp.FieldByte(p, pdufield.SourceAddrNPI)
	m := Message{
		From:       formatFrom(srcTON, smpp.FieldString(p, pdufield.SourceAddr)),
		To:         formatTo(dst),
		Text:       text,
		Encoding:   enc,
		DataCoding: dc,
		ReceivedAt: time.Now(),
	}
	if hook := s.cfg.SubmitStatus; hook != nil {
		if status := hook(m); status != 0 {
			reject(status, "Config.SubmitStatus")
			return
		}
	}
	m.ID = s.newID()
	s.store(m)
	s.n.submits.Add(1)
	if s.cfg.OnMessage != nil {
		s.cfg.OnMessage(m)
	}
	ss.log.Debug("smsc submit_sm accepted", "seq", h.Seq, "message_id", m.ID, "to", smpp.MaskNumber(m.To), "encoding", enc, "octets", len(payload))
	if ss.delayed != nil {
		select {
		case ss.delayed <- delayedResp{due: time.Now().Add(s.cfg.SubmitDelay), seq: h.Seq, id: m.ID}:
		case <-ss.done:
			return
		}
	} else {
		ss.writeSubmitResp(h.Seq, m.ID)
	}
	s.scheduleReceipt(ss, systemID, m, srcTON, srcNPI, smpp.FieldByte(p, pdufield.RegisteredDelivery))
}

func (ss *session) writeSubmitResp(seq uint32, id string) {
	resp := pdu.NewSubmitSMResp()
	_ = resp.Fields().Set(pdufield.MessageID, id)
	ss.write(resp, seq, smpp.StatusOK)
}

// respondLater writes delayed submit_sm_resp in order (the delay is fixed).
func (ss *session) respondLater() {
	for {
		var d delayedResp
		select {
		case d = <-ss.delayed:
		case <-ss.done:
			return
		}
		if wait := time.Until(d.due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ss.done:
				t.Stop()
				return
			}
		}
		ss.writeSubmitResp(d.seq, d.id)
	}
}

// sendReceipts writes the receipts routed to this session.
func (ss *session) sendReceipts() {
	for {
		var r receipt
		select {
		case r = <-ss.receipts:
		case <-ss.done:
			return
		}
		p, err := deliverSM(r, time.Now())
		if err != nil {
			ss.log.Error("smsc cannot build receipt", "message_id", r.msg.ID, "err", err)
			continue
		}
		seq := ss.seq.Add(1) & 0x7FFFFFFF
		if seq == 0 {
			seq = ss.seq.Add(1) & 0x7FFFFFFF
		}
		if ss.write(p, seq, smpp.StatusOK) {
			ss.srv.n.receipts.Add(1)
		}
		// A receipt whose write failed is lost, as with a real SMSC whose
		// link drops before it could deliver.
	}
}

// formatFrom renders a source address, '+'-prefixed when international.
func formatFrom(ton byte, addr string) string {
	if ton == smpp.TONInternational && addr != "" && !strings.HasPrefix(addr, "+") {
		return "+" + addr
	}
	return addr
}

// formatTo renders a destination in E.164 with '+'.
func formatTo(addr string) string {
	if strings.HasPrefix(addr, "+") {
		return addr
	}
	return "+" + addr
}
