package heartbeat

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucket holds each heartbeat's Signals as JSON, by probe name.
var bucket = []byte("heartbeats")

// WriteFailures hears of every write to the database that failed: the
// check-in still counts, from memory.
type WriteFailures interface {
	WriteFailed(err error)
}

// Open keeps the store's signals in db from now on: the heartbeats
// configured so far take what db kept of them (so a restart forgets no
// check-in and moves no creation time), new ones are written, and those
// db kept that are no longer configured are deleted. failures hears of
// the writes that fail later.
func (s *Store) Open(db *bolt.DB, failures WriteFailures) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		var gone [][]byte
		kept := map[string]bool{}
		err = bk.ForEach(func(k, v []byte) error {
			b := s.beats[string(k)]
			if b == nil {
				gone = append(gone, k)
				return nil
			}
			var sig Signals
			if err := json.Unmarshal(v, &sig); err != nil {
				return fmt.Errorf("signals of %s: %w", k, err)
			}
			b.mu.Lock()
			b.sig = sig
			b.mu.Unlock()
			kept[string(k)] = true
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range gone {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		for name, b := range s.beats {
			if !kept[name] {
				if err := put(bk, b); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("heartbeats: load: %w", err)
	}
	s.db, s.failures = db, failures
	return nil
}

// save writes b's signals as they are when its transaction runs, so
// concurrent check-ins (which bolt's Batch joins in one transaction) leave
// the latest.
func save(db *bolt.DB, b *beat) error {
	return db.Batch(func(tx *bolt.Tx) error { return put(tx.Bucket(bucket), b) })
}

// put writes b's signals into bk, unless Configure removed b.
func put(bk *bolt.Bucket, b *beat) error {
	b.mu.Lock()
	if b.removed {
		b.mu.Unlock()
		return nil
	}
	v, err := json.Marshal(b.sig)
	b.mu.Unlock()
	if err != nil {
		return err
	}
	return bk.Put([]byte(b.name), v)
}

// writeChanges writes the added heartbeats and deletes the removed ones.
func writeChanges(tx *bolt.Tx, added, removed []*beat) error {
	bk := tx.Bucket(bucket)
	for _, b := range added {
		if err := put(bk, b); err != nil {
			return err
		}
	}
	for _, b := range removed {
		if err := bk.Delete([]byte(b.name)); err != nil {
			return err
		}
	}
	return nil
}

func storeError(what string, err error) error {
	return fmt.Errorf("heartbeats: %s: %w", what, err)
}
