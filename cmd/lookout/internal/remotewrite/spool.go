package remotewrite

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The write-ahead buffer: every request is written to lookout.db
// (storage.path) before it waits in memory, and deleted once the receiver
// took or refused it, or the buffer dropped it; a restart sends what is
// left first, oldest first. Each remote has a bucket under remote_write;
// a key is the bucket's next sequence number (so keys sort oldest first),
// a value the request's shard, its sample count and its bytes.

// bucketRemoteWrite holds the remotes' buckets.
var bucketRemoteWrite = []byte("remote_write")

// WriteFailures is told of every write to lookout.db that failed; the
// request then waits in memory only.
type WriteFailures interface {
	WriteFailed(err error)
}

// spool is one remote's requests on disk; a nil spool keeps nothing.
type spool struct {
	db       *bolt.DB
	name     []byte
	failures WriteFailures
}

const spoolHeader = 2 + 4 // shard, samples

// save writes a request and returns its key, or 0 when the write failed
// (told to failures).
func (s *spool) save(shard int, req request) uint64 {
	if s == nil {
		return 0
	}
	var key uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := s.bucket(tx)
		if err != nil {
			return err
		}
		if key, err = b.NextSequence(); err != nil {
			return err
		}
		v := make([]byte, spoolHeader+len(req.data))
		binary.BigEndian.PutUint16(v, uint16(shard))
		binary.BigEndian.PutUint32(v[2:], uint32(req.samples))
		copy(v[spoolHeader:], req.data)
		return b.Put(binary.BigEndian.AppendUint64(nil, key), v)
	})
	if err != nil {
		s.failures.WriteFailed(fmt.Errorf("remote_write %s: keep a request: %w", s.name, err))
		return 0
	}
	return key
}

// remove deletes the requests of keys (0: never saved).
func (s *spool) remove(keys ...uint64) {
	if s == nil {
		return
	}
	var saved [][]byte
	for _, k := range keys {
		if k != 0 {
			saved = append(saved, binary.BigEndian.AppendUint64(nil, k))
		}
	}
	if len(saved) == 0 {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := s.bucket(tx)
		if err != nil {
			return err
		}
		for _, k := range saved {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.failures.WriteFailed(fmt.Errorf("remote_write %s: forget a sent request: %w", s.name, err))
	}
}

// load calls fn with each request left by an earlier run, oldest first.
func (s *spool) load(fn func(shard int, key uint64, req request)) error {
	if s == nil {
		return nil
	}
	return s.db.View(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketRemoteWrite)
		if top == nil {
			return nil
		}
		b := top.Bucket(s.name)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 || len(v) < spoolHeader {
				return errors.New("a stored request is cut short")
			}
			fn(int(binary.BigEndian.Uint16(v)), binary.BigEndian.Uint64(k), request{
				data: append([]byte(nil), v[spoolHeader:]...), samples: int(binary.BigEndian.Uint32(v[2:])),
			})
			return nil
		})
	})
}

func (s *spool) bucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	top, err := tx.CreateBucketIfNotExists(bucketRemoteWrite)
	if err != nil {
		return nil, err
	}
	return top.CreateBucketIfNotExists(s.name)
}
