package smpp

import (
	"sync"
)

// groupWriter writes PDUs of many goroutines to one connection, as many per
// system call as are waiting: the first writer to find no write under way
// writes everything queued so far, the others wait for the write that
// carries their bytes and return its result. Under load one write carries
// dozens of PDUs (a submit_sm is ~60 octets); alone, a PDU is written at
// once, as before. Every caller returns only after its bytes reached the
// socket or the write carrying them failed, and learns which: a write that
// fails part-way through a batch has still delivered the PDUs before the
// failure point, which the SMSC may act on, so those are "sent" (their
// outcome unknown), not "not sent".
//
// Invariant: bytes of one Write are contiguous in the stream and Writes
// are written in the order they took mu.
type groupWriter struct {
	// write sends one batch to the connection (with its deadline) and
	// says how many octets went out.
	write func([]byte) (int, error)

	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte // queued for batch next
	spare    []byte
	next     uint64 // number of the batch buf will go out in
	done     uint64 // batches up to and including this one are written
	flushing bool
	err      error  // the first failed write; every later Write returns it
	failed   uint64 // the batch that failed
	failedN  int    // octets of it that were written
}

func newGroupWriter(write func([]byte) (int, error)) *groupWriter {
	w := &groupWriter{write: write, next: 1}
	w.cond.L = &w.mu
	return w
}

// Write queues b and returns when the batch carrying it has been written.
// sent reports whether all of b reached the socket; err is the batch's
// write error (when sent is true too, the connection failed after b).
func (w *groupWriter) Write(b []byte) (sent bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false, w.err
	}
	start := len(w.buf)
	w.buf = append(w.buf, b...)
	end, mine := start+len(b), w.next
	for w.done < mine {
		if w.err != nil {
			return w.failed == mine && end <= w.failedN, w.err
		}
		if w.flushing {
			w.cond.Wait()
			continue
		}
		// Become the flusher of everything queued (mine included).
		w.flushing = true
		out, batch := w.buf, w.next
		w.buf, w.spare = w.spare[:0], nil
		w.next++
		w.mu.Unlock()
		n, err := w.write(out)
		w.mu.Lock()
		w.spare = out[:0]
		w.flushing = false
		if err != nil {
			w.err, w.failed, w.failedN = err, batch, n
		} else {
			w.done = batch
		}
		// Waiters of this batch return; one of the next batch's becomes
		// its flusher, so no caller keeps writing for others forever.
		w.cond.Broadcast()
	}
	return true, nil
}
