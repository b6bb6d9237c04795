package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Keyed values: small values under a name that expire (idempotency keys,
// limit counters). Stored as k/<name> → 8-byte BE expiry + payload, with an
// expiry index t/<expiry><name> so ExpireKeyed removes them in time order
// without scanning the live ones.

// Keyed is a named value with an expiry, written by Insert beside a record.
type Keyed struct {
	Name    string
	Value   []byte
	Expires time.Time
}

func keyedKey(name string) []byte { return append([]byte(pfxKeyed), name...) }

func expiryKey(at time.Time, name string) []byte {
	k := make([]byte, 0, len(pfxExpiry)+8+len(name))
	k = append(k, pfxExpiry...)
	k = binary.BigEndian.AppendUint64(k, uint64(at.UnixNano()))
	return append(k, name...)
}

func encodeKeyed(v []byte, exp time.Time) []byte {
	out := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(v)), uint64(exp.UnixNano()))
	return append(out, v...)
}

func decodeKeyed(b []byte) (v []byte, exp time.Time, ok bool) {
	if len(b) < 8 {
		return nil, time.Time{}, false
	}
	return b[8:], time.Unix(0, int64(binary.BigEndian.Uint64(b))), true
}

// putKeyed adds k to b, replacing a previous value (and its expiry entry).
func (s *Store) putKeyed(b *pebble.Batch, k Keyed) error {
	old, ok, err := s.get(keyedKey(k.Name))
	if err != nil {
		return err
	}
	if ok {
		if _, exp, good := decodeKeyed(old); good {
			_ = b.Delete(expiryKey(exp, k.Name), nil)
		}
	}
	_ = b.Set(keyedKey(k.Name), encodeKeyed(k.Value, k.Expires), nil)
	_ = b.Set(expiryKey(k.Expires, k.Name), nil, nil)
	return nil
}

func (s *Store) keyedLock(name string) func() {
	mu := &s.keyed[hashIndex(len(s.keyed), name)]
	mu.Lock()
	return mu.Unlock
}

// GetKeyed returns the value under name unless it is missing or expired.
func (s *Store) GetKeyed(name string, now time.Time) ([]byte, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.leave()
	b, ok, err := s.get(keyedKey(name))
	if err != nil || !ok {
		return nil, false, err
	}
	v, exp, good := decodeKeyed(b)
	if !good {
		return nil, false, fmt.Errorf("store: keyed %q: %w", name, ErrCorrupt)
	}
	if !now.Before(exp) {
		return nil, false, nil
	}
	return v, true, nil
}

// PutKeyed stores a value under name until expires (synced like records).
func (s *Store) PutKeyed(k Keyed) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	defer s.keyedLock(k.Name)()
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.putKeyed(b, k); err != nil {
		return err
	}
	return s.commit(b)
}

// InsertWith is Insert plus keyed values written in the same batch (an
// idempotency key with the verification it created).
func (s *Store) InsertWith(rec *Record, extra ...Keyed) error {
	return s.insert(rec, extra)
}

// Bump counts one event under name in a sliding window: it allows it
// (and records it) when fewer than max events happened in the last window,
// else it refuses and says when the oldest one leaves the window. The
// counter is stored (without waiting for fsync: a machine crash may forget
// the last few milliseconds of counts), so limits hold across restarts.
func (s *Store) Bump(name string, now time.Time, window time.Duration, max int) (ok bool, retryAfter time.Duration, err error) {
	if err := s.enter(); err != nil {
		return false, 0, err
	}
	defer s.leave()
	defer s.keyedLock(name)()
	raw, found, err := s.get(keyedKey(name))
	if err != nil {
		return false, 0, err
	}
	var times []int64
	if found {
		v, _, good := decodeKeyed(raw)
		if !good || len(v)%8 != 0 {
			return false, 0, fmt.Errorf("store: counter %q: %w", name, ErrCorrupt)
		}
		from := now.Add(-window).UnixNano()
		for i := 0; i+8 <= len(v); i += 8 {
			if t := int64(binary.BigEndian.Uint64(v[i:])); t > from {
				times = append(times, t)
			}
		}
	}
	if len(times) >= max {
		oldest := time.Unix(0, times[len(times)-max])
		return false, oldest.Add(window).Sub(now), nil
	}
	times = append(times, now.UnixNano())
	v := make([]byte, 0, 8*len(times))
	for _, t := range times {
		v = binary.BigEndian.AppendUint64(v, uint64(t))
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.putKeyed(b, Keyed{Name: name, Value: v, Expires: now.Add(window)}); err != nil {
		return false, 0, err
	}
	return true, 0, s.commitWith(b, pebble.NoSync)
}

// ExpireKeyed removes up to limit keyed values whose expiry has passed and
// returns how many it removed.
func (s *Store) ExpireKeyed(now time.Time, limit int) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	upper := binary.BigEndian.AppendUint64([]byte(pfxExpiry), uint64(now.UnixNano()))
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(pfxExpiry), UpperBound: upper})
	if err != nil {
		return 0, err
	}
	var names []string
	var keys [][]byte
	for ok := it.First(); ok && len(names) < limit; ok = it.Next() {
		k := it.Key()
		if len(k) < len(pfxExpiry)+8 {
			continue
		}
		names = append(names, string(k[len(pfxExpiry)+8:]))
		keys = append(keys, append([]byte(nil), k...))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, err
	}
	n := 0
	for i, name := range names {
		unlock := s.keyedLock(name)
		b := s.db.NewBatch()
		_ = b.Delete(keys[i], nil)
		// the value may have been renewed with a later expiry: only remove
		// it when this entry is its expiry
		if raw, ok, _ := s.get(keyedKey(name)); ok {
			if _, exp, good := decodeKeyed(raw); !good || !exp.After(now) {
				_ = b.Delete(keyedKey(name), nil)
				n++
			}
		}
		err := s.commitWith(b, pebble.NoSync)
		b.Close()
		unlock()
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
