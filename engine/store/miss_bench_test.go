package store

import (
	"fmt"
	"testing"
	"time"
)

// fill inserts n pending records with SyncNone.
func fill(t testing.TB, s *Store, n int) {
	t.Helper()
	now := time.Now()
	for i := range n {
		r := rec(fmt.Sprintf("r%08d", i), fmt.Sprintf("+39%09d", i*7919%1_000_000_000), now)
		r.Template = "Your code is {code}. It expires in 10 minutes. Do not share it with anyone."
		r.CodeSealed, r.CodeHash = make([]byte, 40), make([]byte, 32)
		if err := s.Insert(r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBlockCacheKeepsBlocks: after flushes and compactions, lookups are
// served from Pebble's block cache. (With a cache no larger than the
// memtables Pebble charges to it, nothing stays cached and every lookup
// reads and decompresses blocks again: this test failed then.)
func TestBlockCacheKeepsBlocks(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncNone, RecordCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fill(t, s, 60_000)
	if err := s.db.Compact(t.Context(), []byte("a"), []byte("z"), true); err != nil {
		t.Fatal(err)
	}
	before := s.db.Metrics().BlockCache
	for i := range 2000 {
		if _, err := s.Get(fmt.Sprintf("r%08d", i%50)); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.PendingID("t", fmt.Sprintf("+44%09d", i)); ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	after := s.db.Metrics().BlockCache
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	if after.Count == 0 || hits < 10*misses {
		t.Fatalf("block cache: %d entries, %d hits, %d misses over 4000 lookups", after.Count, hits, misses)
	}
}

// BenchmarkPendingMiss: a lookup of a number with nothing pending, the
// first read of every create.
func BenchmarkPendingMiss(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), Sync: SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fill(b, s, 100_000)
	for i := 0; b.Loop(); i++ {
		if _, ok, err := s.PendingID("t", fmt.Sprintf("+44%09d", i)); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
