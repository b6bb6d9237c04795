package smsc

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/otpgate/otpgate/smpp"
)

// receipt is a delivery receipt to send.
type receipt struct {
	msg      Message
	srcTON   byte     // TON/NPI of the original source, for the receipt's destination
	srcNPI   byte     //
	systemID string   // receipts go to binds of this system_id
	origin   *session // preferred session: the one the message came in on
	due      time.Time
	stat     string // StatDelivered, StatUndeliverable, StatRejected or StatExpired
}

// outcome chooses the stat of m's receipts: the rule's, else DELIVRD or, by
// Config.UndeliveredShare, UNDELIV; and UNDELIV for the part that
// Config.UndeliveredPart names.
func (s *Server) outcome(r Rule, m Message) string {
	stat := StatDelivered
	switch share := s.cfg.UndeliveredShare; {
	case r.Receipt != "":
		stat = r.Receipt
	case share > 0 && (share >= 1 || rand.Float64() < share):
		stat = StatUndeliverable
	}
	if m.Part > 0 && m.Part == s.cfg.UndeliveredPart {
		stat = StatUndeliverable
	}
	return stat
}

// scheduleReceipt queues a receipt saying stat for m, if receipts are on and
// registered_delivery asks for one (1: always; 2: on failure only).
func (s *Server) scheduleReceipt(origin *session, systemID string, m Message, stat string, srcTON, srcNPI, registeredDelivery byte) {
	if s.cfg.ReceiptDelay < 0 {
		return
	}
	switch registeredDelivery & 0x03 {
	case 1:
	case 2:
		if stat == StatDelivered {
			return
		}
	default:
		return
	}
	r := receipt{msg: m, srcTON: srcTON, srcNPI: srcNPI, systemID: systemID, origin: origin,
		due: time.Now().Add(s.cfg.ReceiptDelay), stat: stat}
	select {
	case s.sched <- r:
	default:
		s.n.receiptsDropped.Add(1)
		s.log.Warn("smsc receipt scheduler full, receipt dropped", "message_id", m.ID)
	}
}

// scheduleLoop waits out each receipt's delay and routes it. The delay is
// the same for all receipts, so the queue is in due order.
func (s *Server) scheduleLoop() {
	defer s.wg.Done()
	for {
		var r receipt
		select {
		case r = <-s.sched:
		case <-s.done:
			return
		}
		if d := time.Until(r.due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return
			}
		}
		s.route(r)
	}
}

// route hands r to a session that may receive it: the session the message
// came in on if it is still bound as receiver or transceiver, else any such
// session of the same system_id; with none, r waits for the next bind.
func (s *Server) route(r receipt) {
	s.mu.Lock()
	var target *session
	if r.origin != nil && r.origin.receives() {
		if _, live := s.sessions[r.origin]; live {
			target = r.origin
		}
	}
	if target == nil {
		for ss := range s.sessions {
			if ss.receives() && ss.systemID == r.systemID {
				target = ss
				break
			}
		}
	}
	if target == nil {
		s.pendLocked(r)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	select {
	case target.receipts <- r:
	default:
		s.n.receiptsDropped.Add(1)
		s.log.Warn("smsc receipt queue of session full, receipt dropped", "session", target.id, "message_id", r.msg.ID)
	}
}

// pendLocked keeps r until a receiver of its system_id binds, dropping the
// oldest beyond InboxSize. s.mu must be held.
func (s *Server) pendLocked(r receipt) {
	q := append(s.pending[r.systemID], r)
	if over := len(q) - s.cfg.InboxSize; over > 0 {
		s.n.receiptsDropped.Add(uint64(over))
		q = q[over:]
	}
	s.pending[r.systemID] = q
}

// flushPendingLocked moves the receipts waiting for ss's system_id into its
// queue, as far as it has room. s.mu must be held.
func (s *Server) flushPendingLocked(ss *session) {
	q := s.pending[ss.systemID]
	i := 0
	for ; i < len(q); i++ {
		select {
		case ss.receipts <- q[i]:
			continue
		default:
		}
		break
	}
	if i == len(q) {
		delete(s.pending, ss.systemID)
	} else {
		s.pending[ss.systemID] = q[i:]
	}
}

// receiptText formats the SMPP 3.4 appendix B receipt text.
func receiptText(r receipt, done time.Time) string {
	dlvrd := "000"
	if r.stat == StatDelivered {
		dlvrd = "001"
	}
	return fmt.Sprintf("id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%s text:%s",
		r.msg.ReceiptID, dlvrd, r.msg.ReceivedAt.UTC().Format("0601021504"), done.UTC().Format("0601021504"),
		r.stat, receiptStats[r.stat].err, receiptExcerpt(r.msg.Text))
}

// receiptExcerpt is the first 20 characters of the text, keeping only
// characters that are the same octet in ASCII and GSM 03.38 (others become
// '?'), so the receipt reads the same whichever way the client decodes it.
func receiptExcerpt(text string) string {
	var b strings.Builder
	n := 0
	for _, c := range text {
		if n == 20 {
			break
		}
		alnum := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !alnum && !strings.ContainsRune(" .,:;!?-+()/#%&*=<>'\"", c) {
			c = '?'
		}
		b.WriteRune(c)
		n++
	}
	return b.String()
}

// deliverSM builds the deliver_sm for r: from the handset to the
// originator, esm_class 0x04, text plus receipted_message_id and
// message_state TLVs.
func deliverSM(r receipt, done time.Time) (pdu.Body, error) {
	f := smpp.SMFields{
		SourceAddrTON: smpp.TONInternational, SourceAddrNPI: smpp.NPIE164, SourceAddr: strings.TrimPrefix(r.msg.To, "+"),
		DestAddrTON: r.srcTON, DestAddrNPI: r.srcNPI, DestinationAddr: strings.TrimPrefix(r.msg.From, "+"),
		ESMClass: 0x04, DataCoding: smpp.DataCodingDefault, ShortMessage: []byte(receiptText(r, done)),
		TLVs: []smpp.TLV{
			{Tag: pdutlv.TagReceiptedMessageID, Value: append([]byte(r.msg.ReceiptID), 0)},
			{Tag: pdutlv.TagMessageStateOption, Value: []byte{receiptStats[r.stat].state}},
		},
	}
	p, err := f.PDU(pdu.DeliverSMID)
	if err != nil {
		return nil, fmt.Errorf("build deliver_sm: %w", err)
	}
	return p, nil
}
