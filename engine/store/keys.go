package store

import (
	"encoding/binary"
	"time"
)

// Key layout (one Pebble keyspace, prefixes keep kinds apart and ordered):
//
//	v/<id>                                → record base (the record codec's form)
//	v/<id>\x00<2-byte BE seq>              → patch (the record's later changes, see patch.go)
//	p/<tenant>\x00<number>                → id   (pending index: at most one pending per pair)
//	l/<tenant>\x00<number>                → id   (the pair's verification that ended last)
//	m/<connector>\x00<message id>         → id   (connector message id → verification, for receipts)
//	d/<8-byte BE unix nanos><id>\x00<kind> → nil  (deadline index, walked from the front)
//	o/<id>\x00<4-byte BE seq>             → webhook (outbox, see outbox.go)
//	x/<8-byte BE unix nanos><id>\x00<seq>  → webhook (dead letters, by time)
//	k/<name>                              → value with an expiry (idempotency keys, limit counters)
//	t/<8-byte BE unix nanos><name>         → nil  (expiry index of k/ keys)
//	h/<id>                                → nil  (handed mark, see handed.go)
//	z/format                              → uvarint (the data directory's format, see format.go)
const (
	pfxRecord   = "v/"
	pfxPending  = "p/"
	pfxLast     = "l/"
	pfxMessage  = "m/"
	pfxDeadline = "d/"
	pfxOutbox   = "o/"
	pfxDead     = "x/"
	pfxKeyed    = "k/"
	pfxExpiry   = "t/"
)

func recordKey(id string) []byte { return append([]byte(pfxRecord), id...) }

// patchKey is the key of record id's patch seq; the patches of a record
// sort after its base and before any other record's key.
func patchKey(id string, seq int) []byte {
	k := make([]byte, 0, len(pfxRecord)+len(id)+3)
	k = append(k, pfxRecord...)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint16(k, uint16(seq))
}

func pendingKey(tenant, number string) []byte {
	k := make([]byte, 0, len(pfxPending)+len(tenant)+1+len(number))
	k = append(k, pfxPending...)
	k = append(k, tenant...)
	k = append(k, 0)
	return append(k, number...)
}

func lastKey(tenant, number string) []byte {
	k := make([]byte, 0, len(pfxLast)+len(tenant)+1+len(number))
	k = append(k, pfxLast...)
	k = append(k, tenant...)
	k = append(k, 0)
	return append(k, number...)
}

func messageKey(connector, msgID string) []byte {
	k := make([]byte, 0, len(pfxMessage)+len(connector)+1+len(msgID))
	k = append(k, pfxMessage...)
	k = append(k, connector...)
	k = append(k, 0)
	return append(k, msgID...)
}

func deadlineKey(at time.Time, id, kind string) []byte {
	k := make([]byte, 0, len(pfxDeadline)+8+len(id)+1+len(kind))
	k = append(k, pfxDeadline...)
	k = binary.BigEndian.AppendUint64(k, uint64(at.UnixNano()))
	k = append(k, id...)
	k = append(k, 0)
	return append(k, kind...)
}

// parseDeadlineKey is the inverse of deadlineKey; ok is false for a key of
// another shape.
func parseDeadlineKey(k []byte) (at time.Time, id, kind string, ok bool) {
	if len(k) < len(pfxDeadline)+8+2 || string(k[:len(pfxDeadline)]) != pfxDeadline {
		return time.Time{}, "", "", false
	}
	rest := k[len(pfxDeadline):]
	at = time.Unix(0, int64(binary.BigEndian.Uint64(rest[:8])))
	rest = rest[8:]
	for i, c := range rest {
		if c == 0 {
			return at, string(rest[:i]), string(rest[i+1:]), true
		}
	}
	return time.Time{}, "", "", false
}

// prefixEnd returns the first key after every key with prefix p.
func prefixEnd(p string) []byte {
	b := []byte(p)
	b[len(b)-1]++
	return b
}
