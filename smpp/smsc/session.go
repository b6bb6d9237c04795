package smsc

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
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

// statusThrottled is ESME_RTHROTTLED, the answer past Config.TPS.
const statusThrottled pdu.Status = 0x58

// session is one client connection. Goroutines: serve (the reader, which
// answers every request), sendReceipts (writes queued receipts) and, with
// Config.SubmitDelay or SubmitJitter, respondLater (writes delayed
// submit_sm_resp when they are due).
//
// Writes go through one buffered writer. The reader leaves its answers in the
// buffer while another complete PDU is already waiting to be read, and flushes
// before it could block (reading, or waiting for a window slot), so a client
// that pipelines gets its answers in few TCP segments and none waits.
type session struct {
	srv  *Server
	id   uint64
	log  *slog.Logger
	conn net.Conn
	br   *bufio.Reader

	wmu sync.Mutex    // one PDU written at a time
	bw  *bufio.Writer // guarded by wmu
	seq atomic.Uint32

	// kind (the bind command, 0 while unbound) and systemID are guarded by
	// srv.mu.
	kind     pdu.ID
	systemID string

	receipts chan receipt
	// unacked: receipts written and not yet acknowledged, by deliver_sm
	// seq; kept only with Config.OnReceiptAcked.
	ackMu     sync.Mutex
	unacked   map[uint32]sentReceipt
	window    chan struct{}              // a token per submit_sm in progress; nil without Config.Window
	delayed   chan delayedResp           // nil when submit_sm are answered at once
	dropTimer atomic.Pointer[time.Timer] // Config.DropAfter
	done      chan struct{}
	once      sync.Once
}

// sentReceipt is a receipt written and waiting for its deliver_sm_resp.
type sentReceipt struct {
	msg  Message
	sent time.Time
}

// delayedResp is a submit_sm_resp waiting for its due time.
type delayedResp struct {
	due    time.Time
	order  uint64 // tie-break: equal due times leave in arrival order
	seq    uint32
	status pdu.Status
	msg    Message // the accepted message (its ID answers); zero for a refusal
}

func newSession(s *Server, id uint64, conn net.Conn) *session {
	ss := &session{
		srv:      s,
		id:       id,
		log:      s.log.With("session", id, "remote", conn.RemoteAddr().String()),
		conn:     conn,
		br:       bufio.NewReaderSize(conn, 32<<10),
		bw:       bufio.NewWriterSize(conn, 32<<10),
		receipts: make(chan receipt, s.cfg.ReceiptQueue),
		done:     make(chan struct{}),
	}
	if s.cfg.Window > 0 {
		ss.window = make(chan struct{}, s.cfg.Window)
	}
	if s.cfg.SubmitDelay > 0 || s.cfg.SubmitJitter > 0 {
		ss.delayed = make(chan delayedResp, 1024)
	}
	return ss
}

// receives reports whether receipts may be sent on ss. srv.mu must be held.
func (ss *session) receives() bool {
	return ss.kind == pdu.BindReceiverID || ss.kind == pdu.BindTransceiverID
}

func (ss *session) close() {
	ss.once.Do(func() {
		if t := ss.dropTimer.Load(); t != nil {
			t.Stop()
		}
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
	ss.flush()
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
		if !ss.fullPDUBuffered() {
			ss.flush()
		}
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

// fullPDUBuffered reports whether a whole PDU is already in the read buffer,
// so reading it cannot block.
func (ss *session) fullPDUBuffered() bool {
	n := ss.br.Buffered()
	if n < pdu.HeaderLen {
		return false
	}
	b, err := ss.br.Peek(4)
	if err != nil {
		return false
	}
	l := int(binary.BigEndian.Uint32(b))
	return l >= pdu.HeaderLen && l <= n
}

// send writes one PDU into the write buffer, and to the socket when flush is
// set. It reports whether that worked; a failed write closes the session.
func (ss *session) send(p pdu.Body, seq uint32, status pdu.Status, flush bool) bool {
	b, err := smpp.MarshalPDU(p, seq, status)
	if err != nil {
		ss.log.Error("smsc cannot serialize PDU", "err", err)
		return false
	}
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	_ = ss.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err = ss.bw.Write(b)
	if err == nil && flush {
		err = ss.bw.Flush()
	}
	if err != nil {
		ss.log.Info("smsc write failed, closing the connection", "err", err)
		ss.close()
		return false
	}
	return true
}

// write sends one PDU from the reader: it leaves the socket write to the
// reader's next flush.
func (ss *session) write(p pdu.Body, seq uint32, status pdu.Status) bool {
	return ss.send(p, seq, status, false)
}

// flush writes out whatever is buffered.
func (ss *session) flush() {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	if ss.bw.Buffered() == 0 {
		return
	}
	_ = ss.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := ss.bw.Flush(); err != nil {
		select {
		case <-ss.done:
		default:
			ss.log.Info("smsc write failed, closing the connection", "err", err)
		}
		ss.close()
	}
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
		return ss.submit(p)
	case pdu.EnquireLinkID:
		s.n.enquireLinks.Add(1)
		ss.write(pdu.NewEnquireLinkResp(), h.Seq, smpp.StatusOK)
	case pdu.UnbindID:
		s.n.unbinds.Add(1)
		ss.write(pdu.NewUnbindResp(), h.Seq, smpp.StatusOK)
		return false
	case pdu.DeliverSMRespID:
		s.n.deliverAcks.Add(1)
		if hook := s.cfg.OnReceiptAcked; hook != nil {
			ss.ackMu.Lock()
			r, ok := ss.unacked[h.Seq]
			delete(ss.unacked, h.Seq)
			ss.ackMu.Unlock()
			if ok && h.Status == smpp.StatusOK {
				hook(r.msg, r.sent, time.Now())
			}
		}
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

	// Answer first: no receipt may reach the client before its bind response
	// (receipts go through the same write buffer, after it).
	ss.write(resp, h.Seq, smpp.StatusOK)
	s.mu.Lock()
	ss.kind = h.ID
	ss.systemID = systemID
	if ss.receives() {
		s.flushPendingLocked(ss)
	}
	s.mu.Unlock()
	s.n.binds.Add(1)
	if d := s.cfg.DropAfter; d > 0 {
		ss.dropTimer.Store(time.AfterFunc(d, func() {
			select {
			case <-ss.done:
				return
			default:
			}
			s.n.dropped.Add(1)
			ss.log.Info("smsc dropping the connection (Config.DropAfter)", "after", d)
			ss.close()
		}))
	}
	ss.log.Info("smsc bound", "command", smpp.CommandName(h.ID), "system_id", systemID)
	return true
}

// acquire takes a window slot for one submit_sm, waiting (and so not reading
// from the socket) while the window is full. False: the session ended.
func (ss *session) acquire() bool {
	if ss.window == nil {
		return true
	}
	select {
	case ss.window <- struct{}{}:
		return true
	default:
	}
	ss.flush() // answers the client may be waiting for, before we stop reading
	select {
	case ss.window <- struct{}{}:
		return true
	case <-ss.done:
		return false
	}
}

// release frees the window slot of one submit_sm.
func (ss *session) release() {
	if ss.window != nil {
		<-ss.window
	}
}

// submit accepts, rejects, ignores or drops one submit_sm; false ends the
// session.
func (ss *session) submit(p pdu.Body) bool {
	s := ss.srv
	h := p.Header()
	if !ss.acquire() {
		return false
	}
	s.mu.Lock()
	kind, systemID := ss.kind, ss.systemID
	s.mu.Unlock()
	reject := func(status pdu.Status, why string) {
		s.n.rejected.Add(1)
		ss.log.Info("smsc submit_sm rejected", "seq", h.Seq, "status", smpp.StatusName(status), "reason", why)
		ss.answer(h.Seq, status, Message{})
	}
	if kind != pdu.BindTransmitterID && kind != pdu.BindTransceiverID {
		reject(smpp.StatusInvBndSts, "session not bound as transmitter or transceiver")
		return true
	}
	if n := s.cfg.DropEvery; n > 0 && s.seen.Add(1)%uint64(n) == 0 {
		s.n.dropped.Add(1)
		ss.log.Info("smsc dropping the connection instead of answering (Config.DropEvery)", "seq", h.Seq, "every", n)
		ss.release()
		ss.flush() // the submits before this one are answered
		ss.close()
		return false
	}
	dst := smpp.FieldString(p, pdufield.DestinationAddr)
	if dst == "" {
		reject(smpp.StatusInvDstAdr, "empty destination_addr")
		return true
	}
	payload := smpp.FieldBytes(p, pdufield.ShortMessage)
	if len(payload) == 0 {
		if b, ok := smpp.TLVBytes(p, pdutlv.TagMessagePayload); ok {
			payload = b
		}
	}
	body, part, isPart := splitUDH(smpp.FieldByte(p, pdufield.ESMClass), payload)
	if !isPart {
		part, isPart = sarInfo(p)
	}
	isPart = isPart && part.valid()
	dc := smpp.FieldByte(p, pdufield.DataCoding)
	text, enc := smpp.DecodeText(dc, body)
	srcTON := smpp.FieldByte(p, pdufield.SourceAddrTON)
	srcNPI := smpp.FieldByte(p, pdufield.SourceAddrNPI)
	m := Message{
		From:       formatFrom(srcTON, smpp.FieldString(p, pdufield.SourceAddr)),
		To:         formatTo(dst),
		Text:       text,
		Encoding:   enc,
		DataCoding: dc,
		ReceivedAt: time.Now(),
		Parts:      1,
	}
	if isPart {
		m.Part, m.Parts, m.Ref, m.Concat = part.seq, part.total, part.ref, part.scheme
	}
	rule := s.rule(m.To)
	if rule.NoResponse || s.cfg.NoResponse {
		s.n.noResponse.Add(1)
		ss.log.Info("smsc leaving submit_sm unanswered", "seq", h.Seq, "to", smpp.MaskNumber(m.To))
		ss.release()
		return true
	}
	if rule.Status != 0 {
		reject(rule.Status, "rule "+rule.Prefix)
		return true
	}
	if hook := s.cfg.SubmitStatus; hook != nil {
		if status := hook(m); status != 0 {
			reject(status, "Config.SubmitStatus")
			return true
		}
	}
	if s.tps != nil {
		if ok, _ := s.tps.Take(m.ReceivedAt); !ok {
			s.n.throttled.Add(1)
			ss.log.Debug("smsc submit_sm throttled", "seq", h.Seq, "tps", s.cfg.TPS)
			ss.answer(h.Seq, statusThrottled, Message{})
			return true
		}
	}

	m.ID, m.ReceiptID = s.newID()
	m.PartIDs = []string{m.ID}
	var joined Message
	var complete bool
	s.mu.Lock()
	if isPart {
		joined, complete = s.addPartLocked(m, part, body)
	} else {
		s.inbox.add(m)
	}
	s.mu.Unlock()
	s.n.submits.Add(1)
	if isPart {
		s.n.parts.Add(1)
		if complete {
			s.n.joined.Add(1)
		}
	}
	if hook := s.cfg.OnMessage; hook != nil {
		switch {
		case !isPart:
			hook(m)
		case complete:
			hook(joined)
		}
	}
	ss.log.Debug("smsc submit_sm accepted", "seq", h.Seq, "message_id", m.ID, "to", smpp.MaskNumber(m.To),
		"encoding", enc, "octets", len(body), "part", m.Part, "parts", m.Parts)
	ss.answer(h.Seq, 0, m)
	s.scheduleReceipt(ss, systemID, m, s.outcome(rule, m), srcTON, srcNPI, smpp.FieldByte(p, pdufield.RegisteredDelivery))
	return true
}

// answer sends a submit_sm_resp now or, with a submit delay, when it is due,
// and frees the window slot once it is written.
func (ss *session) answer(seq uint32, status pdu.Status, m Message) {
	if ss.delayed == nil {
		ss.writeSubmitResp(seq, status, m, false)
		ss.release()
		return
	}
	cfg := &ss.srv.cfg
	d := cfg.SubmitDelay
	if j := cfg.SubmitJitter; j > 0 {
		d += time.Duration(rand.Int64N(int64(j)))
	}
	select {
	case ss.delayed <- delayedResp{due: time.Now().Add(d), seq: seq, status: status, msg: m}:
	case <-ss.done:
		ss.release()
	}
}

func (ss *session) writeSubmitResp(seq uint32, status pdu.Status, m Message, flush bool) {
	id := ""
	if status == 0 {
		id = m.ID
	}
	resp := smpp.MessageIDResp(pdu.SubmitSMRespID, id)
	hook := ss.srv.cfg.OnSubmitAnswered
	if status != 0 || hook == nil {
		ss.send(resp, seq, status, flush)
		return
	}
	// the hook's moment is exact: the answer is on the socket
	if ss.send(resp, seq, status, true) {
		hook(m)
	}
}

// respHeap orders delayed responses by due time.
type respHeap []delayedResp

func (h respHeap) Len() int { return len(h) }
func (h respHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].order < h[j].order
	}
	return h[i].due.Before(h[j].due)
}
func (h respHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *respHeap) Push(x any)   { *h = append(*h, x.(delayedResp)) }
func (h *respHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// respondLater writes delayed submit_sm_resp when they are due — out of
// order when their delays differ — freeing a window slot for each.
func (ss *session) respondLater() {
	var h respHeap
	var order uint64
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		now := time.Now()
		wrote := false
		for len(h) > 0 && !h[0].due.After(now) {
			d := heap.Pop(&h).(delayedResp)
			ss.writeSubmitResp(d.seq, d.status, d.msg, false)
			ss.release()
			wrote = true
		}
		if wrote {
			ss.flush()
		}
		var timer <-chan time.Time
		if len(h) > 0 {
			t.Reset(time.Until(h[0].due))
			timer = t.C
		}
		select {
		case d := <-ss.delayed:
			order++
			d.order = order
			heap.Push(&h, d)
		case <-timer:
		case <-ss.done:
			return
		}
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
		if ss.srv.cfg.OnReceiptAcked != nil {
			ss.ackMu.Lock()
			if ss.unacked == nil {
				ss.unacked = make(map[uint32]sentReceipt)
			}
			if len(ss.unacked) < 1<<16 { // a client that never acknowledges cannot grow it further
				ss.unacked[seq] = sentReceipt{msg: r.msg, sent: time.Now()}
			}
			ss.ackMu.Unlock()
		}
		// Flush when no other receipt is waiting: a burst leaves together.
		if ss.send(p, seq, smpp.StatusOK, len(ss.receipts) == 0) {
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
