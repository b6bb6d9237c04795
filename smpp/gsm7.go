package smpp

import "strings"

// GSM 03.38 (3GPP TS 23.038) default alphabet and its extension table.
//
// Otpgate sends GSM text unpacked: one septet per octet, data_coding 0x00,
// which is what SMPP 3.4 SMSCs expect for the SMSC default alphabet. A
// character of the extension table is sent as the escape 0x1B followed by its
// code, so it costs two septets of the 160 in a segment.

// gsmEscape introduces a character of the extension table.
const gsmEscape = 0x1B

// gsmBasic is the GSM 03.38 default alphabet, indexed by septet. Index 0x1B is
// the escape to the extension table and maps to no character.
var gsmBasic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsmExtension is the GSM 03.38 extension table: the septet that follows the
// escape 0x1B, and the character it stands for.
var gsmExtension = map[byte]rune{
	0x0A: '\f',
	0x14: '^',
	0x28: '{',
	0x29: '}',
	0x2F: '\\',
	0x3C: '[',
	0x3D: '~',
	0x3E: ']',
	0x40: '|',
	0x65: '€',
}

// gsmBasicCode and gsmExtensionCode are the reverse tables, built once from
// the two above; they are read-only after package initialisation.
var (
	gsmBasicCode     = reverseBasic()
	gsmExtensionCode = reverseExtension()
)

func reverseBasic() map[rune]byte {
	m := make(map[rune]byte, len(gsmBasic))
	for code, r := range gsmBasic {
		if code == gsmEscape {
			continue
		}
		m[r] = byte(code)
	}
	return m
}

func reverseExtension() map[rune]byte {
	m := make(map[rune]byte, len(gsmExtension))
	for code, r := range gsmExtension {
		m[r] = code
	}
	return m
}

// gsmSeptets reports how many septets r costs in the GSM 03.38 alphabet:
// 1 for the default alphabet, 2 for the extension table (escape + code), and
// 0 when r cannot be written in GSM 03.38 at all.
func gsmSeptets(r rune) int {
	if _, ok := gsmBasicCode[r]; ok {
		return 1
	}
	if _, ok := gsmExtensionCode[r]; ok {
		return 2
	}
	return 0
}

// gsmLen returns the number of septets text needs in GSM 03.38 and whether
// every character of text can be written in it.
func gsmLen(text string) (septets int, ok bool) {
	for _, r := range text {
		n := gsmSeptets(r)
		if n == 0 {
			return 0, false
		}
		septets += n
	}
	return septets, true
}

// EncodeGSM7 encodes text in the GSM 03.38 default alphabet, unpacked (one
// septet per octet), with extension-table characters as 0x1B escapes. It
// returns ok=false, and no payload, when any character of text is outside
// GSM 03.38; it never substitutes a character.
func EncodeGSM7(text string) (payload []byte, ok bool) {
	n, ok := gsmLen(text)
	if !ok {
		return nil, false
	}
	out := make([]byte, 0, n)
	for _, r := range text {
		if code, found := gsmBasicCode[r]; found {
			out = append(out, code)
			continue
		}
		out = append(out, gsmEscape, gsmExtensionCode[r])
	}
	return out, true
}

// DecodeGSM7 decodes unpacked GSM 03.38 septets (one per octet) into UTF-8.
// An escape followed by a code the extension table does not define decodes as
// the default-alphabet character of that code, as 3GPP TS 23.038 asks of a
// receiver; a trailing lone escape is dropped. Octets with the high bit set
// are not valid septets and decode as '?'.
func DecodeGSM7(payload []byte) string {
	var b strings.Builder
	b.Grow(len(payload))
	for i := 0; i < len(payload); i++ {
		c := payload[i]
		if c >= 0x80 {
			b.WriteByte('?')
			continue
		}
		if c != gsmEscape {
			b.WriteRune(gsmBasic[c])
			continue
		}
		if i+1 >= len(payload) {
			break
		}
		i++
		next := payload[i]
		if r, ok := gsmExtension[next]; ok {
			b.WriteRune(r)
		} else if next < 0x80 && next != gsmEscape {
			b.WriteRune(gsmBasic[next])
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}
