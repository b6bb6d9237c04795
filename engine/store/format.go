package store

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// The data directory's format. Open reads it, migrates a directory written
// by an older format, and refuses one written by a newer Otpgate: a store
// read with the wrong idea of its layout would be read wrong, silently.
//
//	1: the first releases: every change rewrote the whole record (no
//	   z/format key).
//	2: records are a base and patches (patch.go). A format-1 directory is
//	   a format-2 one whose records have no patches yet: migrating it
//	   rewrites nothing but the format key.
//
// Going back is not supported: an Otpgate of format 1 reads a format-2
// directory's bases without their patches. Keep a copy of the data
// directory before an upgrade to be able to go back.
const formatVersion = 2

var formatKey = []byte("z/format")

// checkFormat reads the directory's format and brings it to
// formatVersion, or says why it cannot.
func (s *Store) checkFormat() error {
	v, ok, err := s.get(formatKey)
	if err != nil {
		return err
	}
	format := uint64(1)
	if ok {
		n, size := binary.Uvarint(v)
		if size <= 0 {
			return fmt.Errorf("store: %s: the format key holds %x, not a format number: %w", s.opts.Dir, v, ErrCorrupt)
		}
		format = n
	} else if empty, err := s.isEmpty(); err != nil {
		return err
	} else if empty {
		format = formatVersion // a new store
	}
	switch {
	case format == formatVersion && ok:
		return nil
	case format > formatVersion:
		return fmt.Errorf("store: %s was written by a newer Otpgate (data format %d; this one reads up to %d): run that version, or a copy of the directory made before it was upgraded",
			s.opts.Dir, format, formatVersion)
	}
	if format < formatVersion {
		s.log.Info("store: migrating the data directory", "dir", s.opts.Dir, "from_format", format, "to_format", formatVersion)
	}
	// 1 → 2 rewrites nothing (see above)
	if err := s.db.Set(formatKey, binary.AppendUvarint(nil, formatVersion), pebble.Sync); err != nil {
		return fmt.Errorf("store: writing the data format: %w", err)
	}
	return nil
}

// isEmpty reports whether the store holds no key at all.
func (s *Store) isEmpty() (bool, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return false, err
	}
	defer it.Close()
	if it.First() {
		return false, nil
	}
	return true, it.Error()
}
