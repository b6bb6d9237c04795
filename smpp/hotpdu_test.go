package smpp

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// frame wraps a body in a header.
func frame(id pdu.ID, status uint32, seq uint32, body []byte) []byte {
	b := make([]byte, 16, 16+len(body))
	binary.BigEndian.PutUint32(b[0:], uint32(16+len(body)))
	binary.BigEndian.PutUint32(b[4:], uint32(id))
	binary.BigEndian.PutUint32(b[8:], status)
	binary.BigEndian.PutUint32(b[12:], seq)
	return append(b, body...)
}

// allFields are the mandatory fields a hot PDU may have.
func allFields() []pdufield.Name {
	out := []pdufield.Name{pdufield.MessageID}
	for _, f := range smLayout {
		out = append(out, f.name)
	}
	return out
}

// sameAsGoSMPP fails when the hot decode of fr reads otherwise than
// go-smpp's, through the accessors the gateway reads PDUs with.
func sameAsGoSMPP(t *testing.T, fr []byte) {
	t.Helper()
	hot, ok := decodeHot(fr)
	if !ok {
		return // go-smpp decides, as ReadPDU does
	}
	slow, err := decodeFrame(fr)
	if err != nil {
		t.Fatalf("the hot decoder took % x, which go-smpp refuses: %v", fr, err)
	}
	if *hot.Header() != *slow.Header() {
		t.Fatalf("header %+v, go-smpp %+v", *hot.Header(), *slow.Header())
	}
	for _, name := range allFields() {
		if a, b := FieldString(hot, name), FieldString(slow, name); a != b {
			t.Fatalf("% x: %s string %q, go-smpp %q", fr, name, a, b)
		}
		if a, b := FieldBytes(hot, name), FieldBytes(slow, name); !bytes.Equal(a, b) {
			t.Fatalf("% x: %s bytes % x, go-smpp % x", fr, name, a, b)
		}
		if a, b := FieldByte(hot, name), FieldByte(slow, name); a != b {
			t.Fatalf("% x: %s byte %d, go-smpp %d", fr, name, a, b)
		}
	}
	tags := map[pdutlv.Tag]bool{}
	for tag := range slow.TLVFields() {
		tags[tag] = true
	}
	for _, v := range hot.tlvs {
		tags[v.tag] = true
	}
	for tag := range tags {
		a, aok := TLVBytes(hot, tag)
		b, bok := TLVBytes(slow, tag)
		if aok != bok || !bytes.Equal(a, b) {
			t.Fatalf("% x: TLV %04x % x %v, go-smpp % x %v", fr, uint16(tag), a, aok, b, bok)
		}
	}
}

// hotSeeds are frames of every hot PDU, as SMSCs and the simulator send
// them.
func hotSeeds() [][]byte {
	receipt := NewDeliverSM()
	receipt.Fields().Set(pdufield.SourceAddr, "14155552671")
	receipt.Fields().Set(pdufield.DestinationAddr, "Acme")
	receipt.Fields().Set(pdufield.ESMClass, uint8(0x04))
	receipt.Fields().Set(pdufield.ShortMessage, []byte("id:0123456789 sub:001 dlvrd:001 submit date:2612010101 done date:2612010101 stat:DELIVRD err:000 text:"))
	receipt.TLVFields().Set(pdutlv.TagReceiptedMessageID, []byte("0123456789\x00"))
	receipt.TLVFields().Set(pdutlv.TagMessageStateOption, []byte{2})
	d, _ := MarshalPDU(receipt, 7, 0)
	submit := pdu.NewSubmitSM(nil)
	submit.Fields().Set(pdufield.SourceAddr, "Acme")
	submit.Fields().Set(pdufield.DestinationAddr, "393471234567")
	submit.Fields().Set(pdufield.RegisteredDelivery, uint8(1))
	submit.Fields().Set(pdufield.ShortMessage, []byte("Your code is 123456"))
	s, _ := MarshalPDU(submit, 8, 0)
	return [][]byte{d, s,
		frame(pdu.SubmitSMRespID, 0, 9, []byte("abc123\x00")),
		frame(pdu.SubmitSMRespID, 0x45, 10, nil),
		frame(pdu.DeliverSMRespID, 0, 11, []byte{0}),
		frame(pdu.EnquireLinkID, 0, 12, nil), frame(pdu.EnquireLinkRespID, 0, 12, nil),
		frame(pdu.UnbindID, 0, 13, nil), frame(pdu.GenericNACKID, 3, 14, nil),
	}
}

// TestHotDecode: the hot PDUs of every kind decode here (not through
// go-smpp), and read the same as go-smpp reads them; those this codec
// does not take in one clean pass go to go-smpp.
func TestHotDecode(t *testing.T) {
	for _, fr := range hotSeeds() {
		if _, ok := decodeHot(fr); !ok {
			t.Fatalf("% x went to go-smpp", fr)
		}
		sameAsGoSMPP(t, fr)
	}
	udh := bytes.Clone(hotSeeds()[1])
	// the submit_sm's esm_class: after the header, service_type (1),
	// ton and npi (2), "Acme\x00" (5), ton and npi (2), the number (13)
	udh[16+1+2+5+2+13] |= 0x40
	for _, fr := range [][]byte{
		udh, // a user data header
		frame(pdu.SubmitSMRespID, 0, 1, []byte("abc")),            // no NUL
		frame(pdu.DeliverSMID, 0, 1, []byte("\x00\x01\x01\x00")),  // a short body
		frame(pdu.QuerySMID, 0, 1, []byte("abc\x00\x01\x01\x00")), // not a hot PDU
	} {
		if _, ok := decodeHot(fr); ok {
			t.Errorf("% x was decoded here, not by go-smpp", fr)
		}
	}
}

// FuzzHotDecode: whatever the frame, the hot decoder leaves it to go-smpp
// or reads it exactly as go-smpp does.
func FuzzHotDecode(f *testing.F) {
	for _, fr := range hotSeeds() {
		f.Add(binary.BigEndian.Uint32(fr[4:8]), fr[16:])
	}
	f.Fuzz(func(t *testing.T, id uint32, body []byte) {
		for _, cmd := range []pdu.ID{pdu.ID(id), pdu.SubmitSMID, pdu.DeliverSMID, pdu.SubmitSMRespID} {
			sameAsGoSMPP(t, frame(cmd, 0, 1, body))
		}
	})
}

func BenchmarkDecodeReceipt(b *testing.B) {
	fr := hotSeeds()[0]
	b.Run("hot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, _ := decodeHot(fr)
			if _, err := ParseReceipt(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-smpp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, _ := decodeFrame(fr)
			if _, err := ParseReceipt(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// goSMPPSM builds the submit_sm or deliver_sm of f the way go-smpp does
// (as this package did before it wrote them itself): the reference.
func goSMPPSM(t *testing.T, id pdu.ID, f SMFields) []byte {
	t.Helper()
	var p pdu.Body
	if id == pdu.SubmitSMID {
		p = pdu.NewSubmitSM(nil)
	} else {
		p = NewDeliverSM()
	}
	fm := p.Fields()
	for _, kv := range []struct {
		k pdufield.Name
		v any
	}{
		{pdufield.ServiceType, f.ServiceType}, {pdufield.SourceAddrTON, f.SourceAddrTON}, {pdufield.SourceAddrNPI, f.SourceAddrNPI},
		{pdufield.SourceAddr, f.SourceAddr}, {pdufield.DestAddrTON, f.DestAddrTON}, {pdufield.DestAddrNPI, f.DestAddrNPI},
		{pdufield.DestinationAddr, f.DestinationAddr}, {pdufield.ESMClass, f.ESMClass}, {pdufield.ProtocolID, f.ProtocolID},
		{pdufield.PriorityFlag, f.PriorityFlag}, {pdufield.ScheduleDeliveryTime, f.ScheduleDeliveryTime},
		{pdufield.ValidityPeriod, f.ValidityPeriod}, {pdufield.RegisteredDelivery, f.RegisteredDelivery},
		{pdufield.ReplaceIfPresentFlag, f.ReplaceIfPresentFlag}, {pdufield.DataCoding, f.DataCoding},
		{pdufield.SMDefaultMsgID, f.SMDefaultMsgID}, {pdufield.ShortMessage, f.ShortMessage},
	} {
		if err := fm.Set(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	for _, tl := range f.TLVs {
		p.TLVFields().Set(tl.Tag, tl.Value)
	}
	b, err := MarshalPDU(p, 42, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodeAsGoSMPP: a submit_sm or deliver_sm written here is go-smpp's,
// byte for byte, for the same values; and each response.
func TestEncodeAsGoSMPP(t *testing.T) {
	for _, f := range []SMFields{
		{SourceAddrTON: 5, SourceAddrNPI: 0, SourceAddr: "Acme", DestAddrTON: 1, DestAddrNPI: 1, DestinationAddr: "393471234567",
			RegisteredDelivery: 1, ShortMessage: []byte("Your code is 123456")},
		{SourceAddr: "12345", DestinationAddr: "14155552671", ESMClass: 0x40, DataCoding: 8,
			ShortMessage: append([]byte{5, 0, 3, 7, 2, 1}, bytes.Repeat([]byte{0, 'x'}, 60)...)},
		{SourceAddr: "A", DestinationAddr: "1", ShortMessage: nil,
			TLVs: []TLV{{pdutlv.TagSarMsgRefNum, []byte{0, 7}}, {pdutlv.TagSarTotalSegments, []byte{2}}, {pdutlv.TagSarSegmentSeqnum, []byte{1}}}},
		{ServiceType: "CMT", SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: "14155552671", DestAddrTON: 5, DestinationAddr: "Acme",
			ESMClass: 4, ScheduleDeliveryTime: "261201010101000+", ValidityPeriod: "000001000000000R", ShortMessage: []byte("id:1 stat:DELIVRD"),
			TLVs: []TLV{{pdutlv.TagReceiptedMessageID, []byte("1\x00")}, {pdutlv.TagMessageStateOption, []byte{2}}}},
	} {
		for _, id := range []pdu.ID{pdu.SubmitSMID, pdu.DeliverSMID} {
			p, err := f.PDU(id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := MarshalPDU(p, 42, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := goSMPPSM(t, id, f); len(f.TLVs) < 2 && !bytes.Equal(got, want) {
				// (TLVs: go-smpp writes its map in no fixed order)
				t.Errorf("%s\n here    % x\n go-smpp % x", CommandName(id), got, want)
			}
			sameAsGoSMPP(t, got) // and it reads back as written
			if FieldString(p, pdufield.DestinationAddr) != f.DestinationAddr {
				t.Errorf("a written PDU does not read back: %q", FieldString(p, pdufield.DestinationAddr))
			}
		}
	}
	resp := pdu.NewSubmitSMResp()
	resp.Fields().Set(pdufield.MessageID, "abc")
	want, _ := MarshalPDU(resp, 9, 0)
	if got, _ := MarshalPDU(MessageIDResp(pdu.SubmitSMRespID, "abc"), 9, 0); !bytes.Equal(got, want) {
		t.Errorf("submit_sm_resp\n here    % x\n go-smpp % x", got, want)
	}
	want, _ = MarshalPDU(pdu.NewSubmitSMResp(), 9, 0x45)
	if got, _ := MarshalPDU(MessageIDResp(pdu.SubmitSMRespID, ""), 9, 0x45); !bytes.Equal(got, want) {
		t.Errorf("an error submit_sm_resp\n here    % x\n go-smpp % x", got, want)
	}
	if _, err := (&SMFields{ShortMessage: make([]byte, 256)}).PDU(pdu.SubmitSMID); err == nil {
		t.Error("a short_message of 256 octets was taken")
	}
}

// TestEmptyRawAsGoSMPP: the replies written from emptyBodies are
// EmptyResp's bytes.
func TestEmptyRawAsGoSMPP(t *testing.T) {
	for id := range emptyBodies {
		want, _ := MarshalPDU(EmptyResp(id), 5, 3)
		if got, _ := MarshalPDU(emptyRaw(id), 5, 3); !bytes.Equal(got, want) {
			t.Errorf("%s\n here    % x\n go-smpp % x", CommandName(id), got, want)
		}
	}
}
