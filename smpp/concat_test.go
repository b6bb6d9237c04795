package smpp

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// decodeParts decodes the parts of a split back into one text.
func decodeParts(sp split) string {
	var b strings.Builder
	for _, p := range sp.parts {
		text, _ := DecodeText(sp.dataCoding, p)
		b.WriteString(text)
	}
	return b.String()
}

func TestSplitText(t *testing.T) {
	gsm400 := strings.Repeat("Your code is 123456. ", 20)[:400]
	cyr100 := string([]rune(strings.Repeat("Ваш код подтверждения 123456. ", 4))[:100])
	tests := []struct {
		name     string
		text     string
		latin1   bool
		concat   string
		encoding string
		units    int
		sizes    []int // octets of each part
		first    []byte
	}{
		{"euro is a GSM escape", "€", false, ConcatUDH8, EncodingGSM7, 2, []int{2}, []byte{0x1B, 0x65}},
		{"bracket is a GSM escape", "[", false, ConcatUDH8, EncodingGSM7, 2, []int{2}, []byte{0x1B, 0x3C}},
		{"caret is a GSM escape", "^", false, ConcatUDH8, EncodingGSM7, 2, []int{2}, []byte{0x1B, 0x14}},
		{"bulgarian is UCS-2", "Вашият код е 123456", false, ConcatUDH8, EncodingUCS2, 19, []int{38}, nil},
		{"greek is UCS-2", "Ο κωδικός σας είναι 123456", false, ConcatUDH8, EncodingUCS2, 26, []int{52}, nil},
		{"arabic is UCS-2", "رمز التحقق الخاص بك هو 123456", false, ConcatUDH8, EncodingUCS2, 29, []int{58}, nil},
		{"greek capitals alone are GSM", "ΔΦΓΛΩΠΨΣΘΞ", false, ConcatUDH8, EncodingGSM7, 10, []int{10}, nil},
		{"160 septets is one part", strings.Repeat("a", 160), false, ConcatUDH8, EncodingGSM7, 160, []int{160}, nil},
		{"400 GSM characters are 3 parts", gsm400, false, ConcatUDH8, EncodingGSM7, 400, []int{153, 153, 94}, nil},
		{"400 GSM characters with udh16", gsm400, false, ConcatUDH16, EncodingGSM7, 400, []int{152, 152, 96}, nil},
		{"400 GSM characters with sar", gsm400, false, ConcatSAR, EncodingGSM7, 400, []int{152, 152, 96}, nil},
		{"100 cyrillic characters are 2 UCS-2 parts", cyr100, false, ConcatUDH8, EncodingUCS2, 100, []int{134, 66}, nil},
		{"escape never straddles parts", strings.Repeat("a", 152) + "€" + strings.Repeat("b", 10), false, ConcatUDH8, EncodingGSM7, 164, []int{152, 12}, nil},
		{"escape fits at the end", strings.Repeat("a", 151) + "€" + strings.Repeat("b", 10), false, ConcatUDH8, EncodingGSM7, 163, []int{153, 10}, nil},
		{"surrogate pair never straddles parts", strings.Repeat("Д", 66) + "😀" + strings.Repeat("Д", 4), false, ConcatUDH8, EncodingUCS2, 72, []int{132, 12}, nil},
		{"latin-1 when allowed", "Olá, o código é 1234", true, ConcatUDH8, EncodingLatin1, 20, []int{20}, nil},
		{"latin-1 not without the option", "Olá, o código é 1234", false, ConcatUDH8, EncodingUCS2, 20, []int{40}, nil},
		{"latin-1 splits at 134", strings.Repeat("á", 200), true, ConcatUDH8, EncodingLatin1, 200, []int{134, 66}, nil},
		{"beyond latin-1 is UCS-2 even with the option", "código Д", true, ConcatUDH8, EncodingUCS2, 8, []int{16}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := splitText(tt.text, tt.latin1, tt.concat)
			if sp.encoding != tt.encoding || sp.units != tt.units {
				t.Fatalf("encoding %s, %d units; want %s, %d", sp.encoding, sp.units, tt.encoding, tt.units)
			}
			var sizes []int
			for _, p := range sp.parts {
				sizes = append(sizes, len(p))
			}
			if !slicesEqual(sizes, tt.sizes) {
				t.Fatalf("part sizes %v, want %v", sizes, tt.sizes)
			}
			if tt.first != nil && !bytes.Equal(sp.parts[0], tt.first) {
				t.Fatalf("first part % X, want % X", sp.parts[0], tt.first)
			}
			if got := decodeParts(sp); got != tt.text {
				t.Fatalf("parts decode to %q, want %q", got, tt.text)
			}
			for i, p := range sp.parts {
				if sp.encoding == EncodingGSM7 && len(p) > 0 && p[len(p)-1] == gsmEscape {
					t.Fatalf("part %d ends with a lone escape", i+1)
				}
				if sp.encoding == EncodingUCS2 && len(p) >= 2 {
					if u := uint16(p[len(p)-2])<<8 | uint16(p[len(p)-1]); u >= 0xD800 && u < 0xDC00 {
						t.Fatalf("part %d ends with a high surrogate", i+1)
					}
				}
			}
			if enc, units, n := Segments(tt.text); !tt.latin1 && tt.concat == ConcatUDH8 && (enc != tt.encoding || units != tt.units || n != len(tt.sizes)) {
				t.Fatalf("Segments = %s, %d, %d; want %s, %d, %d", enc, units, n, tt.encoding, tt.units, len(tt.sizes))
			}
		})
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBuildMessageConcat checks the submit_sm of each part as it goes on the
// wire (serialized and decoded again): esm_class, the UDH or SAR TLVs, the
// reference shared by the parts, and the text.
func TestBuildMessageConcat(t *testing.T) {
	text := strings.Repeat("0123456789", 40) // 400 septets
	const ref = 0xBEEF
	tests := []struct {
		concat string
		esm    byte
		udh    func(total, seq int) []byte
		sar    bool
		size   int
	}{
		{ConcatUDH8, 0x40, func(total, seq int) []byte { return []byte{0x05, 0x00, 0x03, 0xEF, byte(total), byte(seq)} }, false, 153},
		{ConcatUDH16, 0x40, func(total, seq int) []byte { return []byte{0x06, 0x08, 0x04, 0xBE, 0xEF, byte(total), byte(seq)} }, false, 152},
		{ConcatSAR, 0x00, nil, true, 152},
	}
	for _, tt := range tests {
		t.Run(tt.concat, func(t *testing.T) {
			pdus, info, err := buildMessage(Message{From: "Otpgate", To: "+447911123456", Text: text}, textOptions{concat: tt.concat}, ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(pdus) != 3 || info.parts != 3 || info.encoding != EncodingGSM7 {
				t.Fatalf("%d PDUs, info %+v; want 3 GSM parts", len(pdus), info)
			}
			var joined []byte
			for i, p := range pdus {
				b, err := MarshalPDU(p, uint32(i+1), 0)
				if err != nil {
					t.Fatal(err)
				}
				q, err := ReadPDU(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				if esm := FieldByte(q, pdufield.ESMClass); esm != tt.esm {
					t.Fatalf("part %d esm_class 0x%02X, want 0x%02X", i+1, esm, tt.esm)
				}
				if rd := FieldByte(q, pdufield.RegisteredDelivery); rd != 1 {
					t.Fatalf("part %d registered_delivery %d", i+1, rd)
				}
				sm := FieldBytes(q, pdufield.ShortMessage)
				if tt.udh != nil {
					want := tt.udh(3, i+1)
					if !bytes.HasPrefix(sm, want) {
						t.Fatalf("part %d starts % X, want UDH % X", i+1, sm[:min(len(sm), 8)], want)
					}
					sm = sm[len(want):]
				}
				if tt.sar {
					for tag, want := range map[pdutlv.Tag][]byte{
						pdutlv.TagSarMsgRefNum:     {0xBE, 0xEF},
						pdutlv.TagSarTotalSegments: {3},
						pdutlv.TagSarSegmentSeqnum: {byte(i + 1)},
					} {
						if got, ok := TLVBytes(q, tag); !ok || !bytes.Equal(got, want) {
							t.Fatalf("part %d TLV 0x%04X = % X, want % X", i+1, uint16(tag), got, want)
						}
					}
				}
				if i < 2 && len(sm) != tt.size {
					t.Fatalf("part %d holds %d septets, want %d", i+1, len(sm), tt.size)
				}
				joined = append(joined, sm...)
			}
			if got := DecodeGSM7(joined); got != text {
				t.Fatalf("parts join to %q", got)
			}
		})
	}
}

func TestBuildMessageLimits(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		parts int
		err   error
	}{
		{"ten GSM parts", strings.Repeat("a", 10*153), 10, nil},
		{"eleven GSM parts", strings.Repeat("a", 10*153+1), 0, ErrTooLong},
		{"ten UCS-2 parts", strings.Repeat("Д", 10*67), 10, nil},
		{"eleven UCS-2 parts", strings.Repeat("Д", 10*67+1), 0, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdus, _, err := buildMessage(Message{To: "+447911123456", Text: tt.text}, defaultTextOptions, 1)
			if !errors.Is(err, tt.err) || len(pdus) != tt.parts {
				t.Fatalf("%d PDUs, error %v; want %d, %v", len(pdus), err, tt.parts, tt.err)
			}
			for _, p := range pdus {
				if _, err := MarshalPDU(p, 1, 0); err != nil {
					t.Fatal(err)
				}
				// 140 octets on the air: 6 of UDH plus 134 of UCS-2, or
				// 153 unpacked septets (packed by the SMSC) plus the UDH
				if n := len(FieldBytes(p, pdufield.ShortMessage)); n > 160 || (FieldByte(p, pdufield.DataCoding) == DataCodingUCS2 && n > 140) {
					t.Fatalf("short_message of %d octets", n)
				}
			}
		})
	}
}
