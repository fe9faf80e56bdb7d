// Package kept keeps a list of silences in memory and in a bbolt bucket
// of Lookout's database, so they survive restarts, and deletes each one
// Retention after it ends. It serves the silences store and the
// maintenance store's one-offs, which each own their bucket, encoding,
// limits and errors.
//
// Every change is written before the list changes: a write the database
// refuses changes nothing, is reported to Failures and returned as the
// owner's storage error. The list is copied before each change, so the
// one All returns never changes under its reader.
package kept

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/dispatch"
)

// WriteFailures hears of every write to the database that failed.
type WriteFailures interface {
	WriteFailed(err error)
}

// Codec is how a silence is stored: its value under its ID.
type Codec struct {
	Encode func(dispatch.Silence) ([]byte, error)
	// Decode reads the value stored under key.
	Decode func(key, value []byte) (dispatch.Silence, error)
}

// Config says where and how the silences are kept.
type Config struct {
	// Bucket names the bucket; Open creates it when it is missing.
	Bucket string
	Codec  Codec
	// Retention is how long a silence is kept after it ended.
	Retention time.Duration
	// Failures hears of failed writes; nil: not reported.
	Failures WriteFailures
	// StorageError makes the error a write the database refused returns
	// from the database's error. It must be set.
	StorageError func(error) error
}

// Silences are the silences kept in one bucket.
type Silences struct {
	db  *bolt.DB
	cfg Config

	mu   sync.RWMutex
	list dispatch.SilenceList
	// due is when the next silence is due for deletion (zero: none is).
	due time.Time
}

var _ dispatch.Silences = (*Silences)(nil)

// Open loads the silences stored in db's bucket cfg.Bucket. It deletes
// none: the owner calls DeleteExpired.
func Open(db *bolt.DB, cfg Config) (*Silences, error) {
	k := &Silences{db: db, cfg: cfg}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(cfg.Bucket))
		if err != nil {
			return err
		}
		return b.ForEach(func(key, v []byte) error {
			sil, err := cfg.Codec.Decode(key, v)
			if err != nil {
				return err
			}
			k.list = append(k.list, sil)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, sil := range k.list {
		k.schedule(sil)
	}
	return k, nil
}

// All returns the silences kept, in no order. The caller must not change
// the list; the store never does.
func (k *Silences) All() dispatch.SilenceList {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.list
}

// Muted implements dispatch.Silences.
func (k *Silences) Muted(lset model.LabelSet, at time.Time) []string {
	return k.All().Muted(lset, at)
}

// Add stores sil, which has its ID, and keeps it. admit, called with the
// silences kept, refuses sil with an error, which Add returns, or makes
// room: it returns the index of one silence to delete in the same write,
// -1 for none. admit runs while k is locked and must not call k.
func (k *Silences) Add(sil dispatch.Silence, admit func(dispatch.SilenceList) (evict int, err error)) error {
	v, err := k.cfg.Codec.Encode(sil)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	evict, err := admit(k.list)
	if err != nil {
		return err
	}
	err = k.write(func(b *bolt.Bucket) error {
		if evict >= 0 {
			if err := b.Delete([]byte(k.list[evict].ID)); err != nil {
				return err
			}
		}
		return b.Put([]byte(sil.ID), v)
	})
	if err != nil {
		return err
	}
	list := slices.Clone(k.list)
	if evict >= 0 {
		list = slices.Delete(list, evict, evict+1)
	}
	k.list = append(list, sil)
	k.schedule(sil)
	return nil
}

// End ends the silence id at now, one that has not started included,
// and returns it; one that ended already is returned as it is. ok is
// false for an unknown ID. A write the database refused leaves it as it
// was, and is returned with it.
func (k *Silences) End(id string, now time.Time) (sil dispatch.Silence, ok bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := slices.IndexFunc(k.list, func(x dispatch.Silence) bool { return x.ID == id })
	if i < 0 {
		return dispatch.Silence{}, false, nil
	}
	sil = k.list[i]
	if sil.Expired(now) {
		return sil, true, nil
	}
	sil.EndsAt = now
	if sil.StartsAt.After(now) {
		sil.StartsAt = now
	}
	v, err := k.cfg.Codec.Encode(sil)
	if err != nil {
		return k.list[i], true, err
	}
	if err := k.write(func(b *bolt.Bucket) error { return b.Put([]byte(id), v) }); err != nil {
		return k.list[i], true, err
	}
	k.list = slices.Clone(k.list)
	k.list[i] = sil
	k.schedule(sil)
	return sil, true, nil
}

// DeleteExpired deletes the silences that ended Retention or longer
// before now, and returns how many it deleted. It looks at the list and
// writes only when one is due, so calling it often is cheap.
func (k *Silences) DeleteExpired(now time.Time) (int, error) {
	gone := func(x dispatch.Silence) bool { return !now.Before(x.EndsAt.Add(k.cfg.Retention)) }
	k.mu.RLock()
	due := !k.due.IsZero() && !now.Before(k.due)
	k.mu.RUnlock()
	if !due {
		return 0, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var ids []string
	for _, x := range k.list {
		if gone(x) {
			ids = append(ids, x.ID)
		}
	}
	err := k.write(func(b *bolt.Bucket) error {
		for _, id := range ids {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	k.list = slices.DeleteFunc(slices.Clone(k.list), gone)
	k.due = time.Time{}
	for _, x := range k.list {
		k.schedule(x)
	}
	return len(ids), nil
}

// schedule moves due earlier if sil is deleted before it. k.mu is held.
func (k *Silences) schedule(sil dispatch.Silence) {
	if at := sil.EndsAt.Add(k.cfg.Retention); k.due.IsZero() || at.Before(k.due) {
		k.due = at
	}
}

// write runs f on the bucket in one transaction; a failure is reported
// and returned as cfg.StorageError makes it.
func (k *Silences) write(f func(*bolt.Bucket) error) error {
	err := k.db.Update(func(tx *bolt.Tx) error { return f(tx.Bucket([]byte(k.cfg.Bucket))) })
	if err == nil {
		return nil
	}
	if k.cfg.Failures != nil {
		k.cfg.Failures.WriteFailed(err)
	}
	return k.cfg.StorageError(err)
}
