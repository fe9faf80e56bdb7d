package heartbeat

import (
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/config"
)

// Signals are what a heartbeat's job told last, and when Lookout first
// knew the heartbeat.
type Signals struct {
	// Created is when Lookout first knew the heartbeat: no run is
	// expected before it.
	Created time.Time
	// Success, Start and Fail are the times of the last signal of each
	// kind; zero for none.
	Success time.Time
	Start   time.Time
	Fail    time.Time
	// Failed is whether the last outcome (success or failure) was a
	// failure; Running whether a start came after it.
	Failed  bool
	Running bool
	// Duration is the run the last success ended, from its start; 0 when
	// that run sent no start.
	Duration time.Duration
	// ExitCode is the last outcome's: 0 for a success, the code of
	// /NAME/CODE, -1 for /NAME/fail.
	ExitCode int
	// Reason is the last failure's: its body, or "exited with code N".
	Reason string
}

// Store keeps the last signals of each configured heartbeat, in memory
// and, once Open, in Lookout's database, and serves the check-ins
// (ServeHTTP). It is safe for concurrent use.
type Store struct {
	checkins *prometheus.CounterVec

	mu    sync.RWMutex
	beats map[string]*beat
	// db is where signals are kept, nil before Open; failures hears of
	// the writes to it that failed.
	db       *bolt.DB
	failures WriteFailures
	// onCheckin is told the name of each heartbeat whose signals changed.
	onCheckin func(name string)
	// shared is where a cluster's replicas keep their check-ins; nil for
	// a single replica.
	shared Shared
	// allow tells whether a check-in's client is within its rate; nil:
	// every one is.
	allow func(*http.Request) bool
}

// beat is one heartbeat: its token's hash and its signals.
type beat struct {
	name string

	mu      sync.Mutex
	token   [sha256.Size]byte
	sig     Signals
	removed bool // by Configure: its record is no longer saved
}

// NewStore returns a store that knows no heartbeat yet.
func NewStore() *Store {
	s := &Store{
		checkins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_heartbeat_checkins_total",
			Help: "Heartbeat check-ins by result: ok, unauthorized (wrong or missing token), unknown (no such heartbeat), too_large (a body over 10 KiB), invalid (a method or exit code not accepted), rate_limited (over its client address's rate).",
		}, []string{"result"}),
		beats: map[string]*beat{},
	}
	for _, r := range results {
		s.checkins.WithLabelValues(r)
	}
	return s
}

var _ prometheus.Collector = (*Store)(nil)

// Describe describes lookout_heartbeat_checkins_total.
func (s *Store) Describe(ch chan<- *prometheus.Desc) { s.checkins.Describe(ch) }

// Collect collects lookout_heartbeat_checkins_total.
func (s *Store) Collect(ch chan<- prometheus.Metric) { s.checkins.Collect(ch) }

// OnCheckin has f told the name of a heartbeat at each accepted check-in,
// once its signals are recorded (in memory), so its probe can run at once.
// Set it before serving.
func (s *Store) OnCheckin(f func(name string)) {
	s.mu.Lock()
	s.onCheckin = f
	s.mu.Unlock()
}

// LimitClients has every check-in first asked of allow, which tells
// whether its client is within its rate; one that is not is answered 429
// before its token is read. Set it before serving.
func (s *Store) LimitClients(allow func(*http.Request) bool) {
	s.mu.Lock()
	s.allow = allow
	s.mu.Unlock()
}

// Configure makes beats (by probe name) the heartbeats that exist. One
// that was already known keeps its signals and takes its new token; a new
// one is created now, so none of its runs is expected before; one that is
// gone is forgotten, in the database too.
func (s *Store) Configure(beats map[string]*config.Heartbeat) {
	now := time.Now()
	var added, removed []*beat
	s.mu.Lock()
	next := make(map[string]*beat, len(beats))
	for name, hb := range beats {
		b := s.beats[name]
		if b == nil {
			b = &beat{name: name, sig: Signals{Created: now}}
			added = append(added, b)
		}
		b.mu.Lock()
		b.token = sha256.Sum256([]byte(hb.Token))
		b.mu.Unlock()
		next[name] = b
	}
	for name, b := range s.beats {
		if next[name] == nil {
			b.mu.Lock()
			b.removed = true
			b.mu.Unlock()
			removed = append(removed, b)
		}
	}
	s.beats = next
	db, failures := s.db, s.failures
	s.mu.Unlock()
	if db != nil && len(added)+len(removed) > 0 {
		if err := db.Update(func(tx *bolt.Tx) error { return writeChanges(tx, added, removed) }); err != nil {
			failures.WriteFailed(storeError("save the added and removed heartbeats", err))
		}
	}
}

// get returns the heartbeat named name, or nil.
func (s *Store) get(name string) *beat {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.beats[name]
}

// Signals returns the signals of the heartbeat named name, and whether the
// store knows it.
func (s *Store) Signals(name string) (Signals, bool) {
	b := s.get(name)
	if b == nil {
		return Signals{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sig, true
}

// signal is the kind of a check-in.
type signal int

const (
	success signal = iota
	start
	fail
)

// record applies one check-in to b at now: a success ends the run a start
// began (its duration) and clears a failure; a failure (code -1 for
// /fail) holds reason.
func (b *beat) record(sig signal, now time.Time, code int, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.sig
	switch sig {
	case success:
		s.Duration = 0
		if s.Running {
			s.Duration = now.Sub(s.Start)
		}
		s.Success, s.Failed, s.Running, s.ExitCode, s.Reason = now, false, false, 0, ""
	case start:
		s.Start, s.Running = now, true
	case fail:
		s.Fail, s.Failed, s.Running, s.ExitCode, s.Reason = now, true, false, code, reason
	}
}

// checkin records a check-in of b, tells onCheckin, and saves b's
// signals; a failed save is told to the failures and the check-in counts
// anyway (fail open).
func (s *Store) checkin(b *beat, sig signal, code int, reason string) {
	b.record(sig, time.Now(), code, reason)
	s.mu.RLock()
	notify, db, failures, shared := s.onCheckin, s.db, s.failures, s.shared
	s.mu.RUnlock()
	if notify != nil {
		notify(b.name)
	}
	if db != nil {
		if err := save(db, b); err != nil {
			failures.WriteFailed(storeError("save a check-in of "+b.name, err))
		}
	}
	if shared != nil {
		b.mu.Lock()
		v := encode(b.sig)
		b.mu.Unlock()
		if err := shared.Save(b.name, v); err != nil && failures != nil {
			failures.WriteFailed(storeError("share a check-in of "+b.name+" with the other replicas", err))
		}
	}
}
