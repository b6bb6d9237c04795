package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"
)

// Every record arrives whole, each writer's in its order, and concurrent
// writers share system calls.
func TestGroupWriterCoalescesInOrder(t *testing.T) {
	var (
		mu     sync.Mutex
		stream bytes.Buffer
		calls  int
	)
	w := newGroupWriter(func(b []byte) error {
		mu.Lock()
		stream.Write(b)
		calls++
		mu.Unlock()
		time.Sleep(50 * time.Microsecond) // a system call takes time
		return nil
	})
	const writers, each = 32, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				rec := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(g)), uint32(i))
				if err := w.Write(rec); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b := stream.Bytes()
	if len(b) != writers*each*8 {
		t.Fatalf("%d octets written, want %d", len(b), writers*each*8)
	}
	next := make([]uint32, writers)
	for off := 0; off < len(b); off += 8 {
		g, i := binary.BigEndian.Uint32(b[off:]), binary.BigEndian.Uint32(b[off+4:])
		if g >= writers || i != next[g] {
			t.Fatalf("record %d: writer %d item %d, want item %d", off/8, g, i, next[g])
		}
		next[g]++
	}
	if calls >= writers*each/2 {
		t.Fatalf("%d system calls for %d writes: nothing was coalesced", calls, writers*each)
	}
	t.Logf("%d writes in %d calls", writers*each, calls)
}

// A failed write is every waiter's error, and every later Write's.
func TestGroupWriterError(t *testing.T) {
	boom := errors.New("connection reset")
	var n int
	w := newGroupWriter(func(b []byte) error {
		n++
		if n == 2 {
			return boom
		}
		return nil
	})
	if err := w.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("b")); !errors.Is(err, boom) {
		t.Fatalf("second write: %v, want %v", err, boom)
	}
	if err := w.Write([]byte("c")); !errors.Is(err, boom) {
		t.Fatalf("write after the failure: %v, want %v", err, boom)
	}
	if n != 2 {
		t.Fatalf("%d calls after a failure, want none more", n-2)
	}
}
