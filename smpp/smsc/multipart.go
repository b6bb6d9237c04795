package smsc

import (
	"bytes"
	"encoding/binary"
	"strings"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/otpgate/otpgate/smpp"
)

// TLV tags of SAR (segmentation and reassembly).
const (
	tagSARMsgRefNum     pdutlv.Tag = 0x020C
	tagSARTotalSegments pdutlv.Tag = 0x020E
	tagSARSegmentSeqnum pdutlv.Tag = 0x020F
)

// esmUDHI is the esm_class bit saying short_message starts with a UDH.
const esmUDHI = 0x40

// concat is the concatenation information of one part.
type concat struct {
	scheme     string // "udh8", "udh16", "sar"
	ref        int
	total, seq int
}

// splitUDH removes a user data header from payload when esm_class says there
// is one, and reads the concatenation information element from it (IEI 0x00
// with an 8-bit reference, or 0x08 with a 16-bit one). A malformed header is
// left in the text.
func splitUDH(esm byte, payload []byte) (text []byte, c concat, ok bool) {
	if esm&esmUDHI == 0 || len(payload) == 0 {
		return payload, concat{}, false
	}
	udhl := int(payload[0])
	if 1+udhl > len(payload) {
		return payload, concat{}, false
	}
	udh, text := payload[1:1+udhl], payload[1+udhl:]
	for len(udh) >= 2 {
		iei, l := udh[0], int(udh[1])
		if 2+l > len(udh) {
			break
		}
		v := udh[2 : 2+l]
		switch {
		case iei == 0x00 && l == 3:
			c, ok = concat{scheme: "udh8", ref: int(v[0]), total: int(v[1]), seq: int(v[2])}, true
		case iei == 0x08 && l == 4:
			c, ok = concat{scheme: "udh16", ref: int(binary.BigEndian.Uint16(v)), total: int(v[2]), seq: int(v[3])}, true
		}
		udh = udh[2+l:]
	}
	return text, c, ok
}

// sarInfo reads the SAR TLVs of p, if it has all three.
func sarInfo(p pdu.Body) (concat, bool) {
	ref, ok1 := smpp.TLVBytes(p, tagSARMsgRefNum)
	total, ok2 := smpp.TLVBytes(p, tagSARTotalSegments)
	seq, ok3 := smpp.TLVBytes(p, tagSARSegmentSeqnum)
	if !ok1 || !ok2 || !ok3 || len(ref) != 2 || len(total) != 1 || len(seq) != 1 {
		return concat{}, false
	}
	return concat{scheme: "sar", ref: int(binary.BigEndian.Uint16(ref)), total: int(total[0]), seq: int(seq[0])}, true
}

// valid reports whether c describes one part of a message of several.
func (c concat) valid() bool {
	return c.total > 1 && c.seq >= 1 && c.seq <= c.total
}

// concatKey identifies the parts of one multipart message.
type concatKey struct {
	from, to, scheme string
	ref, total       int
}

// joiner collects the parts of one multipart message.
type joiner struct {
	first time.Time
	parts []*joinPart // by seq-1
	got   int
}

type joinPart struct {
	msg     Message
	payload []byte // short_message without its UDH
}

// maxJoining bounds the multipart messages waiting for parts.
func (s *Server) maxJoining() int { return s.cfg.InboxSize }

// addPartLocked stores a raw part and, when it completes its message, returns
// the joined message (stored too). s.mu must be held.
func (s *Server) addPartLocked(m Message, c concat, payload []byte) (Message, bool) {
	s.parts.add(m)
	k := concatKey{from: m.From, to: m.To, scheme: c.scheme, ref: c.ref, total: c.total}
	j := s.joining[k]
	if j == nil {
		if len(s.joining) >= s.maxJoining() {
			s.evictOldestJoinLocked()
		}
		j = &joiner{first: m.ReceivedAt, parts: make([]*joinPart, c.total)}
		s.joining[k] = j
	}
	if j.parts[c.seq-1] != nil {
		// The same part again (a client resending): the first copy counts.
		return Message{}, false
	}
	j.parts[c.seq-1] = &joinPart{msg: m, payload: payload}
	j.got++
	if j.got < c.total {
		return Message{}, false
	}
	delete(s.joining, k)
	joined := join(j.parts, c)
	s.inbox.add(joined)
	return joined, true
}

func (s *Server) evictOldestJoinLocked() {
	var oldest concatKey
	var t time.Time
	for k, j := range s.joining {
		if t.IsZero() || j.first.Before(t) {
			oldest, t = k, j.first
		}
	}
	delete(s.joining, oldest)
	s.log.Warn("smsc too many incomplete multipart messages, dropped the oldest", "to", smpp.MaskNumber(oldest.to))
}

// join makes one message of all the parts: the payloads are joined before
// decoding (a UCS-2 surrogate pair or a GSM escape may straddle two parts)
// when they share a data_coding, else the decoded texts are.
func join(parts []*joinPart, c concat) Message {
	first, last := parts[0].msg, parts[0].msg
	same := true
	ids := make([]string, len(parts))
	for i, p := range parts {
		ids[i] = p.msg.ID
		if p.msg.DataCoding != first.DataCoding {
			same = false
		}
		if p.msg.ReceivedAt.After(last.ReceivedAt) {
			last = p.msg
		}
	}
	m := first
	m.ReceivedAt = last.ReceivedAt
	m.Parts = len(parts)
	m.PartIDs = ids
	m.Part = 0
	m.Ref = c.ref
	m.Concat = c.scheme
	if same {
		var b bytes.Buffer
		for _, p := range parts {
			b.Write(p.payload)
		}
		m.Text, m.Encoding = smpp.DecodeText(first.DataCoding, b.Bytes())
	} else {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.msg.Text)
		}
		m.Text = b.String()
	}
	return m
}
