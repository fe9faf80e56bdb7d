package notify

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
)

// Store keeps an Outbox's pending deliveries somewhere other than its
// bbolt file: in a cluster, in the shared database (OutboxOptions.Store).
type Store interface {
	// Put stores each entry whose key is not stored yet and reports
	// which it stored. With state not nil it also stores the group's
	// state, so that a reader of the store sees both or neither.
	Put(entries []Entry, state *GroupState) (added []bool, err error)
	// Delete removes a delivered or expired entry.
	Delete(key string) error
	// Load returns every stored entry.
	Load() ([]Entry, error)
}

// Checker is a Store that tells whether an entry is still stored. An
// outbox on one sends an entry it loaded with ResumeAfter only if it is:
// in a cluster, the replica that led before may have delivered it and
// removed it meanwhile.
type Checker interface {
	Has(key string) (bool, error)
}

// Entry is one pending delivery as a Store keeps it: the notification's
// ID, "/" and the integration, and the encoded record.
type Entry struct {
	Key  string
	Data []byte
}

// GroupState is the state of the alert group that sent a notification,
// encoded by the dispatcher's owner; a nil Value deletes it.
type GroupState struct {
	Key   string
	Value []byte
}

// ErrFenced is what a Store answers when this replica may not write
// because another one leads the cluster: the notification is neither
// stored nor sent here, and Enqueue returns the error so the group tries
// again at its next interval (by then on the leader only).
var ErrFenced = errors.New("this replica does not lead the cluster; the leader notifies")

// ErrUnavailable is what a Store answers when it cannot take a write now
// and the notification must not be sent from memory either: in a cluster,
// the leader cut off from the shared database before fail_open_after (a
// send it could not record would be sent again by the next leader).
// Enqueue returns it, and the group tries again at its next interval.
var ErrUnavailable = errors.New("the state database cannot take the notification now; retrying at the next group interval")

// boltStore is the Store of an Outbox on a bbolt file: the notify_outbox
// bucket, and group states in stateBucket.
type boltStore struct {
	db          *bbolt.DB
	stateBucket []byte
}

func (s boltStore) Put(entries []Entry, state *GroupState) ([]bool, error) {
	return put(s.db, entries, func(tx *bbolt.Tx) error {
		if state == nil {
			return nil
		}
		if len(s.stateBucket) == 0 {
			return errors.New("no bucket for group states (OutboxOptions.StateBucket)")
		}
		b, err := tx.CreateBucketIfNotExists(s.stateBucket)
		if err != nil {
			return err
		}
		if state.Value == nil {
			return b.Delete([]byte(state.Key))
		}
		return b.Put([]byte(state.Key), state.Value)
	})
}

func (s boltStore) Delete(key string) error { return del(s.db, key) }

func (s boltStore) Load() ([]Entry, error) { return load(s.db) }

// bucketName is the outbox's bucket in the shared bbolt file. Each
// pending delivery is one key: the notification's ID, "/", and the
// integration (see entryKey).
var bucketName = []byte("notify_outbox")

// record is a pending delivery as the outbox stores it: the notification
// for one integration of its receiver.
type record struct {
	Notification alerting.Notification `json:"notification"`
	EnqueuedAt   time.Time             `json:"enqueuedAt"`
}

// entryKey is the outbox key of n's delivery to its integration.
func entryKey(n *alerting.Notification) string { return n.ID + "/" + n.Integration }

// put stores every item whose key is not already pending, and reports
// which it stored; also, when not nil, writes in the same transaction.
// The transaction has committed (and synced) when put returns.
func put(db *bbolt.DB, items []Entry, also func(*bbolt.Tx) error) (added []bool, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		added = make([]bool, len(items))
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketName)
		for i, it := range items {
			if b.Get([]byte(it.Key)) != nil {
				continue
			}
			if err := b.Put([]byte(it.Key), it.Data); err != nil {
				return err
			}
			added[i] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// del removes a delivery from the outbox.
func del(db *bbolt.DB, key string) error {
	return db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketName).Delete([]byte(key))
	})
}

// load creates the bucket if needed and returns every stored entry.
func load(db *bbolt.DB) (entries []Entry, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			entries = append(entries, Entry{Key: string(k), Data: slices.Clone(v)})
			return nil
		})
	})
	return entries, err
}

// decodeAll decodes stored entries. Records it cannot decode, or stored
// under another key than their entryKey (as before deliveries were per
// integration), are returned as bad keys.
func decodeAll(entries []Entry) (recs []*record, bad []string) {
	for _, e := range entries {
		rec, err := decode(e.Data)
		if err != nil || entryKey(&rec.Notification) != e.Key {
			bad = append(bad, e.Key)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, bad
}

func decode(data []byte) (*record, error) {
	rec := new(record)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, err
	}
	return rec, nil
}
