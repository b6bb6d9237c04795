package store

import (
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestFormat1Migrates opens testdata/format1/store, a data directory the
// previous release (data format 1, every change a whole record) wrote:
// records, a pending index, a send counter, an idempotency key, a handed
// mark, webhooks in the outbox and dead, a numeric id sequence. After the
// migration every one reads as the old code read it (expected.json,
// written by that code); the store then works in the new format, and the
// directory says so.
func TestFormat1Migrates(t *testing.T) {
	dir := t.TempDir() // Pebble writes into the directory it opens
	copyDir(t, "testdata/format1/store", dir)
	raw, err := os.ReadFile("testdata/format1/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	s := openT(t, dir)
	const a, b = "a0000000000000000000000000", "b0000000000000000000000000"
	for _, id := range []string{a, b} {
		r, err := s.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		same(t, id, r, want[id])
	}
	h1, err := s.Hook(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "hook b 1", h1, want["hook b 1"])
	dead, err := s.DeadHooks("acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "dead", dead, want["dead"])
	if id, ok, _ := s.PendingID("acme", "+393471110001"); !ok || id != a {
		t.Fatalf("pending index: %q %v", id, ok)
	}
	if mark, ok, _ := s.Handed(a); !ok || mark.Message != 0 {
		t.Fatalf("handed mark: %+v %v", mark, ok)
	}
	at := time.Unix(1_790_000_000, 0).UTC()
	if v, ok, _ := s.GetKeyed("idem/acme/k1", at); !ok || string(v) != `{"id":"a"}` {
		t.Fatalf("idempotency key: %q %v", v, ok)
	}
	// the send counter came back: 1 of 5 counted at "at"
	l := Limit{Name: "s\x00+393471110001", Window: 10 * time.Minute, Max: 1, Now: at.Add(time.Second)}
	if ok, _ := s.Allows(l); ok {
		t.Fatal("the format-1 send counter was not read back")
	}
	if seq, err := s.NextSeq("q\x00acme"); err != nil || seq != 2 {
		t.Fatalf("sequence: %d %v", seq, err)
	}
	// a change is now a patch, and reads back across a reopen
	if _, err := s.Update(a, func(r *Record) error { r.Attempts = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, dir)
	defer s.Close()
	r, err := s.Get(a)
	if err != nil || r.Attempts != 2 || r.patches != 1 {
		t.Fatalf("after a patch and a reopen: %+v %v", r, err)
	}
	if v, ok, _ := s.get(formatKey); !ok || v[0] != formatVersion {
		t.Fatalf("format key: %x %v", v, ok)
	}
}

func same(t *testing.T, what string, got any, want json.RawMessage) {
	t.Helper()
	g, _ := json.Marshal(got)
	var gv, wv any
	json.Unmarshal(g, &gv)
	json.Unmarshal(want, &wv)
	if !reflect.DeepEqual(gv, wv) {
		t.Fatalf("%s reads\n %s\nwant\n %s", what, g, want)
	}
}

// TestNewerFormatRefused: a data directory of a newer format is refused
// with what to do, and left as it was.
func TestNewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	db.Set(formatKey, binary.AppendUvarint(nil, formatVersion+1), pebble.Sync)
	db.Close()
	_, err = Open(Options{Dir: dir, Sync: SyncNone})
	if err == nil || !strings.Contains(err.Error(), "written by a newer Otpgate (data format 3; this one reads up to 2)") {
		t.Fatalf("open: %v", err)
	}
}

// TestPatchesFold: a record changed more than foldAfter times is written
// whole again; its patches are gone, it reads the same, and a purge
// leaves no key of it behind.
func TestPatchesFold(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	if err := s.Insert(rec("a", "+391", now)); err != nil {
		t.Fatal(err)
	}
	for i := range foldAfter + 3 {
		if _, err := s.Update("a", func(r *Record) error { r.Attempts = i + 1; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	s.recs.drop("a")
	r, err := s.Get("a")
	if err != nil || r.Attempts != foldAfter+3 || r.patches != 3 {
		t.Fatalf("after %d changes: attempts %d, %d patches, %v", foldAfter+3, r.Attempts, r.patches, err)
	}
	if err := s.Purge("a"); err != nil {
		t.Fatal(err)
	}
	it, _ := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(pfxRecord), UpperBound: prefixEnd(pfxRecord)})
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		t.Errorf("key %q left after the purge", it.Key())
	}
}
