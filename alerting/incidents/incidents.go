// Package incidents keeps what status pages tell outsiders about trouble:
// an incident names the probe (component) it is about, when it started,
// the on-call's updates (investigating, identified, monitoring, resolved)
// and when it was resolved.
//
// An incident opens by itself when a probe's down alert fires and
// resolves by itself when the alert stops (Observe); the on-call opens
// one by hand, adds updates and resolves. Incidents live in Lookout's
// database, in their own bucket, and are deleted Retention after they
// were resolved. The store bounds what it keeps (Limits): open incidents,
// incidents in all, updates per incident, and the length of every text.
// A change the database refuses changes nothing and is a *StorageError.
package incidents

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
)

// bucketName holds one incident per key: its ID as 8 big-endian bytes,
// its value the Incident as JSON.
var bucketName = []byte("incidents")

// Retention is how long an incident is kept after it was resolved: as
// long as a status page's 90 daily bars reach back.
const Retention = 90 * 24 * time.Hour

// AutoAuthor is who the updates Lookout writes itself are by.
const AutoAuthor = "lookout"

// Status is where an incident stands, as its latest update says.
type Status string

// Statuses, in the order an incident usually goes through them.
const (
	Investigating Status = "investigating"
	Identified    Status = "identified"
	Monitoring    Status = "monitoring"
	Resolved      Status = "resolved"
)

// Statuses are the valid statuses, in order.
var Statuses = []Status{Investigating, Identified, Monitoring, Resolved}

// ParseStatus reads a status by name; "" is Investigating.
func ParseStatus(s string) (Status, error) {
	if s == "" {
		return Investigating, nil
	}
	if st := Status(strings.ToLower(strings.TrimSpace(s))); slices.Contains(Statuses, st) {
		return st, nil
	}
	return "", &FieldError{Field: "status", Msg: fmt.Sprintf("%q is not a status; want investigating, identified, monitoring or resolved", s)}
}

// Incident is one incident of one probe.
type Incident struct {
	ID    string `json:"id"`
	Probe string `json:"probe"`
	Title string `json:"title"`
	// Started is when the trouble began: for an automatic incident, when
	// its alert became active.
	Started time.Time `json:"started"`
	// Resolved is when it was resolved; zero while it is open.
	Resolved time.Time `json:"resolved,omitzero"`
	// Auto is whether Lookout opened it for a firing alert (and so will
	// resolve it when the alert stops).
	Auto bool `json:"auto"`
	// AlertSince is, for an automatic incident, when the alert it was
	// opened for became active: the same alert never opens a second one.
	AlertSince time.Time `json:"alert_since,omitzero"`
	// Updates are oldest first; the first says the incident opened.
	Updates []Update `json:"updates"`
}

// Update is one line of an incident's story.
type Update struct {
	Time    time.Time `json:"time"`
	Status  Status    `json:"status"`
	Message string    `json:"message"`
	By      string    `json:"by"`
}

// Open reports whether the incident is not resolved yet.
func (i Incident) Open() bool { return i.Resolved.IsZero() }

// Status is the status of its latest update.
func (i Incident) Status() Status {
	if len(i.Updates) == 0 {
		return Investigating
	}
	return i.Updates[len(i.Updates)-1].Status
}

// Overlaps reports whether the incident was open at some time in
// [from, to); an open one lasts until now.
func (i Incident) Overlaps(from, to time.Time) bool {
	return i.Started.Before(to) && (i.Open() || i.Resolved.After(from))
}

func (i Incident) clone() Incident {
	i.Updates = slices.Clone(i.Updates)
	return i
}

// Limits bound what the store keeps. A zero field takes its default.
type Limits struct {
	// MaxOpen is how many incidents may be open at once (default 50):
	// past it, neither an alert nor the on-call opens another.
	MaxOpen int
	// MaxKept is how many incidents are kept in all (default 5,000):
	// past it, opening one deletes the oldest resolved one.
	MaxKept int
	// MaxUpdates is how many updates an incident takes (default 50);
	// the final update Lookout writes when it resolves one always fits.
	MaxUpdates int
	// MaxTitle, MaxMessage and MaxBy bound each text, in bytes
	// (defaults 200, 2,000 and 100).
	MaxTitle, MaxMessage, MaxBy int
}

// Defaults of Limits.
const (
	DefaultMaxOpen    = 50
	DefaultMaxKept    = 5000
	DefaultMaxUpdates = 50
	DefaultMaxTitle   = 200
	DefaultMaxMessage = 2000
	DefaultMaxBy      = 100
)

func (l Limits) withDefaults() Limits {
	l.MaxOpen = cmp.Or(max(l.MaxOpen, 0), DefaultMaxOpen)
	l.MaxKept = cmp.Or(max(l.MaxKept, 0), DefaultMaxKept)
	l.MaxUpdates = cmp.Or(max(l.MaxUpdates, 0), DefaultMaxUpdates)
	l.MaxTitle = cmp.Or(max(l.MaxTitle, 0), DefaultMaxTitle)
	l.MaxMessage = cmp.Or(max(l.MaxMessage, 0), DefaultMaxMessage)
	l.MaxBy = cmp.Or(max(l.MaxBy, 0), DefaultMaxBy)
	l.MaxKept = max(l.MaxKept, l.MaxOpen+1) // room for a resolved one to go
	return l
}

// FieldError is a request the store refuses because of one field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "incident: " + e.Field + ": " + e.Msg }

// LimitError is a valid request a limit refuses: too many incidents open,
// or too many updates on one.
type LimitError struct{ Msg string }

func (e *LimitError) Error() string { return "incident: " + e.Msg }

// ErrNotFound is an ID no kept incident has.
var ErrNotFound = errors.New("incident: no such incident")

// StorageError is a change the database refused (a full, read-only or
// failing disk); the store is unchanged.
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "incident: write to storage: " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// WriteFailures hears of every write to the database that failed.
type WriteFailures interface {
	WriteFailed(err error)
}

// Bucket is where the incidents are kept: a bbolt bucket of lookout.db,
// or in a cluster a collection of the shared database. Keys are the IDs
// as 8 big-endian bytes.
type Bucket interface {
	alerting.Bucket
	// NextID returns a new ID, never returned before.
	NextID() (uint64, error)
}

// Store keeps the incidents in a Bucket and in memory. Safe for
// concurrent use.
type Store struct {
	b        Bucket
	limits   Limits
	failures WriteFailures // nil: not reported

	mu   sync.RWMutex
	byID map[uint64]*Incident
	// version counts changes, for whoever caches what it shows.
	version uint64
	// pruned is the hour Observe last deleted old incidents in.
	pruned time.Time
}

// Open loads the incidents kept in db, creating their bucket, and deletes
// those resolved more than Retention before now. Failed writes are
// reported to failures, which may be nil.
func Open(db *bolt.DB, limits Limits, failures WriteFailures, now time.Time) (*Store, error) {
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		return nil, fmt.Errorf("incidents: load: %w", err)
	}
	return OpenIn(boltBucket{db}, limits, failures, now)
}

// OpenIn is Open on another Bucket: in a cluster, the shared database,
// where every replica reads and writes the incidents.
func OpenIn(b Bucket, limits Limits, failures WriteFailures, now time.Time) (*Store, error) {
	s := &Store{b: b, limits: limits.withDefaults(), failures: failures, byID: map[uint64]*Incident{}}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	if err := s.Prune(now); err != nil {
		return nil, fmt.Errorf("incidents: %w", err)
	}
	return s, nil
}

// Reload reads the incidents kept again: in a cluster, for those opened
// or updated on other replicas.
func (s *Store) Reload() error {
	stored, err := s.b.Load()
	if err != nil {
		return fmt.Errorf("incidents: load: %w", err)
	}
	byID := make(map[uint64]*Incident, len(stored))
	for k, v := range stored {
		if len(k) != 8 {
			return fmt.Errorf("incidents: load: key %x is not an incident ID", k)
		}
		var inc Incident
		if err := json.Unmarshal(v, &inc); err != nil {
			return fmt.Errorf("incidents: load: incident %d: %w", binary.BigEndian.Uint64([]byte(k)), err)
		}
		byID[binary.BigEndian.Uint64([]byte(k))] = &inc
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !maps.EqualFunc(byID, s.byID, func(a, b *Incident) bool { return reflect.DeepEqual(a, b) }) {
		s.byID = byID
		s.version++
	}
	return nil
}

// boltBucket is the incidents' bucket of a bbolt file.
type boltBucket struct{ db *bolt.DB }

func (b boltBucket) Load() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketName).ForEach(func(k, v []byte) error {
			out[string(k)] = slices.Clone(v)
			return nil
		})
	})
	return out, err
}

func (b boltBucket) Write(put map[string][]byte, del []string) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketName)
		for _, k := range del {
			if err := bk.Delete([]byte(k)); err != nil {
				return err
			}
		}
		for k, v := range put {
			if err := bk.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b boltBucket) NextID() (id uint64, err error) {
	err = b.db.Update(func(tx *bolt.Tx) error {
		id, err = tx.Bucket(bucketName).NextSequence()
		return err
	})
	return id, err
}

// Version changes whenever an incident does.
func (s *Store) Version() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.version
}

// Get returns one incident by ID.
func (s *Store) Get(id string) (Incident, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	inc, ok := s.lookup(id)
	if !ok {
		return Incident{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return inc.clone(), nil
}

// List returns the incidents open now or resolved at or after since
// (every kept one for a zero since), newest first.
func (s *Store) List(since time.Time) []Incident {
	s.mu.RLock()
	out := make([]Incident, 0, len(s.byID))
	for _, inc := range s.byID {
		if inc.Open() || !inc.Resolved.Before(since) {
			out = append(out, inc.clone())
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, newestFirst)
	return out
}

// newestFirst orders by start, then by ID, latest first.
func newestFirst(a, b Incident) int {
	if c := b.Started.Compare(a.Started); c != 0 {
		return c
	}
	return cmp.Compare(idNum(b.ID), idNum(a.ID))
}

// Open opens an incident by hand: the on-call's first word on trouble
// with probe, which the caller has checked exists. A zero status is
// Investigating; Resolved is refused (there is nothing to open).
func (s *Store) Open(probe, title, message, by string, status Status) (Incident, error) {
	now := time.Now()
	if status == "" {
		status = Investigating
	}
	probe, title = strings.TrimSpace(probe), strings.TrimSpace(title)
	u := Update{Time: now, Status: status, Message: strings.TrimSpace(message), By: strings.TrimSpace(by)}
	if err := s.checkText("probe", probe, s.limits.MaxTitle, "the name of the probe the incident is about"); err != nil {
		return Incident{}, err
	}
	if err := s.checkText("title", title, s.limits.MaxTitle, `one line saying what outsiders see, like "Checkout fails for some cards"`); err != nil {
		return Incident{}, err
	}
	if err := s.checkUpdate(u); err != nil {
		return Incident{}, err
	}
	if status == Resolved {
		return Incident{}, &FieldError{Field: "status", Msg: "a new incident cannot be resolved already; want investigating, identified or monitoring"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.create(Incident{Probe: probe, Title: title, Started: now, Updates: []Update{u}})
}

// Update adds an update to an incident; status Resolved resolves it. A
// resolved incident takes only resolved updates: notes after the fact,
// like what the cause was.
func (s *Store) Update(id, message, by string, status Status) (Incident, error) {
	u := Update{Time: time.Now(), Status: status, Message: strings.TrimSpace(message), By: strings.TrimSpace(by)}
	if u.Status == "" {
		return Incident{}, &FieldError{Field: "status", Msg: "missing; want investigating, identified, monitoring or resolved"}
	}
	if err := s.checkUpdate(u); err != nil {
		return Incident{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inc, ok := s.lookup(id)
	if !ok {
		return Incident{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if !inc.Open() && u.Status != Resolved {
		return Incident{}, &FieldError{Field: "status", Msg: fmt.Sprintf("incident %s was resolved at %s; a later update may only be resolved (a note), or open a new incident", inc.ID, inc.Resolved.UTC().Format(time.RFC3339))}
	}
	if len(inc.Updates) >= s.limits.MaxUpdates {
		return Incident{}, &LimitError{Msg: fmt.Sprintf("incident %s has %d updates, as many as one takes; open a new incident", inc.ID, len(inc.Updates))}
	}
	next := inc.clone()
	next.Updates = append(next.Updates, u)
	if u.Status == Resolved && next.Open() {
		next.Resolved = u.Time
	}
	return next, s.replace(next)
}

// Resolve resolves an incident, with message as its final update.
func (s *Store) Resolve(id, message, by string) (Incident, error) {
	return s.Update(id, message, by, Resolved)
}

// Observe opens and resolves automatic incidents at at. firing holds, by
// probe, when the alert that says the probe is down became active, for
// every probe whose alert fires now. A probe in firing with no open
// incident gets one (unless the same alert opened one already, which the
// on-call may have resolved); an automatic incident whose probe is not in
// firing is resolved. It also deletes, once an hour, the incidents
// resolved over Retention ago. A limit or the database refusing one
// incident does not stop the others; the errors are returned joined.
func (s *Store) Observe(firing map[string]time.Time, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	open := map[string]bool{}
	for _, inc := range s.sorted() {
		if !inc.Open() {
			continue
		}
		if _, down := firing[inc.Probe]; down || !inc.Auto {
			open[inc.Probe] = true
			continue
		}
		next := inc.clone()
		next.Resolved = at
		next.Updates = append(next.Updates, Update{Time: at, Status: Resolved, Message: inc.Probe + " is up again.", By: AutoAuthor})
		errs = append(errs, s.replace(next))
	}
	for _, probe := range slices.Sorted(maps.Keys(firing)) {
		since := firing[probe]
		if open[probe] || s.openedFor(probe, since) {
			continue
		}
		started := since
		if started.IsZero() || started.After(at) {
			started = at
		}
		_, err := s.create(Incident{
			Probe: probe, Title: probe + " is down", Started: started, Auto: true, AlertSince: since,
			Updates: []Update{{Time: at, Status: Investigating, Message: probe + " is down.", By: AutoAuthor}},
		})
		errs = append(errs, err)
	}
	if hour := at.UTC().Truncate(time.Hour); !hour.Equal(s.pruned) {
		if err := s.prune(at); err != nil {
			errs = append(errs, err)
		} else {
			s.pruned = hour
		}
	}
	return errors.Join(errs...)
}

// openedFor reports whether the alert of probe active since since opened
// an incident already. s.mu is held.
func (s *Store) openedFor(probe string, since time.Time) bool {
	for _, inc := range s.byID {
		if inc.Auto && inc.Probe == probe && inc.AlertSince.Equal(since) {
			return true
		}
	}
	return false
}

// Prune deletes the incidents resolved Retention or longer before now.
func (s *Store) Prune(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prune(now)
}

func (s *Store) prune(now time.Time) error {
	var old []uint64
	for n, inc := range s.byID {
		if !inc.Open() && !now.Before(inc.Resolved.Add(Retention)) {
			old = append(old, n)
		}
	}
	if len(old) == 0 {
		return nil
	}
	if err := s.write(nil, keys(old)); err != nil {
		return fmt.Errorf("delete incidents resolved %s ago: %w", Retention, err)
	}
	for _, n := range old {
		delete(s.byID, n)
	}
	s.version++
	return nil
}

// create stores a new incident, giving it the next ID. s.mu is held.
func (s *Store) create(inc Incident) (Incident, error) {
	if n := s.countOpen(); n >= s.limits.MaxOpen {
		return Incident{}, &LimitError{Msg: fmt.Sprintf("%d incidents are open, as many as Lookout keeps open; resolve one first (%s's incident was not opened)", n, inc.Probe)}
	}
	var evict []uint64
	if len(s.byID) >= s.limits.MaxKept {
		evict = s.oldestResolved(len(s.byID) - s.limits.MaxKept + 1)
	}
	id, err := s.b.NextID()
	if err != nil {
		return Incident{}, s.failed(err)
	}
	inc.ID = strconv.FormatUint(id, 10)
	v, err := json.Marshal(inc)
	if err != nil {
		return Incident{}, err
	}
	if err := s.write(map[string][]byte{string(key(id)): v}, keys(evict)); err != nil {
		return Incident{}, err
	}
	for _, n := range evict {
		delete(s.byID, n)
	}
	s.byID[id] = &inc
	s.version++
	return inc.clone(), nil
}

// replace stores a changed incident under its ID. s.mu is held.
func (s *Store) replace(inc Incident) error {
	n := idNum(inc.ID)
	v, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	if err := s.write(map[string][]byte{string(key(n)): v}, nil); err != nil {
		return err
	}
	s.byID[n] = &inc
	s.version++
	return nil
}

// write deletes del and stores put; a failure is reported and returned
// as a *StorageError.
func (s *Store) write(put map[string][]byte, del []string) error {
	if err := s.b.Write(put, del); err != nil {
		return s.failed(err)
	}
	return nil
}

func (s *Store) failed(err error) error {
	if s.failures != nil {
		s.failures.WriteFailed(err)
	}
	return &StorageError{Err: err}
}

// keys are the bucket keys of IDs.
func keys(ids []uint64) []string {
	out := make([]string, len(ids))
	for i, n := range ids {
		out[i] = string(key(n))
	}
	return out
}

// sorted are the incidents by ID, oldest first. s.mu is held.
func (s *Store) sorted() []*Incident {
	out := make([]*Incident, 0, len(s.byID))
	for _, n := range slices.Sorted(maps.Keys(s.byID)) {
		out = append(out, s.byID[n])
	}
	return out
}

func (s *Store) countOpen() int {
	n := 0
	for _, inc := range s.byID {
		if inc.Open() {
			n++
		}
	}
	return n
}

// oldestResolved are the IDs of the n incidents resolved longest ago.
func (s *Store) oldestResolved(n int) []uint64 {
	var ids []uint64
	for id, inc := range s.byID {
		if !inc.Open() {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b uint64) int { return s.byID[a].Resolved.Compare(s.byID[b].Resolved) })
	return ids[:min(n, len(ids))]
}

func (s *Store) lookup(id string) (*Incident, bool) {
	inc, ok := s.byID[idNum(id)]
	return inc, ok
}

// checkUpdate checks an update's texts and status.
func (s *Store) checkUpdate(u Update) error {
	if !slices.Contains(Statuses, u.Status) {
		return &FieldError{Field: "status", Msg: fmt.Sprintf("%q is not a status; want investigating, identified, monitoring or resolved", u.Status)}
	}
	if err := s.checkText("message", u.Message, s.limits.MaxMessage, "what outsiders should know now"); err != nil {
		return err
	}
	if len(u.By) > s.limits.MaxBy {
		return &FieldError{Field: "by", Msg: fmt.Sprintf("%d bytes; at most %d", len(u.By), s.limits.MaxBy)}
	}
	if !utf8.ValidString(u.By) {
		return &FieldError{Field: "by", Msg: "not valid UTF-8"}
	}
	return nil
}

// checkText checks a required text: present, valid UTF-8, at most max
// bytes.
func (s *Store) checkText(field, v string, max int, want string) error {
	switch {
	case v == "":
		return &FieldError{Field: field, Msg: "missing; want " + want}
	case len(v) > max:
		return &FieldError{Field: field, Msg: fmt.Sprintf("%d bytes; at most %d", len(v), max)}
	case !utf8.ValidString(v):
		return &FieldError{Field: field, Msg: "not valid UTF-8"}
	}
	return nil
}

func key(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// idNum is an ID's number; 0, which no incident has, when it is none.
func idNum(id string) uint64 {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
