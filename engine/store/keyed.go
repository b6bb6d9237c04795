package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
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

// Limit is a sliding-window count checked and taken with an insert: the
// record is written only when fewer than Max events were counted under
// Name in the last Window, and the count is written in the same batch.
type Limit struct {
	Name   string
	Window time.Duration
	Max    int
	Now    time.Time
}

// LimitedError: an insert or counted update refused by its limit. RetryAfter is when
// the oldest counted event leaves the window.
type LimitedError struct {
	Name       string
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("limit %q reached; retry after %s", e.Name, e.RetryAfter)
}

// CreateOptions are what Create writes beside the record.
type CreateOptions struct {
	// Keyed values written in the same batch (an idempotency key with the
	// verification it created).
	Keyed []Keyed
	// Limit, when set, is counted in the same batch; when it refuses,
	// nothing is written and the error is a *LimitedError. It is counted
	// after the pending check: an insert refused because the number has a
	// pending verification counts nothing.
	Limit *Limit
	// Buckets are taken in the same batch, one token each; when one has
	// none, nothing is written and the error is a *LimitedError naming it.
	// Like Limit, they are taken after the pending check. Two buckets of
	// one name in one insert are not allowed.
	Buckets []Bucket
}

// Counters. The sliding-window counters of Limit live in memory (the authority
// while the process runs: no read of the disk to count) and are written
// through to k/<counterMark><name> in every counting commit, so they hold
// across restarts: Open reads them all back. Their number is bounded by
// their windows: a counter leaves memory and disk when its window passes
// (ExpireKeyed).
//
// Invariant: the memory entry of a counter equals its stored value; both
// change only under the counter's keyed lock, memory after the commit.
const counterMark = "\x01"

type counter struct {
	times []int64 // unix nanos of counted events, oldest first
	exp   time.Time
}

// counterSet is one map per keyed stripe, each guarded by its stripe lock.
type counterSet []map[string]*counter

// loadCounters reads every stored counter into memory.
func (s *Store) loadCounters() error {
	s.counters = make(counterSet, len(s.keyed))
	for i := range s.counters {
		s.counters[i] = map[string]*counter{}
	}
	lo := keyedKey(counterMark)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(string(lo))})
	if err != nil {
		return err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		name := string(it.Key()[len(lo):])
		v, exp, good := decodeKeyed(it.Value())
		if !good || len(v)%8 != 0 {
			s.log.Error("store: dropping a corrupt stored counter", "name", fmt.Sprintf("%q", name))
			continue
		}
		c := &counter{exp: exp, times: make([]int64, len(v)/8)}
		for i := range c.times {
			c.times[i] = int64(binary.BigEndian.Uint64(v[8*i:]))
		}
		s.counters[hashIndex(len(s.keyed), counterMark+name)][name] = c
		n++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("store: reading counters: %w", err)
	}
	if n > 0 {
		s.log.Debug("store: counters loaded", "n", n)
	}
	return nil
}

// countLocked decides whether l allows one more event and, when it does,
// adds the counter's new value to b and returns it (for the caller to put
// in memory after the commit). The caller holds the keyed lock of
// counterMark+l.Name.
func (s *Store) countLocked(b *pebble.Batch, l *Limit) (*counter, error) {
	old, times, err := s.windowLocked(l)
	if err != nil {
		return nil, err
	}
	c := &counter{times: append(times, l.Now.UnixNano()), exp: l.Now.Add(l.Window)}
	v := make([]byte, 0, 8*len(c.times))
	for _, t := range c.times {
		v = binary.BigEndian.AppendUint64(v, uint64(t))
	}
	name := counterMark + l.Name
	if old != nil && !old.exp.Equal(c.exp) {
		_ = b.Delete(expiryKey(old.exp, name), nil)
	}
	_ = b.Set(keyedKey(name), encodeKeyed(v, c.exp), nil)
	_ = b.Set(expiryKey(c.exp, name), nil, nil)
	return c, nil
}

// windowLocked returns l's counter and the events of it still inside the
// window, or a *LimitedError when the window is full. The caller holds the
// keyed lock of counterMark+l.Name.
func (s *Store) windowLocked(l *Limit) (old *counter, times []int64, err error) {
	from := l.Now.Add(-l.Window).UnixNano()
	old = s.counters[hashIndex(len(s.keyed), counterMark+l.Name)][l.Name]
	if old != nil {
		for _, t := range old.times {
			if t > from {
				times = append(times, t)
			}
		}
	}
	if len(times) >= l.Max {
		oldest := time.Unix(0, times[len(times)-l.Max])
		return nil, nil, &LimitedError{Name: l.Name, RetryAfter: oldest.Add(l.Window).Sub(l.Now)}
	}
	return old, times, nil
}

// Allows reports whether l would allow one more event now, and if not,
// when it will. It counts nothing: for a caller about to undo something
// (cancel a pending verification) only to be refused by the limit after.
func (s *Store) Allows(l Limit) (bool, time.Duration) {
	if err := s.enter(); err != nil {
		return true, 0 // closing: the insert that follows fails with ErrClosed
	}
	defer s.leave()
	defer s.keyedLock(counterMark + l.Name)()
	var le *LimitedError
	if _, _, err := s.windowLocked(&l); errors.As(err, &le) {
		return false, le.RetryAfter
	}
	return true, 0
}

func (s *Store) setCounter(name string, c *counter) {
	s.counters[hashIndex(len(s.keyed), counterMark+name)][name] = c
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
		gone := false
		if raw, ok, _ := s.get(keyedKey(name)); ok {
			if _, exp, good := decodeKeyed(raw); !good || !exp.After(now) {
				_ = b.Delete(keyedKey(name), nil)
				n++
				gone = true
			} else {
				// renewed without moving its index (a bucket: see
				// takeLocked): index it at its expiry now
				_ = b.Set(expiryKey(exp, name), nil, nil)
			}
		}
		err := s.commitWith(b, pebble.NoSync)
		if err == nil && gone && strings.HasPrefix(name, counterMark) {
			delete(s.counters[hashIndex(len(s.keyed), name)], name[len(counterMark):])
		}
		if err == nil && gone && strings.HasPrefix(name, bucketMark) {
			delete(s.buckets[hashIndex(len(s.keyed), name)], name[len(bucketMark):])
		}
		b.Close()
		unlock()
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// NextSeq returns the next number of the sequence name (1, 2, 3, …),
// durably: a number handed out is never handed out again, also after a
// crash (numbers of creates that then failed are skipped, not reused).
func (s *Store) NextSeq(name string) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	defer s.keyedLock(name)()
	var n uint64
	if b, ok, err := s.get(keyedKey(name)); err != nil {
		return 0, err
	} else if ok {
		v, _, good := decodeKeyed(b)
		if !good || len(v) != 8 {
			return 0, fmt.Errorf("store: sequence %q: %w", name, ErrCorrupt)
		}
		n = binary.BigEndian.Uint64(v)
	}
	n++
	b := s.db.NewBatch()
	defer b.Close()
	// a sequence never expires (its expiry index entry is far away)
	if err := s.putKeyed(b, Keyed{Name: name, Value: binary.BigEndian.AppendUint64(nil, n), Expires: neverExpires}); err != nil {
		return 0, err
	}
	if err := s.commit(b); err != nil {
		return 0, err
	}
	return n, nil
}

// neverExpires is the expiry of values that live as long as the store (a
// sequence): far, and still within UnixNano's range.
var neverExpires = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// UpdateKeyed changes the value under name in one read-modify-write under
// its lock: fn gets the current value (ok false when missing or expired at
// now) and returns the new one and its expiry, or ErrNoChange to write
// nothing. The commit is synced like a record's.
func (s *Store) UpdateKeyed(name string, now time.Time, fn func(old []byte, ok bool) ([]byte, time.Time, error)) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	unlock := s.keyedLock(name)
	unlocked := false
	defer func() {
		if !unlocked {
			unlock()
		}
	}()
	var old []byte
	ok := false
	if raw, found, err := s.get(keyedKey(name)); err != nil {
		return err
	} else if found {
		v, exp, good := decodeKeyed(raw)
		if !good {
			return fmt.Errorf("store: keyed %q: %w", name, ErrCorrupt)
		}
		old, ok = v, now.Before(exp)
	}
	v, exp, err := fn(old, ok)
	if errors.Is(err, ErrNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.putKeyed(b, Keyed{Name: name, Value: v, Expires: exp}); err != nil {
		return err
	}
	// applied under the lock (the next reader sees it), synced after it
	// is released, as every commit here
	wait, err := s.apply(b, s.wo)
	if err != nil {
		return err
	}
	unlock()
	unlocked = true
	return wait()
}

// ScanKeyed calls fn with every keyed value whose name starts with prefix
// and that has not expired at now, until fn returns false.
func (s *Store) ScanKeyed(prefix string, now time.Time, fn func(name string, v []byte) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	lo := keyedKey(prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(string(lo))})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, exp, good := decodeKeyed(it.Value())
		if !good || !now.Before(exp) {
			continue
		}
		if !fn(string(it.Key()[len(pfxKeyed):]), v) {
			break
		}
	}
	return errors.Join(it.Error(), it.Close())
}
