package store

import (
	"bytes"
	"fmt"
	"slices"
)

// Patches: the write model. A record is written whole once, when it is
// created (v/<id>); every later change is a patch, the difference from the
// record before it, written under the next key of its sequence
// (v/<id>\x00<2-byte BE seq>). A read is the base and its patches in
// order. A send, a receipt or a check thus writes the few dozen bytes that
// changed (a message's state, an event, a deadline) instead of the whole
// record again, and every byte saved is also saved in the memtable, its
// flush and every compaction after. After foldAfter patches the record is
// written whole again and its patches deleted, so a read never walks a long
// list (a record that keeps changing is one whose webhooks keep failing).
//
// A patch is a list of ops, each a tag byte and its field's value in the
// record codec's form. The fields a change commonly touches have ops of
// their own; a change of any other field is the whole record (opRecord),
// so a patch is always exact: applying diff(old, new) to old gives new
// (TestPatchCoversEveryField holds every field of Record to that).

// foldAfter: how many patches a record has before it is written whole
// again.
const foldAfter = 24

const patchV1 = 1 // the first byte of a patch value

// Patch ops.
const (
	opStatus     = iota + 1 // str
	opStep                  // varint
	opAttempts              // varint
	opCodeSealed            // bytes
	opUpdatedAt             // time
	opExpiresAt             // time
	opMessage               // uvarint index, message (an index at the end appends)
	opEvents                // uvarint count, the events appended
	opDeadlines             // uvarint count, every deadline
	opHooks                 // uvarint HookSeq, uvarint HookHead
	opRecord                // the whole record (encodeRecord's form)
)

// diff returns the patch that turns old into rec, nil when they are equal.
func diff(old, rec *Record) ([]byte, error) {
	if !sameStatic(old, rec) || len(rec.Messages) < len(old.Messages) || !isPrefix(old.Events, rec.Events) {
		full, err := encodeRecord(rec)
		if err != nil {
			return nil, err
		}
		return append([]byte{patchV1, opRecord}, full...), nil
	}
	w := make(enc, 0, 128)
	w = append(w, patchV1)
	if rec.Status != old.Status {
		w = append(w, opStatus).str(rec.Status)
	}
	if rec.Step != old.Step {
		w = append(w, opStep).varint(int64(rec.Step))
	}
	if rec.Attempts != old.Attempts {
		w = append(w, opAttempts).varint(int64(rec.Attempts))
	}
	if !bytes.Equal(rec.CodeSealed, old.CodeSealed) {
		w = append(w, opCodeSealed).bytes(rec.CodeSealed)
	}
	if !rec.UpdatedAt.Equal(old.UpdatedAt) {
		w = append(w, opUpdatedAt).time(rec.UpdatedAt)
	}
	if !rec.ExpiresAt.Equal(old.ExpiresAt) {
		w = append(w, opExpiresAt).time(rec.ExpiresAt)
	}
	for i := range rec.Messages {
		if i < len(old.Messages) && sameMessage(&old.Messages[i], &rec.Messages[i]) {
			continue
		}
		w = append(w, opMessage).uvarint(uint64(i)).message(&rec.Messages[i])
	}
	if n := len(rec.Events) - len(old.Events); n > 0 {
		w = append(w, opEvents).uvarint(uint64(n))
		for i := range rec.Events[len(old.Events):] {
			w = w.event(&rec.Events[len(old.Events)+i])
		}
	}
	if !slices.EqualFunc(old.Deadlines, rec.Deadlines, func(a, b Deadline) bool { return a.Kind == b.Kind && a.At.Equal(b.At) }) {
		w = append(w, opDeadlines).uvarint(uint64(len(rec.Deadlines)))
		for _, d := range rec.Deadlines {
			w = w.time(d.At).str(d.Kind)
		}
	}
	if rec.HookSeq != old.HookSeq || rec.HookHead != old.HookHead {
		w = append(w, opHooks).uvarint(uint64(rec.HookSeq)).uvarint(uint64(rec.HookHead))
	}
	if len(w) == 1 {
		return nil, nil
	}
	return w, nil
}

// applyPatch applies the patch p to r in place.
func applyPatch(r *Record, p []byte) error {
	if len(p) == 0 || p[0] != patchV1 {
		return fmt.Errorf("patch: unknown form %v", p[:min(len(p), 1)])
	}
	d := dec{b: p[1:]}
	for len(d.b) > 0 && d.err == nil {
		op := d.b[0]
		d.b = d.b[1:]
		switch op {
		case opStatus:
			r.Status = d.str()
		case opStep:
			r.Step = d.int()
		case opAttempts:
			r.Attempts = d.int()
		case opCodeSealed:
			r.CodeSealed = d.bytes()
		case opUpdatedAt:
			r.UpdatedAt = d.time()
		case opExpiresAt:
			r.ExpiresAt = d.time()
		case opMessage:
			i := d.uvarint()
			switch {
			case i < uint64(len(r.Messages)):
				r.Messages[i] = d.message()
			case i == uint64(len(r.Messages)):
				r.Messages = append(r.Messages, d.message())
			default:
				d.fail(fmt.Errorf("message %d of %d", i, len(r.Messages)))
			}
		case opEvents:
			n := d.count()
			for range n {
				r.Events = append(r.Events, d.event())
			}
		case opDeadlines:
			n := d.count()
			r.Deadlines = make([]Deadline, 0, n)
			for range n {
				r.Deadlines = append(r.Deadlines, Deadline{At: d.time(), Kind: d.str()})
			}
			if n == 0 {
				r.Deadlines = nil
			}
		case opHooks:
			hs, hh := d.uvarint(), d.uvarint()
			if hs > 1<<32-1 || hh > 1<<32-1 {
				d.fail(fmt.Errorf("webhook sequence out of range"))
			}
			r.HookSeq, r.HookHead = uint32(hs), uint32(hh)
		case opRecord:
			full, err := decodeRecord(d.b)
			if err != nil {
				return fmt.Errorf("patch: %w", err)
			}
			patches := r.patches
			*r = *full
			r.patches = patches
			d.b = nil
		default:
			return fmt.Errorf("patch: unknown op %d", op)
		}
	}
	if d.err != nil {
		return fmt.Errorf("patch: %w", d.err)
	}
	return nil
}

// sameStatic reports whether a and b agree on every field that has no op
// of its own (those a verification keeps from its create).
func sameStatic(a, b *Record) bool {
	return a.ID == b.ID && a.Tenant == b.Tenant && a.Number == b.Number && a.Country == b.Country &&
		slices.Equal(a.Workflow, b.Workflow) && a.MaxAttempts == b.MaxAttempts && a.CodeLength == b.CodeLength &&
		a.CodeType == b.CodeType && bytes.Equal(a.CodeHash, b.CodeHash) && a.Template == b.Template &&
		a.SenderID == b.SenderID && a.Locale == b.Locale && a.CallbackURL == b.CallbackURL &&
		a.NextEventWait == b.NextEventWait && a.CreatedAt.Equal(b.CreatedAt) &&
		a.API == b.API && a.Scope == b.Scope && a.ClientRef == b.ClientRef && slices.Equal(a.StepWaits, b.StepWaits) &&
		a.Seq == b.Seq && a.CustomerID == b.CustomerID
}

func sameMessage(a, b *Message) bool {
	return a.Channel == b.Channel && a.Connector == b.Connector && a.MessageID == b.MessageID &&
		slices.Equal(a.Parts, b.Parts) && slices.Equal(a.Failed, b.Failed) && slices.Equal(a.Skipped, b.Skipped) &&
		a.State == b.State && a.Tries == b.Tries && a.Error == b.Error &&
		a.QueuedAt.Equal(b.QueuedAt) && a.SubmittedAt.Equal(b.SubmittedAt) && a.DoneAt.Equal(b.DoneAt)
}

func sameEvent(a, b *Event) bool {
	return a.At.Equal(b.At) && a.Type == b.Type && a.Channel == b.Channel && a.Connector == b.Connector &&
		a.MessageID == b.MessageID && a.Detail == b.Detail
}

// isPrefix reports whether old is where rec's events start (events are
// only ever appended).
func isPrefix(old, rec []Event) bool {
	if len(rec) < len(old) {
		return false
	}
	for i := range old {
		if !sameEvent(&old[i], &rec[i]) {
			return false
		}
	}
	return true
}

func (w enc) message(m *Message) enc {
	w = w.str(m.Channel).str(m.Connector).str(m.MessageID)
	w = w.uvarint(uint64(len(m.Parts)))
	for _, p := range m.Parts {
		w = w.str(p.ID).str(p.State)
	}
	w = w.strs(m.Failed).strs(m.Skipped)
	w = w.str(m.State).varint(int64(m.Tries)).str(m.Error)
	return w.time(m.QueuedAt).time(m.SubmittedAt).time(m.DoneAt)
}

func (d *dec) message() Message {
	var m Message
	m.Channel, m.Connector, m.MessageID = d.str(), d.str(), d.str()
	if np := d.count(); np > 0 {
		m.Parts = make([]Part, np)
		for j := range m.Parts {
			m.Parts[j] = Part{ID: d.str(), State: d.str()}
		}
	}
	m.Failed, m.Skipped = d.strs(), d.strs()
	m.State, m.Tries, m.Error = d.str(), d.int(), d.str()
	m.QueuedAt, m.SubmittedAt, m.DoneAt = d.time(), d.time(), d.time()
	return m
}

func (w enc) event(ev *Event) enc {
	return w.time(ev.At).str(ev.Type).str(ev.Channel).str(ev.Connector).str(ev.MessageID).str(ev.Detail)
}

func (d *dec) event() Event {
	return Event{At: d.time(), Type: d.str(), Channel: d.str(), Connector: d.str(), MessageID: d.str(), Detail: d.str()}
}
