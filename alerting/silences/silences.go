// Package silences stores silences in Lookout's database, so they
// survive restarts, and answers the dispatcher's question: is this alert
// muted?
//
// The store bounds what it keeps (config.Silences): how many silences,
// how large each is and how long each lasts; it refuses a silence whose
// matchers all match the empty label value, which would mute every alert,
// as Alertmanager does; and it deletes silences 120 h after they expired
// (Retention). A write the database refuses changes nothing and is
// returned as a *StorageError.
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
	"github.com/prometheus/prometheus/model/labels"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/config"
)

var bucket = []byte("silences")

// Retention is how long a silence is kept after it expired, as
// Alertmanager keeps them.
const Retention = 120 * time.Hour

// ErrNotFound is returned for an unknown silence ID.
var ErrNotFound = errors.New("no such silence")

// Refusal says why a silence was refused.
type Refusal int

const (
	// Invalid is a request that is not a valid silence: matchers or a
	// duration that do not parse, no matchers, no author, an end before
	// the start or in the past.
	Invalid Refusal = iota + 1
	// TooLarge is a silence over alerting.silences.max_size.
	TooLarge
	// OverLimit is a valid silence a limit refuses: its matchers all
	// match the empty value, it lasts longer than
	// alerting.silences.max_duration, or the store already holds
	// alerting.silences.max silences.
	OverLimit
)

// RefusedError is a silence the store will not take, and why.
type RefusedError struct {
	Why Refusal
	Msg string
}

func (e *RefusedError) Error() string { return "silence: " + e.Msg }

func refuse(why Refusal, format string, args ...any) *RefusedError {
	return &RefusedError{Why: why, Msg: fmt.Sprintf(format, args...)}
}

// StorageError is a write the database refused (a full, read-only or
// failing disk); the store is unchanged.
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "silence: write to storage: " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// WriteFailures hears of every write to the database that failed.
type WriteFailures interface {
	WriteFailed(err error)
}

// Store keeps silences in a bbolt bucket and in memory.
type Store struct {
	db       *bolt.DB
	failures WriteFailures // nil: not reported

	mu     sync.RWMutex
	limits config.Silences
	list   dispatch.SilenceList
	// due is when the next silence is due for deletion (zero: none is).
	due time.Time
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
// or now). Its errors are *RefusedError (Invalid).
func (j JSON) Silence(now time.Time) (dispatch.Silence, error) {
	ms, err := dispatch.ParseMatchers(j.Matchers)
	if err != nil {
		return dispatch.Silence{}, refuse(Invalid, "matchers: %v", err)
	}
	s := dispatch.Silence{ID: j.ID, Matchers: ms, StartsAt: j.StartsAt, EndsAt: j.EndsAt, CreatedBy: j.CreatedBy, Comment: j.Comment}
	if j.Duration != "" {
		d, err := time.ParseDuration(j.Duration)
		if err != nil || d <= 0 {
			return s, refuse(Invalid, "duration %q: want a positive duration like 1h or 30m", j.Duration)
		}
		if s.StartsAt.IsZero() {
			s.StartsAt = now
		}
		s.EndsAt = s.StartsAt.Add(d)
	}
	return s, nil
}

// Open loads the silences stored in db, deletes those expired more than
// Retention ago, and bounds new ones by limits (as config checked them; a
// zero field sets no bound). Failed writes are reported to failures,
// which may be nil.
func Open(db *bolt.DB, limits config.Silences, failures WriteFailures) (*Store, error) {
	s := &Store{db: db, limits: limits, failures: failures}
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
	for _, sil := range s.list {
		s.schedule(sil)
	}
	if _, err := s.DeleteExpired(time.Now()); err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	return s, nil
}

// SetLimits bounds the silences added from now on; those already kept
// stay, even beyond the new limits.
func (s *Store) SetLimits(limits config.Silences) {
	s.mu.Lock()
	s.limits = limits
	s.mu.Unlock()
}

// Limits are the bounds new silences are held to.
func (s *Store) Limits() config.Silences {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.limits
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
// zero StartsAt means now. A silence it refuses is a *RefusedError; one
// the database would not take, a *StorageError.
func (s *Store) Add(sil dispatch.Silence) (dispatch.Silence, error) {
	now := time.Now()
	if sil.StartsAt.IsZero() {
		sil.StartsAt = now
	}
	s.mu.RLock()
	limits := s.limits
	s.mu.RUnlock()
	if err := check(sil, now, limits); err != nil {
		return sil, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return sil, err
	}
	sil.ID = hex.EncodeToString(id)

	if _, err := s.DeleteExpired(now); err != nil {
		return sil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.list); s.limits.Max > 0 && n >= s.limits.Max {
		return sil, refuse(OverLimit, "Lookout keeps %d silences, as many as alerting.silences.max allows (expired ones count until they are deleted %s after they end); expire and wait, or raise the limit", n, Retention)
	}
	if err := s.put(sil); err != nil {
		return sil, err
	}
	s.list = append(s.list, sil)
	s.schedule(sil)
	return sil, nil
}

// schedule moves due earlier if sil is deleted before it. s.mu is held.
func (s *Store) schedule(sil dispatch.Silence) {
	if at := sil.EndsAt.Add(Retention); s.due.IsZero() || at.Before(s.due) {
		s.due = at
	}
}

// check applies the rules every new silence must meet.
func check(sil dispatch.Silence, now time.Time, limits config.Silences) error {
	switch {
	case len(sil.Matchers) == 0:
		return refuse(Invalid, "no matchers; a silence needs at least one, like alertname=\"ProbeDown\"")
	case !sil.EndsAt.After(sil.StartsAt):
		return refuse(Invalid, "ends before it starts; want an end after the start")
	case !sil.EndsAt.After(now):
		return refuse(Invalid, "already over; want an end in the future")
	case strings.TrimSpace(sil.CreatedBy) == "":
		return refuse(Invalid, "no author; say who created it")
	}
	if !slices.ContainsFunc(sil.Matchers, func(m *labels.Matcher) bool { return !m.Matches("") }) {
		return refuse(OverLimit, "every matcher (%s) matches alerts without the label, so the silence would mute every alert; want at least one that needs a value, like alertname=\"ProbeDown\"", sil.Matchers.String())
	}
	if d := sil.EndsAt.Sub(sil.StartsAt); limits.MaxDuration > 0 && d > limits.MaxDuration.Std() {
		return refuse(OverLimit, "lasts %s, longer than alerting.silences.max_duration (%s); want a shorter one, and renew it when it ends", d, limits.MaxDuration.Std())
	}
	if size, parts := Size(sil); limits.MaxSize > 0 && size > int(limits.MaxSize) {
		return refuse(TooLarge, "%d bytes, over alerting.silences.max_size (%d): %s", size, limits.MaxSize, parts)
	}
	return nil
}

// Size is what alerting.silences.max_size bounds: the bytes of a
// silence's matchers (as Lookout writes them), its author and its
// comment; parts says how much each took.
func Size(sil dispatch.Silence) (size int, parts string) {
	matchers := 0
	for _, m := range sil.Matchers {
		matchers += len(m.String())
	}
	size = matchers + len(sil.CreatedBy) + len(sil.Comment)
	return size, fmt.Sprintf("comment %d bytes, createdBy %d, %d matchers %d", len(sil.Comment), len(sil.CreatedBy), len(sil.Matchers), matchers)
}

// put stores sil; a failure is reported and returned as a *StorageError.
func (s *Store) put(sil dispatch.Silence) error {
	v, err := encode(sil)
	if err != nil {
		return err
	}
	return s.write(func(b *bolt.Bucket) error { return b.Put([]byte(sil.ID), v) })
}

func (s *Store) write(f func(*bolt.Bucket) error) error {
	err := s.db.Update(func(tx *bolt.Tx) error { return f(tx.Bucket(bucket)) })
	if err == nil {
		return nil
	}
	if s.failures != nil {
		s.failures.WriteFailed(err)
	}
	return &StorageError{Err: err}
}

// Expire ends a silence now. An unknown ID is ErrNotFound; a write the
// database would not take, a *StorageError.
func (s *Store) Expire(id string) (dispatch.Silence, error) {
	now := time.Now()
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
	s.schedule(sil)
	return sil, nil
}

// DeleteExpired deletes the silences that expired Retention or longer
// before now, and returns how many it deleted. It looks at the list and
// writes only when one is due, so calling it often is cheap.
func (s *Store) DeleteExpired(now time.Time) (int, error) {
	gone := func(x dispatch.Silence) bool { return !now.Before(x.EndsAt.Add(Retention)) }
	s.mu.RLock()
	due := !s.due.IsZero() && !now.Before(s.due)
	s.mu.RUnlock()
	if !due {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, x := range s.list {
		if gone(x) {
			ids = append(ids, x.ID)
		}
	}
	err := s.write(func(b *bolt.Bucket) error {
		for _, id := range ids {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired: %w", err)
	}
	s.list = slices.DeleteFunc(slices.Clone(s.list), gone)
	s.due = time.Time{}
	for _, x := range s.list {
		s.schedule(x)
	}
	return len(ids), nil
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
	now := time.Now()
	s.mu.RLock()
	for _, sil := range s.list {
		counts[State(sil, now)]++
	}
	s.mu.RUnlock()
	for _, st := range []string{"active", "expired", "pending"} {
		ch <- prometheus.MustNewConstMetric(silencesDesc, prometheus.GaugeValue, float64(counts[st]), st)
	}
}
