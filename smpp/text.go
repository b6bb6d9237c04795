package smpp

import (
	"encoding/hex"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// SMPP data_coding values this package sends or understands.
const (
	DataCodingDefault byte = 0x00 // SMSC default alphabet: GSM 03.38, unpacked
	DataCodingIA5     byte = 0x01 // IA5 (CCITT T.50) / ASCII
	DataCodingBinary  byte = 0x02 // 8-bit binary
	DataCodingLatin1  byte = 0x03 // ISO-8859-1
	DataCodingBinary2 byte = 0x04 // 8-bit binary
	DataCodingUCS2    byte = 0x08 // UCS-2 / UTF-16BE
)

// Names of the encodings Otpgate sends, as Segments and Sent report them.
const (
	EncodingGSM7   = "gsm7"
	EncodingUCS2   = "ucs2"
	EncodingLatin1 = "latin1" // only with Config.Latin1
)

// Segment sizes: one segment, and each part of a concatenated message whose
// user data header takes 6 octets (an 8-bit reference, Config.Concat
// "udh8"); with a 16-bit reference or SAR the parts hold one septet, unit or
// octet less (see Config.Concat).
const (
	GSM7SingleSegment   = 160 // septets
	GSM7MultiSegment    = 153 // septets
	UCS2SingleSegment   = 70  // UTF-16 code units
	UCS2MultiSegment    = 67  // UTF-16 code units
	Latin1SingleSegment = 140 // octets
	Latin1MultiSegment  = 134 // octets
)

// Encode picks the encoding for text and encodes it: GSM 03.38 unpacked
// (data_coding 0x00) when every character is in the GSM default alphabet or
// its extension table, otherwise UCS-2 (UTF-16BE, data_coding 0x08; characters
// beyond the BMP become surrogate pairs). It never drops or substitutes a
// character.
func Encode(text string) (dataCoding byte, payload []byte) {
	if b, ok := EncodeGSM7(text); ok {
		return DataCodingDefault, b
	}
	return DataCodingUCS2, EncodeUCS2(text)
}

// Segments reports how text would be sent with the default settings
// (Config.Latin1 false, Config.Concat "udh8"): the encoding Encode picks
// ("gsm7" or "ucs2"), its length in that encoding's units (septets, escapes
// counting two; or UTF-16 code units), and how many SMS it needs (160/153
// septets, 70/67 units; an escape or a surrogate pair is never split across
// two parts). Empty text is one (empty) segment. Client.Segments answers for
// a client's own settings.
func Segments(text string) (encoding string, units int, segments int) {
	sp := splitText(text, false, ConcatUDH8)
	return sp.encoding, sp.units, len(sp.parts)
}

// EncodeLatin1 encodes text in ISO-8859-1, one octet per character. It
// returns ok=false, and no payload, when a character is beyond U+00FF.
func EncodeLatin1(text string) (payload []byte, ok bool) {
	out := make([]byte, 0, len(text))
	for _, r := range text {
		if r > 0xFF {
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}

// EncodeUCS2 encodes text as UTF-16BE. Invalid UTF-8 becomes U+FFFD.
func EncodeUCS2(text string) []byte {
	units := utf16.Encode([]rune(text))
	out := make([]byte, 2*len(units))
	for i, u := range units {
		out[2*i] = byte(u >> 8)
		out[2*i+1] = byte(u)
	}
	return out
}

// DecodeUCS2 decodes UTF-16BE into UTF-8. A trailing odd octet is dropped;
// unpaired surrogates decode as U+FFFD.
func DecodeUCS2(payload []byte) string {
	units := make([]uint16, len(payload)/2)
	for i := range units {
		units[i] = uint16(payload[2*i])<<8 | uint16(payload[2*i+1])
	}
	return string(utf16.Decode(units))
}

// DecodeLatin1 decodes ISO-8859-1 into UTF-8.
func DecodeLatin1(payload []byte) string {
	var b strings.Builder
	b.Grow(len(payload))
	for _, c := range payload {
		b.WriteRune(rune(c))
	}
	return b.String()
}

// DecodeText decodes an SMS payload by its data_coding into UTF-8 and names
// the encoding: 0x00 GSM 03.38 unpacked ("gsm7"), 0x01 IA5/ASCII ("ascii"),
// 0x03 Latin-1 ("latin1"), 0x08 UCS-2 ("ucs2"), and the GSM "message class"
// group 0xF0..0xFF (GSM when bit 2 is clear). Anything else (binary, and
// codings Otpgate never sends) is returned hex-encoded as "binary".
func DecodeText(dataCoding byte, payload []byte) (text string, encoding string) {
	switch {
	case dataCoding == DataCodingDefault:
		return DecodeGSM7(payload), EncodingGSM7
	case dataCoding == DataCodingIA5:
		if utf8.Valid(payload) {
			return string(payload), "ascii"
		}
		return DecodeLatin1(payload), "ascii"
	case dataCoding == DataCodingLatin1:
		return DecodeLatin1(payload), "latin1"
	case dataCoding == DataCodingUCS2:
		return DecodeUCS2(payload), EncodingUCS2
	case dataCoding&0xF0 == 0xF0 && dataCoding&0x04 == 0:
		return DecodeGSM7(payload), EncodingGSM7
	default:
		return hex.EncodeToString(payload), "binary"
	}
}
