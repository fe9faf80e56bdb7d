package maintenance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/internal/kept"
	"github.com/lookout-dev/lookout/alerting/silences"
	"github.com/lookout-dev/lookout/config"
)

// bucket holds the one-offs in Lookout's database, each as its Window's
// JSON under its ID.
const bucket = "maintenance"

const (
	// Retention is how long a one-off is kept after it ended: as long
	// as the uptime ledger keeps its days.
	Retention = 90 * 24 * time.Hour
	// MaxOneOffs is how many one-offs the store keeps, ended ones
	// included.
	MaxOneOffs = 1000
	// oneOffPrefix starts a one-off's ID.
	oneOffPrefix = "maintenance-"
)

var (
	// ErrNotFound is returned for an unknown window ID.
	ErrNotFound = errors.New("no such maintenance window")
	// ErrConfigured is returned for ending a configured window.
	ErrConfigured = errors.New("it is configured: edit or remove it in the config file's maintenance section and reload")
)

// Refusal says why a window was refused.
type Refusal int

const (
	// Invalid is a request that is not a valid window: matchers or a
	// duration that do not parse, no matchers, an end not after the
	// start or in the past.
	Invalid Refusal = iota + 1
	// OverLimit is a valid window a bound refuses: its matchers all
	// match the empty value, it lasts longer than
	// config.MaxMaintenanceDuration, its message is longer than
	// config.MaxMaintenanceMessage, or MaxOneOffs have not ended.
	OverLimit
)

// RefusedError is a window the store will not take: why, and the field
// of the request that was wrong ("" when it is none).
type RefusedError struct {
	Why   Refusal
	Field string
	Msg   string
}

func (e *RefusedError) Error() string {
	if e.Field == "" {
		return "maintenance: " + e.Msg
	}
	return "maintenance: " + e.Field + ": " + e.Msg
}

func refuse(why Refusal, field, format string, args ...any) *RefusedError {
	return &RefusedError{Why: why, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// StorageError is a write the database refused (a full, read-only or
// failing disk); the store is unchanged.
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "maintenance: write to storage: " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// Request is a one-off window as POST /api/v1/maintenance reads it: from
// StartsAt (default now) for Duration, or until EndsAt.
type Request struct {
	Matchers  []string  `json:"matchers"`
	Duration  string    `json:"duration,omitempty"`
	StartsAt  time.Time `json:"startsAt,omitzero"`
	EndsAt    time.Time `json:"endsAt,omitzero"`
	Message   string    `json:"message,omitempty"`
	CreatedBy string    `json:"createdBy,omitempty"`
}

// Window reads the request's times: a zero StartsAt is now. Its errors
// are *RefusedError (Invalid); Add checks the rest.
func (r Request) Window(now time.Time) (Window, error) {
	w := Window{Matchers: r.Matchers, Start: r.StartsAt, End: r.EndsAt, Message: r.Message, CreatedBy: r.CreatedBy}
	if w.Start.IsZero() {
		w.Start = now
	}
	switch {
	case r.Duration != "" && !r.EndsAt.IsZero():
		return w, refuse(Invalid, "duration", "is set beside endsAt; want one of them")
	case r.Duration != "":
		d, err := time.ParseDuration(r.Duration)
		if err != nil || d <= 0 {
			return w, refuse(Invalid, "duration", "%q is not a positive duration; want one like 1h or 30m", r.Duration)
		}
		w.End = w.Start.Add(d)
	case r.EndsAt.IsZero():
		return w, refuse(Invalid, "duration", "missing; want how long the window lasts, like 1h, or endsAt")
	}
	return w, nil
}

// Open loads the one-offs stored in db and deletes those that ended
// Retention ago or more. Failed writes are reported to failures, which
// may be nil.
func Open(db *bolt.DB, failures silences.WriteFailures) (*Store, error) {
	b, err := kept.BoltBucket(db, bucket)
	if err != nil {
		return nil, fmt.Errorf("maintenance: load: %w", err)
	}
	return OpenIn(b, failures)
}

// OpenIn is Open on another store than lookout.db: in a cluster, the
// shared database, where every replica reads and writes the one-offs.
func OpenIn(b alerting.Bucket, failures silences.WriteFailures) (*Store, error) {
	oneOffs, err := kept.Open(b, kept.Config{
		Codec:        kept.Codec{Encode: encode, Decode: decode},
		Retention:    Retention,
		Failures:     failures,
		StorageError: func(err error) error { return &StorageError{Err: err} },
	})
	if err != nil {
		return nil, fmt.Errorf("maintenance: load: %w", err)
	}
	s := &Store{oneOffs: oneOffs}
	if _, err := s.DeleteExpired(time.Now()); err != nil {
		return nil, fmt.Errorf("maintenance: %w", err)
	}
	return s, nil
}

func decode(k, v []byte) (dispatch.Silence, error) {
	var w Window
	if err := json.Unmarshal(v, &w); err != nil {
		return dispatch.Silence{}, fmt.Errorf("window %s: %w", k, err)
	}
	o, err := toSilence(w)
	if err != nil {
		return o, fmt.Errorf("window %s: %w", k, err)
	}
	return o, nil
}

func encode(o dispatch.Silence) ([]byte, error) { return json.Marshal(fromSilence(o)) }

// toSilence is a one-off as the store keeps it in memory: a silence
// whose comment is the message.
func toSilence(w Window) (dispatch.Silence, error) {
	ms, err := dispatch.ParseMatchers(w.Matchers)
	if err != nil {
		return dispatch.Silence{}, refuse(Invalid, "matchers", "%v", err)
	}
	return dispatch.Silence{ID: w.ID, Matchers: ms, StartsAt: w.Start, EndsAt: w.End, CreatedBy: w.CreatedBy, Comment: w.Message}, nil
}

func fromSilence(o dispatch.Silence) Window {
	w := Window{ID: o.ID, Message: o.Comment, Start: o.StartsAt, End: o.EndsAt, CreatedBy: o.CreatedBy}
	for _, m := range o.Matchers {
		w.Matchers = append(w.Matchers, m.String())
	}
	return w
}

// Add validates and stores a one-off and returns it with its ID and
// state. A zero Start means now. A window it refuses is a *RefusedError;
// one the database would not take, a *StorageError.
func (s *Store) Add(w Window) (Window, error) {
	now := time.Now()
	if w.Start.IsZero() {
		w.Start = now
	}
	o, err := toSilence(w)
	if err != nil {
		return w, err
	}
	if err := check(o, now); err != nil {
		return w, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return w, err
	}
	o.ID = oneOffPrefix + hex.EncodeToString(id)
	err = s.oneOffs.Add(o, func(list dispatch.SilenceList) (int, error) {
		if len(list) < MaxOneOffs {
			return -1, nil
		}
		if evict := endedFirst(list, now); evict >= 0 {
			return evict, nil
		}
		return -1, refuse(OverLimit, "", "Lookout keeps %d one-off windows and none has ended; end one first", MaxOneOffs)
	})
	if err != nil {
		return w, err
	}
	out := fromSilence(o)
	out.State = out.StateAt(now)
	return out, nil
}

// endedFirst is the index in list of the one-off that ended longest ago,
// -1 when none has ended.
func endedFirst(list dispatch.SilenceList, now time.Time) int {
	first := -1
	for i, o := range list {
		if o.Expired(now) && (first < 0 || o.EndsAt.Before(list[first].EndsAt)) {
			first = i
		}
	}
	return first
}

// check applies the rules every new one-off must meet.
func check(o dispatch.Silence, now time.Time) error {
	switch {
	case len(o.Matchers) == 0:
		return refuse(Invalid, "matchers", "missing; want at least one selecting the alerts to mute, like probe=\"api-health\"")
	case !o.EndsAt.After(o.StartsAt):
		return refuse(Invalid, "endsAt", "%s is not after startsAt %s; want an end after the start", o.EndsAt.Format(time.RFC3339), o.StartsAt.Format(time.RFC3339))
	case !o.EndsAt.After(now):
		return refuse(Invalid, "endsAt", "%s is in the past; want an end in the future", o.EndsAt.Format(time.RFC3339))
	case config.AllMatchEmpty(o.Matchers):
		return refuse(OverLimit, "matchers", "every matcher (%s) matches alerts without the label, so the window would mute every alert; want at least one that needs a value, like probe=\"api-health\"", o.Matchers.String())
	case o.EndsAt.Sub(o.StartsAt) > config.MaxMaintenanceDuration.Std():
		return refuse(OverLimit, "duration", "%s from start to end is longer than a window may last; want at most 168h (7 days), or several windows", o.EndsAt.Sub(o.StartsAt))
	}
	if n := utf8.RuneCountInString(o.Comment); n > config.MaxMaintenanceMessage {
		return refuse(OverLimit, "message", "is %d characters; want at most %d", n, config.MaxMaintenanceMessage)
	}
	return nil
}

// End ends a one-off now (one that has not started is cancelled) and
// returns it. A configured window's ID is ErrConfigured; an unknown one,
// ErrNotFound; a write the database would not take, a *StorageError.
func (s *Store) End(id string) (Window, error) {
	now := time.Now()
	if name, ok := strings.CutPrefix(id, ConfiguredPrefix); ok {
		s.mu.RLock()
		isConfigured := slices.ContainsFunc(s.configured, func(c configured) bool { return c.m.Name == name })
		s.mu.RUnlock()
		if isConfigured {
			return Window{}, fmt.Errorf("maintenance %q cannot be ended here: %w", name, ErrConfigured)
		}
	}
	o, ok, err := s.oneOffs.End(id, now)
	if !ok {
		return Window{}, fmt.Errorf("maintenance window %q: %w", id, ErrNotFound)
	}
	w := fromSilence(o)
	if err != nil {
		return w, err
	}
	w.State = w.StateAt(now)
	return w, nil
}

// Reload reads the stored one-offs again: in a cluster, for those made
// on other replicas.
func (s *Store) Reload() error { return s.oneOffs.Reload() }

// DeleteExpired deletes the one-offs that ended Retention or longer
// before now, and returns how many it deleted. It looks at the list and
// writes only when one is due, so calling it often is cheap.
func (s *Store) DeleteExpired(now time.Time) (int, error) {
	n, err := s.oneOffs.DeleteExpired(now)
	if err != nil {
		return 0, fmt.Errorf("delete ended windows: %w", err)
	}
	return n, nil
}
