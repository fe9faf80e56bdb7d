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

// JSON is a silence as Lookout stores it and as its HTTP API reads and
// writes it: matchers as strings. Duration may stand for EndsAt in a
// request; State is filled in answers.
type JSON struct {
	ID        string    `json:"id,omitempty"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"startsAt,omitzero"`
	EndsAt    time.Time `json:"endsAt,omitzero"`
	Duration  string    `json:"duration,omitempty"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
	State     string    `json:"state,omitempty"`
}

// ToJSON converts a silence, with its state at now.
func ToJSON(s dispatch.Silence, now time.Time) JSON {
	out := JSON{ID: s.ID, StartsAt: s.StartsAt, EndsAt: s.EndsAt, CreatedBy: s.CreatedBy, Comment: s.Comment, State: State(s, now)}
	for _, m := range s.Matchers {
		out.Matchers = append(out.Matchers, m.String())
	}
	return out
}

// Silence parses the matchers and, when set, the duration (from StartsAt,
// or now).
func (j JSON) Silence(now time.Time) (dispatch.Silence, error) {
	ms, err := dispatch.ParseMatchers(j.Matchers)
	if err != nil {
		return dispatch.Silence{}, fmt.Errorf("silence: matchers: %w", err)
	}
	s := dispatch.Silence{ID: j.ID, Matchers: ms, StartsAt: j.StartsAt, EndsAt: j.EndsAt, CreatedBy: j.CreatedBy, Comment: j.Comment}
	if j.Duration != "" {
		d, err := time.ParseDuration(j.Duration)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("silence: duration %q: want a positive duration like 1h or 30m", j.Duration)
		}
		if s.StartsAt.IsZero() {
			s.StartsAt = now
		}
		s.EndsAt = s.StartsAt.Add(d)
	}
	return s, nil
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
	var j JSON
	if err := json.Unmarshal(v, &j); err != nil {
		return dispatch.Silence{}, err
	}
	s, err := j.Silence(time.Time{})
	if err != nil {
		return s, fmt.Errorf("silence %s: %w", j.ID, err)
	}
	return s, nil
}

func encode(s dispatch.Silence) ([]byte, error) {
	j := ToJSON(s, time.Time{})
	j.State = ""
	return json.Marshal(j)
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
