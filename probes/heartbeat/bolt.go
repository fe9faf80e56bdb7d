package heartbeat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucket holds each heartbeat's Signals (encode), by probe name.
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
			sig, err := decode(v)
			if err != nil {
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
	v := encode(b.sig)
	b.mu.Unlock()
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

// recordVersion is the first byte of a stored record: the layout below.
const recordVersion = 1

// Record flags.
const (
	flagFailed = 1 << iota
	flagRunning
)

// encode writes sig as recordVersion, then as varints the Unix
// nanoseconds of Created, Success, Start and Fail (0 for none), Duration
// and ExitCode, a byte of flags, and the reason's bytes to the end: about
// 40 bytes, so 5,000 check-ins a second write few pages.
func encode(sig Signals) []byte {
	v := make([]byte, 0, 48+len(sig.Reason))
	v = append(v, recordVersion)
	for _, t := range [...]time.Time{sig.Created, sig.Success, sig.Start, sig.Fail} {
		v = binary.AppendVarint(v, unixNano(t))
	}
	v = binary.AppendVarint(v, int64(sig.Duration))
	v = binary.AppendVarint(v, int64(sig.ExitCode))
	var flags byte
	if sig.Failed {
		flags |= flagFailed
	}
	if sig.Running {
		flags |= flagRunning
	}
	v = append(v, flags)
	return append(v, sig.Reason...)
}

// decode reads what encode wrote.
func decode(v []byte) (Signals, error) {
	if len(v) == 0 || v[0] != recordVersion {
		return Signals{}, errors.New("not a heartbeat record of version 1")
	}
	v = v[1:]
	var n [6]int64
	for i := range n {
		x, k := binary.Varint(v)
		if k <= 0 {
			return Signals{}, errors.New("record cut short")
		}
		n[i], v = x, v[k:]
	}
	if len(v) == 0 {
		return Signals{}, errors.New("record cut short")
	}
	return Signals{
		Created: fromUnixNano(n[0]), Success: fromUnixNano(n[1]), Start: fromUnixNano(n[2]), Fail: fromUnixNano(n[3]),
		Duration: time.Duration(n[4]), ExitCode: int(n[5]),
		Failed: v[0]&flagFailed != 0, Running: v[0]&flagRunning != 0, Reason: string(v[1:]),
	}, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
