package store

import (
	"fmt"
	"slices"
)

// InsertBatch stores many new records with their indexes in one commit:
// the path for bulk loads (an import from another gateway, filling a store
// for a capacity test). It keeps Insert's invariant — at most one pending
// record per (tenant, number) — for every record, against the store and
// within the batch, and writes nothing when any record breaks it (the error
// is a *PendingExistsError naming the one in the way). Records do not enter
// the record cache: a bulk load would only evict the verifications in use.
// Their ids must be new (like Insert's): a stored id would be overwritten
// without its old indexes being removed.
func (s *Store) InsertBatch(recs []*Record) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	// Lock the pairs of the pending records, each once, in index order
	// (the order every other path takes them in: one at a time).
	var idx []int
	for _, r := range recs {
		if r.Pending() {
			idx = append(idx, hashIndex(len(s.pairs), r.Tenant, r.Number))
		}
	}
	slices.Sort(idx)
	for _, i := range slices.Compact(idx) {
		s.pairs[i].Lock()
		defer s.pairs[i].Unlock()
	}
	b := s.db.NewBatch()
	defer b.Close()
	seen := make(map[string]string)
	for _, r := range recs {
		if r.ID == "" {
			return fmt.Errorf("store: batch insert: a record has no id")
		}
		if r.Pending() {
			pk := string(pendingKey(r.Tenant, r.Number))
			if id, ok := seen[pk]; ok {
				return &PendingExistsError{ID: id}
			}
			id, ok, err := s.get([]byte(pk))
			if err != nil {
				return err
			}
			if ok {
				return &PendingExistsError{ID: string(id)}
			}
			seen[pk] = r.ID
		}
		if err := writeRecord(b, nil, r); err != nil {
			return err
		}
	}
	return s.commit(b)
}
