package store

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestHandedMarks: a mark says which message was handed and when; the
// update that records the outcome clears it in its own commit; purge
// removes it.
func TestHandedMarks(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	at := time.Unix(1_800_000_000, 5).UTC()
	if err := s.Insert(rec("a", "+391", at)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Handed("a"); ok {
		t.Fatal("a new record carries a mark")
	}
	if err := s.MarkHanded("a", 2, "smsc", at); err != nil {
		t.Fatal(err)
	}
	m, ok, err := s.Handed("a")
	if err != nil || !ok || m.Message != 2 || !m.At.Equal(at) || m.Connector != "smsc" {
		t.Fatalf("mark %+v %v %v", m, ok, err)
	}
	// an update that does not clear it keeps it
	if _, err := s.Update("a", func(r *Record) error { r.Attempts++; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Handed("a"); !ok {
		t.Fatal("an unrelated update dropped the mark")
	}
	if _, err := s.Apply("a", func(r *Record) error { r.ClearHanded(); return nil }, ApplyOptions{Lazy: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Handed("a"); ok {
		t.Fatal("ClearHanded left the mark")
	}
	s.MarkHanded("a", 0, "smsc", at)
	if err := s.Purge("a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Handed("a"); ok {
		t.Fatal("purge left the mark")
	}
}

// TestMarksFromManyWorkers: concurrent marks are all committed (one batch
// each time markLoop wakes), and a mark after Close fails at once.
func TestMarksFromManyWorkers(t *testing.T) {
	s := openT(t, t.TempDir())
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		go func(i int) {
			errs <- s.MarkHanded(string(rune('A'+i%26))+string(rune('a'+i/26)), i, "smsc", time.Now())
		}(i)
	}
	for i := 0; i < 200; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.MarkHanded("x", 0, "smsc", time.Now()) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("mark after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a mark after Close hangs")
	}
}

// TestLazyCommitSurvivesACrash: a lazy commit with nothing synced after it
// is durable within LazySyncDelay. The crash is a copy of the data
// directory taken while the store is open, as the files are on disk (what
// a kill -9 leaves); with the delay set far away, the copy lacks the
// change: the lazy sync is what made it durable.
func TestLazyCommitSurvivesACrash(t *testing.T) {
	for _, c := range []struct {
		delay   time.Duration
		durable bool
	}{{10 * time.Millisecond, true}, {time.Hour, false}} {
		dir := t.TempDir()
		s, err := Open(Options{Dir: dir, LazySyncDelay: c.delay})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Insert(rec("a", "+391", time.Now())); err != nil { // synced
			t.Fatal(err)
		}
		// Pebble's WAL flusher writes an unsynced record to the file when
		// it is woken for other work (a block filled, a sync) and finds it
		// there: let it go idle after the insert's sync first, or the lazy
		// change may ride along with it
		time.Sleep(50 * time.Millisecond)
		if _, err := s.Apply("a", func(r *Record) error { r.Attempts = 7; return nil }, ApplyOptions{Lazy: true}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		crashed := t.TempDir()
		copyDir(t, dir, crashed)
		s.Close()
		s2, err := Open(Options{Dir: crashed})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s2.Get("a")
		s2.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Attempts == 7; got != c.durable {
			t.Errorf("lazy sync delay %s: the change survived the crash: %v, want %v", c.delay, got, c.durable)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
}

// TestNextSeq: a sequence counts 1, 2, 3 per name, survives a reopen and
// housekeeping, and never repeats a number.
func TestNextSeq(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	for want := uint64(1); want <= 3; want++ {
		if n, err := s.NextSeq("q\x00acme"); err != nil || n != want {
			t.Fatalf("NextSeq = %d %v, want %d", n, err, want)
		}
	}
	if n, _ := s.NextSeq("q\x00other"); n != 1 {
		t.Fatalf("another sequence starts at %d", n)
	}
	if _, err := s.ExpireKeyed(time.Now().Add(100*365*24*time.Hour), 1000); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, dir)
	defer s.Close()
	if n, err := s.NextSeq("q\x00acme"); err != nil || n != 4 {
		t.Fatalf("after a reopen: %d %v, want 4", n, err)
	}
}

// TestHandedMarkWithoutConnector: a mark written before marks named their
// connector reads, with connector "".
func TestHandedMarkWithoutConnector(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	at := time.Unix(1_800_000_000, 0).UTC()
	v := binary.AppendUvarint(nil, 1)
	v = binary.AppendVarint(v, at.UnixNano())
	if err := s.db.Set(handedKey("old"), v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	m, ok, err := s.Handed("old")
	if err != nil || !ok || m.Message != 1 || !m.At.Equal(at) || m.Connector != "" {
		t.Fatalf("old mark read as %+v %v %v", m, ok, err)
	}
}
