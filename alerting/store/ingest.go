package store

import (
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
)

// Ingest appends one gather of a registry at ts, as a Prometheus scrape
// of it would: counters, gauges and untyped metrics as float samples;
// summaries as one series per quantile plus _sum and _count; classic
// histograms as _bucket{le}, _sum and _count; native histograms as
// histogram samples (both, when a histogram has classic buckets too).
// Series of the previous Ingest that are missing now get a staleness
// marker at ts. Samples not after their series' last one are skipped.
//
// Pass the scheduled evaluation time rather than time.Now(): regular
// timestamps compress to one bit per sample, jittered ones to 16.
func (s *Store) Ingest(ts time.Time, mfs []*dto.MetricFamily) {
	s.IngestEach(ts, func(add func(*dto.MetricFamily)) {
		for _, mf := range mfs {
			add(mf)
		}
	})
}

// IngestEach is Ingest for a gather that hands out one family at a time,
// reusing its memory for the next: gather calls add with each family, and
// the store reads a family only during that call. The store is locked
// while gather runs.
func (s *Store) IngestEach(ts time.Time, gather func(add func(*dto.MetricFamily))) {
	t := ts.UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	in := ingester{s: s, t: t, seen: s.spare[:0]}
	gather(in.family)
	for _, ser := range s.gathered {
		if ser.gen != s.gen && !ser.removed && !ser.lastStale {
			_ = s.appendFloat(ser, t, math.Float64frombits(value.StaleNaN))
		}
	}
	clear(s.gathered) // let removed series go
	s.gathered, s.spare = in.seen, s.gathered[:0]
	if s.compactT == math.MinInt64 || t-s.compactT >= compactEvery.Milliseconds() {
		s.compactT = t
		s.compact(t - s.opts.Retention.Milliseconds())
	}
}

// ingester turns one gather into samples.
type ingester struct {
	s    *Store
	t    int64
	b    labels.ScratchBuilder
	ls   labels.Labels
	seen []*memSeries
}

func (in *ingester) family(mf *dto.MetricFamily) {
	name := mf.GetName()
	for _, m := range mf.GetMetric() {
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			if m.Counter != nil {
				in.float(name, m, "", "", m.Counter.GetValue())
			}
		case dto.MetricType_GAUGE:
			if m.Gauge != nil {
				in.float(name, m, "", "", m.Gauge.GetValue())
			}
		case dto.MetricType_UNTYPED:
			if m.Untyped != nil {
				in.float(name, m, "", "", m.Untyped.GetValue())
			}
		case dto.MetricType_SUMMARY:
			in.summary(name, m)
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			in.histogram(name, m, mf.GetType() == dto.MetricType_GAUGE_HISTOGRAM)
		}
	}
}

func (in *ingester) summary(name string, m *dto.Metric) {
	sum := m.GetSummary()
	if sum == nil {
		return
	}
	for _, q := range sum.GetQuantile() {
		in.float(name, m, "quantile", labels.FormatOpenMetricsFloat(q.GetQuantile()), q.GetValue())
	}
	in.float(name+"_sum", m, "", "", sum.GetSampleSum())
	in.float(name+"_count", m, "", "", float64(sum.GetSampleCount()))
}

func (in *ingester) histogram(name string, m *dto.Metric, gauge bool) {
	h := m.GetHistogram()
	if h == nil {
		return
	}
	native := isNative(h)
	if native {
		if fh := nativeHistogram(h, gauge); fh != nil {
			in.hist(name, m, fh)
		}
		if len(h.GetBucket()) == 0 {
			return // native only, as Prometheus stores it
		}
	}
	sawInf := false
	for _, b := range h.GetBucket() {
		ub := b.GetUpperBound()
		sawInf = sawInf || math.IsInf(ub, 1)
		count := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			count = b.GetCumulativeCountFloat()
		}
		in.float(name+"_bucket", m, "le", labels.FormatOpenMetricsFloat(ub), count)
	}
	count := float64(h.GetSampleCount())
	if h.SampleCountFloat != nil {
		count = h.GetSampleCountFloat()
	}
	if !sawInf {
		in.float(name+"_bucket", m, "le", "+Inf", count)
	}
	in.float(name+"_sum", m, "", "", h.GetSampleSum())
	in.float(name+"_count", m, "", "", count)
}

// isNative is Prometheus's test for a native histogram, plus a set schema.
func isNative(h *dto.Histogram) bool {
	return h.Schema != nil || len(h.GetPositiveSpan()) > 0 || len(h.GetNegativeSpan()) > 0 ||
		h.GetZeroThreshold() > 0 || h.GetZeroCount() > 0 || h.GetZeroCountFloat() > 0
}

// nativeHistogram converts h, or returns nil when it is invalid.
func nativeHistogram(h *dto.Histogram, gauge bool) *histogram.FloatHistogram {
	var fh *histogram.FloatHistogram
	if h.GetSampleCountFloat() > 0 || h.GetZeroCountFloat() > 0 || len(h.GetPositiveCount()) > 0 || len(h.GetNegativeCount()) > 0 {
		fh = &histogram.FloatHistogram{
			Count: h.GetSampleCountFloat(), Sum: h.GetSampleSum(),
			ZeroThreshold: h.GetZeroThreshold(), ZeroCount: h.GetZeroCountFloat(), Schema: h.GetSchema(),
			PositiveSpans: spans(h.GetPositiveSpan()), PositiveBuckets: h.GetPositiveCount(),
			NegativeSpans: spans(h.GetNegativeSpan()), NegativeBuckets: h.GetNegativeCount(),
		}
		fh = fh.Copy() // not share the gather's slices
	} else {
		ih := &histogram.Histogram{
			Count: h.GetSampleCount(), Sum: h.GetSampleSum(),
			ZeroThreshold: h.GetZeroThreshold(), ZeroCount: h.GetZeroCount(), Schema: h.GetSchema(),
			PositiveSpans: spans(h.GetPositiveSpan()), PositiveBuckets: h.GetPositiveDelta(),
			NegativeSpans: spans(h.GetNegativeSpan()), NegativeBuckets: h.GetNegativeDelta(),
		}
		fh = ih.ToFloat(nil)
	}
	if gauge {
		fh.CounterResetHint = histogram.GaugeType
	}
	fh.Compact(0)
	if fh.Validate() != nil {
		return nil
	}
	return fh
}

func spans(ss []*dto.BucketSpan) []histogram.Span {
	if len(ss) == 0 {
		return nil
	}
	out := make([]histogram.Span, len(ss))
	for i, s := range ss {
		out[i] = histogram.Span{Offset: s.GetOffset(), Length: s.GetLength()}
	}
	return out
}

// series finds or creates the series of name, m's labels and one extra
// pair, and marks it seen. It returns nil when the series is refused or
// was already seen in this gather.
func (in *ingester) series(name string, m *dto.Metric, extraName, extraValue string) *memSeries {
	in.b.Reset()
	in.b.Add(labels.MetricName, name)
	for _, lp := range m.GetLabel() {
		in.b.Add(lp.GetName(), lp.GetValue())
	}
	if extraName != "" {
		in.b.Add(extraName, extraValue)
	}
	in.b.Sort()
	in.b.Overwrite(&in.ls)
	ser, err := in.s.getOrCreate(in.ls, in.ls.Hash(), false)
	if err != nil || ser.gen == in.s.gen {
		return nil
	}
	ser.gen = in.s.gen
	in.seen = append(in.seen, ser)
	return ser
}

func (in *ingester) float(name string, m *dto.Metric, extraName, extraValue string, v float64) {
	if ser := in.series(name, m, extraName, extraValue); ser != nil {
		_ = in.s.appendFloat(ser, in.t, v)
	}
}

func (in *ingester) hist(name string, m *dto.Metric, fh *histogram.FloatHistogram) {
	if ser := in.series(name, m, "", ""); ser != nil {
		_ = in.s.appendHist(ser, in.t, fh)
	}
}
