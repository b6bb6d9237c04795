// Package store owns Otpgate's durable state: verification records on one
// Pebble instance, their secondary indexes (pending (tenant, number), connector
// message id, deadlines), logical shards that serialize every
// read-modify-write of one record, and recovery after a crash (Pebble's WAL).
//
// One Pebble instance, not one per shard: on one disk, separate instances stop
// sharing fsyncs and lose most of their throughput, while one instance's
// group commit batches concurrent synced commits into few fsyncs.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// SyncMode says when a commit is durable.
type SyncMode string

const (
	// SyncAlways: a commit returns after its WAL write is fsynced. Pebble
	// groups concurrent commits into one fsync. A crash loses nothing that
	// was acknowledged. The default.
	SyncAlways SyncMode = "always"
	// SyncBatch: a commit returns at once; the WAL is fsynced every
	// Options.SyncInterval. A crash of the machine (not of the process)
	// loses at most that interval of acknowledged writes.
	SyncBatch SyncMode = "batch"
	// SyncNone: never fsynced by Otpgate; the OS writes back when it will.
	// For benchmarks and throw-away sandboxes.
	SyncNone SyncMode = "none"
)

// Options configure Open. Zero values take the documented defaults.
type Options struct {
	Dir string // data directory; required
	// Sync: see SyncMode. Default SyncAlways.
	Sync SyncMode
	// SyncInterval: WAL fsync period under SyncBatch. Default 10ms.
	SyncInterval time.Duration
	// Shards: number of logical shards (locks) for read-modify-write.
	// More shards, less contention between unrelated records; each costs
	// one mutex. Default 256.
	Shards int
	// CacheBytes: Pebble block cache. Pebble charges its memtables (up to
	// two of MemTableBytes) against it, so the room left for blocks is
	// CacheBytes minus those; below that, nothing is cached and every read,
	// even a lookup that misses, goes to the file system and decompresses
	// blocks again (measured: 7 µs instead of under 1 µs a lookup). Larger
	// keeps more index and filter blocks (about 4 bytes a stored key) and
	// records in memory; it counts against resident memory. Default 128 MiB.
	CacheBytes int64
	// MemTableBytes: Pebble memtable size. Larger absorbs bursts and
	// costs memory (up to two memtables live). Default 16 MiB.
	MemTableBytes uint64
	// RecordCache: how many decoded records of recent writes stay in
	// memory, so sends, receipts and checks of recent verifications skip
	// a Pebble read and a decode. About 1.3 KiB each (a record with one
	// delivered SMS and three events, measured); -1 disables it.
	// Default 65,536 (about 85 MiB at most).
	RecordCache int
	// LazySyncDelay bounds how long a lazy commit (Apply with Lazy: a "submitted"
	// record, a delivery receipt) stays in the process's WAL buffer under
	// SyncAlways: a synced commit after it makes it durable (under load,
	// within a millisecond), and failing that the store fsyncs the WAL
	// this long after it. Pebble writes unsynced WAL records to the file
	// only when a block fills or a sync is asked for, so without this a
	// quiet gateway would hold an acknowledged receipt in memory alone,
	// lost to a kill -9 however long ago it came. Shorter narrows that
	// window and costs an fsync per interval while only lazy commits run.
	// Default 10ms.
	LazySyncDelay time.Duration
	Logger        *slog.Logger
}

// Errors callers test for.
var (
	ErrNotFound = errors.New("verification not found")
	// ErrNoChange, returned by an Update function, abandons the update
	// without writing.
	ErrNoChange = errors.New("no change")
	ErrClosed   = errors.New("store closed")
	// ErrCorrupt: a stored value does not decode.
	ErrCorrupt = errors.New("stored record is corrupt")
)

// PendingExistsError is returned by Insert when the (tenant, number) pair
// already has a pending verification.
type PendingExistsError struct{ ID string }

func (e *PendingExistsError) Error() string {
	return "a verification for this number is already pending: " + e.ID
}

// Store is the sharded verification store. Safe for concurrent use.
type Store struct {
	db     *pebble.DB
	cache  interface{ Unref() }
	recs   *recordCache
	opts   Options
	wo     *pebble.WriteOptions
	shards []sync.Mutex // by record id
	pairs  []sync.Mutex // by (tenant, number): guards the pending index
	keyed  []sync.Mutex // by name: guards keyed values (taken after pairs, never before)
	// counters: Limit counters in memory, one map per keyed stripe,
	// guarded by that stripe's lock (see keyed.go).
	counters counterSet
	// buckets: velocity buckets in memory, one map per keyed stripe, each
	// guarded by its stripe lock (bucket.go).
	buckets []map[string]*bucketState
	lazy    lazySync
	// marks feeds markLoop (handed.go); marksDone closes when it ends.
	marks     chan markReq
	marksDone chan struct{}
	log       *slog.Logger
	stop      chan struct{}
	done      chan struct{}
	closeMu   sync.RWMutex
	closed    bool
}

var (
	commitDuration = metrics.NewPrometheusHistogram(`otpgate_store_commit_duration_seconds`)
	commitsTotal   = metrics.NewCounter(`otpgate_store_commits_total`)
	commitErrors   = metrics.NewCounter(`otpgate_store_commit_errors_total`)
)

// Open opens (or creates) the store in opts.Dir and replays its WAL.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("store: no data directory given")
	}
	if opts.Sync == "" {
		opts.Sync = SyncAlways
	}
	switch opts.Sync {
	case SyncAlways, SyncBatch, SyncNone:
	default:
		return nil, fmt.Errorf("store.sync: %q is not one of always, batch, none", opts.Sync)
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 10 * time.Millisecond
	}
	if opts.Shards <= 0 {
		opts.Shards = 256
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 128 << 20
	}
	if opts.MemTableBytes == 0 {
		opts.MemTableBytes = 16 << 20
	}
	if min := 3 * int64(opts.MemTableBytes); opts.CacheBytes < min {
		return nil, fmt.Errorf("store: cache of %d MiB leaves no room for blocks beside two memtables of %d MiB; give at least %d MiB",
			opts.CacheBytes>>20, opts.MemTableBytes>>20, min>>20)
	}
	if opts.RecordCache == 0 {
		opts.RecordCache = 65536
	}
	if opts.LazySyncDelay <= 0 {
		opts.LazySyncDelay = 10 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cache := pebble.NewCache(opts.CacheBytes)
	po := &pebble.Options{
		Cache:        cache,
		MemTableSize: opts.MemTableBytes,
		Logger:       pebbleLogger{opts.Logger},
	}
	// Bloom filters on every level: most lookups on the create path miss
	// (no pending verification for this number, no counter yet, no
	// idempotency key), and without a filter a miss reads an index and a
	// data block of every table it might be in. 10 bits a key: 1% false
	// positives for about 1.2 bytes a key of disk and cache.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(opts.Dir, po)
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	s := &Store{
		db: db, cache: cache, opts: opts,
		recs:      newRecordCache(opts.RecordCache, opts.Shards),
		wo:        pebble.NoSync,
		shards:    make([]sync.Mutex, opts.Shards),
		pairs:     make([]sync.Mutex, opts.Shards),
		keyed:     make([]sync.Mutex, opts.Shards),
		log:       opts.Logger,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		lazy:      lazySync{kick: make(chan struct{}, 1)},
		marks:     make(chan markReq, 4096),
		marksDone: make(chan struct{}),
	}
	if opts.Sync == SyncAlways {
		s.wo = pebble.Sync
	}
	if err := s.checkFormat(); err != nil {
		_ = db.Close()
		cache.Unref()
		return nil, err
	}
	if err := s.loadBuckets(); err != nil {
		_ = db.Close()
		cache.Unref()
		return nil, err
	}
	if err := s.loadCounters(); err != nil {
		_ = db.Close()
		cache.Unref()
		return nil, err
	}
	go s.syncLoop()
	go s.markLoop()
	return s, nil
}

// syncLoop fsyncs the WAL periodically under SyncBatch; under SyncAlways
// it makes lazy commits durable (lazySync).
func (s *Store) syncLoop() {
	defer close(s.done)
	if s.opts.Sync == SyncAlways {
		s.lazySyncLoop()
		return
	}
	if s.opts.Sync != SyncBatch {
		<-s.stop
		return
	}
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.db.LogData(nil, pebble.Sync); err != nil {
				s.log.Error("store: periodic WAL sync failed", "err", err)
			}
		}
	}
}

// Close flushes and closes Pebble. Calls after Close return ErrClosed.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	close(s.stop)
	<-s.done
	<-s.marksDone
	err := s.db.LogData(nil, pebble.Sync)
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	s.cache.Unref()
	return err
}

func (s *Store) enter() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.closeMu.RUnlock() }

func hashIndex(n int, parts ...string) int {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return int(h.Sum32() % uint32(n))
}

func (s *Store) shard(id string) *sync.Mutex { return &s.shards[hashIndex(len(s.shards), id)] }

func (s *Store) pair(tenant, number string) *sync.Mutex {
	return &s.pairs[hashIndex(len(s.pairs), tenant, number)]
}

func (s *Store) commit(b *pebble.Batch) error { return s.commitWith(b, s.wo) }

// apply makes b visible (memtable and WAL buffer) and returns how to wait
// until it is durable under wo. Callers apply while holding their locks and
// wait after releasing them, so a lock is held for a memtable insert
// (microseconds), not across an fsync (a millisecond or more): commits that
// share a lock stop queueing behind the disk and still share one fsync.
// Pebble makes a batch visible before its fsync also when Commit waits for
// it, so no reader sees anything sooner than before; what changes is only
// that the writer no longer holds its locks while it waits. The caller
// must call wait (when err is nil) before closing b.
func (s *Store) apply(b *pebble.Batch, wo *pebble.WriteOptions) (wait func() error, err error) {
	start := time.Now()
	fail := func(err error) error {
		commitErrors.Inc()
		return fmt.Errorf("store: commit: %w", err)
	}
	if !wo.GetSync() {
		if err := s.db.Apply(b, wo); err != nil {
			return nil, fail(err)
		}
		s.lazy.committed()
		commitDuration.UpdateDuration(start)
		commitsTotal.Inc()
		return func() error { return nil }, nil
	}
	gen := s.lazy.gen.Load() // every lazy commit up to here is ahead of this one in the WAL
	if err := s.db.ApplyNoSyncWait(b, wo); err != nil {
		return nil, fail(err)
	}
	return func() error {
		err := b.SyncWait()
		if err == nil {
			s.lazy.covered(gen)
		}
		commitDuration.UpdateDuration(start)
		commitsTotal.Inc()
		if err != nil {
			return fail(err)
		}
		return nil
	}, nil
}

func (s *Store) commitWith(b *pebble.Batch, wo *pebble.WriteOptions) error {
	start := time.Now()
	err := b.Commit(wo)
	commitDuration.UpdateDuration(start)
	commitsTotal.Inc()
	if err != nil {
		commitErrors.Inc()
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Insert is Create with no options.
func (s *Store) Insert(rec *Record) error { return s.Create(rec, CreateOptions{}) }

// Create stores a new record with its indexes, and what o names, in one
// durable commit. When rec is pending and its (tenant, number) already has
// a pending record, nothing is written and the error is a
// *PendingExistsError naming it; when o.Limit is full, nothing is written
// and the error is a *LimitedError.
func (s *Store) Create(rec *Record, o CreateOptions) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	b := s.db.NewBatch()
	defer b.Close()
	wait, err := s.insertLocked(b, rec, o)
	if err != nil {
		return err
	}
	return wait()
}

// insertLocked writes rec into b and applies it under the locks it takes,
// released on return; the caller waits for durability after.
func (s *Store) insertLocked(b *pebble.Batch, rec *Record, o CreateOptions) (wait func() error, err error) {
	// The shard lock orders this first commit of rec before any update of
	// it, so the cache cannot be handed an older value after a newer one.
	// (Lock order everywhere: shard, then pair, then keyed.)
	sm := s.shard(rec.ID)
	sm.Lock()
	defer sm.Unlock()
	if rec.Pending() {
		mu := s.pair(rec.Tenant, rec.Number)
		mu.Lock()
		defer mu.Unlock()
		id, ok, err := s.get(pendingKey(rec.Tenant, rec.Number))
		if err != nil {
			return nil, err
		}
		if ok {
			return nil, &PendingExistsError{ID: string(id)}
		}
	}
	if err := writeRecord(b, nil, rec); err != nil {
		return nil, err
	}
	// lock each keyed stripe once, in ascending order
	stripes := make([]int, 0, len(o.Keyed)+1)
	for _, k := range o.Keyed {
		stripes = append(stripes, hashIndex(len(s.keyed), k.Name))
	}
	if o.Limit != nil {
		stripes = append(stripes, hashIndex(len(s.keyed), counterMark+o.Limit.Name))
	}
	for _, bk := range o.Buckets {
		stripes = append(stripes, hashIndex(len(s.keyed), bucketMark+bk.Name))
	}
	slices.Sort(stripes)
	for _, i := range slices.Compact(stripes) {
		s.keyed[i].Lock()
		defer s.keyed[i].Unlock()
	}
	var count *counter
	if o.Limit != nil {
		if count, err = s.countLocked(b, o.Limit); err != nil {
			return nil, err
		}
	}
	taken := make([]*bucketState, len(o.Buckets))
	for i := range o.Buckets {
		if taken[i], err = s.takeLocked(b, &o.Buckets[i]); err != nil {
			return nil, err // b is dropped: nothing counted, nothing taken
		}
	}
	for _, k := range o.Keyed {
		if err := s.putKeyed(b, k); err != nil {
			return nil, err
		}
	}
	if wait, err = s.apply(b, s.wo); err != nil {
		return nil, err
	}
	if count != nil {
		s.setCounter(o.Limit.Name, count)
	}
	for i, bk := range o.Buckets {
		s.buckets[hashIndex(len(s.keyed), bucketMark+bk.Name)][bk.Name] = taken[i]
	}
	s.recs.put(rec.clone())
	return wait, nil
}

// writeRecord adds to b the record and every index change from old to rec
// (old nil for a new record). This is the one place indexes are derived, so
// the invariant "index keys are exactly what the record implies" holds for
// every commit.
func writeRecord(b *pebble.Batch, old, rec *Record) error {
	if err := writeValue(b, old, rec); err != nil {
		return err
	}
	// pending index
	wasPending := old != nil && old.Pending()
	switch {
	case rec.Pending() && !wasPending:
		_ = b.Set(pendingKey(rec.Tenant, rec.Number), []byte(rec.ID), nil)
	case !rec.Pending() && wasPending:
		_ = b.Delete(pendingKey(old.Tenant, old.Number), nil)
		_ = b.Set(lastKey(rec.Tenant, rec.Number), []byte(rec.ID), nil)
	}
	// message index: add new ids (ids are never removed while the record lives)
	for _, m := range rec.Messages {
		for _, id := range m.IDs() {
			if old != nil && hasMessage(old, m.Connector, id) {
				continue
			}
			_ = b.Set(messageKey(m.Connector, id), []byte(rec.ID), nil)
		}
	}
	// deadline index: exactly one key per entry of rec.Deadlines
	if old != nil {
		for _, d := range old.Deadlines {
			if !slices.ContainsFunc(rec.Deadlines, func(n Deadline) bool { return n.Kind == d.Kind && n.At.Equal(d.At) }) {
				_ = b.Delete(deadlineKey(d.At, old.ID, d.Kind), nil)
			}
		}
	}
	for _, d := range rec.Deadlines {
		if old == nil || !slices.ContainsFunc(old.Deadlines, func(o Deadline) bool { return o.Kind == d.Kind && o.At.Equal(d.At) }) {
			_ = b.Set(deadlineKey(d.At, rec.ID, d.Kind), nil, nil)
		}
	}
	writeHanded(b, rec)
	err := writeHookOps(b, rec)
	rec.ops = nil
	return err
}

// writeValue adds to b the record itself: its base when it is new, else
// the patch from old, or the whole record again once it has foldAfter
// patches (which are then deleted). rec.patches follows.
func writeValue(b *pebble.Batch, old, rec *Record) error {
	if old != nil {
		p, err := diff(old, rec)
		if err != nil {
			return err
		}
		rec.patches = old.patches
		if p == nil {
			return nil
		}
		if old.patches+1 < foldAfter {
			_ = b.Set(patchKey(rec.ID, old.patches), p, nil)
			rec.patches++
			return nil
		}
		for i := range old.patches {
			_ = b.Delete(patchKey(rec.ID, i), nil)
		}
	}
	v, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	_ = b.Set(recordKey(rec.ID), v, nil)
	rec.patches = 0
	return nil
}

func hasMessage(r *Record, connector, id string) bool {
	for _, m := range r.Messages {
		if m.Connector == connector && slices.Contains(m.IDs(), id) {
			return true
		}
	}
	return false
}

func (s *Store) get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: get: %w", err)
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, true, nil
}

// Get returns the record, or ErrNotFound. The record may be the one the
// record cache holds, shared with every reader: callers read it and never
// change it (a change goes through Apply, which copies).
func (s *Store) Get(id string) (*Record, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if r, ok := s.recs.get(id); ok {
		return r, nil
	}
	return s.load(id)
}

// loadLocked is load through the record cache; the caller holds id's shard
// lock. The result is shared with the cache: never change it.
func (s *Store) loadLocked(id string) (*Record, error) {
	if r, ok := s.recs.get(id); ok {
		return r, nil
	}
	return s.load(id)
}

// load reads record id: its base and its patches in order.
func (s *Store) load(id string) (*Record, error) {
	base := recordKey(id)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: append(bytes.Clone(base), 1)})
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	defer it.Close()
	if !it.First() {
		if err := it.Error(); err != nil {
			return nil, fmt.Errorf("store: get: %w", err)
		}
		return nil, ErrNotFound
	}
	if !bytes.Equal(it.Key(), base) {
		return nil, fmt.Errorf("store: record %s: %w: patches without a base", id, ErrCorrupt)
	}
	r, err := decodeRecord(it.Value())
	if err != nil {
		return nil, fmt.Errorf("store: record %s: %w: %v", id, ErrCorrupt, err)
	}
	for it.Next() {
		if err := applyPatch(r, it.Value()); err != nil {
			return nil, fmt.Errorf("store: record %s, patch %d: %w: %v", id, r.patches, ErrCorrupt, err)
		}
		r.patches++
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	return r, nil
}

// ApplyOptions say how Apply commits a change.
type ApplyOptions struct {
	// Limit, when set, is called with the record before fn and names a
	// count the change takes, in the same commit (nil: none); when it is
	// full, fn is not run and the error is a *LimitedError. An fn that
	// changes nothing (ErrNoChange) counts nothing.
	Limit func(r *Record) *Limit
	// Lazy: Apply returns without waiting for the change to reach the
	// disk, for changes whose loss costs little (a delivery receipt, a
	// "submitted" whose loss means one resend). Pebble keeps an unsynced
	// WAL record in the process until something syncs: the next synced
	// commit, or lazySync within Options.LazySyncDelay. A crash of the
	// process or the machine in that window loses the change.
	Lazy bool
}

// Apply runs fn on a copy of the current record under its shard's lock and
// commits the change (a patch, see patch.go) with its index changes in one
// batch. fn may return ErrNoChange to write nothing (Apply then returns the
// unchanged record and nil), or any other error to abort (returned as is).
// fn must not call the store.
//
// The record returned is the one now cached: callers read it and never
// change it (a changed copy would be what later reads see).
//
// Invariant: every read-modify-write of a record goes through Apply, so two
// checks of one verification never interleave and attempts cannot be raced.
func (s *Store) Apply(id string, fn func(r *Record) error, o ApplyOptions) (*Record, error) {
	wo := s.wo
	if o.Lazy {
		wo = pebble.NoSync
	}
	return s.update(id, fn, wo, o.Limit)
}

// Update is Apply with no options.
func (s *Store) Update(id string, fn func(r *Record) error) (*Record, error) {
	return s.Apply(id, fn, ApplyOptions{})
}

func (s *Store) update(id string, fn func(r *Record) error, wo *pebble.WriteOptions, limit func(r *Record) *Limit) (*Record, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	b := s.db.NewBatch()
	defer b.Close()
	rec, wait, err := s.updateLocked(b, id, fn, wo, limit)
	if err != nil || wait == nil {
		return rec, err
	}
	return rec, wait()
}

// updateLocked is update's work under the record's locks, released on
// return; wait is nil when nothing was written.
func (s *Store) updateLocked(b *pebble.Batch, id string, fn func(r *Record) error, wo *pebble.WriteOptions, limit func(r *Record) *Limit) (_ *Record, wait func() error, err error) {
	mu := s.shard(id)
	mu.Lock()
	defer mu.Unlock()
	old, err := s.loadLocked(id)
	if err != nil {
		return nil, nil, err
	}
	// The limit is judged on the record as it is, before fn acts (fn may
	// have effects beyond the record that a refusal could not undo).
	var l *Limit
	var count *counter
	if limit != nil {
		l = limit(old)
	}
	pairHeld := false
	if l != nil {
		// Lock order is shard, pair, keyed: the pair lock an ending
		// record needs is taken now, before the counter's.
		pm := s.pair(old.Tenant, old.Number)
		pm.Lock()
		defer pm.Unlock()
		pairHeld = true
		defer s.keyedLock(counterMark + l.Name)()
		if count, err = s.countLocked(b, l); err != nil {
			return nil, nil, err
		}
	}
	rec := old.clone()
	if err := fn(rec); err != nil {
		if errors.Is(err, ErrNoChange) {
			return old.clone(), nil, nil // b is dropped: nothing counted
		}
		return nil, nil, err
	}
	if rec.ID != old.ID || rec.Tenant != old.Tenant || rec.Number != old.Number {
		return nil, nil, fmt.Errorf("store: update of %s changed its identity", id)
	}
	if rec.Pending() != old.Pending() && !pairHeld {
		// the pending index changes: take the pair lock so Insert sees a
		// consistent answer.
		pm := s.pair(rec.Tenant, rec.Number)
		pm.Lock()
		defer pm.Unlock()
	}
	if err := writeRecord(b, old, rec); err != nil {
		return nil, nil, err
	}
	if wait, err = s.apply(b, wo); err != nil {
		return nil, nil, err
	}
	if count != nil {
		s.setCounter(l.Name, count)
	}
	s.recs.put(rec) // shared with the caller, who only reads it (see Update)
	return rec, wait, nil
}

// Index names a lookup of Lookup.
type Index int

// The indexes: each maps a key of one or two parts to the id of a record.
const (
	// PendingIndex: (tenant, number) → the pair's pending verification.
	PendingIndex Index = iota
	// LastIndex: (tenant, number) → the pair's verification that ended
	// last, while its record lives.
	LastIndex
	// MessageIndex: (connector, message id) → the verification that sent
	// the message.
	MessageIndex
)

// Lookup returns the id an index holds under (a, b).
func (s *Store) Lookup(ix Index, a, b string) (string, bool, error) {
	if err := s.enter(); err != nil {
		return "", false, err
	}
	defer s.leave()
	var key []byte
	switch ix {
	case PendingIndex:
		key = pendingKey(a, b)
	case LastIndex:
		key = lastKey(a, b)
	case MessageIndex:
		key = messageKey(a, b)
	default:
		return "", false, fmt.Errorf("store: no index %d", ix)
	}
	v, ok, err := s.get(key)
	return string(v), ok, err
}

// PendingID is Lookup(PendingIndex, tenant, number).
func (s *Store) PendingID(tenant, number string) (string, bool, error) {
	return s.Lookup(PendingIndex, tenant, number)
}

// Due is one deadline that has come.
type Due struct {
	ID   string
	Kind string
	At   time.Time
}

// Due returns up to limit deadlines at or before now, oldest first, and the
// time of the next deadline after them (zero when there is none). It walks
// the deadline index from its front: the cost is the number of due entries,
// not the number of stored records.
func (s *Store) Due(now time.Time, limit int) (due []Due, next time.Time, err error) {
	if err := s.enter(); err != nil {
		return nil, time.Time{}, err
	}
	defer s.leave()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(pfxDeadline), UpperBound: prefixEnd(pfxDeadline)})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: deadline iterator: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		at, id, kind, good := parseDeadlineKey(it.Key())
		if !good {
			s.log.Error("store: malformed deadline key; deleting it", "key", fmt.Sprintf("%q", it.Key()))
			_ = s.db.Delete(bytes.Clone(it.Key()), pebble.NoSync)
			continue
		}
		if at.After(now) || len(due) >= limit {
			return due, at, it.Error()
		}
		due = append(due, Due{ID: id, Kind: kind, At: at})
	}
	return due, time.Time{}, it.Error()
}

// DiskUsage is the bytes Pebble uses on disk (WAL, tables, manifests).
func (s *Store) DiskUsage() uint64 { return s.db.Metrics().DiskSpaceUsage() }

// DropDeadline removes one deadline key whose record is gone. (A record's
// own deadlines are removed by Update.)
func (s *Store) DropDeadline(d Due) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.db.Delete(deadlineKey(d.At, d.ID, d.Kind), s.wo)
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
