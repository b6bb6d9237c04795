package smpp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// deliverSM builds a deliver_sm as it arrives off the wire (serialized and
// decoded again), with the given esm_class, text and TLVs.
func deliverSM(t *testing.T, esm byte, text string, tlvs map[pdutlv.Tag]any) pdu.Body {
	t.Helper()
	p := NewDeliverSM()
	f := p.Fields()
	_ = f.Set(pdufield.SourceAddrTON, uint8(1))
	_ = f.Set(pdufield.SourceAddr, "447911123456")
	_ = f.Set(pdufield.ESMClass, esm)
	_ = f.Set(pdufield.ShortMessage, []byte(text))
	for tag, v := range tlvs {
		if err := p.TLVFields().Set(tag, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := MarshalPDU(p, 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ReadPDU(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("decode deliver_sm: %v", err)
	}
	return q
}

func TestParseReceipt(t *testing.T) {
	const std = "id:1234567890 sub:001 dlvrd:001 submit date:2401021530 done date:240102153127 stat:DELIVRD err:000 text:Your code is 1234"
	tests := []struct {
		name      string
		esm       byte
		text      string
		tlvs      map[pdutlv.Tag]any
		id, stat  string
		delivered bool
		final     bool
		errCode   string
		submit    time.Time
		done      time.Time
		wantErr   string
	}{
		{
			name: "text only", esm: 0x04, text: std,
			id: "1234567890", stat: StatDelivered, delivered: true, final: true, errCode: "000",
			submit: time.Date(2024, 1, 2, 15, 30, 0, 0, time.UTC), done: time.Date(2024, 1, 2, 15, 31, 27, 0, time.UTC),
		},
		{
			name: "TLV only", esm: 0x04,
			tlvs: map[pdutlv.Tag]any{pdutlv.TagReceiptedMessageID: pdutlv.CString("abc-42"), pdutlv.TagMessageStateOption: uint8(5)},
			id:   "abc-42", stat: StatUndeliverable, final: true,
		},
		{
			name: "TLVs win over text", esm: 0x04,
			text: "id:999 sub:001 dlvrd:000 submit date:2401021530 done date:2401021531 stat:ENROUTE err:000 text:x",
			tlvs: map[pdutlv.Tag]any{pdutlv.TagReceiptedMessageID: pdutlv.CString("65A1B2C3"), pdutlv.TagMessageStateOption: uint8(2)},
			id:   "65A1B2C3", stat: StatDelivered, delivered: true, final: true, errCode: "000",
			submit: time.Date(2024, 1, 2, 15, 30, 0, 0, time.UTC), done: time.Date(2024, 1, 2, 15, 31, 0, 0, time.UTC),
		},
		{
			name: "hex id kept verbatim", esm: 0x04,
			text: "id:0a1B2c3D4e5F sub:001 dlvrd:000 submit date:2401021530 done date:2401021531 stat:UNDELIV err:034 text:",
			id:   "0a1B2c3D4e5F", stat: StatUndeliverable, final: true, errCode: "034",
			submit: time.Date(2024, 1, 2, 15, 30, 0, 0, time.UTC), done: time.Date(2024, 1, 2, 15, 31, 0, 0, time.UTC),
		},
		{
			name: "TLV id without NUL, text state", esm: 0x04, text: "id:x stat:REJECTD err:088",
			tlvs: map[pdutlv.Tag]any{pdutlv.TagReceiptedMessageID: "7f3e"},
			id:   "7f3e", stat: StatRejected, final: true, errCode: "088",
		},
		{
			name: "intermediate notification is not final", esm: 0x20, text: "id:55 stat:ENROUTE",
			id: "55", stat: StatEnroute,
		},
		{
			name: "upper case keys and long stat", esm: 0x04, text: "ID:77 SUB:001 DLVRD:001 SUBMIT DATE:2401021530 DONE DATE:2401021531 STAT:DELIVERED ERR:0",
			id: "77", stat: StatDelivered, delivered: true, final: true, errCode: "0",
			submit: time.Date(2024, 1, 2, 15, 30, 0, 0, time.UTC), done: time.Date(2024, 1, 2, 15, 31, 0, 0, time.UTC),
		},
		{
			name: "text field may mention id: and stat:", esm: 0x04, text: "id:1 stat:EXPIRED err:000 text:id:2 stat:DELIVRD",
			id: "1", stat: StatExpired, final: true, errCode: "000",
		},
		{
			name: "esm_class with other bits still a receipt", esm: 0x04 | 0x80, text: std,
			id: "1234567890", stat: StatDelivered, delivered: true, final: true, errCode: "000",
			submit: time.Date(2024, 1, 2, 15, 30, 0, 0, time.UTC), done: time.Date(2024, 1, 2, 15, 31, 27, 0, time.UTC),
		},
		{name: "mobile originated", esm: 0x00, text: std, wantErr: "not a delivery receipt"},
		{name: "garbage text", esm: 0x04, text: "\x00\xff hello", wantErr: "neither a message id nor a state"},
		{name: "no state", esm: 0x04, text: "id:42 sub:001", wantErr: "has no state"},
		{name: "no id", esm: 0x04, text: "stat:DELIVRD", wantErr: "has no message id"},
		{name: "empty", esm: 0x04, wantErr: "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseReceipt(deliverSM(t, tt.esm, tt.text, tt.tlvs))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.MessageID != tt.id || r.Stat != tt.stat || r.Delivered != tt.delivered || r.Final != tt.final || r.Err != tt.errCode {
				t.Fatalf("got id=%q stat=%q delivered=%v final=%v err=%q; want id=%q stat=%q delivered=%v final=%v err=%q",
					r.MessageID, r.Stat, r.Delivered, r.Final, r.Err, tt.id, tt.stat, tt.delivered, tt.final, tt.errCode)
			}
			if !r.SubmitDate.Equal(tt.submit) || !r.DoneDate.Equal(tt.done) {
				t.Fatalf("dates = %v / %v, want %v / %v", r.SubmitDate, r.DoneDate, tt.submit, tt.done)
			}
			if r.ReceivedAt.IsZero() {
				t.Fatal("ReceivedAt not set")
			}
		})
	}
}

func TestParseReceiptNotDeliverSM(t *testing.T) {
	_, err := ParseReceipt(pdu.NewSubmitSM(nil))
	if err == nil || !strings.Contains(err.Error(), "not a deliver_sm") {
		t.Fatalf("error = %v", err)
	}
	_, err = ParseReceipt(deliverSM(t, 0, "hi", nil))
	if !errors.Is(err, ErrNotReceipt) {
		t.Fatalf("error = %v, want ErrNotReceipt", err)
	}
}

func TestParseReceiptTextDates(t *testing.T) {
	r, err := ParseReceiptText("id:1 submit date:99 done date:2413321299 stat:DELIVRD")
	if err != nil {
		t.Fatal(err)
	}
	if !r.SubmitDate.IsZero() || !r.DoneDate.IsZero() {
		t.Fatalf("invalid dates parsed: %v %v", r.SubmitDate, r.DoneDate)
	}
}

func TestParseReceiptNetworkError(t *testing.T) {
	tests := []struct {
		name string
		tlv  []byte
		want string
	}{
		{"gsm", []byte{3, 0x00, 0x22}, "GSM:34"},
		{"ansi-136", []byte{1, 0x01, 0x00}, "ANSI-136:256"},
		{"is-95", []byte{2, 0, 7}, "IS-95:7"},
		{"unknown type", []byte{9, 0, 1}, "type9:1"},
		{"malformed length", []byte{3, 0x22}, "0322"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseReceipt(deliverSM(t, 0x04, "id:42 stat:UNDELIV err:034", map[pdutlv.Tag]any{pdutlv.TagNetworkErrorCode: tt.tlv}))
			if err != nil {
				t.Fatal(err)
			}
			if r.NetworkError != tt.want || r.Stat != StatUndeliverable {
				t.Fatalf("NetworkError %q stat %s, want %q", r.NetworkError, r.Stat, tt.want)
			}
		})
	}
	r, err := ParseReceipt(deliverSM(t, 0x04, "id:42 stat:DELIVRD err:000", nil))
	if err != nil || r.NetworkError != "" {
		t.Fatalf("without the TLV: %q, %v", r.NetworkError, err)
	}
}

func TestReceiptIDCandidates(t *testing.T) {
	tests := []struct {
		id, format string
		want       []string
	}{
		{"1234567890", "", []string{"1234567890", "499602d2", "499602D2", "78187493520"}},
		{"1234567890", ReceiptIDsAuto, []string{"1234567890", "499602d2", "499602D2", "78187493520"}},
		{"1234567890", ReceiptIDsDecimal, []string{"1234567890", "499602d2", "499602D2"}},
		{"499602D2", ReceiptIDsAuto, []string{"499602D2", "499602d2", "1234567890"}},
		{"499602D2", ReceiptIDsHex, []string{"499602D2", "499602d2", "1234567890"}},
		{"499602d2", ReceiptIDsDecimal, []string{"499602d2"}},
		{"00ff", ReceiptIDsHex, []string{"00ff", "ff", "FF", "255"}},
		{"1234567890", ReceiptIDsSame, []string{"1234567890"}},
		{"abc-42", ReceiptIDsAuto, []string{"abc-42"}},
		{"6553e0a1b2c3d4e5f60718", ReceiptIDsAuto, []string{"6553e0a1b2c3d4e5f60718"}}, // beyond 64 bits
		{"", ReceiptIDsAuto, []string{""}},
	}
	for _, tt := range tests {
		got := Receipt{MessageID: tt.id, IDFormat: tt.format}.IDCandidates()
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("IDCandidates(%q, %q) = %q, want %q", tt.id, tt.format, got, tt.want)
		}
	}
}
