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
	w := newGroupWriter(func(b []byte) (int, error) {
		mu.Lock()
		stream.Write(b)
		calls++
		mu.Unlock()
		time.Sleep(50 * time.Microsecond) // a system call takes time
		return len(b), nil
	})
	const writers, each = 32, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				rec := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(g)), uint32(i))
				if sent, err := w.Write(rec); !sent || err != nil {
					t.Error(sent, err)
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

// A failed write is every waiter's error, and every later Write's; the
// PDUs of a failed batch that did reach the socket count as sent.
func TestGroupWriterError(t *testing.T) {
	boom := errors.New("connection reset")
	release := make(chan struct{})
	var n int
	w := newGroupWriter(func(b []byte) (int, error) {
		n++
		switch n {
		case 1: // hold the first write so the next three queue as one batch
			<-release
			return len(b), nil
		case 2: // that batch: "aa" and "bb" go out, then the link fails in "cc"
			return 5, boom
		}
		return len(b), nil
	})
	first := make(chan error)
	go func() { _, err := w.Write([]byte("x")); first <- err }()
	for { // wait until the first write is under way
		w.mu.Lock()
		busy := w.flushing
		w.mu.Unlock()
		if busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	type out struct {
		sent bool
		err  error
	}
	res := make(map[string]chan out)
	for _, p := range []string{"aa", "bb", "cc"} {
		res[p] = make(chan out, 1)
		go func() { sent, err := w.Write([]byte(p)); res[p] <- out{sent, err} }()
		for { // queue them in this order
			w.mu.Lock()
			queued := bytes.Contains(w.buf, []byte(p))
			w.mu.Unlock()
			if queued {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"aa": true, "bb": true, "cc": false} {
		got := <-res[p]
		if got.sent != want || !errors.Is(got.err, boom) {
			t.Errorf("%s: sent=%v err=%v, want sent=%v and the write error", p, got.sent, got.err, want)
		}
	}
	if sent, err := w.Write([]byte("d")); sent || !errors.Is(err, boom) {
		t.Fatalf("write after the failure: %v %v, want not sent and %v", sent, err, boom)
	}
	if n != 2 {
		t.Fatalf("%d write calls, want none after the failure", n)
	}
}
