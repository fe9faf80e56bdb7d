// Package kept keeps a list of silences in memory and in a bucket (of
// Lookout's database, or of a cluster's shared one), so they survive
// restarts, and deletes each one
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

	"github.com/lookout-dev/lookout/alerting"
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
	Codec Codec
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
	b   alerting.Bucket
	cfg Config

	mu   sync.RWMutex
	list dispatch.SilenceList
	// due is when the next silence is due for deletion (zero: none is).
	due time.Time
}

var _ dispatch.Silences = (*Silences)(nil)

// Open loads the silences stored in b. It deletes none: the owner calls
// DeleteExpired.
func Open(b alerting.Bucket, cfg Config) (*Silences, error) {
	k := &Silences{b: b, cfg: cfg}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload reads the silences stored in the bucket again, for those that
// another replica of a cluster wrote.
func (k *Silences) Reload() error {
	stored, err := k.b.Load()
	if err != nil {
		return err
	}
	list := make(dispatch.SilenceList, 0, len(stored))
	for key, v := range stored {
		sil, err := k.cfg.Codec.Decode([]byte(key), v)
		if err != nil {
			return err
		}
		list = append(list, sil)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.list, k.due = list, time.Time{}
	for _, sil := range list {
		k.schedule(sil)
	}
	return nil
}

// BoltBucket is the bucket name of db, created when it is missing.
func BoltBucket(db *bolt.DB, name string) (alerting.Bucket, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(name))
		return err
	})
	if err != nil {
		return nil, err
	}
	return boltBucket{db: db, name: []byte(name)}, nil
}

type boltBucket struct {
	db   *bolt.DB
	name []byte
}

func (b boltBucket) Load() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(b.name).ForEach(func(k, v []byte) error {
			out[string(k)] = slices.Clone(v)
			return nil
		})
	})
	return out, err
}

func (b boltBucket) Write(put map[string][]byte, del []string) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(b.name)
		for _, k := range del {
			if err := bk.Delete([]byte(k)); err != nil {
				return err
			}
		}
		for k, v := range put {
			if err := bk.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
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
	var del []string
	if evict >= 0 {
		del = []string{k.list[evict].ID}
	}
	if err := k.write(map[string][]byte{sil.ID: v}, del); err != nil {
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
	if err := k.write(map[string][]byte{id: v}, nil); err != nil {
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
	if err := k.write(nil, ids); err != nil {
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

// write deletes del and stores put; a failure is reported and returned
// as cfg.StorageError makes it.
func (k *Silences) write(put map[string][]byte, del []string) error {
	err := k.b.Write(put, del)
	if err == nil {
		return nil
	}
	if k.cfg.Failures != nil {
		k.cfg.Failures.WriteFailed(err)
	}
	return k.cfg.StorageError(err)
}
