package smpp

import (
	"bytes"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		dc      byte
		payload []byte
	}{
		{"ascii", "Code 123456", DataCodingDefault, []byte("Code 123456")},
		{"at pound dollar", "@£$", DataCodingDefault, []byte{0x00, 0x01, 0x02}},
		{"euro is an escape", "€", DataCodingDefault, []byte{0x1B, 0x65}},
		{"left bracket is an escape", "[", DataCodingDefault, []byte{0x1B, 0x3C}},
		{"caret is an escape", "^", DataCodingDefault, []byte{0x1B, 0x14}},
		{"all escapes", "\f^{}\\[~]|€", DataCodingDefault, []byte{
			0x1B, 0x0A, 0x1B, 0x14, 0x1B, 0x28, 0x1B, 0x29, 0x1B, 0x2F,
			0x1B, 0x3C, 0x1B, 0x3D, 0x1B, 0x3E, 0x1B, 0x40, 0x1B, 0x65}},
		{"mixed escapes", "€[^ 12", DataCodingDefault, []byte{0x1B, 0x65, 0x1B, 0x3C, 0x1B, 0x14, ' ', '1', '2'}},
		{"greek and accents", "ΔΩèÉÇ§¿à", DataCodingDefault, []byte{0x10, 0x15, 0x04, 0x1F, 0x09, 0x5F, 0x60, 0x7F}},
		{"underscore and newline", "a_b\nc", DataCodingDefault, []byte{'a', 0x11, 'b', 0x0A, 'c'}},
		{"cyrillic forces UCS-2", "Код", DataCodingUCS2, []byte{0x04, 0x1A, 0x04, 0x3E, 0x04, 0x34}},
		{"one non-GSM char forces UCS-2", "Code ç", DataCodingUCS2, []byte{0, 'C', 0, 'o', 0, 'd', 0, 'e', 0, ' ', 0x00, 0xE7}},
		{"backtick is not GSM", "`", DataCodingUCS2, []byte{0x00, 0x60}},
		{"emoji as surrogate pair", "😀", DataCodingUCS2, []byte{0xD8, 0x3D, 0xDE, 0x00}},
		{"empty", "", DataCodingDefault, []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dc, payload := Encode(tt.text)
			if dc != tt.dc {
				t.Fatalf("Encode(%q) data_coding = 0x%02X, want 0x%02X", tt.text, dc, tt.dc)
			}
			if !bytes.Equal(payload, tt.payload) {
				t.Fatalf("Encode(%q) = % X, want % X", tt.text, payload, tt.payload)
			}
			got, _ := DecodeText(dc, payload)
			if got != tt.text {
				t.Fatalf("round trip of %q gave %q", tt.text, got)
			}
		})
	}
}

func TestGSM7RoundTripWholeAlphabet(t *testing.T) {
	var b strings.Builder
	for code, r := range gsmBasic {
		if code != gsmEscape {
			b.WriteRune(r)
		}
	}
	for _, r := range gsmExtension {
		b.WriteRune(r)
	}
	text := b.String()
	payload, ok := EncodeGSM7(text)
	if !ok {
		t.Fatalf("EncodeGSM7 rejected the GSM alphabet itself")
	}
	if want := 127 + 2*len(gsmExtension); len(payload) != want {
		t.Fatalf("payload has %d septets, want %d", len(payload), want)
	}
	for _, c := range payload {
		if c >= 0x80 {
			t.Fatalf("septet 0x%02X has the high bit set", c)
		}
	}
	if got := DecodeGSM7(payload); got != text {
		t.Fatalf("round trip mismatch:\n got %q\nwant %q", got, text)
	}
}

func TestDecodeGSM7Oddities(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"unknown escape falls back to basic table", []byte{0x1B, 'A'}, "A"},
		{"trailing escape dropped", []byte{'a', 0x1B}, "a"},
		{"double escape", []byte{0x1B, 0x1B}, "?"},
		{"high bit invalid", []byte{'a', 0xC8}, "a?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecodeGSM7(tt.in); got != tt.want {
				t.Fatalf("DecodeGSM7(% X) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		encoding string
		units    int
		segments int
	}{
		{"empty", "", EncodingGSM7, 0, 1},
		{"otp", "Your code is 123456", EncodingGSM7, 19, 1},
		{"160 septets", strings.Repeat("a", 160), EncodingGSM7, 160, 1},
		{"161 septets", strings.Repeat("a", 161), EncodingGSM7, 161, 2},
		{"306 septets", strings.Repeat("a", 306), EncodingGSM7, 306, 2},
		{"307 septets", strings.Repeat("a", 307), EncodingGSM7, 307, 3},
		{"escapes count twice", strings.Repeat("€", 80), EncodingGSM7, 160, 1},
		{"escape pushes over", strings.Repeat("a", 159) + "€", EncodingGSM7, 161, 2},
		{"escape never split", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 10), EncodingGSM7, 164, 2},
		{"escape never split, third segment", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152), EncodingGSM7, 306, 3},
		{"70 ucs2", strings.Repeat("Д", 70), EncodingUCS2, 70, 1},
		{"71 ucs2", strings.Repeat("Д", 71), EncodingUCS2, 71, 2},
		{"134 ucs2", strings.Repeat("Д", 134), EncodingUCS2, 134, 2},
		{"135 ucs2", strings.Repeat("Д", 135), EncodingUCS2, 135, 3},
		{"surrogates count two", strings.Repeat("😀", 35), EncodingUCS2, 70, 1},
		{"surrogate never split", strings.Repeat("Д", 66) + "😀" + strings.Repeat("Д", 4), EncodingUCS2, 72, 2},
		{"cyrillic otp", "Ваш код 123456", EncodingUCS2, 14, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, units, segs := Segments(tt.text)
			if enc != tt.encoding || units != tt.units || segs != tt.segments {
				t.Fatalf("Segments = (%s, %d, %d), want (%s, %d, %d)", enc, units, segs, tt.encoding, tt.units, tt.segments)
			}
		})
	}
}

func TestDecodeText(t *testing.T) {
	tests := []struct {
		dc       byte
		in       []byte
		want     string
		encoding string
	}{
		{0x00, []byte{0x1B, 0x65, '1'}, "€1", EncodingGSM7},
		{0x03, []byte{'c', 0xE9}, "cé", "latin1"},
		{0x01, []byte("abc"), "abc", "ascii"},
		{0x08, []byte{0x04, 0x1A, 0xD8, 0x3D, 0xDE, 0x00}, "К😀", EncodingUCS2},
		{0x08, []byte{0x00, 0x41, 0x00}, "A", EncodingUCS2},
		{0x04, []byte{0xCA, 0xFE}, "cafe", "binary"},
		{0xF0, []byte{'h', 'i'}, "hi", EncodingGSM7},
	}
	for _, tt := range tests {
		got, enc := DecodeText(tt.dc, tt.in)
		if got != tt.want || enc != tt.encoding {
			t.Errorf("DecodeText(0x%02X, % X) = (%q, %s), want (%q, %s)", tt.dc, tt.in, got, enc, tt.want, tt.encoding)
		}
	}
}
