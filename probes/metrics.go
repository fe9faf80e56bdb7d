package probes

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Collector exposes every probe's latest result under the metric names of
// blackbox_exporter, plus Lookout's own, each with the label probe and the
// probe's own labels.
//
// It is a prometheus.Gatherer rather than a Collector: with ten thousand
// probes a scrape holds 180,000 series, and building them all at once
// through a registry costs about 85 MB. EachFamily hands out one family at
// a time, so /metrics streams them with only one family in memory.
type Collector struct {
	runners func() []*Runner
}

var _ prometheus.Gatherer = (*Collector)(nil)

// NewCollector collects the runners that list returns at each scrape.
func NewCollector(list func() []*Runner) *Collector {
	return &Collector{runners: list}
}

type family struct {
	name, help string
	typ        dto.MetricType
}

// The gauges, one family each.
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
	mSuccess:     {"probe_success", "Whether the last run of the probe succeeded (degraded counts as success).", dto.MetricType_GAUGE},
	mDuration:    {"probe_duration_seconds", "How long the last run took, retries included.", dto.MetricType_GAUGE},
	mStatus:      {"probe_http_status_code", "HTTP status code of the last response.", dto.MetricType_GAUGE},
	mPhase:       {"probe_http_duration_seconds", "Duration of each HTTP phase of the last run, summed over redirects.", dto.MetricType_GAUGE},
	mContentLen:  {"probe_http_content_length", "Content-Length of the last response (-1 when unknown).", dto.MetricType_GAUGE},
	mBodyLen:     {"probe_http_uncompressed_body_length", "Bytes of body read from the last response.", dto.MetricType_GAUGE},
	mRedirects:   {"probe_http_redirects", "Redirects followed by the last run.", dto.MetricType_GAUGE},
	mVersion:     {"probe_http_version", "HTTP version of the last response.", dto.MetricType_GAUGE},
	mCertExpiry:  {"probe_ssl_earliest_cert_expiry", "Earliest expiry of the presented certificate chain, in Unix seconds.", dto.MetricType_GAUGE},
	mTLSVersion:  {"probe_tls_version_info", "TLS version of the last connection.", dto.MetricType_GAUGE},
	mTLSVerified: {"lookout_probe_tls_chain_verified", "Whether the certificate chain of the last connection verified (1) or not (0).", dto.MetricType_GAUGE},
	mState:       {"lookout_probe_state", "Damped probe state: 0 up, 1 degraded, 2 down.", dto.MetricType_GAUGE},
	mLastRun:     {"lookout_probe_last_run_timestamp_seconds", "When the last run started, in Unix seconds.", dto.MetricType_GAUGE},
}

// runsFamily has every probe's three series from when its Runner exists,
// at 0 before its first run (so increase() counts that run); they go with
// the Runner.
var (
	runsFamily     = family{"lookout_probe_runs_total", "Probe runs by raw result (up, degraded, down).", dto.MetricType_COUNTER}
	durationFamily = family{"lookout_probe_duration_seconds", "How long each probe run took, retries included.", dto.MetricType_HISTOGRAM}
)

// snapshot is what one scrape reads of a runner, copied under its lock.
type snapshot struct {
	r        *Runner
	last     Result
	ran      bool
	state    State
	runs     [3]uint64
	duration durationHistogram
}

// snapshot copies what a scrape reads of r; the duration histogram's
// native buckets go to sc.native.
func (r *Runner) snapshot(sc *scratch) snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := snapshot{r: r, last: r.last, ran: r.n > 0, state: r.state, runs: r.runs}
	s.duration, sc.native = r.duration.snapshot(sc.native)
	return s
}

// Gather returns every family at once (for tests and in-process readers;
// /metrics uses EachFamily).
func (c *Collector) Gather() ([]*dto.MetricFamily, error) {
	var mfs []*dto.MetricFamily
	err := c.EachFamily(func(mf *dto.MetricFamily) error {
		mfs = append(mfs, proto.CloneOf(mf))
		return nil
	})
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return mfs, err
}

// EachFamily calls fn with each metric family in turn, from one consistent
// snapshot of the probes. Families without samples are skipped. A family
// is valid only until fn returns: its memory is reused for the next one.
func (c *Collector) EachFamily(fn func(*dto.MetricFamily) error) error {
	return c.EachFamilyOf(func(string) bool { return true }, fn)
}

// EachFamilyOf is EachFamily for the families whose name want accepts;
// the others are not built at all (the rule store reads only a few).
func (c *Collector) EachFamilyOf(want func(name string) bool, fn func(*dto.MetricFamily) error) error {
	runners := c.runners()
	sc := &scratch{snaps: make([]snapshot, len(runners))}
	for i, r := range runners {
		sc.snaps[i] = r.snapshot(sc)
	}
	snaps := sc.snaps
	write := func(f family) error {
		defer sc.nextFamily()
		if len(sc.family) == 0 {
			return nil
		}
		return fn(&dto.MetricFamily{Name: &f.name, Help: &f.help, Type: f.typ.Enum(), Metric: sc.family})
	}
	// The histogram family goes first and its messages are dropped after
	// it: they are the largest, and the value families share smaller ones.
	if want(durationFamily.name) {
		sc.reserveHistograms(len(snaps))
		for i := range snaps {
			sc.family = append(sc.family, snaps[i].duration.metric(snaps[i].r.pairs.base, sc))
		}
		if err := write(durationFamily); err != nil {
			return err
		}
		sc.dropHistograms()
	}
	perProbe := mostPerProbe(want)
	emit := func(f family, each func(s *snapshot, add func([]*dto.LabelPair, float64))) error {
		if !want(f.name) {
			return nil
		}
		sc.reserveValues(perProbe * len(snaps)) // once, for the largest family
		add := func(labels []*dto.LabelPair, v float64) { sc.addValue(f.typ, labels, v) }
		for i := range snaps {
			each(&snaps[i], add)
		}
		return write(f)
	}
	if err := emit(runsFamily, func(s *snapshot, add func([]*dto.LabelPair, float64)) {
		for _, st := range []State{Degraded, Down, Up} { // in label order
			add(s.r.pairs.withResult[st], float64(s.runs[st]))
		}
	}); err != nil {
		return err
	}
	for g := range gaugeCount {
		if err := emit(gauges[g], func(s *snapshot, add func([]*dto.LabelPair, float64)) {
			if s.ran {
				gaugeValues(g, s, add)
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// mostPerProbe is the most samples one probe has in the gauge and counter
// families that want accepts: one per phase in probe_http_duration_seconds,
// one per result in lookout_probe_runs_total, else one.
func mostPerProbe(want func(name string) bool) int {
	most := 0
	if want(runsFamily.name) {
		most = len(resultPairs)
	}
	for g := range gaugeCount {
		if want(gauges[g].name) {
			n := 1
			if g == mPhase {
				n = len(PhaseNames)
			}
			most = max(most, n)
		}
	}
	return most
}

// gaugeValues adds the samples of gauge g for one probe.
func gaugeValues(g int, s *snapshot, add func([]*dto.LabelPair, float64)) {
	last, lp := &s.last, &s.r.pairs
	h, t := last.HTTP, last.TLS
	switch g {
	case mSuccess:
		add(lp.base, boolFloat(last.State != Down))
	case mDuration:
		add(lp.base, last.Duration.Seconds())
	case mState:
		add(lp.base, float64(s.state))
	case mLastRun:
		add(lp.base, float64(last.Start.UnixNano())/float64(time.Second))
	case mPhase:
		for i, d := range last.Phases.Each() {
			add(lp.withPhase[i], d.Seconds())
		}
	case mStatus, mContentLen, mBodyLen, mRedirects, mVersion:
		if h != nil {
			add(lp.base, httpValue(g, h))
		}
	case mCertExpiry:
		if t != nil && !t.EarliestExpiry.IsZero() {
			add(lp.base, float64(t.EarliestExpiry.Unix()))
		}
	case mTLSVersion:
		if t != nil && t.Version != "" {
			add(lp.with(&dto.LabelPair{Name: proto.String("version"), Value: &t.Version}), 1)
		}
	case mTLSVerified:
		if t != nil {
			add(lp.base, boolFloat(t.Verified))
		}
	}
}

func httpValue(g int, h *HTTPFacts) float64 {
	switch g {
	case mStatus:
		return float64(h.StatusCode)
	case mContentLen:
		return float64(h.ContentLength)
	case mBodyLen:
		return float64(h.BodyBytes)
	case mRedirects:
		return float64(h.Redirects)
	}
	return h.Version
}

// labelPairs are a probe's label pairs, built once: a scrape of ten
// thousand probes would otherwise build millions of them. The registry
// only reads them.
type labelPairs struct {
	base       []*dto.LabelPair
	withPhase  [len(PhaseNames)][]*dto.LabelPair
	withResult [3][]*dto.LabelPair // by State
}

// Pairs every probe shares: the phase and result labels.
var (
	phasePairs = func() (ps [len(PhaseNames)]*dto.LabelPair) {
		for i := range PhaseNames {
			ps[i] = &dto.LabelPair{Name: proto.String("phase"), Value: &PhaseNames[i]}
		}
		return ps
	}()
	resultPairs = [3]*dto.LabelPair{
		Up:       {Name: proto.String("result"), Value: proto.String(Up.String())},
		Degraded: {Name: proto.String("result"), Value: proto.String(Degraded.String())},
		Down:     {Name: proto.String("result"), Value: proto.String(Down.String())},
	}
)

func newLabelPairs(names, values []string) labelPairs {
	lp := labelPairs{base: make([]*dto.LabelPair, len(names))}
	for i := range names {
		lp.base[i] = &dto.LabelPair{Name: &names[i], Value: &values[i]}
	}
	slices.SortFunc(lp.base, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	for i, p := range phasePairs {
		lp.withPhase[i] = lp.with(p)
	}
	for st, p := range resultPairs {
		lp.withResult[st] = lp.with(p)
	}
	return lp
}

// with returns the base pairs plus p, in name order.
func (lp labelPairs) with(p *dto.LabelPair) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(lp.base)+1)
	i, _ := slices.BinarySearchFunc(lp.base, p.GetName(), func(b *dto.LabelPair, n string) int { return strings.Compare(b.GetName(), n) })
	out = append(out, lp.base[:i]...)
	out = append(out, p)
	return append(out, lp.base[i:]...)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
