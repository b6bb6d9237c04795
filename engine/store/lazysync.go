package store

import (
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// lazySync makes lazy commits durable within Options.LazySyncDelay.
//
// Invariant: every lazy commit numbered up to done is durable. gen counts
// lazy commits; a synced commit that read gen = g before it was applied
// follows lazy commits 1..g in the WAL, so its fsync makes them durable
// (covered(g)). lazySyncLoop, woken by a lazy commit, waits the delay and
// fsyncs the WAL itself only when no synced commit covered it meanwhile:
// under load the creates' own fsyncs carry the lazy commits and it never
// adds one; in a quiet moment it adds one per delay.
type lazySync struct {
	gen  atomic.Uint64
	done atomic.Uint64
	kick chan struct{}
}

func (l *lazySync) committed() {
	l.gen.Add(1)
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *lazySync) covered(g uint64) {
	for {
		d := l.done.Load()
		if g <= d || l.done.CompareAndSwap(d, g) {
			return
		}
	}
}

func (s *Store) lazySyncLoop() {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.lazy.kick:
		}
		t.Reset(s.opts.LazySyncDelay)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		g := s.lazy.gen.Load()
		if s.lazy.done.Load() >= g {
			continue // a synced commit carried them
		}
		if err := s.db.LogData(nil, pebble.Sync); err != nil {
			s.log.Error("store: syncing lazy commits failed", "err", err)
			continue
		}
		s.lazy.covered(g)
	}
}
