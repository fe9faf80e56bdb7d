package slack

import (
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"
)

// Thread is where a group's incident lives in Slack: the channel ID and
// the timestamp of its first message.
type Thread struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	// ResolvedBy is the ID of the resolved notification whose edit of
	// the first message is done, so its retry does not edit again.
	ResolvedBy string `json:"resolvedBy,omitempty"`
}

// Threads stores a Thread per key (see Notifier for the key). Get
// reports whether there is one.
type Threads interface {
	Get(key string) (Thread, bool, error)
	Put(key string, t Thread) error
	Delete(key string) error
}

var threadsBucket = []byte("slack_threads")

// BoltThreads keeps threads in a bbolt bucket, slack_threads, so they
// survive restarts.
type BoltThreads struct{ db *bbolt.DB }

var _ Threads = (*BoltThreads)(nil)

// NewBoltThreads creates the bucket in db if need be; db may be shared.
func NewBoltThreads(db *bbolt.DB) (*BoltThreads, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(threadsBucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("slack: threads: %w", err)
	}
	return &BoltThreads{db: db}, nil
}

// Get implements Threads.
func (b *BoltThreads) Get(key string) (Thread, bool, error) {
	var (
		t  Thread
		ok bool
	)
	err := b.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(threadsBucket).Get([]byte(key))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &t)
	})
	if err != nil {
		return Thread{}, false, fmt.Errorf("slack: threads: get: %w", err)
	}
	return t, ok, nil
}

// Put implements Threads.
func (b *BoltThreads) Put(key string, t Thread) error {
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("slack: threads: put: %w", err)
	}
	err = b.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(threadsBucket).Put([]byte(key), v) })
	if err != nil {
		return fmt.Errorf("slack: threads: put: %w", err)
	}
	return nil
}

// Delete implements Threads.
func (b *BoltThreads) Delete(key string) error {
	err := b.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(threadsBucket).Delete([]byte(key)) })
	if err != nil {
		return fmt.Errorf("slack: threads: delete: %w", err)
	}
	return nil
}

// Records stores values by key: in a cluster, a collection of the shared
// database, so the leader that sends a group's next notification finds
// the thread another leader started.
type Records interface {
	Get(key string) ([]byte, bool, error)
	Put(key string, v []byte) error
	Delete(key string) error
}

// RecordThreads keeps threads in r, as JSON.
func RecordThreads(r Records) Threads { return recordThreads{r} }

type recordThreads struct{ r Records }

func (rt recordThreads) Get(key string) (Thread, bool, error) {
	v, ok, err := rt.r.Get(key)
	if err != nil || !ok {
		return Thread{}, false, err
	}
	var t Thread
	if err := json.Unmarshal(v, &t); err != nil {
		return Thread{}, false, fmt.Errorf("slack: threads: get %s: %w", key, err)
	}
	return t, true, nil
}

func (rt recordThreads) Put(key string, t Thread) error {
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("slack: threads: put: %w", err)
	}
	return rt.r.Put(key, v)
}

func (rt recordThreads) Delete(key string) error { return rt.r.Delete(key) }

// Each calls fn with every thread kept, in key order; fn must not write
// to b.
func (b *BoltThreads) Each(fn func(key string, t Thread) error) error {
	return b.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(threadsBucket).ForEach(func(k, v []byte) error {
			var t Thread
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("slack: threads: %s: %w", k, err)
			}
			return fn(string(k), t)
		})
	})
}
