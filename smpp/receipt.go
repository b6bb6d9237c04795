package smpp

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// Receipt is a delivery receipt (DLR) for a message sent with Send or
// Submit.
type Receipt struct {
	SMSC      string // Config.Name of the link it came in on
	Bind      int    // index of the bind it came in on (BindState.Index)
	MessageID string // the SMSC message id as the receipt gives it: TLV receipted_message_id when present, else the text "id:"; see IDCandidates
	Stat      string // DELIVRD, UNDELIV, REJECTD, EXPIRED, DELETED, UNKNOWN, ACCEPTD, ENROUTE; other values as sent, upper-cased
	Delivered bool   // Stat == DELIVRD
	Final     bool   // Stat is a final state (anything but ENROUTE and unrecognised values)
	Err       string // the "err:" field of the receipt text, "" when absent
	// NetworkError is the network_error_code TLV (0x0423), "" when absent:
	// the network type ("ANSI-136", "IS-95", "GSM", or "type<n>"), a colon
	// and the error code in decimal, e.g. "GSM:34"; the value in hex when
	// the TLV is not the 3 octets SMPP defines.
	NetworkError string
	// IDFormat is Config.ReceiptIDs of the SMSC the receipt came from ("" is
	// "auto"); it steers IDCandidates.
	IDFormat string

	// SubmitDate and DoneDate come from the receipt text (YYMMDDhhmm or
	// YYMMDDhhmmss, read as UTC since receipts carry no zone); zero when
	// absent or unparsable.
	SubmitDate, DoneDate time.Time
	ReceivedAt           time.Time
}

// Receipt states (the "stat:" values of SMPP 3.4 appendix B).
const (
	StatDelivered     = "DELIVRD"
	StatUndeliverable = "UNDELIV"
	StatRejected      = "REJECTD"
	StatExpired       = "EXPIRED"
	StatDeleted       = "DELETED"
	StatUnknown       = "UNKNOWN"
	StatAccepted      = "ACCEPTD"
	StatEnroute       = "ENROUTE"
)

// ErrNotReceipt: the deliver_sm is not a delivery receipt (esm_class says it
// is a mobile-originated message).
var ErrNotReceipt = errors.New("smpp: deliver_sm is not a delivery receipt")

// esm_class message types (bits 2..5) that carry a receipt.
const (
	esmTypeMask         = 0x3C
	esmSMSCReceipt      = 0x04
	esmIntermediateNote = 0x20
)

// IsReceipt reports whether esm_class marks a deliver_sm as an SMSC delivery
// receipt (0x04) or an intermediate delivery notification (0x20).
func IsReceipt(esmClass byte) bool {
	t := esmClass & esmTypeMask
	return t == esmSMSCReceipt || t == esmIntermediateNote
}

// messageStates maps the message_state TLV (0x0427) to receipt stat names.
var messageStates = map[byte]string{
	1: StatEnroute,
	2: StatDelivered,
	3: StatExpired,
	4: StatDeleted,
	5: StatUndeliverable,
	6: StatAccepted,
	7: StatUnknown,
	8: StatRejected,
	9: StatUndeliverable, // SKIPPED (SMPP 5.0): not delivered
}

// statAliases maps stat spellings seen in the wild to the standard ones.
var statAliases = map[string]string{
	"DELIVRD":       StatDelivered,
	"DELIVERED":     StatDelivered,
	"UNDELIV":       StatUndeliverable,
	"UNDELIVERABLE": StatUndeliverable,
	"UNDELIVERED":   StatUndeliverable,
	"FAILED":        StatUndeliverable,
	"REJECTD":       StatRejected,
	"REJECTED":      StatRejected,
	"EXPIRED":       StatExpired,
	"DELETED":       StatDeleted,
	"UNKNOWN":       StatUnknown,
	"ACCEPTD":       StatAccepted,
	"ACCEPTED":      StatAccepted,
	"ENROUTE":       StatEnroute,
}

// ParseReceipt reads a delivery receipt from a deliver_sm PDU. The TLVs
// receipted_message_id (0x001E) and message_state (0x0427) win over the text
// fields when present; the text ("id:… sub:… dlvrd:… submit date:… done
// date:… stat:… err:… text:…", from short_message or the message_payload TLV)
// supplies the rest. It fails with ErrNotReceipt for a non-receipt deliver_sm,
// and with an error naming what is missing when no id or no state can be
// found. SMSC and ReceivedAt are left for the caller (ReceivedAt is set to now).
func ParseReceipt(p pdu.Body) (Receipt, error) {
	if id := p.Header().ID; id != pdu.DeliverSMID && id != pdu.DataSMID {
		return Receipt{}, fmt.Errorf("smpp: %s is not a deliver_sm", CommandName(id))
	}
	esm := FieldByte(p, pdufield.ESMClass)
	if !IsReceipt(esm) {
		return Receipt{}, fmt.Errorf("%w (esm_class 0x%02X)", ErrNotReceipt, esm)
	}
	text := FieldBytes(p, pdufield.ShortMessage)
	if len(text) == 0 {
		if b, ok := TLVBytes(p, pdutlv.TagMessagePayload); ok {
			text = b
		}
	}
	var tlvID, tlvStat string
	if b, ok := TLVBytes(p, pdutlv.TagReceiptedMessageID); ok {
		tlvID = strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
	}
	if b, ok := TLVBytes(p, pdutlv.TagMessageStateOption); ok && len(b) == 1 {
		tlvStat = messageStates[b[0]]
	}
	r, err := parseReceipt(string(text), tlvID, tlvStat)
	if err != nil {
		return r, err
	}
	if b, ok := TLVBytes(p, pdutlv.TagNetworkErrorCode); ok {
		r.NetworkError = networkError(b)
	}
	return r, nil
}

// networkError formats the network_error_code TLV: network type (1 octet)
// and error code (2 octets, big-endian).
func networkError(b []byte) string {
	if len(b) != 3 {
		return hex.EncodeToString(b)
	}
	var kind string
	switch b[0] {
	case 1:
		kind = "ANSI-136"
	case 2:
		kind = "IS-95"
	case 3:
		kind = "GSM"
	default:
		kind = "type" + strconv.Itoa(int(b[0]))
	}
	return kind + ":" + strconv.Itoa(int(b[1])<<8|int(b[2]))
}

// IDCandidates returns the ids under which the message this receipt is
// about may have been recorded (the submit_sm_resp id), to try in turn:
// MessageID as received first, then — per IDFormat — its forms in the other
// base, without leading zeros: hex in lower case, hex in upper case,
// decimal. With "auto" (or ""), an id that parses as decimal offers its hex
// forms, and one that parses as hex offers its decimal form (an all-digit id
// does both) and, when it is not decimal, itself in both cases; "decimal"
// and "hex" read the id in that base only; "same" offers the id alone. Ids
// beyond 64 bits are not converted. Duplicates are left out.
func (r Receipt) IDCandidates() []string {
	id := r.MessageID
	out := []string{id}
	if id == "" {
		return out
	}
	mode := r.IDFormat
	if mode == "" {
		mode = ReceiptIDsAuto
	}
	var hexLower, hexUpper, dec string
	if mode == ReceiptIDsAuto || mode == ReceiptIDsDecimal {
		if v, err := strconv.ParseUint(id, 10, 64); err == nil {
			hexLower = strconv.FormatUint(v, 16)
			hexUpper = strings.ToUpper(hexLower)
		}
	}
	if mode == ReceiptIDsAuto || mode == ReceiptIDsHex {
		if v, err := strconv.ParseUint(id, 16, 64); err == nil {
			dec = strconv.FormatUint(v, 10)
			if hexLower == "" {
				hexLower = strconv.FormatUint(v, 16)
				hexUpper = strings.ToUpper(hexLower)
			}
		}
	}
	for _, c := range []string{hexLower, hexUpper, dec} {
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// ParseReceiptText reads the text form of a delivery receipt alone.
func ParseReceiptText(text string) (Receipt, error) {
	return parseReceipt(text, "", "")
}

func parseReceipt(text, tlvID, tlvStat string) (Receipt, error) {
	f := receiptFields(text)
	r := Receipt{
		MessageID:  tlvID,
		Stat:       tlvStat,
		Err:        f["err"],
		SubmitDate: parseReceiptDate(f["submit date"]),
		DoneDate:   parseReceiptDate(f["done date"]),
		ReceivedAt: time.Now(),
	}
	if r.MessageID == "" {
		r.MessageID = f["id"]
	}
	if r.Stat == "" {
		r.Stat = normalizeStat(f["stat"])
	}
	switch {
	case r.MessageID == "" && r.Stat == "":
		return Receipt{}, fmt.Errorf("smpp: receipt has neither a message id nor a state (%d octets of text, no receipted_message_id/message_state TLV)", len(text))
	case r.MessageID == "":
		return Receipt{}, fmt.Errorf("smpp: receipt with stat %s has no message id (no \"id:\" in text, no receipted_message_id TLV)", r.Stat)
	case r.Stat == "":
		return Receipt{}, fmt.Errorf("smpp: receipt for message id %q has no state (no \"stat:\" in text, no message_state TLV)", r.MessageID)
	}
	r.Delivered = r.Stat == StatDelivered
	_, known := statAliases[r.Stat]
	r.Final = known && r.Stat != StatEnroute
	return r, nil
}

func normalizeStat(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if std, ok := statAliases[s]; ok {
		return std
	}
	return s
}

// receiptKeys are the fields of the receipt text, in the order of SMPP 3.4
// appendix B. "text" is last and runs to the end of the message.
var receiptKeys = []string{"id", "sub", "dlvrd", "submit date", "done date", "stat", "err"}

// receiptFields splits a receipt text into its fields. Keys match
// case-insensitively at the start of the text or after a space; each value
// runs to the next space (so "submit date:2401021530" works), except text:,
// which runs to the end and is not returned (it echoes the message).
func receiptFields(text string) map[string]string {
	lower := strings.ToLower(text)
	end := len(text)
	if i := findKey(lower, "text", len(lower)); i >= 0 {
		end = i
	}
	out := make(map[string]string, len(receiptKeys))
	for _, k := range receiptKeys {
		i := findKey(lower, k, end)
		if i < 0 {
			continue
		}
		start := i + len(k) + 1
		out[k] = fieldValue(text[start:end])
	}
	return out
}

// fieldValue returns the first token of v. A value separated from its key by
// spaces ("id: 123") is accepted unless the token is itself the next key.
func fieldValue(v string) string {
	trimmed := strings.TrimLeft(v, " ")
	spaced := len(trimmed) != len(v)
	if j := strings.IndexByte(trimmed, ' '); j >= 0 {
		trimmed = trimmed[:j]
	}
	if spaced && strings.Contains(trimmed, ":") {
		return ""
	}
	return trimmed
}

// findKey returns the index of "key:" in s[:end] at the start of s or after
// whitespace, or -1.
func findKey(s, key string, end int) int {
	needle := key + ":"
	from := 0
	for from < end {
		i := strings.Index(s[from:end], needle)
		if i < 0 {
			return -1
		}
		i += from
		if i == 0 || s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '\n' || s[i-1] == '\r' {
			return i
		}
		from = i + 1
	}
	return -1
}

// parseReceiptDate reads YYMMDDhhmm or YYMMDDhhmmss as UTC.
func parseReceiptDate(s string) time.Time {
	var layout string
	switch len(s) {
	case 10:
		layout = "0601021504"
	case 12:
		layout = "060102150405"
	default:
		return time.Time{}
	}
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}
