package notify

import (
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
)

// bucketName is the outbox's bucket in the shared bbolt file. Each
// pending notification is one key: its ID.
var bucketName = []byte("notify_outbox")

// record is a pending notification as the outbox stores it.
type record struct {
	Notification alerting.Notification `json:"notification"`
	EnqueuedAt   time.Time             `json:"enqueuedAt"`
}

// put stores data under id unless that ID is already pending, and
// reports whether it stored it; also, when not nil, writes in the same
// transaction. The transaction has committed (and synced) when put
// returns.
func put(db *bbolt.DB, id string, data []byte, also func(*bbolt.Tx) error) (added bool, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketName)
		if b.Get([]byte(id)) != nil {
			return nil
		}
		added = true
		return b.Put([]byte(id), data)
	})
	return added, err
}

// del removes a notification from the outbox.
func del(db *bbolt.DB, id string) error {
	return db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketName).Delete([]byte(id))
	})
}

// load creates the bucket if needed and returns every pending record.
// Records it cannot decode are returned as bad keys.
func load(db *bbolt.DB) (recs []*record, bad []string, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			rec, err := decode(v)
			if err != nil || rec.Notification.ID != string(k) {
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
