package store

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func openT(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rec(id, number string, at time.Time) *Record {
	return &Record{ID: id, Tenant: "t", Number: number, Status: "pending", MaxAttempts: 3,
		CreatedAt: at, ExpiresAt: at.Add(time.Minute),
		Deadlines: []Deadline{{At: at.Add(time.Minute), Kind: "expire"}}}
}

func TestInsertPendingUnique(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	if err := s.Insert(rec("a", "+391", now)); err != nil {
		t.Fatal(err)
	}
	var pe *PendingExistsError
	if err := s.Insert(rec("b", "+391", now)); !errors.As(err, &pe) || pe.ID != "a" {
		t.Fatalf("second pending insert: %v", err)
	}
	if _, err := s.Get("b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused insert left a record: %v", err)
	}
	// once a leaves pending, b may be inserted
	if _, err := s.Update("a", func(r *Record) error { r.Status = "verified"; r.Deadlines = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if id, ok, _ := s.PendingID("t", "+391"); ok {
		t.Fatalf("pending index still names %s", id)
	}
	if err := s.Insert(rec("b", "+391", now)); err != nil {
		t.Fatal(err)
	}
	if id, _, _ := s.PendingID("t", "+391"); id != "b" {
		t.Fatalf("pending index = %q, want b", id)
	}
}

// TestLastIndex: the pair's verification that ended last is indexed
// until its record is purged; a later one to end takes its place.
func TestLastIndex(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	end := func(id string) {
		t.Helper()
		if _, err := s.Update(id, func(r *Record) error { r.Status = "failed"; r.Deadlines = nil; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Insert(rec("a", "+391", now)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lookup(LastIndex, "t", "+391"); ok {
		t.Fatal("a pending verification is indexed as ended")
	}
	end("a")
	if id, _, _ := s.Lookup(LastIndex, "t", "+391"); id != "a" {
		t.Fatalf("last = %q, want a", id)
	}
	if err := s.Insert(rec("b", "+391", now)); err != nil {
		t.Fatal(err)
	}
	end("b")
	if id, _, _ := s.Lookup(LastIndex, "t", "+391"); id != "b" {
		t.Fatalf("last = %q, want b", id)
	}
	if err := s.Purge("a"); err != nil { // an older one's purge leaves it
		t.Fatal(err)
	}
	if id, _, _ := s.Lookup(LastIndex, "t", "+391"); id != "b" {
		t.Fatalf("after purging a, last = %q, want b", id)
	}
	if err := s.Purge("b"); err != nil {
		t.Fatal(err)
	}
	if id, ok, _ := s.Lookup(LastIndex, "t", "+391"); ok {
		t.Fatalf("a purged record is still indexed: %s", id)
	}
	if _, ok, _ := s.Lookup(LastIndex, "other", "+391"); ok {
		t.Fatal("another tenant's pair is indexed")
	}
}

func TestDeadlineIndexFollowsRecord(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	base := time.Unix(1_700_000_000, 0)
	for i := 0; i < 5; i++ {
		r := rec(fmt.Sprintf("r%d", i), fmt.Sprintf("+39%d", i), base.Add(time.Duration(4-i)*time.Second))
		if err := s.Insert(r); err != nil {
			t.Fatal(err)
		}
	}
	due, next, err := s.Due(base.Add(time.Minute+2*time.Second), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 3 || due[0].ID != "r4" || due[2].ID != "r2" {
		t.Fatalf("due = %+v", due)
	}
	if want := base.Add(time.Minute + 3*time.Second); !next.Equal(want) {
		t.Fatalf("next = %v, want %v", next, want)
	}
	// moving a deadline moves its key; clearing it removes the key
	if _, err := s.Update("r4", func(r *Record) error {
		r.Deadlines = []Deadline{{At: base.Add(time.Hour), Kind: "expire"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("r3", func(r *Record) error { r.Deadlines = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	due, _, _ = s.Due(base.Add(time.Minute+2*time.Second), 100)
	if len(due) != 1 || due[0].ID != "r2" {
		t.Fatalf("after update due = %+v", due)
	}
	due, _, _ = s.Due(base.Add(2*time.Hour), 2)
	if len(due) != 2 {
		t.Fatalf("limit not kept: %d", len(due))
	}
}

func TestMessageIndex(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	if err := s.Insert(rec("a", "+391", time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("a", func(r *Record) error {
		r.Messages = append(r.Messages, Message{Connector: "smsc1", MessageID: "abc", State: "submitted"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if id, ok, _ := s.Lookup(MessageIndex, "smsc1", "abc"); !ok || id != "a" {
		t.Fatalf("MessageOwner = %q %v", id, ok)
	}
	if _, ok, _ := s.Lookup(MessageIndex, "smsc2", "abc"); ok {
		t.Fatal("message ids are per connector")
	}
}

func TestUpdateNoChangeAndAbort(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	if err := s.Insert(rec("a", "+391", time.Now())); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := s.Update("a", func(r *Record) error { r.Attempts = 9; return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.Update("a", func(r *Record) error { r.Attempts = 9; return ErrNoChange }); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Get("a")
	if r.Attempts != 0 {
		t.Fatalf("aborted update was written: attempts=%d", r.Attempts)
	}
	if _, err := s.Update("nope", func(*Record) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of unknown id: %v", err)
	}
}

// TestConcurrentUpdatesSerialized: many goroutines increment one record's
// attempts up to a cap; the cap must hold exactly (run with -race).
func TestConcurrentUpdatesSerialized(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	if err := s.Insert(rec("a", "+391", time.Now())); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update("a", func(r *Record) error {
				if r.Attempts >= r.MaxAttempts {
					return ErrNoChange
				}
				r.Attempts++
				mu.Lock()
				won++
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r, _ := s.Get("a")
	if r.Attempts != 3 || won != 3 {
		t.Fatalf("attempts=%d won=%d, want 3 and 3", r.Attempts, won)
	}
}

func TestReopenRecovers(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	now := time.Now().Truncate(time.Millisecond)
	for i := 0; i < 100; i++ {
		if err := s.Insert(rec(fmt.Sprintf("r%03d", i), fmt.Sprintf("+39%d", i), now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(rec("late", "+1", now)); !errors.Is(err, ErrClosed) {
		t.Fatalf("insert after close: %v", err)
	}
	s = openT(t, dir)
	defer s.Close()
	for i := 0; i < 100; i++ {
		r, err := s.Get(fmt.Sprintf("r%03d", i))
		if err != nil || !r.ExpiresAt.Equal(now.Add(time.Minute)) {
			t.Fatalf("record %d after reopen: %+v %v", i, r, err)
		}
	}
	due, _, _ := s.Due(now.Add(2*time.Minute), 1000)
	if len(due) != 100 {
		t.Fatalf("deadlines after reopen: %d", len(due))
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Fatal("no dir accepted")
	}
	if _, err := Open(Options{Dir: t.TempDir(), Sync: "sometimes"}); err == nil {
		t.Fatal("bad sync mode accepted")
	}
	// a block cache no larger than the memtables Pebble charges to it
	// would cache nothing
	if _, err := Open(Options{Dir: t.TempDir(), CacheBytes: 32 << 20, MemTableBytes: 16 << 20}); err == nil {
		t.Fatal("a cache with no room for blocks accepted")
	}
}

func BenchmarkInsertSyncAlways(b *testing.B) {
	s := openT(b, b.TempDir())
	defer s.Close()
	now := time.Now()
	b.ReportAllocs()
	b.SetParallelism(32)
	var n int64
	var mu sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			i := n
			mu.Unlock()
			if err := s.Insert(rec(fmt.Sprintf("r%d", i), fmt.Sprintf("+39%d", i), now)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCloneIsDeep: every slice of a Record is copied by clone, so an
// Update function cannot change the record Update diffs against. A field
// added to Record with a slice or map must be added to clone: this test
// fills every field through reflection and fails when one is shared.
// TestCloneIsSafe: what the engine changes in place (messages, their
// parts, deadlines) is copied; what it only appends to is shared but
// clipped, so two copies that append never write into one array.
func TestCloneIsSafe(t *testing.T) {
	events := make([]Event, 1, 4) // spare capacity: an unclipped share would be written into
	events[0] = Event{Type: "e"}
	r := &Record{ID: "a", Workflow: []string{"sms"}, CodeHash: []byte{1}, CodeSealed: []byte{2},
		Messages: []Message{{MessageID: "m", Parts: []Part{{ID: "p", State: "submitted"}}, Failed: make([]string, 0, 2)}},
		Events:   events, Deadlines: []Deadline{{Kind: "k"}}}
	c := r.clone()
	c.Messages[0].MessageID, c.Messages[0].Parts[0].State, c.Deadlines[0].Kind = "x", "delivered", "x"
	if r.Messages[0].MessageID != "m" || r.Messages[0].Parts[0].State != "submitted" || r.Deadlines[0].Kind != "k" {
		t.Fatalf("an in-place change of the copy reached the original: %+v", r)
	}
	c1, c2 := r.clone(), r.clone()
	c1.Events = append(c1.Events, Event{Type: "one"})
	c2.Events = append(c2.Events, Event{Type: "two"})
	c1.Messages[0].Failed = append(c1.Messages[0].Failed, "c1")
	c2.Messages[0].Failed = append(c2.Messages[0].Failed, "c2")
	if c1.Events[1].Type != "one" || c2.Events[1].Type != "two" || c1.Messages[0].Failed[0] != "c1" || len(r.Events) != 1 {
		t.Fatalf("two copies appended into one array: %v %v %v", c1.Events, c2.Events, c1.Messages[0].Failed)
	}
	rt := reflect.TypeOf(*r)
	for i := 0; i < rt.NumField(); i++ {
		switch k := rt.Field(i).Type.Kind(); k {
		case reflect.Slice:
			switch rt.Field(i).Name {
			case "Workflow", "CodeHash", "CodeSealed", "Messages", "Events", "Deadlines", "StepWaits", "ops":
			default:
				t.Errorf("field %s is a slice that clone does not copy", rt.Field(i).Name)
			}
		case reflect.Map, reflect.Pointer:
			t.Errorf("field %s (%s) is not copied by clone", rt.Field(i).Name, k)
		}
	}
}

func TestOutboxOrderAndDeadLetters(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	r := rec("a", "+391", now)
	r.AddHook(Hook{URL: "http://x", Body: []byte(`{"n":0}`)})
	if err := s.Insert(r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("a", func(r *Record) error {
		r.AddHook(Hook{URL: "http://x", Body: []byte(`{"n":1}`)})
		r.AddHook(Hook{URL: "http://x", Body: []byte(`{"n":2}`)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get("a")
	if got.HookHead != 0 || got.HookSeq != 3 || !got.HooksPending() {
		t.Fatalf("head %d seq %d", got.HookHead, got.HookSeq)
	}
	h0, err := s.Hook("a", 0)
	if err != nil || string(h0.Body) != `{"n":0}` || h0.Tenant != "t" {
		t.Fatalf("head item %+v %v", h0, err)
	}
	s.Update("a", func(r *Record) error { r.HookDone(*h0); return nil })
	h1, _ := s.Hook("a", 1)
	s.Update("a", func(r *Record) error { r.HookDead(*h1, now); return nil })
	if _, err := s.Hook("a", 0); !errors.Is(err, ErrNotFound) {
		t.Fatal("delivered item still in the outbox")
	}
	dead, _ := s.DeadHooks("t", 10)
	if len(dead) != 1 || string(dead[0].Body) != `{"n":1}` {
		t.Fatalf("dead letters %+v", dead)
	}
	if dead, _ := s.DeadHooks("other", 10); len(dead) != 0 {
		t.Fatal("another tenant's dead letters listed")
	}
	if err := s.PurgeDead(now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if dead, _ := s.DeadHooks("", 10); len(dead) != 0 {
		t.Fatal("purged dead letters remain")
	}
	if err := s.Purge("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hook("a", 2); !errors.Is(err, ErrNotFound) {
		t.Fatal("purge left the outbox")
	}
	if _, err := s.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Fatal("purge left the record")
	}
	if due, _, _ := s.Due(now.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("purge left deadlines %+v", due)
	}
}

// countOn counts one change of record id under limit "n" (3 in 10m) at at.
func countOn(t *testing.T, s *Store, id string, at time.Time) (bool, time.Duration) {
	t.Helper()
	_, err := s.Apply(id, func(r *Record) error { r.Attempts++; return nil }, ApplyOptions{Limit: func(*Record) *Limit { return &Limit{Name: "n", Window: 10 * time.Minute, Max: 3, Now: at} }})
	var le *LimitedError
	if errors.As(err, &le) {
		return false, le.RetryAfter
	}
	if err != nil {
		t.Fatal(err)
	}
	return true, 0
}

func TestCounterWindowAndExpiry(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	now := time.Unix(1_800_000_000, 0)
	if err := s.Insert(rec("r", "+391", now)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if ok, _ := countOn(t, s, "r", now.Add(time.Duration(i)*time.Minute)); !ok {
			t.Fatalf("count %d refused", i)
		}
	}
	ok, retry := countOn(t, s, "r", now.Add(3*time.Minute))
	if ok || retry != 7*time.Minute {
		t.Fatalf("fourth count: ok=%v retry=%v, want refused with 7m", ok, retry)
	}
	if r, _ := s.Get("r"); r.Attempts != 3 {
		t.Fatalf("a refused change was written: attempts %d", r.Attempts)
	}
	s.Close()
	s = openT(t, dir) // counters survive a restart
	defer s.Close()
	if ok, _ := countOn(t, s, "r", now.Add(4*time.Minute)); ok {
		t.Fatal("limit forgotten across restart")
	}
	if ok, _ := countOn(t, s, "r", now.Add(10*time.Minute+time.Second)); !ok {
		t.Fatal("window did not slide")
	}
	// idempotency-style keyed value with expiry
	if err := s.PutKeyed(Keyed{Name: "i", Value: []byte("v"), Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := s.GetKeyed("i", now); !ok || string(v) != "v" {
		t.Fatal("keyed value not read back")
	}
	if _, ok, _ := s.GetKeyed("i", now.Add(time.Hour)); ok {
		t.Fatal("expired keyed value returned")
	}
	n, err := s.ExpireKeyed(now.Add(2*time.Hour), 100)
	if err != nil || n != 2 {
		t.Fatalf("ExpireKeyed removed %d, %v; want 2 (counter and key)", n, err)
	}
	if _, ok, _ := s.get(keyedKey("i")); ok {
		t.Fatal("expired value still stored")
	}
}

// Counters are kept in memory and on disk: a reopened store counts on from
// what it had, and an insert refused by its limit writes nothing.
func TestCountersSurviveReopenAndGuardInserts(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	now := time.Unix(1_700_000_000, 0)
	lim := &Limit{Name: "s+391", Window: 10 * time.Minute, Max: 2, Now: now}
	if err := s.Create(rec("a", "+391", now), CreateOptions{Limit: lim}); err != nil {
		t.Fatal(err)
	}
	second := &Limit{Name: "s+391", Window: 10 * time.Minute, Max: 2, Now: now.Add(time.Minute)}
	// an update that changes nothing counts nothing
	if _, err := s.Apply("a", func(r *Record) error { return ErrNoChange }, ApplyOptions{Limit: func(*Record) *Limit { return second }}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply("a", func(r *Record) error { r.Attempts++; return nil }, ApplyOptions{Limit: func(*Record) *Limit { return second }}); err != nil {
		t.Fatalf("second count refused: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	defer s.Close()
	lim.Now = now.Add(2 * time.Minute)
	var le *LimitedError
	if err := s.Create(rec("b", "+392", lim.Now), CreateOptions{Limit: lim}); !errors.As(err, &le) || le.RetryAfter != 8*time.Minute {
		t.Fatalf("third count after reopen: %v, want refused for 8m", err)
	}
	if _, err := s.Get("b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused insert wrote its record: %v", err)
	}
	if ok, _ := s.Allows(*lim); ok {
		t.Fatal("Allows says yes to a full window")
	}
	// past the window the counter expires from disk and memory
	if n, err := s.ExpireKeyed(now.Add(11*time.Minute+time.Second), 10); err != nil || n != 1 {
		t.Fatalf("ExpireKeyed = %d, %v; want 1", n, err)
	}
	lim.Now = now.Add(12 * time.Minute)
	if ok, _ := s.Allows(*lim); !ok {
		t.Fatal("an expired counter still refuses")
	}
	if err := s.Create(rec("b", "+392", lim.Now), CreateOptions{Limit: lim}); err != nil {
		t.Fatal(err)
	}
}

// A change's fn never works on the cache's own entry (what Get hands
// out), and the cache forgets purged records.
func TestRecordCacheCopiesAndForgets(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	now := time.Unix(1_700_000_000, 0).UTC()
	if err := s.Insert(rec("a", "+391", now)); err != nil {
		t.Fatal(err)
	}
	before, err := s.Get("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("a", func(r *Record) error {
		r.Attempts++
		r.Deadlines[0].Kind = "moved" // in place, in fn's copy
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if before.Attempts != 0 || before.Deadlines[0].Kind != "expire" {
		t.Fatalf("a change reached a record read before it: %+v", before)
	}
	again, err := s.Get("a")
	if err != nil {
		t.Fatal(err)
	}
	if again.Attempts != 1 || again.Deadlines[0].Kind != "moved" {
		t.Fatalf("the change is not what is read after it: %+v", again)
	}
	if _, err := s.Update("a", func(r *Record) error { r.Status = "scribbled"; return ErrNoChange }); err != nil {
		t.Fatal(err)
	}
	if again.Status != "pending" {
		t.Fatalf("an abandoned change reached the cache: %+v", again)
	}
	if err := s.Purge("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purged record still readable: %v", err)
	}
}

// With a cache smaller than the records written, the oldest are evicted
// and still read correctly from Pebble.
func TestRecordCacheEviction(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), RecordCache: 8, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_700_000_000, 0).UTC()
	for i := range 50 {
		if err := s.Insert(rec(fmt.Sprintf("r%d", i), fmt.Sprintf("+39%d", i), now)); err != nil {
			t.Fatal(err)
		}
	}
	cached := 0
	for i := range 50 {
		id := fmt.Sprintf("r%d", i)
		if _, ok := s.recs.get(id); ok {
			cached++
		}
		r, err := s.Update(id, func(r *Record) error { r.Attempts = i; return nil })
		if err != nil || r.Attempts != i {
			t.Fatalf("%s: %v %+v", id, err, r)
		}
	}
	if cached > 8 {
		t.Fatalf("%d records cached, capacity 8", cached)
	}
	for i := range 50 {
		if r, err := s.Get(fmt.Sprintf("r%d", i)); err != nil || r.Attempts != i {
			t.Fatalf("r%d after eviction: %v %+v", i, err, r)
		}
	}
}

func TestInsertBatch(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	now := time.Unix(1_700_000_000, 0).UTC()
	var recs []*Record
	for i := range 100 {
		r := rec(fmt.Sprintf("b%d", i), fmt.Sprintf("+3934%d", i), now)
		if i%2 == 1 {
			r.Status = "verified"
		}
		recs = append(recs, r)
	}
	if err := s.InsertBatch(recs); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		r, err := s.Get(fmt.Sprintf("b%d", i))
		if err != nil || r.Number != fmt.Sprintf("+3934%d", i) {
			t.Fatalf("b%d: %v %+v", i, err, r)
		}
		id, ok, _ := s.PendingID("t", r.Number)
		if ok != (i%2 == 0) || (ok && id != r.ID) {
			t.Fatalf("b%d: pending index %q %v", i, id, ok)
		}
	}
	if due, _, _ := s.Due(now.Add(time.Hour), 1000); len(due) != 100 {
		t.Fatalf("%d deadlines indexed, want 100", len(due))
	}
	// a second pending record for a pair, in the store or in the batch:
	// refused, nothing written
	var pe *PendingExistsError
	if err := s.InsertBatch([]*Record{rec("c1", "+39999", now), rec("c2", "+39340", now)}); !errors.As(err, &pe) || pe.ID != "b0" {
		t.Fatalf("pending pair in the store: %v", err)
	}
	if err := s.InsertBatch([]*Record{rec("d1", "+39998", now), rec("d2", "+39998", now)}); !errors.As(err, &pe) || pe.ID != "d1" {
		t.Fatalf("pending pair twice in a batch: %v", err)
	}
	for _, id := range []string{"c1", "d1", "d2"} {
		if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("refused batch wrote %s: %v", id, err)
		}
	}
}

// Inserts that count a limit, checks that count one and end their record,
// and plain updates, all at once on a store with two locks of each kind (so
// every lock is shared): no deadlock. (Taking a counter's lock before a
// pair's in one path and after it in another deadlocked within seconds.)
func TestLockOrderUnderContention(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncNone, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_800_000_000, 0).UTC()
	lim := func(name string) *Limit { return &Limit{Name: name, Window: time.Hour, Max: 1 << 20, Now: now} }
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 3000 {
					id, num := fmt.Sprintf("g%d-%d", g, i), fmt.Sprintf("+39%d%05d", g, i)
					if err := s.Create(rec(id, num, now), CreateOptions{Limit: lim("s" + num)}); err != nil {
						t.Error(err)
						return
					}
					end := func(r *Record) error { r.Status = "verified"; r.Deadlines = nil; return nil }
					if _, err := s.Apply(id, end, ApplyOptions{Limit: func(r *Record) *Limit { return lim("c" + r.Number) }}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("deadlock: inserts and counted updates stopped")
	}
}

// Velocity buckets: an insert takes a token from each; one with none
// refuses it (nothing written, no other bucket taken from), says when the
// next token comes, and the state survives a reopen; a bucket full again
// is forgotten from disk and memory.
func TestBucketsGuardInsertsAndSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	now := time.Unix(1_700_000_000, 0)
	country := func(at time.Time) Bucket { return Bucket{Name: "v\x00acme\x00IT", Rate: 1, Burst: 2, Now: at} }
	client := func(at time.Time) Bucket {
		return Bucket{Name: "v\x00acme\x00ip\x00192.0.2.1", Rate: 0.1, Burst: 5, Now: at}
	}
	n := 0
	create := func(at time.Time, bs ...Bucket) error {
		n++
		return s.Create(rec(fmt.Sprint("r", n), fmt.Sprint("+39", n), at), CreateOptions{Buckets: bs})
	}
	for i := 0; i < 2; i++ {
		if err := create(now, country(now), client(now)); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	var le *LimitedError
	if err := create(now.Add(250*time.Millisecond), country(now.Add(250*time.Millisecond)), client(now.Add(250*time.Millisecond))); !errors.As(err, &le) ||
		le.Name != "v\x00acme\x00IT" || le.RetryAfter != 750*time.Millisecond {
		t.Fatalf("third create in 250ms: %v, want the country bucket with 750ms to wait", err)
	}
	if _, err := s.Get(fmt.Sprint("r", n)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused insert wrote its record: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	defer s.Close()
	// the client bucket lost nothing to the refused insert: 3 of its 5
	// tokens are left; after a second the country bucket has one again
	at := now.Add(time.Second)
	if err := create(at, country(at), client(at)); err != nil {
		t.Fatalf("after a second and a reopen: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := create(at, client(at)); err != nil {
			t.Fatalf("client token %d: %v", i, err)
		}
	}
	if err := create(at, client(at)); !errors.As(err, &le) || le.Name != "v\x00acme\x00ip\x00192.0.2.1" {
		t.Fatalf("the client bucket after 5 takes: %v", err)
	}
	// full again after burst/rate: forgotten
	if n, err := s.ExpireKeyed(at.Add(time.Minute), 10); err != nil || n != 2 {
		t.Fatalf("ExpireKeyed = %d, %v; want 2 buckets", n, err)
	}
	for i := range s.buckets {
		if len(s.buckets[i]) != 0 {
			t.Fatalf("a forgotten bucket is still in memory: %v", s.buckets[i])
		}
	}
}
