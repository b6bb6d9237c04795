package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// MaxFrameLen is the largest command_length ReadPDU accepts off the wire.
// PDUs up to pdu.MaxSize (4096 octets) are decoded; larger ones, up to this
// limit, are read and skipped whole (a DecodeError), so the stream stays in
// step and the PDU can be answered.
const MaxFrameLen = 64*1024 + pdu.HeaderLen

// FrameError means the bytes on the socket are not SMPP: a command_length
// outside 16..MaxFrameLen. The stream cannot be resynchronised; close the
// connection.
type FrameError struct {
	Len    uint32   // the command_length read
	Header [16]byte // the raw header, for the log
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("smpp: invalid PDU framing: command_length %d outside %d..%d (header % x)", e.Len, pdu.HeaderLen, MaxFrameLen, e.Header[:])
}

// DecodeError means a well-framed PDU whose body could not be decoded: an
// unknown or unsupported command_id, a malformed body, or a PDU larger than
// pdu.MaxSize. The whole PDU was consumed, so the stream is still in step and
// the peer can be answered (generic_nack or the matching response).
type DecodeError struct {
	Header pdu.Header
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("smpp: cannot decode %s (seq %d, status 0x%08X, %d octets): %v",
		CommandName(e.Header.ID), e.Header.Seq, uint32(e.Header.Status), e.Header.Len, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ReadPDU reads exactly one PDU from r and decodes it: the hot PDUs with
// our own codec (hotpdu.go), the others with go-smpp's.
//
// Errors: an I/O error from r (io.EOF on a clean close between PDUs,
// io.ErrUnexpectedEOF inside one); *FrameError when the stream is not SMPP
// (fatal for the connection); *DecodeError when the PDU was framed correctly
// but could not be decoded (the stream is still usable). ReadPDU never
// panics, whatever the input.
func ReadPDU(r io.Reader) (pdu.Body, error) {
	var hdr [pdu.HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	h := pdu.Header{
		Len:    binary.BigEndian.Uint32(hdr[0:4]),
		ID:     pdu.ID(binary.BigEndian.Uint32(hdr[4:8])),
		Status: pdu.Status(binary.BigEndian.Uint32(hdr[8:12])),
		Seq:    binary.BigEndian.Uint32(hdr[12:16]),
	}
	if h.Len < pdu.HeaderLen || h.Len > MaxFrameLen {
		return nil, &FrameError{Len: h.Len, Header: hdr}
	}
	if h.Len > pdu.MaxSize {
		if _, err := io.CopyN(io.Discard, r, int64(h.Len-pdu.HeaderLen)); err != nil {
			return nil, noEOF(err)
		}
		return nil, &DecodeError{Header: h, Err: fmt.Errorf("PDU of %d octets exceeds the %d octets supported", h.Len, pdu.MaxSize)}
	}
	frame := make([]byte, h.Len)
	copy(frame, hdr[:])
	if _, err := io.ReadFull(r, frame[pdu.HeaderLen:]); err != nil {
		return nil, noEOF(err)
	}
	if p, ok := decodeHot(frame); ok {
		return p, nil
	}
	body, err := decodeFrame(frame)
	if err != nil {
		return nil, &DecodeError{Header: h, Err: err}
	}
	return body, nil
}

// noEOF turns an EOF inside a PDU into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodeFrame runs go-smpp's decoder on one complete frame, turning any panic
// of the decoder into an error.
func decodeFrame(frame []byte) (body pdu.Body, err error) {
	defer func() {
		if p := recover(); p != nil {
			body, err = nil, fmt.Errorf("decoder panic: %v", p)
		}
	}()
	body, err = pdu.Decode(bytes.NewReader(frame))
	if err == nil && body == nil {
		err = errors.New("decoder returned no PDU")
	}
	return body, err
}

// MarshalPDU serializes p with the given sequence number (and, for responses,
// command_status) into its wire form.
func MarshalPDU(p pdu.Body, seq uint32, status pdu.Status) ([]byte, error) {
	if rp, ok := p.(*RawPDU); ok {
		if rp.Len() > pdu.MaxSize {
			return nil, fmt.Errorf("serialize %s seq %d: %d octets exceeds %d", CommandName(rp.h.ID), seq, rp.Len(), pdu.MaxSize)
		}
		rp.h.Seq, rp.h.Status, rp.h.Len = seq, status, uint32(rp.Len())
		return rp.frame(seq, status), nil
	}
	h := p.Header()
	h.Seq = seq
	h.Status = status
	var buf bytes.Buffer
	buf.Grow(p.Len())
	if err := p.SerializeTo(&buf); err != nil {
		return nil, fmt.Errorf("serialize %s seq %d: %w", CommandName(h.ID), seq, err)
	}
	if buf.Len() > pdu.MaxSize {
		return nil, fmt.Errorf("serialize %s seq %d: %d octets exceeds %d", CommandName(h.ID), seq, buf.Len(), pdu.MaxSize)
	}
	return buf.Bytes(), nil
}

// EmptyResp returns a body-less response or request PDU of the given
// command_id (enquire_link, enquire_link_resp, unbind, unbind_resp,
// generic_nack, deliver_sm_resp with an empty message_id, ...).
func EmptyResp(id pdu.ID) pdu.Body {
	switch id {
	case pdu.EnquireLinkID:
		return pdu.NewEnquireLink()
	case pdu.EnquireLinkRespID:
		return pdu.NewEnquireLinkResp()
	case pdu.UnbindID:
		return pdu.NewUnbind()
	case pdu.UnbindRespID:
		return pdu.NewUnbindResp()
	case pdu.DeliverSMRespID:
		return pdu.NewDeliverSMResp()
	case pdu.SubmitSMRespID:
		return pdu.NewSubmitSMResp()
	case pdu.BindTransceiverRespID:
		return pdu.NewBindTransceiverResp()
	case pdu.BindTransmitterRespID:
		return pdu.NewBindTransmitterResp()
	case pdu.BindReceiverRespID:
		return pdu.NewBindReceiverResp()
	default:
		return pdu.NewGenericNACK()
	}
}

// FieldString returns a mandatory field of p as a string (C-strings without
// their NUL), or "" when p lacks it.
func FieldString(p pdu.Body, name pdufield.Name) string {
	if h, ok := p.(*hotPDU); ok {
		return h.fieldString(name)
	}
	f := p.Fields()[name]
	if f == nil {
		return ""
	}
	return f.String()
}

// FieldByte returns a one-octet mandatory field of p, or 0 when p lacks it.
func FieldByte(p pdu.Body, name pdufield.Name) byte {
	if h, ok := p.(*hotPDU); ok {
		if b, _ := h.field(name); len(b) > 0 {
			return b[0]
		}
		return 0
	}
	f := p.Fields()[name]
	if f == nil {
		return 0
	}
	b := f.Bytes()
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// FieldBytes returns the raw octets of a mandatory field of p (for
// short_message: the payload), or nil when p lacks it.
func FieldBytes(p pdu.Body, name pdufield.Name) []byte {
	if h, ok := p.(*hotPDU); ok {
		b, _ := h.field(name)
		return b
	}
	f := p.Fields()[name]
	if f == nil {
		return nil
	}
	if sm, ok := f.(*pdufield.SM); ok {
		return sm.Data
	}
	return f.Bytes()
}

// TLVBytes returns the value of the optional parameter tag in p, or nil and
// false when p does not carry it.
func TLVBytes(p pdu.Body, tag pdutlv.Tag) ([]byte, bool) {
	if h, ok := p.(*hotPDU); ok {
		return h.tlvValue(tag)
	}
	t := p.TLVFields()[tag]
	if t == nil {
		return nil, false
	}
	return t.Bytes(), true
}

// NewDeliverSM returns an empty deliver_sm to fill with Fields().Set and
// TLVFields().Set. Use it instead of pdu.NewDeliverSM to send a deliver_sm:
// go-smpp's serializes an extra UDH-length octet before short_message when the
// message has no UDH, which corrupts the text.
func NewDeliverSM() pdu.Body {
	return &listPDU{
		h: &pdu.Header{ID: pdu.DeliverSMID},
		l: pdufield.List{
			pdufield.ServiceType,
			pdufield.SourceAddrTON,
			pdufield.SourceAddrNPI,
			pdufield.SourceAddr,
			pdufield.DestAddrTON,
			pdufield.DestAddrNPI,
			pdufield.DestinationAddr,
			pdufield.ESMClass,
			pdufield.ProtocolID,
			pdufield.PriorityFlag,
			pdufield.ScheduleDeliveryTime,
			pdufield.ValidityPeriod,
			pdufield.RegisteredDelivery,
			pdufield.ReplaceIfPresentFlag,
			pdufield.DataCoding,
			pdufield.SMDefaultMsgID,
			pdufield.SMLength,
			pdufield.ShortMessage,
		},
		f: make(pdufield.Map),
		t: make(pdutlv.Map),
	}
}

// listPDU is a pdu.Body with an explicit field list, serialized like
// go-smpp's own codec.
type listPDU struct {
	h *pdu.Header
	l pdufield.List
	f pdufield.Map
	t pdutlv.Map
}

func (p *listPDU) Header() *pdu.Header      { return p.h }
func (p *listPDU) FieldList() pdufield.List { return p.l }
func (p *listPDU) Fields() pdufield.Map     { return p.f }
func (p *listPDU) TLVFields() pdutlv.Map    { return p.t }
func (p *listPDU) Len() int {
	n := pdu.HeaderLen
	for _, k := range p.l {
		if f := p.f[k]; f != nil {
			n += f.Len()
		} else if d := pdufield.New(k, nil); d != nil {
			n += d.Len()
		}
	}
	for _, t := range p.t {
		n += t.Len()
	}
	return n
}

func (p *listPDU) SerializeTo(w io.Writer) error {
	var b bytes.Buffer
	for _, k := range p.l {
		f := p.f[k]
		if f == nil {
			f = pdufield.New(k, nil)
			p.f[k] = f
		}
		if err := f.SerializeTo(&b); err != nil {
			return err
		}
	}
	for _, t := range p.t {
		if err := t.SerializeTo(&b); err != nil {
			return err
		}
	}
	p.h.Len = uint32(pdu.HeaderLen + b.Len())
	if err := p.h.SerializeTo(w); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
