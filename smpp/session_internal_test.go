package smpp

import (
	"testing"
	"time"
)

func TestSequenceNumbersWrapAndSkipBusy(t *testing.T) {
	s := &session{pending: map[uint32]*call{}}
	if got := s.nextSeqLocked(); got != 1 {
		t.Fatalf("first sequence number %d, want 1", got)
	}
	s.seq = maxSeq - 1
	if got := s.nextSeqLocked(); got != maxSeq {
		t.Fatalf("got %d, want 0x7FFFFFFF", got)
	}
	s.pending[1] = &call{}
	s.pending[2] = &call{}
	if got := s.nextSeqLocked(); got != 3 {
		t.Fatalf("after 0x7FFFFFFF with 1 and 2 outstanding got %d, want 3", got)
	}
}

func TestBackoff(t *testing.T) {
	min, max := 500*time.Millisecond, 30*time.Second
	for failures, base := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second} {
		for i := 0; i < 50; i++ {
			d := backoff(min, max, failures)
			if d < base*8/10 || d > base*12/10 {
				t.Fatalf("backoff after %d failures = %v, want %v ±20%%", failures, d, base)
			}
		}
	}
	for i := 0; i < 50; i++ {
		if d := backoff(min, max, 1000); d > max*12/10 || d < max*8/10 {
			t.Fatalf("backoff after many failures = %v, want about %v", d, max)
		}
	}
}
