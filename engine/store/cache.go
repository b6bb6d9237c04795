package store

import (
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// recordCache keeps the decoded records of recent writes, so the send,
// receipt and check paths (which all come within minutes of the create)
// read a record without a Pebble lookup and a decode.
//
// Invariants:
//   - an entry is the committed value of its record: entries are put only
//     after their commit succeeded, under the record's shard lock (Insert,
//     Update), and removed by Purge under the same lock; a read that misses
//     never fills the cache (a filling read outside the shard lock could
//     put back a value an update had just replaced);
//   - entries are never changed in place: they are clones of what was
//     committed, and readers get clones.
//
// Eviction is first in, first out per segment: a verification is hot from
// its create to its check, which is also the order of insertion.
type recordCache struct {
	segs []cacheSeg
}

type cacheSeg struct {
	mu   sync.Mutex
	m    map[string]*Record
	ring []string // insertion order; ring[next] is evicted next
	next int
}

var (
	cacheHits   = metrics.NewCounter(`otpgate_store_record_cache_total{result="hit"}`)
	cacheMisses = metrics.NewCounter(`otpgate_store_record_cache_total{result="miss"}`)
)

// newRecordCache holds up to about capacity records; capacity 0 disables it.
func newRecordCache(capacity, segments int) *recordCache {
	if capacity <= 0 {
		return &recordCache{}
	}
	per := max(capacity/segments, 1)
	c := &recordCache{segs: make([]cacheSeg, segments)}
	for i := range c.segs {
		c.segs[i].m = make(map[string]*Record, per)
		c.segs[i].ring = make([]string, per)
	}
	return c
}

func (c *recordCache) seg(id string) *cacheSeg {
	return &c.segs[hashIndex(len(c.segs), id)]
}

// get returns the cached record of id (not a copy: callers clone it).
func (c *recordCache) get(id string) (*Record, bool) {
	if len(c.segs) == 0 {
		return nil, false
	}
	s := c.seg(id)
	s.mu.Lock()
	r, ok := s.m[id]
	s.mu.Unlock()
	if ok {
		cacheHits.Inc()
	} else {
		cacheMisses.Inc()
	}
	return r, ok
}

// put stores r, which the caller no longer changes. Callers hold r's shard
// lock and have committed r.
func (c *recordCache) put(r *Record) {
	if len(c.segs) == 0 {
		return
	}
	s := c.seg(r.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[r.ID]; ok {
		s.m[r.ID] = r
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.m, old)
	}
	s.ring[s.next] = r.ID
	s.next = (s.next + 1) % len(s.ring)
	s.m[r.ID] = r
}

// drop removes id (its ring slot is reused later; deleting a missing key
// then is harmless).
func (c *recordCache) drop(id string) {
	if len(c.segs) == 0 {
		return
	}
	s := c.seg(id)
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}
