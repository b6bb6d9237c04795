package smpp

import (
	"sync"
)

// groupWriter writes PDUs of many goroutines to one connection, as many per
// system call as are waiting: the first writer to find no write under way
// writes everything queued so far, the others wait for the write that
// carries their bytes and return its result. Under load one write carries
// dozens of PDUs (a submit_sm is ~60 octets); alone, a PDU is written at
// once, as before. Every caller still returns only after its bytes reached
// the socket (or with the error that stopped them), so "not sent" keeps
// its meaning.
//
// Invariant: bytes of one Write are contiguous in the stream and Writes
// are written in the order they took mu.
type groupWriter struct {
	// write sends one batch to the connection (with its deadline).
	write func([]byte) error

	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte // queued for batch next
	spare    []byte
	next     uint64 // number of the batch buf will go out in
	done     uint64 // batches up to and including this one are written
	flushing bool
	err      error // the first failed write; every later Write returns it
}

func newGroupWriter(write func([]byte) error) *groupWriter {
	w := &groupWriter{write: write, next: 1}
	w.cond.L = &w.mu
	return w
}

// Write queues b and returns when the batch carrying it has been written.
func (w *groupWriter) Write(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.buf = append(w.buf, b...)
	mine := w.next
	for w.done < mine {
		if w.err != nil {
			return w.err
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
		err := w.write(out)
		w.mu.Lock()
		w.spare = out[:0]
		w.flushing = false
		if err != nil {
			w.err = err
		} else {
			w.done = batch
		}
		// Waiters of this batch return; one of the next batch's becomes
		// its flusher, so no caller keeps writing for others forever.
		w.cond.Broadcast()
	}
	return nil
}
