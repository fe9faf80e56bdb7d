package daemon

import (
	"fmt"
	"log/slog"

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
