package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The webhook outbox. A record's webhooks are items o/<id>\x00<seq>, added
// in the same batch as the record change they report, so a change and its
// webhook are durable together. They are delivered in seq order, one at a
// time per record (the engine schedules the head with a record deadline);
// an item that cannot be delivered in time moves to the dead letters,
// x/<8-byte time><id>\x00<seq>, kept for the retention and listed by admins.

// Hook is one webhook delivery.
type Hook struct {
	Seq       uint32          `json:"seq"`
	Tenant    string          `json:"tenant"`
	URL       string          `json:"url"`
	Body      json.RawMessage `json:"body"`
	CreatedAt time.Time       `json:"created_at"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error,omitempty"`
	DeadAt    time.Time       `json:"dead_at,omitzero"`
	ID        string          `json:"verification_id"`
}

type hookOpKind int

const (
	hookAdd hookOpKind = iota
	hookRewrite
	hookDone
	hookDead
)

type hookOp struct {
	kind hookOpKind
	h    Hook
}

// AddHook appends a webhook to r's outbox and returns its seq.
func (r *Record) AddHook(h Hook) uint32 {
	h.Seq, h.ID, h.Tenant = r.HookSeq, r.ID, r.Tenant
	r.HookSeq++
	r.ops = append(r.ops, hookOp{hookAdd, h})
	return h.Seq
}

// HooksPending reports whether r has webhooks not yet delivered.
func (r *Record) HooksPending() bool { return r.HookHead != r.HookSeq }

// HookRetry rewrites the head item (its attempts and last error).
func (r *Record) HookRetry(h Hook) { r.ops = append(r.ops, hookOp{hookRewrite, h}) }

// HookDone removes the delivered head item and moves the head on.
func (r *Record) HookDone(h Hook) {
	r.ops = append(r.ops, hookOp{hookDone, h})
	r.HookHead = h.Seq + 1
}

// HookDead moves the head item to the dead letters and moves the head on.
func (r *Record) HookDead(h Hook, at time.Time) {
	h.DeadAt = at
	r.ops = append(r.ops, hookOp{hookDead, h})
	r.HookHead = h.Seq + 1
}

func outboxPrefix(id string) []byte {
	k := make([]byte, 0, len(pfxOutbox)+len(id)+1)
	k = append(k, pfxOutbox...)
	k = append(k, id...)
	return append(k, 0)
}

func outboxKey(id string, seq uint32) []byte {
	return binary.BigEndian.AppendUint32(outboxPrefix(id), seq)
}

func deadKey(at time.Time, id string, seq uint32) []byte {
	k := make([]byte, 0, len(pfxDead)+8+len(id)+5)
	k = append(k, pfxDead...)
	k = binary.BigEndian.AppendUint64(k, uint64(at.UnixNano()))
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, seq)
}

// writeHookOps adds r's outbox changes to b.
func writeHookOps(b *pebble.Batch, r *Record) error {
	for _, op := range r.ops {
		switch op.kind {
		case hookAdd, hookRewrite:
			v, err := json.Marshal(op.h)
			if err != nil {
				return fmt.Errorf("encode webhook %s/%d: %w", r.ID, op.h.Seq, err)
			}
			_ = b.Set(outboxKey(r.ID, op.h.Seq), v, nil)
		case hookDone:
			_ = b.Delete(outboxKey(r.ID, op.h.Seq), nil)
		case hookDead:
			v, err := json.Marshal(op.h)
			if err != nil {
				return fmt.Errorf("encode dead webhook %s/%d: %w", r.ID, op.h.Seq, err)
			}
			_ = b.Delete(outboxKey(r.ID, op.h.Seq), nil)
			_ = b.Set(deadKey(op.h.DeadAt, r.ID, op.h.Seq), v, nil)
		}
	}
	return nil
}

// Hook returns the outbox item seq of record id.
func (s *Store) Hook(id string, seq uint32) (*Hook, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	v, ok, err := s.get(outboxKey(id, seq))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	h := new(Hook)
	if err := json.Unmarshal(v, h); err != nil {
		return nil, fmt.Errorf("store: webhook %s/%d: %w: %v", id, seq, ErrCorrupt, err)
	}
	return h, nil
}

// DeadHooks lists dead letters, newest first, at most limit, of tenant
// (all tenants when tenant is "").
func (s *Store) DeadHooks(tenant string, limit int) ([]Hook, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(pfxDead), UpperBound: prefixEnd(pfxDead)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Hook
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		var h Hook
		if err := json.Unmarshal(it.Value(), &h); err != nil {
			continue
		}
		if tenant == "" || h.Tenant == tenant {
			out = append(out, h)
		}
	}
	return out, it.Error()
}

// PurgeDead removes dead letters older than before, with one range delete.
func (s *Store) PurgeDead(before time.Time) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	end := binary.BigEndian.AppendUint64([]byte(pfxDead), uint64(before.UnixNano()))
	return s.db.DeleteRange([]byte(pfxDead), end, pebble.NoSync)
}

// Purge removes record id and everything keyed by it: its indexes, its
// deadlines and its outbox (one range delete). A missing record is no error.
func (s *Store) Purge(id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	mu := s.shard(id)
	mu.Lock()
	defer mu.Unlock()
	s.recs.drop(id)
	r, err := s.load(id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err != nil { // corrupt: remove the record and its patches alone
		base := recordKey(id)
		_ = b.DeleteRange(base, append(bytes.Clone(base), 1), nil)
		return s.commitWith(b, pebble.NoSync)
	}
	if r.Pending() {
		pm := s.pair(r.Tenant, r.Number)
		pm.Lock()
		defer pm.Unlock()
		if v, ok, _ := s.get(pendingKey(r.Tenant, r.Number)); ok && bytes.Equal(v, []byte(id)) {
			_ = b.Delete(pendingKey(r.Tenant, r.Number), nil)
		}
	}
	if v, ok, _ := s.get(lastKey(r.Tenant, r.Number)); ok && bytes.Equal(v, []byte(id)) {
		_ = b.Delete(lastKey(r.Tenant, r.Number), nil)
	}
	// Every connector id the record ever had: its messages' and, for ids a
	// message had before a failover replaced them (a failed call's), its
	// events'.
	dropMessage := func(connector, mid string) {
		if v, ok, _ := s.get(messageKey(connector, mid)); ok && bytes.Equal(v, []byte(id)) {
			_ = b.Delete(messageKey(connector, mid), nil)
		}
	}
	for _, m := range r.Messages {
		for _, mid := range m.IDs() {
			dropMessage(m.Connector, mid)
		}
	}
	for _, e := range r.Events {
		if e.MessageID != "" && e.Connector != "" {
			dropMessage(e.Connector, e.MessageID)
		}
	}
	for _, d := range r.Deadlines {
		_ = b.Delete(deadlineKey(d.At, id, d.Kind), nil)
	}
	_ = b.Delete(handedKey(id), nil)
	// The outbox items left are HookHead..HookSeq-1 (delivered and dead
	// ones were deleted as they went): point deletes, not a range
	// tombstone per record, which would pile up for reads to step over.
	if r.HookSeq-r.HookHead <= 1024 {
		for seq := r.HookHead; seq < r.HookSeq; seq++ {
			_ = b.Delete(outboxKey(id, seq), nil)
		}
	} else { // implausibly many: one range delete rather than a long loop
		p := outboxPrefix(id)
		_ = b.DeleteRange(p, prefixEnd(string(p)), nil)
	}
	for i := range r.patches {
		_ = b.Delete(patchKey(id, i), nil)
	}
	_ = b.Delete(recordKey(id), nil)
	// Lazy: losing a purge in a machine crash only delays it (its deadline
	// key is gone with it, so the next start would not redo it; the record
	// would then stay until an operator compaction — acceptable and rare).
	return s.commitWith(b, pebble.NoSync)
}
