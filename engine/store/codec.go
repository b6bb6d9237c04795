package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Record encodings. The first byte of every stored record value names its
// encoding:
//
//	1: JSON (the first releases; still read, never written)
//	2: the binary form below (read, no longer written)
//	3: version 2 and, after its last field, API, Scope, ClientRef,
//	   StepWaits, Seq and CustomerID (written since)
//
// The binary form is the fields of Record in declaration order: strings and
// byte slices as a uvarint length and the bytes, integers as varints, times
// as a varint of Unix nanoseconds (0 for the zero time), lists as a uvarint
// count and their elements. There are no field tags: a change of Record's
// fields is a new version byte, and the decoder of every older version
// stays. Decoding JSON cost a fifth of the CPU of a verification; this form
// costs a few hundred nanoseconds.
const (
	recordV1 = 1
	recordV2 = 2
	recordV3 = 3
)

// maxListLen bounds list counts read from disk so a corrupt length cannot
// make the decoder allocate gigabytes.
const maxListLen = 1 << 16

func encodeRecord(r *Record) ([]byte, error) {
	w := make(enc, 0, 512)
	w = append(w, recordV3)
	w = w.str(r.ID).str(r.Tenant).str(r.Number).str(r.Country).str(r.Status)
	w = w.uvarint(uint64(len(r.Workflow)))
	for _, s := range r.Workflow {
		w = w.str(s)
	}
	w = w.varint(int64(r.Step)).varint(int64(r.Attempts)).varint(int64(r.MaxAttempts)).varint(int64(r.CodeLength))
	w = w.str(r.CodeType).bytes(r.CodeHash).bytes(r.CodeSealed)
	w = w.str(r.Template).str(r.SenderID).str(r.Locale).str(r.CallbackURL)
	w = w.varint(int64(r.NextEventWait))
	w = w.time(r.CreatedAt).time(r.ExpiresAt).time(r.UpdatedAt)
	w = w.uvarint(uint64(len(r.Messages)))
	for i := range r.Messages {
		w = w.message(&r.Messages[i])
	}
	w = w.uvarint(uint64(len(r.Events)))
	for i := range r.Events {
		w = w.event(&r.Events[i])
	}
	w = w.uvarint(uint64(len(r.Deadlines)))
	for _, d := range r.Deadlines {
		w = w.time(d.At).str(d.Kind)
	}
	w = w.uvarint(uint64(r.HookSeq)).uvarint(uint64(r.HookHead))
	w = w.str(r.API).str(r.Scope).str(r.ClientRef)
	w = w.uvarint(uint64(len(r.StepWaits)))
	for _, d := range r.StepWaits {
		w = w.varint(int64(d))
	}
	w = w.uvarint(r.Seq).str(r.CustomerID)
	return w, nil
}

func decodeRecord(b []byte) (*Record, error) {
	if len(b) == 0 {
		return nil, errors.New("record value is empty")
	}
	switch b[0] {
	case recordV1:
		r := new(Record)
		if err := json.Unmarshal(b[1:], r); err != nil {
			return nil, fmt.Errorf("decode record (v1): %w", err)
		}
		return r, nil
	case recordV2, recordV3:
		d := dec{b: b[1:]}
		r := d.record()
		if b[0] >= recordV3 {
			d.recordV3(r)
		}
		if d.err != nil {
			return nil, fmt.Errorf("decode record (v%d) at byte %d: %w", b[0], len(b)-len(d.b), d.err)
		}
		if len(d.b) != 0 {
			return nil, fmt.Errorf("decode record (v%d): %d trailing bytes", b[0], len(d.b))
		}
		return r, nil
	default:
		return nil, fmt.Errorf("record value has unknown encoding version %d", b[0])
	}
}

// enc appends the binary form.
type enc []byte

func (w enc) uvarint(v uint64) enc { return binary.AppendUvarint(w, v) }
func (w enc) varint(v int64) enc   { return binary.AppendVarint(w, v) }
func (w enc) str(s string) enc     { return append(w.uvarint(uint64(len(s))), s...) }
func (w enc) bytes(b []byte) enc   { return append(w.uvarint(uint64(len(b))), b...) }

func (w enc) strs(ss []string) enc {
	w = w.uvarint(uint64(len(ss)))
	for _, s := range ss {
		w = w.str(s)
	}
	return w
}

func (w enc) time(t time.Time) enc {
	if t.IsZero() {
		return w.varint(0)
	}
	return w.varint(t.UnixNano())
}

// dec reads the binary form; the first fault sticks in err and every later
// read returns zero values, so record() reads straight through and checks
// once.
type dec struct {
	b   []byte
	err error
}

var errShort = errors.New("value ends early")

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int {
	v := d.varint()
	if v > math.MaxInt32 || v < math.MinInt32 {
		d.fail(fmt.Errorf("integer %d out of range", v))
		return 0
	}
	return int(v)
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *dec) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("length %d beyond the %d bytes left", n, len(d.b)))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.raw()) }

func (d *dec) bytes() []byte {
	v := d.raw()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// count reads a list length.
func (d *dec) count() int {
	n := d.uvarint()
	if n > maxListLen || n > uint64(len(d.b)) { // every element takes at least a byte
		d.fail(fmt.Errorf("list length %d is implausible", n))
		return 0
	}
	return int(n)
}

func (d *dec) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *dec) time() time.Time {
	v := d.varint()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *dec) record() *Record {
	r := &Record{}
	r.ID, r.Tenant, r.Number, r.Country, r.Status = d.str(), d.str(), d.str(), d.str(), d.str()
	r.Workflow = d.strs()
	r.Step, r.Attempts, r.MaxAttempts, r.CodeLength = d.int(), d.int(), d.int(), d.int()
	r.CodeType, r.CodeHash, r.CodeSealed = d.str(), d.bytes(), d.bytes()
	r.Template, r.SenderID, r.Locale, r.CallbackURL = d.str(), d.str(), d.str(), d.str()
	r.NextEventWait = time.Duration(d.varint())
	r.CreatedAt, r.ExpiresAt, r.UpdatedAt = d.time(), d.time(), d.time()
	if n := d.count(); n > 0 {
		r.Messages = make([]Message, n)
		for i := range r.Messages {
			r.Messages[i] = d.message()
		}
	}
	if n := d.count(); n > 0 {
		r.Events = make([]Event, n)
		for i := range r.Events {
			r.Events[i] = d.event()
		}
	}
	if n := d.count(); n > 0 {
		r.Deadlines = make([]Deadline, n)
		for i := range r.Deadlines {
			r.Deadlines[i] = Deadline{At: d.time(), Kind: d.str()}
		}
	}
	hs, hh := d.uvarint(), d.uvarint()
	if hs > math.MaxUint32 || hh > math.MaxUint32 {
		d.fail(errors.New("webhook sequence out of range"))
	}
	r.HookSeq, r.HookHead = uint32(hs), uint32(hh)
	return r
}

// recordV3 reads the fields version 3 adds after version 2's.
func (d *dec) recordV3(r *Record) {
	r.API, r.Scope, r.ClientRef = d.str(), d.str(), d.str()
	if n := d.count(); n > 0 {
		r.StepWaits = make([]time.Duration, n)
		for i := range r.StepWaits {
			r.StepWaits[i] = time.Duration(d.varint())
		}
	}
	r.Seq, r.CustomerID = d.uvarint(), d.str()
}
