package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Buckets: token buckets checked and taken with an insert (velocity
// limits: creates per tenant and country, per number prefix, per end
// user). A bucket holds up to Burst tokens and gains Rate a second; an
// insert takes one token from each of its buckets and is refused, nothing
// written, when one of them has less than one.
//
// Like the counters, a bucket's state lives in memory (the authority while
// the process runs) and is written through to k/<bucketMark><name> in the
// same batch as the insert that took from it, so it holds across restarts
// (Open reads them back). A bucket that would be full again is forgotten:
// its keyed value expires then, and a missing bucket is a full one, so
// their number is bounded by the traffic of the last Burst/Rate.
//
// Invariant: the memory entry of a bucket equals its stored value; both
// change only under the bucket's keyed lock, memory after the commit.
const bucketMark = "\x02"

// Bucket is one token bucket an insert takes from.
type Bucket struct {
	Name  string
	Rate  float64 // tokens a second, > 0
	Burst int     // at most this many tokens, >= 1
	Now   time.Time
}

// bucketState is a bucket's tokens at a time.
type bucketState struct {
	tokens float64
	at     int64     // unix nanos
	exp    time.Time // its stored expiry (so replacing it needs no read)
}

// takeLocked decides whether b has a token now and, when it has, adds its
// new state to batch and returns it (for the caller to put in memory after
// the commit); a *LimitedError says when the next token comes. The caller
// holds the keyed lock of bucketMark+b.Name.
func (s *Store) takeLocked(batch *pebble.Batch, b *Bucket) (*bucketState, error) {
	if b.Rate <= 0 || b.Burst < 1 {
		return nil, fmt.Errorf("store: bucket %q: rate %v and burst %d must be positive", b.Name, b.Rate, b.Burst)
	}
	now := b.Now.UnixNano()
	tokens := float64(b.Burst)
	old := s.buckets[hashIndex(len(s.keyed), bucketMark+b.Name)][b.Name]
	if old != nil {
		// a caller's clock a little behind the last take's adds nothing
		elapsed := max(now-old.at, 0)
		tokens = math.Min(float64(b.Burst), old.tokens+float64(elapsed)/float64(time.Second)*b.Rate)
	}
	if tokens < 1 {
		wait := time.Duration((1 - tokens) / b.Rate * float64(time.Second))
		return nil, &LimitedError{Name: b.Name, RetryAfter: max(wait, time.Millisecond)}
	}
	// forgotten when it would be full again
	exp := b.Now.Add(time.Duration((float64(b.Burst) - (tokens - 1)) / b.Rate * float64(time.Second)))
	st := &bucketState{tokens: tokens - 1, at: now, exp: exp}
	v := binary.BigEndian.AppendUint64(nil, math.Float64bits(st.tokens))
	v = binary.BigEndian.AppendUint64(v, uint64(st.at))
	name := bucketMark + b.Name
	_ = batch.Set(keyedKey(name), encodeKeyed(v, exp), nil)
	if old == nil {
		// a take only pushes the expiry later: the first index entry
		// stays, and ExpireKeyed, finding the value renewed, indexes it
		// again at its expiry then (one write a take instead of three)
		_ = batch.Set(expiryKey(exp, name), nil, nil)
	}
	return st, nil
}

// loadBuckets reads every stored bucket into memory.
func (s *Store) loadBuckets() error {
	s.buckets = make([]map[string]*bucketState, len(s.keyed))
	for i := range s.buckets {
		s.buckets[i] = map[string]*bucketState{}
	}
	lo := keyedKey(bucketMark)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(string(lo))})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		name := string(it.Key()[len(lo):])
		v, exp, good := decodeKeyed(it.Value())
		if !good || len(v) != 16 {
			s.log.Error("store: dropping a corrupt stored bucket", "name", fmt.Sprintf("%q", name))
			continue
		}
		s.buckets[hashIndex(len(s.keyed), bucketMark+name)][name] = &bucketState{
			tokens: math.Float64frombits(binary.BigEndian.Uint64(v)), at: int64(binary.BigEndian.Uint64(v[8:])), exp: exp}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("store: reading buckets: %w", err)
	}
	return nil
}

// TakeBucket takes one token from b outside an insert (a wrong code
// against the tenant's guess rate); a *LimitedError when it has none. The
// change is committed without waiting for the disk: a crash forgets at
// most the last few tokens taken.
func (s *Store) TakeBucket(b Bucket) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	defer s.keyedLock(bucketMark + b.Name)()
	batch := s.db.NewBatch()
	defer batch.Close()
	st, err := s.takeLocked(batch, &b)
	if err != nil {
		return err
	}
	if err := s.commitWith(batch, pebble.NoSync); err != nil {
		return err
	}
	s.buckets[hashIndex(len(s.keyed), bucketMark+b.Name)][b.Name] = st
	return nil
}

// BucketHas reports whether b has a token now, taking none, and if not
// when it will.
func (s *Store) BucketHas(b Bucket) (bool, time.Duration) {
	if err := s.enter(); err != nil {
		return true, 0
	}
	defer s.leave()
	defer s.keyedLock(bucketMark + b.Name)()
	old := s.buckets[hashIndex(len(s.keyed), bucketMark+b.Name)][b.Name]
	if old == nil || b.Rate <= 0 {
		return true, 0
	}
	tokens := math.Min(float64(b.Burst), old.tokens+float64(b.Now.UnixNano()-old.at)/float64(time.Second)*b.Rate)
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - tokens) / b.Rate * float64(time.Second))
}
