package main

import (
	"cmp"
	"math"
	"os"
	"runtime"
	"runtime/debug"
)

// spareProc gives the Go scheduler one P more than its default (the CPUs
// this process may use), unless GOMAXPROCS is set in the environment.
//
// Why: the store's WAL fsync (a millisecond or more, hundreds a second
// under load) and other blocking system calls hold their P until the
// runtime's monitor takes it back, so with one P per core a core often
// idles while goroutines wait to run. Measured on 2 cores
// (bin/otpgate bench api --mode create --workers 128): 2 Ps, 6,900/s at
// 140% CPU; 3 Ps, 8,800/s at 163% CPU; 4 Ps no better than 3.
func spareProc() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
}

// setMemoryLimit applies memory_limit_mb (see Config.MemoryLimitMB) unless
// GOMEMLIMIT is set in the environment. Pebble's block cache lives outside
// the Go heap in a cgo build; in a build without cgo it is Go memory, so
// the limit grows by the cache's size (cacheMB, 0 for the default 128).
func setMemoryLimit(mb, cacheMB int) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if mb < 0 {
		debug.SetMemoryLimit(math.MaxInt64)
		return
	}
	limit := int64(cmp.Or(mb, 320)) << 20
	if !cgoBuild {
		limit += int64(cmp.Or(cacheMB, 128)) << 20
	}
	debug.SetMemoryLimit(limit)
}

// gcPercent is the GC's target (GOGC) the gateway runs with unless GOGC is
// set in the environment: the heap may grow three times its live size
// between collections instead of once, which halves the CPU the collector
// takes (bin/otpgate bench profile, 2 cores: 41.7 -> 21.6 us a full
// verification), while the memory limit (setMemoryLimit) still bounds it:
// near the limit the collector runs as often as it must.
const gcPercent = 300

func setGCPercent() {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(gcPercent)
}
