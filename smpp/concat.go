package smpp

import (
	"errors"
	"fmt"
	"unicode/utf16"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// MaxParts is the most parts a concatenated message may have; a longer text
// fails with ErrTooLong (wrapped in ErrInvalidMessage). Ten parts are 1530
// GSM characters or 670 UCS-2 ones: far beyond any OTP template, and a cap on
// what one mistaken template can cost.
const MaxParts = 10

// esm_class bits this package sets on submit_sm.
const esmUDHI = 0x40 // short_message starts with a user data header

// split is a text encoded and cut into SMS parts.
type split struct {
	encoding   string   // EncodingGSM7, EncodingUCS2 or EncodingLatin1
	dataCoding byte     // its data_coding
	units      int      // length of the whole text in the encoding's units
	parts      [][]byte // each part's payload, without a header; one (maybe empty) at least
}

// partSizes returns how many units of an encoding one SMS holds alone, and
// as a part of a concatenated message with the given Config.Concat: 6 octets
// of header for udh8, 7 for udh16 (and SAR, whose header the SMSC adds).
func partSizes(encoding, concat string) (single, multi int) {
	switch encoding {
	case EncodingGSM7:
		single, multi = GSM7SingleSegment, GSM7MultiSegment
	case EncodingUCS2:
		single, multi = UCS2SingleSegment, UCS2MultiSegment
	default:
		single, multi = Latin1SingleSegment, Latin1MultiSegment
	}
	if concat != ConcatUDH8 {
		multi-- // one more header octet: 8 more bits, one septet, half a UCS-2 unit
	}
	return single, multi
}

// splitText picks the encoding of text — GSM 03.38 when every character is
// in it, else Latin-1 when allowed and sufficient, else UCS-2 — encodes it,
// and cuts it into parts at character boundaries: a GSM escape and its code,
// or a UTF-16 surrogate pair, never straddle two parts.
func splitText(text string, latin1 bool, concat string) split {
	var sp split
	unitOctets := 1
	var appendRune func([]byte, rune) []byte
	switch _, gsm := gsmLen(text); {
	case gsm:
		sp.encoding, sp.dataCoding = EncodingGSM7, DataCodingDefault
		appendRune = func(b []byte, r rune) []byte {
			if code, ok := gsmBasicCode[r]; ok {
				return append(b, code)
			}
			return append(b, gsmEscape, gsmExtensionCode[r])
		}
	case latin1 && fitsLatin1(text):
		sp.encoding, sp.dataCoding = EncodingLatin1, DataCodingLatin1
		appendRune = func(b []byte, r rune) []byte { return append(b, byte(r)) }
	default:
		sp.encoding, sp.dataCoding = EncodingUCS2, DataCodingUCS2
		unitOctets = 2
		appendRune = func(b []byte, r rune) []byte {
			for _, u := range utf16.AppendRune(nil, r) {
				b = append(b, byte(u>>8), byte(u))
			}
			return b
		}
	}
	payload := make([]byte, 0, len(text)*unitOctets)
	var ends []int // octet offset after each character
	for _, r := range text {
		payload = appendRune(payload, r)
		ends = append(ends, len(payload))
	}
	sp.units = len(payload) / unitOctets
	single, multi := partSizes(sp.encoding, concat)
	if sp.units <= single {
		sp.parts = [][]byte{payload}
		return sp
	}
	capacity := multi * unitOctets
	start, prev := 0, 0
	for _, end := range ends {
		if end-start > capacity {
			sp.parts = append(sp.parts, payload[start:prev])
			start = prev
		}
		prev = end
	}
	sp.parts = append(sp.parts, payload[start:])
	return sp
}

func fitsLatin1(text string) bool {
	for _, r := range text {
		if r > 0xFF {
			return false
		}
	}
	return true
}

// concatUDH returns the user data header of part seq (1-based) of total for
// udh8 (IEI 0x00, 8-bit reference) or udh16 (IEI 0x08, 16-bit reference).
func concatUDH(concat string, ref uint16, total, seq int) []byte {
	if concat == ConcatUDH16 {
		return []byte{0x06, 0x08, 0x04, byte(ref >> 8), byte(ref), byte(total), byte(seq)}
	}
	return []byte{0x05, 0x00, 0x03, byte(ref), byte(total), byte(seq)}
}

// submitInfo is what may be logged about a message.
type submitInfo struct {
	to       string // masked
	encoding string
	units    int
	parts    int
}

// textOptions are the per-SMSC settings that shape a message.
type textOptions struct {
	latin1 bool
	concat string
}

var defaultTextOptions = textOptions{concat: ConcatUDH8}

// buildMessage validates m and builds one submit_sm per part, in order, with
// registered_delivery 1 each. ref is the concatenation reference (used only
// when the text needs more than one part).
func buildMessage(m Message, opt textOptions, ref uint16) ([]pdu.Body, submitInfo, error) {
	if m.Text == "" {
		return nil, submitInfo{}, errors.New("message text is empty")
	}
	sp := splitText(m.Text, opt.latin1, opt.concat)
	info := submitInfo{to: MaskNumber(m.To), encoding: sp.encoding, units: sp.units, parts: len(sp.parts)}
	if len(sp.parts) > MaxParts {
		_, multi := partSizes(sp.encoding, opt.concat)
		return nil, info, fmt.Errorf("%w: %d %s units need %d parts of %d, at most %d parts are sent", ErrTooLong, sp.units, sp.encoding, len(sp.parts), multi, MaxParts)
	}
	src, err := SourceAddress(m.From)
	if err != nil {
		return nil, info, err
	}
	if m.SourceTON != nil {
		src.TON = *m.SourceTON
	}
	if m.SourceNPI != nil {
		src.NPI = *m.SourceNPI
	}
	dst, err := DestAddress(m.To)
	if err != nil {
		return nil, info, err
	}
	total := len(sp.parts)
	pdus := make([]pdu.Body, 0, total)
	for i, payload := range sp.parts {
		f := SMFields{
			SourceAddrTON: src.TON, SourceAddrNPI: src.NPI, SourceAddr: src.Addr,
			DestAddrTON: dst.TON, DestAddrNPI: dst.NPI, DestinationAddr: dst.Addr,
			RegisteredDelivery: 1, DataCoding: sp.dataCoding, ShortMessage: payload,
		}
		if total > 1 {
			switch opt.concat {
			case ConcatSAR:
				f.TLVs = []TLV{
					{pdutlv.TagSarMsgRefNum, []byte{byte(ref >> 8), byte(ref)}},
					{pdutlv.TagSarTotalSegments, []byte{uint8(total)}},
					{pdutlv.TagSarSegmentSeqnum, []byte{uint8(i + 1)}},
				}
			default:
				f.ESMClass = esmUDHI
				udh := concatUDH(opt.concat, ref, total, i+1)
				f.ShortMessage = append(udh[:len(udh):len(udh)], payload...)
			}
		}
		p, err := f.PDU(pdu.SubmitSMID)
		if err != nil {
			return nil, info, fmt.Errorf("build submit_sm: %w", err)
		}
		pdus = append(pdus, p)
	}
	return pdus, info, nil
}

// buildSubmit builds the first (usually only) submit_sm of m with the
// default text options.
func buildSubmit(m Message) (pdu.Body, submitInfo, error) {
	pdus, info, err := buildMessage(m, defaultTextOptions, 0)
	if err != nil {
		return nil, info, err
	}
	return pdus[0], info, nil
}
