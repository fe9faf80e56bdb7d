// Package silences stores silences in Lookout's database, so they
// survive restarts, and answers the dispatcher's question: is this alert
// muted?
package silences

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/dispatch"
)

var bucket = []byte("silences")

// ErrNotFound is returned for an unknown silence ID.
var ErrNotFound = errors.New("no such silence")

// Store keeps silences in a bbolt bucket and in memory.
type Store struct {
	db  *bolt.DB
	now func() time.Time

	mu   sync.RWMutex
	list dispatch.SilenceList
}

var (
	_ dispatch.Silences    = (*Store)(nil)
	_ prometheus.Collector = (*Store)(nil)
)

// record is a silence as stored: matchers as strings.
type record struct {
	ID        string    `json:"id"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
}

// Open loads the silences stored in db.
func Open(db *bolt.DB) (*Store, error) {
	s := &Store{db: db, now: time.Now}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(_, v []byte) error {
			sil, err := decode(v)
			if err != nil {
				return err
			}
			s.list = append(s.list, sil)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("silences: load: %w", err)
	}
	return s, nil
}

func decode(v []byte) (dispatch.Silence, error) {
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return dispatch.Silence{}, err
	}
	ms, err := dispatch.ParseMatchers(r.Matchers)
	if err != nil {
		return dispatch.Silence{}, fmt.Errorf("silence %s: %w", r.ID, err)
	}
	return dispatch.Silence{ID: r.ID, Matchers: ms, StartsAt: r.StartsAt, EndsAt: r.EndsAt, CreatedBy: r.CreatedBy, Comment: r.Comment}, nil
}

func encode(s dispatch.Silence) ([]byte, error) {
	r := record{ID: s.ID, StartsAt: s.StartsAt, EndsAt: s.EndsAt, CreatedBy: s.CreatedBy, Comment: s.Comment}
	for _, m := range s.Matchers {
		r.Matchers = append(r.Matchers, m.String())
	}
	return json.Marshal(r)
}

// Add validates and stores a new silence and returns it with its ID. A
// zero StartsAt means now.
func (s *Store) Add(sil dispatch.Silence) (dispatch.Silence, error) {
	now := s.now()
	if sil.StartsAt.IsZero() {
		sil.StartsAt = now
	}
	switch {
	case len(sil.Matchers) == 0:
		return sil, errors.New("silence: no matchers; a silence needs at least one, like alertname=\"ProbeDown\"")
	case !sil.EndsAt.After(sil.StartsAt):
		return sil, errors.New("silence: ends before it starts; want an end after the start")
	case !sil.EndsAt.After(now):
		return sil, errors.New("silence: already over; want an end in the future")
	case strings.TrimSpace(sil.CreatedBy) == "":
		return sil, errors.New("silence: no author; say who created it")
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return sil, err
	}
	sil.ID = hex.EncodeToString(id)
	if err := s.put(sil); err != nil {
		return sil, err
	}
	s.mu.Lock()
	s.list = append(s.list, sil)
	s.mu.Unlock()
	return sil, nil
}

func (s *Store) put(sil dispatch.Silence) error {
	v, err := encode(sil)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(sil.ID), v)
	})
}

// Expire ends a silence now.
func (s *Store) Expire(id string) (dispatch.Silence, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.list, func(x dispatch.Silence) bool { return x.ID == id })
	if i < 0 {
		return dispatch.Silence{}, fmt.Errorf("silence %q: %w", id, ErrNotFound)
	}
	sil := s.list[i]
	if sil.Expired(now) {
		return sil, nil
	}
	sil.EndsAt = now
	if sil.StartsAt.After(now) {
		sil.StartsAt = now
	}
	if err := s.put(sil); err != nil {
		return sil, err
	}
	s.list = slices.Clone(s.list)
	s.list[i] = sil
	return sil, nil
}

// List returns every silence, newest first.
func (s *Store) List() []dispatch.Silence {
	s.mu.RLock()
	out := slices.Clone(s.list)
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b dispatch.Silence) int { return b.StartsAt.Compare(a.StartsAt) })
	return out
}

// Muted implements dispatch.Silences.
func (s *Store) Muted(lset model.LabelSet, at time.Time) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.list.Muted(lset, at)
}

// State names a silence's state at t: pending, active or expired.
func State(sil dispatch.Silence, t time.Time) string {
	switch {
	case sil.Expired(t):
		return "expired"
	case sil.Active(t):
		return "active"
	}
	return "pending"
}

var silencesDesc = prometheus.NewDesc("lookout_silences", "Silences by state.", []string{"state"}, nil)

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) { ch <- silencesDesc }

// Collect implements prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{"pending": 0, "active": 0, "expired": 0}
	now := s.now()
	for _, sil := range s.List() {
		counts[State(sil, now)]++
	}
	for _, st := range []string{"active", "expired", "pending"} {
		ch <- prometheus.MustNewConstMetric(silencesDesc, prometheus.GaugeValue, float64(counts[st]), st)
	}
}
