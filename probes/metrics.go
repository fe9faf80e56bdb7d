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
// probe's own labels. The families every probe has are the core's; each
// kind adds the fixed table of its facts' families (Kind.Families).
//
// It is a prometheus.Gatherer rather than a Collector: with ten thousand
// probes a scrape holds 180,000 series, and building them all at once
// through a registry costs about 85 MB. EachFamily hands out one family at
// a time, so /metrics streams them with only one family in memory.
type Collector struct {
	runners func() []*Runner
	// gauges are the gauge families in the order they are written: the
	// core's success and duration, the kinds' families (one per name),
	// then the core's state and last run.
	gauges []gauge
}

var _ prometheus.Gatherer = (*Collector)(nil)

// gauge is one gauge family and who adds its samples: the core, or the
// kinds that have a family of its name.
type gauge struct {
	family
	perProbe int
	core     func(s *snapshot, add func([]*dto.LabelPair, float64)) // nil for a kind's family
	kinds    []kindSamples
}

// kindSamples are one kind's samples of a family. A runner's kind is
// matched by name: the kind it was built with may be another instance of
// the same table line.
type kindSamples struct {
	kind    *Kind
	samples func(f Facts, lp Labels, add func([]*dto.LabelPair, float64))
}

// NewCollector collects the runners that list returns at each scrape;
// kinds gives the families of their facts, in order.
func NewCollector(list func() []*Runner, kinds Kinds) *Collector {
	c := &Collector{runners: list}
	c.gauges = append(c.gauges,
		gauge{family: family{"probe_success", "Whether the last run of the probe succeeded (degraded counts as success).", dto.MetricType_GAUGE},
			core: func(s *snapshot, add func([]*dto.LabelPair, float64)) {
				add(s.r.pairs.base, boolFloat(s.last.State != Down))
			}},
		gauge{family: family{"probe_duration_seconds", "How long the last run took, retries included.", dto.MetricType_GAUGE},
			core: func(s *snapshot, add func([]*dto.LabelPair, float64)) { add(s.r.pairs.base, s.last.Duration.Seconds()) }},
	)
	byName := map[string]int{}
	for _, k := range kinds {
		for _, f := range k.Families {
			i, ok := byName[f.Name]
			if !ok {
				i = len(c.gauges)
				byName[f.Name] = i
				c.gauges = append(c.gauges, gauge{family: family{f.Name, f.Help, dto.MetricType_GAUGE}})
			}
			c.gauges[i].perProbe = max(c.gauges[i].perProbe, f.PerProbe, 1)
			c.gauges[i].kinds = append(c.gauges[i].kinds, kindSamples{kind: k, samples: f.Samples})
		}
	}
	c.gauges = append(c.gauges,
		gauge{family: family{"lookout_probe_state", "Damped probe state: 0 up, 1 degraded, 2 down.", dto.MetricType_GAUGE},
			core: func(s *snapshot, add func([]*dto.LabelPair, float64)) { add(s.r.pairs.base, float64(s.state)) }},
		gauge{family: family{"lookout_probe_last_run_timestamp_seconds", "When the last run started, in Unix seconds.", dto.MetricType_GAUGE},
			core: func(s *snapshot, add func([]*dto.LabelPair, float64)) {
				add(s.r.pairs.base, float64(s.last.Start.UnixNano())/float64(time.Second))
			}},
	)
	for i := range c.gauges {
		c.gauges[i].perProbe = max(c.gauges[i].perProbe, 1)
	}
	return c
}

// values adds the samples of g for one probe that ran.
func (g *gauge) values(s *snapshot, add func([]*dto.LabelPair, float64)) {
	if g.core != nil {
		g.core(s, add)
		return
	}
	for _, ks := range g.kinds {
		if ks.kind.Name == s.r.kind.Name {
			ks.samples(s.last.Facts, Labels{Base: s.r.pairs.base, Kind: s.r.pairs.kind}, add)
			return
		}
	}
}

type family struct {
	name, help string
	typ        dto.MetricType
}

// runsFamily has every probe's three series, and skippedFamily and
// proberErrorsFamily their one, from when its Runner exists, at 0 before
// the first run or skip (so increase() counts it); they go with the
// Runner.
var (
	runsFamily         = family{"lookout_probe_runs_total", "Probe runs by raw result (up, degraded, down).", dto.MetricType_COUNTER}
	skippedFamily      = family{"lookout_probe_skipped_total", "Planned runs skipped because the previous run of the probe was still going.", dto.MetricType_COUNTER}
	proberErrorsFamily = family{"lookout_probe_prober_errors_total", "Runs lost to the prober itself (a browser that crashed or could not start), not to the target; they leave the probe's state as it was.", dto.MetricType_COUNTER}
	durationFamily     = family{"lookout_probe_duration_seconds", "How long each probe run took, retries included.", dto.MetricType_HISTOGRAM}
)

// snapshot is what one scrape reads of a runner, copied under its lock.
type snapshot struct {
	r       *Runner
	last    Result
	ran     bool
	state   State
	runs    [3]uint64
	skipped uint64
	// proberErrors are runs lost to the prober.
	proberErrors uint64
}

// snapshot copies what a scrape reads of r; given hist, the duration
// histogram too, its native buckets appended to sc.native, and into ex
// its exemplars when its runs are traced.
func (r *Runner) snapshot(sc *scratch, hist *durationHistogram, ex **exemplars) snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if hist != nil {
		*hist, sc.native = r.duration.snapshot(sc.native)
		if r.tracing != nil {
			e := r.tracing.exemplars
			*ex = &e
		}
	}
	return snapshot{r: r, last: r.last, ran: r.judged() > 0, state: r.state, runs: r.runs, skipped: r.skipped, proberErrors: r.lost}
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
	// The rule store ingests every evaluation and wants no histogram:
	// copying every probe's native buckets for it would be its largest
	// allocation.
	var (
		hists []durationHistogram // by runner, when wanted
		exs   []*exemplars        // by runner, nil for one not traced
	)
	if want(durationFamily.name) {
		hists, exs = make([]durationHistogram, len(runners)), make([]*exemplars, len(runners))
	}
	for i, r := range runners {
		var hist *durationHistogram
		var ex **exemplars
		if hists != nil {
			hist, ex = &hists[i], &exs[i]
		}
		sc.snaps[i] = r.snapshot(sc, hist, ex)
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
	if hists != nil {
		sc.reserveHistograms(len(snaps))
		for i := range snaps {
			sc.family = append(sc.family, hists[i].metric(snaps[i].r.pairs.base, sc, exs[i]))
		}
		if err := write(durationFamily); err != nil {
			return err
		}
		sc.dropHistograms()
		hists, exs, sc.native = nil, nil, nil
	}
	perProbe := c.mostPerProbe(want)
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
			add(s.r.pairs.result(st), float64(s.runs[st]))
		}
	}); err != nil {
		return err
	}
	if err := emit(skippedFamily, func(s *snapshot, add func([]*dto.LabelPair, float64)) {
		add(s.r.pairs.base, float64(s.skipped))
	}); err != nil {
		return err
	}
	if err := emit(proberErrorsFamily, func(s *snapshot, add func([]*dto.LabelPair, float64)) {
		add(s.r.pairs.base, float64(s.proberErrors))
	}); err != nil {
		return err
	}
	for i := range c.gauges {
		g := &c.gauges[i]
		if err := emit(g.family, func(s *snapshot, add func([]*dto.LabelPair, float64)) {
			if s.ran {
				g.values(s, add)
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// mostPerProbe is the most samples one probe has in the gauge and counter
// families that want accepts: one per result in lookout_probe_runs_total,
// as many as a kind's family says (HTTP's phases), else one.
func (c *Collector) mostPerProbe(want func(name string) bool) int {
	most := 0
	if want(runsFamily.name) {
		most = len(resultPairs)
	}
	for _, g := range c.gauges {
		if want(g.name) {
			most = max(most, g.perProbe)
		}
	}
	return most
}

// labelPairs are a probe's label pairs, built once: a scrape of ten
// thousand probes would otherwise build millions of them. The registry
// only reads them.
type labelPairs struct {
	base       []*dto.LabelPair
	withResult []*dto.LabelPair // base with each result's pair, by State, back to back (see result)
	kind       any              // the kind's Pairs
}

// resultPairs are the result label's pairs, which every probe shares.
var resultPairs = [3]*dto.LabelPair{
	Up:       {Name: proto.String("result"), Value: proto.String(Up.String())},
	Degraded: {Name: proto.String("result"), Value: proto.String(Degraded.String())},
	Down:     {Name: proto.String("result"), Value: proto.String(Down.String())},
}

func newLabelPairs(names, values []string, kind *Kind) labelPairs {
	lp := labelPairs{base: make([]*dto.LabelPair, len(names))}
	for i := range names {
		lp.base[i] = &dto.LabelPair{Name: &names[i], Value: &values[i]}
	}
	slices.SortFunc(lp.base, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	lp.withResult = make([]*dto.LabelPair, 0, len(resultPairs)*(len(lp.base)+1))
	for _, p := range resultPairs {
		lp.withResult = append(lp.withResult, withPair(lp.base, p)...)
	}
	if kind != nil && kind.Pairs != nil {
		lp.kind = kind.Pairs(lp.base)
	}
	return lp
}

// result is the probe's pairs with the result label of st.
func (lp *labelPairs) result(st State) []*dto.LabelPair {
	n := len(lp.base) + 1
	return lp.withResult[int(st)*n : int(st+1)*n : int(st+1)*n]
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
