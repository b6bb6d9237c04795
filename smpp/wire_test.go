package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

func mustMarshal(t testing.TB, p pdu.Body, seq uint32, status pdu.Status) []byte {
	t.Helper()
	b, err := MarshalPDU(p, seq, status)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rawHeader(length uint32, id pdu.ID, status pdu.Status, seq uint32) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], length)
	binary.BigEndian.PutUint32(b[4:], uint32(id))
	binary.BigEndian.PutUint32(b[8:], uint32(status))
	binary.BigEndian.PutUint32(b[12:], seq)
	return b
}

func TestReadPDU(t *testing.T) {
	sub, _, err := buildSubmit(Message{From: "Otpgate", To: "+447911123456", Text: "€[^ code 123456"})
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	stream.Write(mustMarshal(t, sub, 1, 0))
	stream.Write(mustMarshal(t, pdu.NewEnquireLink(), 2, 0))
	stream.Write(rawHeader(20, 0x00000999, 0, 3)) // unknown command, framed
	stream.Write([]byte{1, 2, 3, 4})
	stream.Write(mustMarshal(t, pdu.NewUnbind(), 4, 0))
	big := rawHeader(pdu.MaxSize+100, pdu.DeliverSMID, 0, 5) // oversized but framed
	stream.Write(big)
	stream.Write(make([]byte, pdu.MaxSize+100-16))
	stream.Write(rawHeader(8, pdu.EnquireLinkID, 0, 6)) // unframeable

	p, err := ReadPDU(&stream)
	if err != nil {
		t.Fatal(err)
	}
	if p.Header().ID != pdu.SubmitSMID || p.Header().Seq != 1 {
		t.Fatalf("got %s seq %d", CommandName(p.Header().ID), p.Header().Seq)
	}
	if dc := FieldByte(p, pdufield.DataCoding); dc != 0 {
		t.Fatalf("data_coding 0x%02X", dc)
	}
	if got := DecodeGSM7(FieldBytes(p, pdufield.ShortMessage)); got != "€[^ code 123456" {
		t.Fatalf("text %q", got)
	}
	if FieldString(p, pdufield.DestinationAddr) != "447911123456" || FieldByte(p, pdufield.SourceAddrTON) != TONAlphanumeric || FieldByte(p, pdufield.RegisteredDelivery) != 1 {
		t.Fatalf("fields %v", p.Fields())
	}
	if p, err = ReadPDU(&stream); err != nil || p.Header().ID != pdu.EnquireLinkID {
		t.Fatalf("enquire_link: %v", err)
	}
	var de *DecodeError
	if _, err = ReadPDU(&stream); !errors.As(err, &de) || de.Header.Seq != 3 || de.Header.ID != 0x999 {
		t.Fatalf("unknown command: %v", err)
	}
	if p, err = ReadPDU(&stream); err != nil || p.Header().ID != pdu.UnbindID || p.Header().Seq != 4 {
		t.Fatalf("stream out of step after an unknown command: %v", err)
	}
	if _, err = ReadPDU(&stream); !errors.As(err, &de) || de.Header.Seq != 5 {
		t.Fatalf("oversized: %v", err)
	}
	var fe *FrameError
	if _, err = ReadPDU(&stream); !errors.As(err, &fe) || fe.Len != 8 {
		t.Fatalf("unframeable: %v", err)
	}
	if _, err = ReadPDU(bytes.NewReader(nil)); err != io.EOF {
		t.Fatalf("empty stream: %v", err)
	}
	if _, err = ReadPDU(bytes.NewReader(rawHeader(30, pdu.SubmitSMID, 0, 1))); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated body: %v", err)
	}
}

func TestNewDeliverSMSerializesCleanly(t *testing.T) {
	p := NewDeliverSM()
	_ = p.Fields().Set(pdufield.ESMClass, uint8(0x04))
	_ = p.Fields().Set(pdufield.ShortMessage, []byte("id:1 stat:DELIVRD"))
	_ = p.TLVFields().Set(pdutlv.TagReceiptedMessageID, pdutlv.CString("1"))
	b := mustMarshal(t, p, 9, 0)
	if int(binary.BigEndian.Uint32(b)) != len(b) || len(b) != p.Len() {
		t.Fatalf("command_length %d, serialized %d, Len %d", binary.BigEndian.Uint32(b), len(b), p.Len())
	}
	q, err := ReadPDU(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(FieldBytes(q, pdufield.ShortMessage)); got != "id:1 stat:DELIVRD" {
		t.Fatalf("short_message %q", got)
	}
}

// FuzzReadPDU feeds arbitrary bytes to ReadPDU, as a broken or hostile SMSC
// (or client of the simulator) would. ReadPDU must never panic, must always
// make progress, and never return a nil PDU without an error.
func FuzzReadPDU(f *testing.F) {
	sub, _, _ := buildSubmit(Message{From: "+15551234567", To: "+447911123456", Text: "Ваш код 123456"})
	dlr := NewDeliverSM()
	_ = dlr.Fields().Set(pdufield.ESMClass, uint8(0x04))
	_ = dlr.Fields().Set(pdufield.ShortMessage, []byte("id:65a1 sub:001 dlvrd:001 submit date:2401021530 done date:2401021531 stat:DELIVRD err:000 text:"))
	_ = dlr.TLVFields().Set(pdutlv.TagReceiptedMessageID, pdutlv.CString("65a1"))
	_ = dlr.TLVFields().Set(pdutlv.TagMessageStateOption, uint8(2))
	udh := NewDeliverSM()
	_ = udh.Fields().Set(pdufield.ESMClass, uint8(0x40))
	_ = udh.Fields().Set(pdufield.ShortMessage, []byte{5, 0, 3, 1, 2, 1, 'h', 'i'})
	resp := pdu.NewSubmitSMResp()
	_ = resp.Fields().Set(pdufield.MessageID, "abc")
	bind := pdu.NewBindTransceiver()
	_ = bind.Fields().Set(pdufield.SystemID, "otpgate")
	multi := pdu.NewSubmitMulti(nil)
	for _, p := range []pdu.Body{sub, dlr, udh, resp, bind, multi, pdu.NewEnquireLink(), pdu.NewUnbindResp(), pdu.NewGenericNACK(), pdu.NewQuerySMResp()} {
		f.Add(mustMarshal(f, p, 1, 0))
	}
	f.Add(rawHeader(16, pdu.SubmitSMRespID, 0x58, 3))
	f.Add(append(rawHeader(20, 0x999, 0, 1), 1, 2, 3, 4))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: smsc\r\n\r\n"))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for i := 0; i < 1000; i++ {
			before := r.Len()
			p, err := ReadPDU(r)
			if err != nil {
				var de *DecodeError
				if errors.As(err, &de) {
					continue
				}
				return
			}
			if p == nil {
				t.Fatal("nil PDU without error")
			}
			if r.Len() >= before {
				t.Fatal("ReadPDU consumed nothing")
			}
		}
	})
}
