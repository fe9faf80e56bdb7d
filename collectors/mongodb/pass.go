package mongodb

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// subCollector is one part of a pass. collect adds its metrics to p and
// reports the features it tried through p.feature; an error means its
// metrics are incomplete, not that the pass failed.
type subCollector struct {
	name    string // the collector label
	collect func(ctx context.Context, client *mongo.Client, p *pass) error
	// own gives the step a timeout of its own (the target's), instead of
	// a share of the pass's: a backup source that is not the server (a
	// folder, a bucket, an API) is read even when the server, down, took
	// the pass's whole timeout.
	own bool
}

// subCollectors lists the sub-collectors of a pass: adding one is one line.
func (c *Collector) subCollectors(pools *poolStats) []subCollector {
	indexes := &indexStep{cfg: c.cfg, members: c.members, now: c.now}
	subs := []subCollector{
		{name: "mongodb_server", collect: collectServer},
		{name: "mongodb_replset", collect: collectReplSet},
		{name: "mongodb_pools", collect: pools.collect},
	}
	if c.slow != nil {
		subs = append(subs, subCollector{name: "mongodb_slow_queries", collect: c.slow.collect})
	}
	if c.backups != nil {
		subs = append(subs, c.backups.subCollectors()...)
	}
	// Last: the heaviest step, which the pass's timeout cuts short first.
	return append(subs, subCollector{name: "mongodb_indexes", collect: indexes.collect})
}

// pass gathers the metrics and feature reports of one pass.
type pass struct {
	target   string
	descs    *descs
	metrics  []prometheus.Metric
	features map[string]bool

	// The selected databases, listed by the first step that asks.
	dbsListed bool
	dbs       []string
	dbsErr    error
}

func (p *pass) gauge(d *prometheus.Desc, v float64, labels ...string) {
	p.metrics = append(p.metrics, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{p.target}, labels...)...))
}

func (p *pass) counter(d *prometheus.Desc, v float64, labels ...string) {
	p.metrics = append(p.metrics, prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{p.target}, labels...)...))
}

// feature records whether the server has a feature.
func (p *pass) feature(name string, supported bool) {
	p.features[name] = supported
}

// startingMetrics are what the target serves until its first pass
// completes: its own counters at 0, so that increase() counts the first
// error of a step and the first bad slow-query entry, and the pool step as
// it stands (no event yet). Every counter Lookout keeps for a target thus
// exists from when the target does, and goes with it. The server's own
// counters and the series of indexes and slow-query shapes are not among
// them: see descs and slowDescs.
func (c *Collector) startingMetrics() []prometheus.Metric {
	p := &pass{target: c.cfg.Name, descs: c.descs, features: map[string]bool{}}
	for _, s := range c.subs {
		p.counter(c.descs.errors, 0, s.name)
	}
	_ = c.pools.collect(context.Background(), nil, p) // no I/O, no error
	if c.slow != nil {
		c.slow.addBadEntries(p)
	}
	return p.metrics
}

// collectOnce runs every sub-collector under one timeout (those marked
// own each under a timeout of its own) and replaces the snapshot with the
// result.
func (c *Collector) collectOnce(parent context.Context, client *mongo.Client) {
	ctx, cancel := context.WithTimeout(parent, c.cfg.Timeout.Std())
	defer cancel()

	p := &pass{target: c.cfg.Name, descs: c.descs, features: map[string]bool{}}
	for _, s := range c.subs {
		sctx, scancel := ctx, context.CancelFunc(func() {})
		if s.own {
			sctx, scancel = context.WithTimeout(parent, c.cfg.Timeout.Std())
		}
		start := c.now()
		err := s.collect(sctx, client, p)
		scancel()
		end := c.now()
		c.record(s.name, err, end)
		p.gauge(c.descs.duration, end.Sub(start).Seconds(), s.name)
		if t, ok := c.lastOK[s.name]; ok {
			p.gauge(c.descs.lastSuccess, float64(t.UnixNano())/1e9, s.name)
		}
		p.counter(c.descs.errors, c.errs[s.name], s.name)
	}
	c.recordFeatures(p.features)
	for f, ok := range c.supported {
		p.gauge(c.descs.featureSupported, boolValue(ok), f)
	}

	c.mu.Lock()
	c.snap = p.metrics
	c.mu.Unlock()
}

// record counts a sub-collector's result and logs a change of error, once.
func (c *Collector) record(name string, err error, at time.Time) {
	if err == nil {
		c.lastOK[name] = at
		if c.lastErr[name] != "" {
			c.log.Info("mongodb: collector recovered", "collector", name)
			delete(c.lastErr, name)
		}
		return
	}
	c.errs[name]++
	msg := c.redact.err(err).Error()
	if c.lastErr[name] != msg {
		c.log.Warn("mongodb: collector failed", "collector", name, "err", msg)
		c.lastErr[name] = msg
	}
}

// recordFeatures remembers which features the server has and logs each
// change once.
func (c *Collector) recordFeatures(seen map[string]bool) {
	for f, ok := range seen {
		was, known := c.supported[f]
		c.supported[f] = ok
		switch {
		case !ok && (!known || was):
			c.log.Info("mongodb: server lacks a feature; its metrics are left out", "feature", f)
		case ok && known && !was:
			c.log.Info("mongodb: server now has a feature", "feature", f)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
