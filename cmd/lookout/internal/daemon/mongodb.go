package daemon

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/collectors/mongodb"
	"github.com/lookout-dev/lookout/config"
)

// mongoTargets are the MongoDB collectors, one per configured target,
// exposed together: each describes the same metric names, so they are
// registered as one unchecked collector. A reload replaces the targets
// whose settings changed, starts the new ones and stops the removed ones;
// the others keep running, with their state.
type mongoTargets struct {
	log *slog.Logger
	// drills is when a heartbeat probe last succeeded (a restore drill's,
	// for mongodb[].backups.restore_test); nil without heartbeats.
	drills func(heartbeat string) (time.Time, bool)

	mu      sync.Mutex
	ctx     context.Context // Run's; nil before Run and after it returned
	running []*mongoTarget  // in config order
	wg      sync.WaitGroup  // every target goroutine, stopped ones too
}

// mongoTarget is one running target.
type mongoTarget struct {
	c        *mongodb.Collector
	settings [sha256.Size]byte // config.Fingerprint of its config, to tell a change
	cancel   context.CancelFunc
}

var _ prometheus.Collector = (*mongoTargets)(nil)

// prepare builds collectors for the targets of cfgs that are new or
// changed (it does no I/O) and returns the function that swaps them in.
func (ts *mongoTargets) prepare(cfgs []config.MongoDB) (apply func(), err error) {
	ts.mu.Lock()
	old := map[string]*mongoTarget{}
	for _, t := range ts.running {
		old[t.c.Name()] = t
	}
	ts.mu.Unlock()
	next := make([]*mongoTarget, 0, len(cfgs))
	for _, m := range cfgs {
		fp := config.Fingerprint(m)
		if t := old[m.Name]; t != nil && t.settings == fp {
			next = append(next, t)
			continue
		}
		c, err := mongodb.New(m, ts.log)
		if err != nil {
			return nil, fmt.Errorf("mongodb %s: %w", m.Name, err)
		}
		if ts.drills != nil {
			c.RestoreDrills(ts.drills)
		}
		next = append(next, &mongoTarget{c: c, settings: fp})
	}
	return func() { ts.swap(next) }, nil
}

// swap puts next in force: targets not in it stop, new ones start when Run
// is running (or when it starts).
func (ts *mongoTargets) swap(next []*mongoTarget) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	keep := map[*mongoTarget]bool{}
	for _, t := range next {
		keep[t] = true
	}
	for _, t := range ts.running {
		if !keep[t] && t.cancel != nil {
			t.cancel()
		}
	}
	ts.running = next
	if ts.ctx != nil {
		ts.startLocked()
	}
}

// startLocked starts the targets not yet started; ts.mu is held.
func (ts *mongoTargets) startLocked() {
	for _, t := range ts.running {
		if t.cancel != nil {
			continue
		}
		ctx, cancel := context.WithCancel(ts.ctx)
		t.cancel = cancel
		ts.wg.Go(func() {
			if err := t.c.Run(ctx); err != nil {
				ts.log.Error("mongodb target stopped", "target", t.c.Name(), "err", err)
			}
		})
	}
}

// Run runs the targets until ctx ends, and returns once every target,
// stopped by a reload or not, has disconnected.
func (ts *mongoTargets) Run(ctx context.Context) error {
	ts.mu.Lock()
	ts.ctx = ctx
	ts.startLocked()
	ts.mu.Unlock()
	<-ctx.Done()
	ts.mu.Lock()
	ts.ctx = nil
	ts.mu.Unlock()
	ts.wg.Wait()
	return nil
}

// list returns the targets in config order.
func (ts *mongoTargets) list() []*mongodb.Collector {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]*mongodb.Collector, len(ts.running))
	for i, t := range ts.running {
		out[i] = t.c
	}
	return out
}

// Describe sends nothing: the targets share their descriptions.
func (ts *mongoTargets) Describe(chan<- *prometheus.Desc) {}

// Collect sends every target's last completed collection.
func (ts *mongoTargets) Collect(ch chan<- prometheus.Metric) {
	for _, c := range ts.list() {
		c.Collect(ch)
	}
}

// defaultSlowQueryShapes is how many shapes GET /api/v1/mongodb/slow-queries
// lists per target without ?limit=.
const defaultSlowQueryShapes = 20

// handleSlowQueries serves each MongoDB target's slow query shapes that
// took the most time in all, since Lookout started watching: ?target=NAME
// picks one target, ?limit=N (1 to 1000, default 20) bounds the shapes.
// Examples hold field names and operators, never values.
func (d *daemon) handleSlowQueries(w http.ResponseWriter, r *http.Request) {
	limit := defaultSlowQueryShapes
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			http.Error(w, fmt.Sprintf("limit=%q: want a whole number from 1 to 1000", v), http.StatusBadRequest)
			return
		}
		limit = n
	}
	type targetShapes struct {
		Target string                   `json:"target"`
		Shapes []mongodb.SlowQueryShape `json:"shapes"`
	}
	out := struct {
		Targets []targetShapes `json:"targets"`
	}{Targets: []targetShapes{}}
	want := r.URL.Query().Get("target")
	for _, m := range d.mongos.list() {
		if want != "" && m.Name() != want {
			continue
		}
		shapes := m.SlowQueries(limit)
		if shapes == nil {
			shapes = []mongodb.SlowQueryShape{}
		}
		out.Targets = append(out.Targets, targetShapes{Target: m.Name(), Shapes: shapes})
	}
	if want != "" && len(out.Targets) == 0 {
		http.Error(w, fmt.Sprintf("no MongoDB target named %q", want), http.StatusNotFound)
		return
	}
	writeJSON(w, out)
}

// handleBackups serves, per MongoDB target with backups and per source,
// the newest backups the source's last read found (status, size, times,
// error text) and that read's error: ?target=NAME picks one target.
func (d *daemon) handleBackups(w http.ResponseWriter, r *http.Request) {
	type targetBackups struct {
		Target  string                       `json:"target"`
		Sources []mongodb.BackupSourceStatus `json:"sources"`
	}
	out := struct {
		Targets []targetBackups `json:"targets"`
	}{Targets: []targetBackups{}}
	want := r.URL.Query().Get("target")
	found := false
	for _, m := range d.mongos.list() {
		if want != "" && m.Name() != want {
			continue
		}
		found = true
		if sources := m.Backups(); sources != nil {
			out.Targets = append(out.Targets, targetBackups{Target: m.Name(), Sources: sources})
		}
	}
	if want != "" && !found {
		http.Error(w, fmt.Sprintf("no MongoDB target named %q", want), http.StatusNotFound)
		return
	}
	writeJSON(w, out)
}
