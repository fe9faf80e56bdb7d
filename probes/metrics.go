package probes

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes every probe's latest result under the metric names of
// blackbox_exporter, plus Lookout's own, each with the label probe and the
// probe's own labels. Probes come and go with reloads, so the collector
// describes nothing up front (an unchecked collector).
type Collector struct {
	runners func() []*Runner
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector collects the runners that list returns at each scrape.
func NewCollector(list func() []*Runner) *Collector { return &Collector{runners: list} }

// Describe sends nothing: the label sets differ between probes.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

type gauge struct {
	id         int
	name, help string
	extra      []string // label names beyond the probe's
}

var (
	mSuccess     = gauge{0, "probe_success", "Whether the last run of the probe succeeded (degraded counts as success).", nil}
	mDuration    = gauge{1, "probe_duration_seconds", "How long the last run took, retries included.", nil}
	mStatus      = gauge{2, "probe_http_status_code", "HTTP status code of the last response.", nil}
	mPhase       = gauge{3, "probe_http_duration_seconds", "Duration of each HTTP phase of the last run, summed over redirects.", []string{"phase"}}
	mContentLen  = gauge{4, "probe_http_content_length", "Content-Length of the last response (-1 when unknown).", nil}
	mBodyLen     = gauge{5, "probe_http_uncompressed_body_length", "Bytes of body read from the last response.", nil}
	mRedirects   = gauge{6, "probe_http_redirects", "Redirects followed by the last run.", nil}
	mVersion     = gauge{7, "probe_http_version", "HTTP version of the last response.", nil}
	mCertExpiry  = gauge{8, "probe_ssl_earliest_cert_expiry", "Earliest expiry of the presented certificate chain, in Unix seconds.", nil}
	mTLSVersion  = gauge{9, "probe_tls_version_info", "TLS version of the last connection.", []string{"version"}}
	mTLSVerified = gauge{10, "lookout_probe_tls_chain_verified", "Whether the certificate chain of the last connection verified (1) or not (0).", nil}
	mState       = gauge{11, "lookout_probe_state", "Damped probe state: 0 up, 1 degraded, 2 down.", nil}
	mLastRun     = gauge{12, "lookout_probe_last_run_timestamp_seconds", "When the last run started, in Unix seconds.", nil}

	gauges = []gauge{mSuccess, mDuration, mStatus, mPhase, mContentLen, mBodyLen, mRedirects, mVersion, mCertExpiry, mTLSVersion, mTLSVerified, mState, mLastRun}
)

// probeDescs are a probe's metric descriptions and label values, built
// once per probe rather than at every scrape.
type probeDescs struct {
	descs  []*prometheus.Desc // by gauge id
	values []string
}

func newProbeDescs(name string, labels map[string]string) probeDescs {
	names := append([]string{"probe"}, slices.Sorted(maps.Keys(labels))...)
	values := make([]string, len(names))
	values[0] = name
	for i, n := range names[1:] {
		values[i+1] = labels[n]
	}
	d := probeDescs{descs: make([]*prometheus.Desc, len(gauges)), values: values}
	for _, g := range gauges {
		d.descs[g.id] = prometheus.NewDesc(g.name, g.help, append(slices.Clone(names), g.extra...), nil)
	}
	return d
}

// Collect sends each probe's metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.runners() {
		r.collect(ch)
	}
}

func (r *Runner) collect(ch chan<- prometheus.Metric) {
	for _, m := range r.runs {
		ch <- m
	}
	ch <- r.duration
	st := r.Status()
	if len(st.Results) == 0 {
		return
	}
	last := st.Results[0]
	emit := func(g gauge, v float64, extra ...string) {
		values := r.descs.values
		if len(extra) > 0 {
			values = append(slices.Clone(values), extra...)
		}
		ch <- prometheus.MustNewConstMetric(r.descs.descs[g.id], prometheus.GaugeValue, v, values...)
	}
	emit(mSuccess, boolFloat(last.State != Down))
	emit(mDuration, last.Duration.Seconds())
	emit(mState, float64(st.State))
	emit(mLastRun, float64(st.LastRun.UnixNano())/1e9)
	for i, d := range last.Phases.Each() {
		emit(mPhase, d.Seconds(), PhaseNames[i])
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
			emit(mTLSVersion, 1, t.Version)
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
