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

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/internal/kept"
	"github.com/lookout-dev/lookout/config"
)

// bucket holds the silences in Lookout's database, each as its JSON
// under its ID.
const bucket = "silences"

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
	kept *kept.Silences

	mu     sync.RWMutex // guards limits
	limits config.Silences
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
	b, err := kept.BoltBucket(db, bucket)
	if err != nil {
		return nil, fmt.Errorf("silences: load: %w", err)
	}
	return OpenIn(b, limits, failures)
}

// OpenIn is Open on another store than lookout.db: in a cluster, the
// shared database, where every replica reads and writes the silences.
func OpenIn(b alerting.Bucket, limits config.Silences, failures WriteFailures) (*Store, error) {
	k, err := kept.Open(b, kept.Config{
		Codec:        kept.Codec{Encode: encode, Decode: decode},
		Retention:    Retention,
		Failures:     failures,
		StorageError: func(err error) error { return &StorageError{Err: err} },
	})
	if err != nil {
		return nil, fmt.Errorf("silences: load: %w", err)
	}
	s := &Store{kept: k, limits: limits}
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

func decode(_, v []byte) (dispatch.Silence, error) {
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
	err := s.kept.Add(sil, func(list dispatch.SilenceList) (int, error) {
		if n := len(list); limits.Max > 0 && n >= limits.Max {
			return -1, refuse(OverLimit, "Lookout keeps %d silences, as many as alerting.silences.max allows (expired ones count until they are deleted %s after they end); expire and wait, or raise the limit", n, Retention)
		}
		return -1, nil
	})
	return sil, err
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

// Expire ends a silence now. An unknown ID is ErrNotFound; a write the
// database would not take, a *StorageError.
func (s *Store) Expire(id string) (dispatch.Silence, error) {
	sil, ok, err := s.kept.End(id, time.Now())
	if !ok {
		return dispatch.Silence{}, fmt.Errorf("silence %q: %w", id, ErrNotFound)
	}
	return sil, err
}

// Reload reads the stored silences again: in a cluster, for those made
// on other replicas.
func (s *Store) Reload() error { return s.kept.Reload() }

// DeleteExpired deletes the silences that expired Retention or longer
// before now, and returns how many it deleted. It looks at the list and
// writes only when one is due, so calling it often is cheap.
func (s *Store) DeleteExpired(now time.Time) (int, error) {
	n, err := s.kept.DeleteExpired(now)
	if err != nil {
		return 0, fmt.Errorf("delete expired: %w", err)
	}
	return n, nil
}

// List returns every silence, newest first.
func (s *Store) List() []dispatch.Silence {
	out := slices.Clone(s.kept.All())
	slices.SortFunc(out, func(a, b dispatch.Silence) int { return b.StartsAt.Compare(a.StartsAt) })
	return out
}

// Muted implements dispatch.Silences.
func (s *Store) Muted(lset model.LabelSet, at time.Time) []string {
	return s.kept.Muted(lset, at)
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
	for _, sil := range s.kept.All() {
		counts[State(sil, now)]++
	}
	for _, st := range []string{"active", "expired", "pending"} {
		ch <- prometheus.MustNewConstMetric(silencesDesc, prometheus.GaugeValue, float64(counts[st]), st)
	}
}
