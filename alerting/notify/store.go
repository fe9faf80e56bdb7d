package notify

import (
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
)

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

// item is one record to store, encoded.
type item struct {
	key  string
	data []byte
}

// put stores every item whose key is not already pending, and reports
// which it stored; also, when not nil, writes in the same transaction.
// The transaction has committed (and synced) when put returns.
func put(db *bbolt.DB, items []item, also func(*bbolt.Tx) error) (added []bool, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		added = make([]bool, len(items))
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketName)
		for i, it := range items {
			if b.Get([]byte(it.key)) != nil {
				continue
			}
			if err := b.Put([]byte(it.key), it.data); err != nil {
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

// load creates the bucket if needed and returns every pending record.
// Records it cannot decode, or stored under another key than their
// entryKey (as before deliveries were per integration), are returned as
// bad keys.
func load(db *bbolt.DB) (recs []*record, bad []string, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			rec, err := decode(v)
			if err != nil || entryKey(&rec.Notification) != string(k) {
				bad = append(bad, string(k))
				return nil
			}
			recs = append(recs, rec)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: load: %w", err)
	}
	return recs, bad, nil
}

func decode(data []byte) (*record, error) {
	rec := new(record)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, err
	}
	return rec, nil
}
