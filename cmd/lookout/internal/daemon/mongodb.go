package daemon

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/collectors/mongodb"
	"github.com/lookout-dev/lookout/config"
)

// mongoTargets are the MongoDB collectors, one per configured target,
// exposed together: each describes the same metric names, so they are
// registered as one unchecked collector.
type mongoTargets []*mongodb.Collector

var _ prometheus.Collector = mongoTargets(nil)

func newMongoTargets(cfgs []config.MongoDB, log *slog.Logger) (mongoTargets, error) {
	var ts mongoTargets
	for _, m := range cfgs {
		c, err := mongodb.New(mongodb.Config{
			Name: m.Name, URI: m.URI, Interval: m.Interval.Std(), Timeout: m.Timeout.Std(),
			Include: m.Databases.Include, Exclude: m.Databases.Exclude, MaxCollections: m.MaxCollections,
			UnusedIndexAfter: m.UnusedIndexAfter.Std(),
			SlowQueries: mongodb.SlowQueryConfig{
				Source: m.SlowQueries.Source, Path: m.SlowQueries.Path, Threshold: m.SlowQueries.Threshold.Std(),
			},
		}, log)
		if err != nil {
			return nil, fmt.Errorf("mongodb %s: %w", m.Name, err)
		}
		ts = append(ts, c)
	}
	return ts, nil
}

// Describe sends nothing: the targets share their descriptions.
func (ts mongoTargets) Describe(chan<- *prometheus.Desc) {}

// Collect sends every target's last completed collection.
func (ts mongoTargets) Collect(ch chan<- prometheus.Metric) {
	for _, t := range ts {
		t.Collect(ch)
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
	for _, m := range d.mongos {
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
