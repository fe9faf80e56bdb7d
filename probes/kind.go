package probes

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/config"
)

// Kind is one kind of probe as the core sees it: how to build its
// prober, the metric families its facts expose and its lines of a
// report. Each kind's package returns its Kind; main lists them in one
// table (Kinds).
type Kind struct {
	// Name is the kind's config section (probes[].http, …), as
	// config.Probe.Kind names it.
	Name string
	// New builds the prober of a probe whose config has this kind's
	// section. It may return an io.Closer, closed when a reload removes
	// or replaces the probe.
	New func(pc config.Probe) (Prober, error)
	// Families are the metric families of the kind's facts, a fixed
	// table; a family another kind also has (same name) is one family
	// on /metrics, holding both kinds' probes.
	Families []Family
	// Pairs, if set, builds once per probe the label pairs its families
	// add to the probe's own (as HTTP's phase), so a scrape builds none;
	// Labels.Kind holds them.
	Pairs func(base []*dto.LabelPair) any
	// ReportTarget and ReportFacts, if set, write the kind's lines of
	// `lookout probe NAME`: what it checks (before the run's duration)
	// and what the run found (after it; f may be nil).
	ReportTarget func(r *Report, pc config.Probe)
	ReportFacts  func(r *Report, f Facts)
	// Collector, if set, holds metrics the kind keeps across runs beyond
	// its facts' families (a flow's step histograms); the daemon
	// registers it.
	Collector prometheus.Collector
}

// Family is one metric family (a gauge) of a kind's facts.
type Family struct {
	Name, Help string
	// PerProbe is the most samples one probe adds (HTTP's five phases);
	// 0 means 1.
	PerProbe int
	// Samples adds one probe's samples from the facts of its last run;
	// f may be nil, or the facts of a run that found little.
	Samples func(f Facts, lp Labels, add func(labels []*dto.LabelPair, v float64))
}

// Labels are one probe's label pairs for its kind's families: Base is the
// probe's own (probe and its labels, in name order); Kind is what the
// kind's Pairs built, or nil.
type Labels struct {
	Base []*dto.LabelPair
	Kind any
}

// With returns the base pairs plus one more, in name order. A scrape
// that calls it allocates; use Kind.Pairs for pairs every scrape needs.
func (l Labels) With(name, value string) []*dto.LabelPair {
	return withPair(l.Base, &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)})
}

// WithPair is With for a pair built once, such as one of Kind.Pairs.
func WithPair(base []*dto.LabelPair, p *dto.LabelPair) []*dto.LabelPair {
	return withPair(base, p)
}

// WithEach sets pairs[i] to base plus the label name=values[i], for a
// Kind.Pairs whose label takes a fixed set of values (phase, stat). The
// pairs point into values, which must not change.
func WithEach(pairs [][]*dto.LabelPair, base []*dto.LabelPair, name string, values []string) {
	for i := range values {
		pairs[i] = withPair(base, &dto.LabelPair{Name: proto.String(name), Value: &values[i]})
	}
}

func withPair(base []*dto.LabelPair, p *dto.LabelPair) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(base)+1)
	i, _ := slices.BinarySearchFunc(base, p.GetName(), func(b *dto.LabelPair, n string) int { return strings.Compare(b.GetName(), n) })
	out = append(out, base[:i]...)
	out = append(out, p)
	return append(out, base[i:]...)
}

// Built is a kind's constructor's result as a Prober: nil, not a typed
// nil, on error.
func Built[P Prober](p P, err error) (Prober, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Kinds is every kind Lookout runs, in the order their families appear on
// /metrics.
type Kinds []*Kind

// Get returns the kind named name, or nil.
func (ks Kinds) Get(name string) *Kind {
	for _, k := range ks {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// NewRunner builds the runner of one configured probe with its kind's
// prober.
func (ks Kinds) NewRunner(pc config.Probe, log *slog.Logger) (*Runner, error) {
	k := ks.Get(pc.Kind())
	if k == nil {
		return nil, fmt.Errorf("probe %s: no kind %q", pc.Name, pc.Kind())
	}
	p, err := k.New(pc)
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", pc.Name, err)
	}
	return NewRunner(pc, k, p, log), nil
}

// Report is `lookout probe NAME`'s account of one run, a line per fact:
// a label and its text.
type Report struct {
	w   io.Writer
	Now time.Time // for times told relative to now (a certificate's expiry)
}

// NewReport writes a report to w.
func NewReport(w io.Writer, now time.Time) *Report { return &Report{w: w, Now: now} }

// Line writes one labelled line.
func (r *Report) Line(label, format string, args ...any) {
	label += ":"
	if len(label) >= 12 {
		label += " " // a long label still stands apart from its text
	}
	fmt.Fprintf(r.w, "  %-12s%s\n", label, fmt.Sprintf(format, args...))
}

// Raw writes text as it is.
func (r *Report) Raw(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

// Round shortens a duration for a report: milliseconds above a second,
// tens of microseconds above a millisecond, else microseconds.
func Round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Plural is "s" unless n is 1.
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
