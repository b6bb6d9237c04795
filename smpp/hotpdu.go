package smpp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// The hot PDUs — submit_sm and deliver_sm (one field layout), their
// responses, enquire_link, unbind and generic_nack — are decoded by our
// own small codec: the fields are slices of the frame, found in one pass,
// with no map, no field object and no copy. go-smpp's decoder builds two
// maps and an object per field for each, a quarter of what a verification
// allocated. Everything else, and any hot PDU this codec does not take in
// one clean pass (a missing NUL, a short body, a user data header, a TLV
// that overruns), goes to go-smpp's decoder, so a decode means the same
// with either; FuzzHotDecode holds the two to equal answers, field by
// field, for whatever frame the fuzzer makes.

// hot fields, in the submit_sm/deliver_sm layout order.
const (
	hfServiceType = iota
	hfSourceAddrTON
	hfSourceAddrNPI
	hfSourceAddr
	hfDestAddrTON
	hfDestAddrNPI
	hfDestinationAddr
	hfESMClass
	hfProtocolID
	hfPriorityFlag
	hfScheduleDeliveryTime
	hfValidityPeriod
	hfRegisteredDelivery
	hfReplaceIfPresentFlag
	hfDataCoding
	hfSMDefaultMsgID
	hfSMLength
	hfShortMessage
	hfCount
)

// smLayout is the submit_sm/deliver_sm field list without the user data
// header fields (a PDU with one goes to go-smpp); a C-string field's width
// is 0, a one-octet field's 1, short_message's -1.
var smLayout = [hfCount]struct {
	name  pdufield.Name
	width int
}{
	{pdufield.ServiceType, 0}, {pdufield.SourceAddrTON, 1}, {pdufield.SourceAddrNPI, 1}, {pdufield.SourceAddr, 0},
	{pdufield.DestAddrTON, 1}, {pdufield.DestAddrNPI, 1}, {pdufield.DestinationAddr, 0},
	{pdufield.ESMClass, 1}, {pdufield.ProtocolID, 1}, {pdufield.PriorityFlag, 1},
	{pdufield.ScheduleDeliveryTime, 0}, {pdufield.ValidityPeriod, 0}, {pdufield.RegisteredDelivery, 1},
	{pdufield.ReplaceIfPresentFlag, 1}, {pdufield.DataCoding, 1}, {pdufield.SMDefaultMsgID, 1},
	{pdufield.SMLength, 1}, {pdufield.ShortMessage, -1},
}

// hotPDU is a hot PDU decoded by decodeHot. It is a pdu.Body: what reads it
// through FieldString, FieldByte, FieldBytes and TLVBytes reads the frame
// directly; Fields, TLVFields and SerializeTo (rare: logs, tests) decode the
// frame with go-smpp once, on demand.
type hotPDU struct {
	h       pdu.Header
	frame   []byte
	sm      bool              // the submit_sm/deliver_sm layout; else message_id alone (or nothing)
	present uint32            // which fields the PDU has (bit i: field i; bit hfCount: message_id)
	spans   [hfCount + 1]span // where each is in frame: C-strings with their NUL
	tlvs    []tlv             // in order; a later tag wins, as in go-smpp's map
	inline  [4]tlv            // tlvs' first array: receipts carry two or three
	slow    pdu.Body          // go-smpp's decode, made on demand
}

// span is where a field is in the frame.
type span struct{ from, to uint16 }

const hfMessageID = hfCount

type tlv struct {
	tag      pdutlv.Tag
	from, to uint16
}

func (p *hotPDU) set(i int, from, to int) {
	p.present |= 1 << i
	p.spans[i] = span{uint16(from), uint16(to)}
}

func (p *hotPDU) at(i int) ([]byte, bool) {
	if p.present&(1<<i) == 0 {
		return nil, false
	}
	sp := p.spans[i]
	return p.frame[sp.from:sp.to:sp.to], true
}

// decodeHot decodes frame (header included) when it is a hot PDU this
// codec takes in one clean pass; ok false sends it to go-smpp.
func decodeHot(frame []byte) (p *hotPDU, ok bool) {
	if len(frame) > pdu.MaxSize+pdu.HeaderLen {
		return nil, false // offsets are 16 bits; go-smpp refuses such a PDU anyway
	}
	h := pdu.Header{
		Len:    binary.BigEndian.Uint32(frame[0:4]),
		ID:     pdu.ID(binary.BigEndian.Uint32(frame[4:8])),
		Status: pdu.Status(binary.BigEndian.Uint32(frame[8:12])),
		Seq:    binary.BigEndian.Uint32(frame[12:16]),
	}
	p = &hotPDU{h: h, frame: frame}
	p.tlvs = p.inline[:0]
	at := pdu.HeaderLen
	switch h.ID {
	case pdu.SubmitSMID, pdu.DeliverSMID:
		p.sm = true
		if at, ok = p.smFields(at); !ok {
			return nil, false
		}
	case pdu.SubmitSMRespID, pdu.DeliverSMRespID:
		if at < len(frame) {
			i := bytes.IndexByte(frame[at:], 0)
			if i < 0 {
				return nil, false // go-smpp leaves message_id out; rare enough to let it
			}
			p.set(hfMessageID, at, at+i+1)
			at += i + 1
		}
	case pdu.EnquireLinkID, pdu.EnquireLinkRespID, pdu.UnbindID, pdu.UnbindRespID, pdu.GenericNACKID:
	default:
		return nil, false
	}
	for len(frame)-at >= 4 {
		tag := pdutlv.Tag(binary.BigEndian.Uint16(frame[at : at+2]))
		n := int(binary.BigEndian.Uint16(frame[at+2 : at+4]))
		if len(frame)-at-4 < n {
			return nil, false // go-smpp refuses the PDU; its error says why
		}
		p.tlvs = append(p.tlvs, tlv{tag, uint16(at + 4), uint16(at + 4 + n)})
		at += 4 + n
	}
	return p, true
}

// smFields reads the submit_sm/deliver_sm fields from at; ok false for
// anything but a clean pass (go-smpp's decoder then says what it makes of
// it).
func (p *hotPDU) smFields(at int) (next int, ok bool) {
	b := p.frame
	for i, f := range smLayout {
		switch f.width {
		case 0:
			j := bytes.IndexByte(b[at:], 0)
			if j < 0 {
				return 0, false
			}
			p.set(i, at, at+j+1)
			at += j + 1
		case 1:
			if at >= len(b) {
				return 0, false
			}
			p.set(i, at, at+1)
			if i == hfESMClass && b[at]&0x40 != 0 {
				return 0, false // a user data header: go-smpp splits it off
			}
			at++
		default: // short_message: sm_length octets
			n := int(b[p.spans[hfSMLength].from])
			if len(b)-at < n {
				return 0, false
			}
			p.set(i, at, at+n)
			at += n
		}
	}
	return at, true
}

// field returns a mandatory field's octets as go-smpp's accessors give
// them (FieldBytes), and whether the PDU has it.
func (p *hotPDU) field(name pdufield.Name) ([]byte, bool) {
	if !p.sm {
		if name == pdufield.MessageID {
			return p.at(hfMessageID)
		}
		return nil, false
	}
	for i, f := range smLayout {
		if f.name == name {
			return p.at(i)
		}
	}
	return nil, false
}

// fieldString is a field as go-smpp's String gives it: a C-string without
// its NUL, a one-octet field in decimal, short_message as it is.
func (p *hotPDU) fieldString(name pdufield.Name) string {
	b, ok := p.field(name)
	if !ok {
		return ""
	}
	if p.sm {
		for _, f := range smLayout {
			if f.name == name {
				switch f.width {
				case 1:
					return strconv.Itoa(int(b[0]))
				case -1:
					return string(b)
				}
			}
		}
	}
	return string(bytes.TrimSuffix(b, []byte{0}))
}

// tlvValue returns the value of the last TLV with tag.
func (p *hotPDU) tlvValue(tag pdutlv.Tag) ([]byte, bool) {
	for i := len(p.tlvs) - 1; i >= 0; i-- {
		if t := p.tlvs[i]; t.tag == tag {
			return p.frame[t.from:t.to:t.to], true
		}
	}
	return nil, false
}

// slowPDU is go-smpp's decode of the frame (the PDU decoded cleanly here,
// so it does there too).
func (p *hotPDU) slowPDU() pdu.Body {
	if p.slow == nil {
		b, err := decodeFrame(p.frame)
		if err != nil {
			b = EmptyResp(p.h.ID) // cannot happen: FuzzHotDecode holds the two decoders to the same verdict
		}
		p.slow = b
	}
	return p.slow
}

func (p *hotPDU) Header() *pdu.Header           { return &p.h }
func (p *hotPDU) Len() int                      { return len(p.frame) }
func (p *hotPDU) FieldList() pdufield.List      { return p.slowPDU().FieldList() }
func (p *hotPDU) Fields() pdufield.Map          { return p.slowPDU().Fields() }
func (p *hotPDU) TLVFields() pdutlv.Map         { return p.slowPDU().TLVFields() }
func (p *hotPDU) SerializeTo(w io.Writer) error { _, err := w.Write(p.frame); return err }

// Encoding the hot PDUs. SMFields are the submit_sm/deliver_sm fields (the
// layout of both); a submit_sm or deliver_sm built from them is a RawPDU,
// its body written once by hand, where go-smpp's would fill a map and an
// object per field, then walk them to serialize. TestEncodeAsGoSMPP holds
// the bytes to go-smpp's for the same values.
type SMFields struct {
	ServiceType                          string
	SourceAddrTON, SourceAddrNPI         uint8
	SourceAddr                           string
	DestAddrTON, DestAddrNPI             uint8
	DestinationAddr                      string
	ESMClass, ProtocolID, PriorityFlag   uint8
	ScheduleDeliveryTime, ValidityPeriod string
	RegisteredDelivery                   uint8
	ReplaceIfPresentFlag                 uint8
	DataCoding, SMDefaultMsgID           uint8
	ShortMessage                         []byte // up to 255 octets (sm_length)
	TLVs                                 []TLV
}

// TLV is an optional parameter to write.
type TLV struct {
	Tag   pdutlv.Tag
	Value []byte
}

func appendCString(b []byte, s string) []byte { return append(append(b, s...), 0) }

// PDU returns the submit_sm or deliver_sm (id) of f.
func (f *SMFields) PDU(id pdu.ID) (*RawPDU, error) {
	if len(f.ShortMessage) > 255 {
		return nil, fmt.Errorf("short_message of %d octets: at most 255 (use the message_payload TLV)", len(f.ShortMessage))
	}
	b := make([]byte, 0, 64+len(f.SourceAddr)+len(f.DestinationAddr)+len(f.ShortMessage))
	b = appendCString(b, f.ServiceType)
	b = append(b, f.SourceAddrTON, f.SourceAddrNPI)
	b = appendCString(b, f.SourceAddr)
	b = append(b, f.DestAddrTON, f.DestAddrNPI)
	b = appendCString(b, f.DestinationAddr)
	b = append(b, f.ESMClass, f.ProtocolID, f.PriorityFlag)
	b = appendCString(b, f.ScheduleDeliveryTime)
	b = appendCString(b, f.ValidityPeriod)
	b = append(b, f.RegisteredDelivery, f.ReplaceIfPresentFlag, f.DataCoding, f.SMDefaultMsgID, uint8(len(f.ShortMessage)))
	b = append(b, f.ShortMessage...)
	b = appendTLVs(b, f.TLVs)
	return &RawPDU{h: pdu.Header{ID: id}, body: b}, nil
}

func appendTLVs(b []byte, tlvs []TLV) []byte {
	for _, t := range tlvs {
		b = binary.BigEndian.AppendUint16(b, uint16(t.Tag))
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b
}

// MessageIDResp returns a submit_sm_resp or deliver_sm_resp (id) with
// message_id ("" an empty one, as go-smpp writes an error's).
func MessageIDResp(id pdu.ID, messageID string) *RawPDU {
	return &RawPDU{h: pdu.Header{ID: id}, body: appendCString(make([]byte, 0, len(messageID)+1), messageID)}
}

// RawPDU is a PDU whose body is written: MarshalPDU frames it with a
// header. Fields, TLVFields and FieldList (tests, logs) decode the body
// with go-smpp on demand.
type RawPDU struct {
	h    pdu.Header
	body []byte
	slow pdu.Body
}

func (p *RawPDU) frame(seq uint32, status pdu.Status) []byte {
	b := make([]byte, pdu.HeaderLen, pdu.HeaderLen+len(p.body))
	binary.BigEndian.PutUint32(b[0:], uint32(pdu.HeaderLen+len(p.body)))
	binary.BigEndian.PutUint32(b[4:], uint32(p.h.ID))
	binary.BigEndian.PutUint32(b[8:], uint32(status))
	binary.BigEndian.PutUint32(b[12:], seq)
	return append(b, p.body...)
}

func (p *RawPDU) slowPDU() pdu.Body {
	if p.slow == nil {
		b, err := decodeFrame(p.frame(p.h.Seq, p.h.Status))
		if err != nil {
			b = EmptyResp(p.h.ID) // cannot happen: what is written here decodes (TestEncodeAsGoSMPP)
		}
		p.slow = b
	}
	return p.slow
}

func (p *RawPDU) Header() *pdu.Header      { return &p.h }
func (p *RawPDU) Len() int                 { return pdu.HeaderLen + len(p.body) }
func (p *RawPDU) FieldList() pdufield.List { return p.slowPDU().FieldList() }
func (p *RawPDU) Fields() pdufield.Map     { return p.slowPDU().Fields() }
func (p *RawPDU) TLVFields() pdutlv.Map    { return p.slowPDU().TLVFields() }
func (p *RawPDU) SerializeTo(w io.Writer) error {
	_, err := w.Write(p.frame(p.h.Seq, p.h.Status))
	return err
}

// emptyBodies are the bodies of EmptyResp's PDUs as go-smpp writes them
// (a response's empty message_id or system_id is one NUL), made once.
var emptyBodies = func() map[pdu.ID][]byte {
	m := map[pdu.ID][]byte{}
	for _, id := range []pdu.ID{pdu.EnquireLinkID, pdu.EnquireLinkRespID, pdu.UnbindID, pdu.UnbindRespID,
		pdu.DeliverSMRespID, pdu.SubmitSMRespID, pdu.BindTransceiverRespID, pdu.BindTransmitterRespID,
		pdu.BindReceiverRespID, pdu.GenericNACKID} {
		b, err := MarshalPDU(EmptyResp(id), 0, 0)
		if err != nil {
			panic("smpp: " + err.Error())
		}
		m[id] = b[pdu.HeaderLen:]
	}
	return m
}()

// emptyRaw is EmptyResp(id) written without go-smpp's maps: the replies
// the session sends for every enquire_link and receipt.
func emptyRaw(id pdu.ID) *RawPDU {
	body, ok := emptyBodies[id]
	if !ok {
		id, body = pdu.GenericNACKID, emptyBodies[pdu.GenericNACKID]
	}
	return &RawPDU{h: pdu.Header{ID: id}, body: body}
}
