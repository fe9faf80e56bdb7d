package probes

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes every probe's latest result under the metric names of
// blackbox_exporter, plus Lookout's own, each with the label probe and the
// probe's own labels. Probes come and go with reloads, so the collector
// describes nothing up front (an unchecked collector).
type Collector struct {
	runners func() []*Runner

	mu    sync.Mutex
	descs map[string]*familyDescs // by Runner.labelKey
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector collects the runners that list returns at each scrape.
func NewCollector(list func() []*Runner) *Collector {
	return &Collector{runners: list, descs: map[string]*familyDescs{}}
}

// Describe sends nothing: the label sets differ between probes.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

type family struct {
	name, help string
	extra      []string // label names beyond the probe's
}

// The gauges, in the order of familyDescs.gauges.
const (
	mSuccess = iota
	mDuration
	mStatus
	mPhase
	mContentLen
	mBodyLen
	mRedirects
	mVersion
	mCertExpiry
	mTLSVersion
	mTLSVerified
	mState
	mLastRun
	gaugeCount
)

var gauges = [gaugeCount]family{
	mSuccess:     {"probe_success", "Whether the last run of the probe succeeded (degraded counts as success).", nil},
	mDuration:    {"probe_duration_seconds", "How long the last run took, retries included.", nil},
	mStatus:      {"probe_http_status_code", "HTTP status code of the last response.", nil},
	mPhase:       {"probe_http_duration_seconds", "Duration of each HTTP phase of the last run, summed over redirects.", []string{"phase"}},
	mContentLen:  {"probe_http_content_length", "Content-Length of the last response (-1 when unknown).", nil},
	mBodyLen:     {"probe_http_uncompressed_body_length", "Bytes of body read from the last response.", nil},
	mRedirects:   {"probe_http_redirects", "Redirects followed by the last run.", nil},
	mVersion:     {"probe_http_version", "HTTP version of the last response.", nil},
	mCertExpiry:  {"probe_ssl_earliest_cert_expiry", "Earliest expiry of the presented certificate chain, in Unix seconds.", nil},
	mTLSVersion:  {"probe_tls_version_info", "TLS version of the last connection.", []string{"version"}},
	mTLSVerified: {"lookout_probe_tls_chain_verified", "Whether the certificate chain of the last connection verified (1) or not (0).", nil},
	mState:       {"lookout_probe_state", "Damped probe state: 0 up, 1 degraded, 2 down.", nil},
	mLastRun:     {"lookout_probe_last_run_timestamp_seconds", "When the last run started, in Unix seconds.", nil},
}

var (
	runsFamily     = family{"lookout_probe_runs_total", "Probe runs by raw result (up, degraded, down).", []string{"result"}}
	durationFamily = family{"lookout_probe_duration_seconds", "How long each probe run took, retries included.", nil}
)

// familyDescs are the metric descriptions for one set of label names,
// shared by every probe with that set.
type familyDescs struct {
	gauges   [gaugeCount]*prometheus.Desc
	runs     *prometheus.Desc
	duration *prometheus.Desc
}

func (c *Collector) descsFor(r *Runner) *familyDescs {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.descs[r.labelKey]; ok {
		return d
	}
	desc := func(f family) *prometheus.Desc {
		return prometheus.NewDesc(f.name, f.help, append(slices.Clone(r.labelNames), f.extra...), nil)
	}
	d := &familyDescs{runs: desc(runsFamily), duration: desc(durationFamily)}
	for i, f := range gauges {
		d.gauges[i] = desc(f)
	}
	c.descs[r.labelKey] = d
	return d
}

// Collect sends each probe's metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.runners() {
		r.collect(ch, c.descsFor(r))
	}
}

// snapshot is what one scrape reads of a runner, copied under its lock.
type snapshot struct {
	last     Result
	ran      bool
	state    State
	runs     [3]uint64
	duration durationHistogram
}

func (r *Runner) snapshot() snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return snapshot{last: r.last, ran: r.n > 0, state: r.state, runs: r.runs, duration: r.duration.snapshot()}
}

func (r *Runner) collect(ch chan<- prometheus.Metric, d *familyDescs) {
	s := r.snapshot()
	with := func(extra string) []string {
		return append(slices.Clip(r.labelValues), extra)
	}
	for st, n := range s.runs {
		ch <- prometheus.MustNewConstMetric(d.runs, prometheus.CounterValue, float64(n), with(State(st).String())...)
	}
	ch <- histogramMetric{desc: d.duration, labels: prometheus.MakeLabelPairs(d.duration, r.labelValues), h: s.duration}
	if !s.ran {
		return
	}
	emit := func(g int, v float64) {
		ch <- prometheus.MustNewConstMetric(d.gauges[g], prometheus.GaugeValue, v, r.labelValues...)
	}
	last := s.last
	emit(mSuccess, boolFloat(last.State != Down))
	emit(mDuration, last.Duration.Seconds())
	emit(mState, float64(s.state))
	emit(mLastRun, float64(last.Start.UnixNano())/float64(time.Second))
	for i, dur := range last.Phases.Each() {
		ch <- prometheus.MustNewConstMetric(d.gauges[mPhase], prometheus.GaugeValue, dur.Seconds(), with(PhaseNames[i])...)
	}
	if h := last.HTTP; h != nil {
		emit(mStatus, float64(h.StatusCode))
		emit(mContentLen, float64(h.ContentLength))
		emit(mBodyLen, float64(h.BodyBytes))
		emit(mRedirects, float64(h.Redirects))
		emit(mVersion, h.Version)
	}
	if t := last.TLS; t != nil {
		if !t.EarliestExpiry.IsZero() {
			emit(mCertExpiry, float64(t.EarliestExpiry.Unix()))
		}
		if t.Version != "" {
			ch <- prometheus.MustNewConstMetric(d.gauges[mTLSVersion], prometheus.GaugeValue, 1, with(t.Version)...)
		}
		emit(mTLSVerified, boolFloat(t.Verified))
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
