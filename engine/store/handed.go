package store

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Handed marks. The send path's exact-once boundary: a message is "handed"
// to a connector from just before the connector is asked to send it until
// the outcome (submitted, or a failure) is recorded. The mark is committed
// durably (synced) before the connector sees the message, and removed in
// the same batch as the outcome, so after any crash:
//
//   - a queued message without a mark was never given to a connector:
//     nothing went out, and it is sent at once after the restart;
//   - a queued message with a mark may have reached the far end (the
//     process died between the send and the durable record of its
//     outcome): it is sent again only after the dispatch lease, once;
//   - a message whose outcome is durable has no mark and is never resent.
//
// Key: h/<id> → uvarint message index, varint unix nanoseconds, then the
// connector's name (which of the record's messages was handed, when, and to
// whom: the lease runs from then, and a status callback for it is believed
// only from that connector). Marks written before the connector was kept
// end after the time and read as connector "".

const pfxHanded = "h/"

func handedKey(id string) []byte { return append([]byte(pfxHanded), id...) }

// MarkHanded durably records that id's message mi is about to be given to
// connector, at. Marks from the send workers are committed together (one
// batch, one fsync) by markLoop, so a mark costs a few dozen bytes of WAL,
// not a commit of its own. Synced under SyncAlways; under SyncBatch and
// SyncNone as durable as every other write.
func (s *Store) MarkHanded(id string, mi int, connector string, at time.Time) error {
	if err := s.enter(); err != nil {
		return err
	}
	v := binary.AppendUvarint(nil, uint64(mi))
	v = binary.AppendVarint(v, at.UnixNano())
	v = append(v, connector...)
	req := markReq{id: id, value: v, done: make(chan error, 1)}
	select {
	case s.marks <- req:
	case <-s.stop:
		s.leave()
		return ErrClosed
	}
	s.leave() // markLoop commits it; Close waits for markLoop
	return <-req.done
}

// Mark is a handed mark: the message given to a connector, when, and to
// which.
type Mark struct {
	Message   int
	At        time.Time
	Connector string
}

type markReq struct {
	id    string
	value []byte
	done  chan error
}

// markLoop commits handed marks in batches: the first waiting mark and
// every other one already queued go in one commit.
func (s *Store) markLoop() {
	defer close(s.marksDone)
	var reqs []markReq
	for {
		reqs = reqs[:0]
		select {
		case <-s.stop:
			for {
				select {
				case r := <-s.marks:
					r.done <- ErrClosed
				default:
					return
				}
			}
		case r := <-s.marks:
			reqs = append(reqs, r)
		}
	more:
		for len(reqs) < 1024 {
			select {
			case r := <-s.marks:
				reqs = append(reqs, r)
			default:
				break more
			}
		}
		b := s.db.NewBatch()
		for _, r := range reqs {
			_ = b.Set(handedKey(r.id), r.value, nil)
		}
		err := s.commit(b)
		b.Close()
		if err != nil {
			err = fmt.Errorf("store: marking %d messages handed: %w", len(reqs), err)
		}
		for _, r := range reqs {
			r.done <- err
		}
	}
}

// Handed returns id's handed mark, if it has one.
func (s *Store) Handed(id string) (Mark, bool, error) {
	if err := s.enter(); err != nil {
		return Mark{}, false, err
	}
	defer s.leave()
	v, ok, err := s.get(handedKey(id))
	if err != nil || !ok {
		return Mark{}, false, err
	}
	mi, n := binary.Uvarint(v)
	at, m := binary.Varint(v[max(n, 0):])
	if n <= 0 || m <= 0 || mi > maxListLen {
		return Mark{}, false, fmt.Errorf("store: handed mark of %s: %w", id, ErrCorrupt)
	}
	return Mark{Message: int(mi), At: time.Unix(0, at).UTC(), Connector: string(v[n+m:])}, true, nil
}

// ClearHanded, called inside an Update function, removes id's handed mark
// in the same commit as the update (the outcome of the send it marked).
func (r *Record) ClearHanded() { r.clearHanded = true }

// writeHanded adds the removal of the handed mark to b when the update
// asked for it.
func writeHanded(b *pebble.Batch, r *Record) {
	if r.clearHanded {
		_ = b.Delete(handedKey(r.ID), nil)
		r.clearHanded = false
	}
}

// Deadlines calls fn with each deadline of kind due after from and at or
// before to, in time order, until fn returns false. It walks the deadline
// index from from: the cost is the deadlines in that span.
func (s *Store) Deadlines(from, to time.Time, kind string, fn func(Due) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	lower := deadlineKey(from.Add(time.Nanosecond), "", "")
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower[:len(pfxDeadline)+8], UpperBound: prefixEnd(pfxDeadline)})
	if err != nil {
		return fmt.Errorf("store: deadline iterator: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		at, id, k, good := parseDeadlineKey(it.Key())
		if !good {
			continue
		}
		if at.After(to) {
			break
		}
		if k == kind && !fn(Due{ID: id, Kind: k, At: at}) {
			break
		}
	}
	return it.Error()
}
