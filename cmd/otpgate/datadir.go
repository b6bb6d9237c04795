package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes the data directory for this process: an exclusive
// flock on DIR/otpgate.lock, which holds the owner's pid. A second gateway
// on the same directory is refused with a message that names the holder,
// instead of Pebble's bare "resource temporarily unavailable". The lock
// goes with the process (also on kill -9); unlock releases it earlier.
func lockDataDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "otpgate.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data_dir %s: another process holds it%s, most likely another otpgate serve; stop it, or give this one another --data directory", dir, holder)
		}
		return nil, fmt.Errorf("data_dir %s: lock: %w", dir, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
