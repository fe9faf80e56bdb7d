package store

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"google.golang.org/protobuf/proto"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const step = 15 * time.Second

func newEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:           1e6,
		Timeout:              10 * time.Second,
		LookbackDelta:        5 * time.Minute,
		EnableNegativeOffset: true,
		EnableAtModifier:     true,
	})
}

// instant runs an instant query and returns its vector, sorted by labels.
func instant(t *testing.T, q storage.Queryable, expr string, ts time.Time) promql.Vector {
	t.Helper()
	qry, err := newEngine().NewInstantQuery(context.Background(), q, nil, expr, ts)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s: %v", expr, res.Err)
	}
	vec, err := res.Vector()
	if err != nil {
		if sc, serr := res.Scalar(); serr == nil {
			return promql.Vector{{T: sc.T, F: sc.V}}
		}
		t.Fatalf("%s: %v", expr, err)
	}
	slices.SortFunc(vec, func(a, b promql.Sample) int { return labels.Compare(a.Metric, b.Metric) })
	return vec
}

// one runs an instant query that must return exactly one float sample.
func one(t *testing.T, q storage.Queryable, expr string, ts time.Time) float64 {
	t.Helper()
	vec := instant(t, q, expr, ts)
	if len(vec) != 1 || vec[0].H != nil {
		t.Fatalf("%s at %s: want one float sample, got %v", expr, ts.Sub(t0), vec)
	}
	return vec[0].F
}

// family builds a metric family of one type with one metric per label
// set ("k=v,k2=v2"), all with value v.
func family(name string, typ dto.MetricType, v float64, labelSets ...string) *dto.MetricFamily {
	mf := &dto.MetricFamily{Name: proto.String(name), Type: typ.Enum()}
	if len(labelSets) == 0 {
		labelSets = []string{""}
	}
	for _, ls := range labelSets {
		m := &dto.Metric{}
		for _, kv := range strings.Split(ls, ",") {
			if k, val, ok := strings.Cut(kv, "="); ok {
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(k), Value: proto.String(val)})
			}
		}
		switch typ {
		case dto.MetricType_COUNTER:
			m.Counter = &dto.Counter{Value: proto.Float64(v)}
		case dto.MetricType_UNTYPED:
			m.Untyped = &dto.Untyped{Value: proto.Float64(v)}
		default:
			m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
		}
		mf.Metric = append(mf.Metric, m)
	}
	return mf
}

func TestPromQLOverIngestedRegistry(t *testing.T) {
	// A real registry with the shapes Lookout's probes expose: a counter
	// per result, a gauge, a summary and a histogram with classic and
	// native buckets, as lookout_probe_duration_seconds has.
	reg := prometheus.NewRegistry()
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lookout_probe_runs_total", Help: "h"}, []string{"probe", "result"})
	success := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "probe_success", Help: "h"}, []string{"probe"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "lookout_probe_duration_seconds", Help: "h",
		Buckets:                     []float64{.05, .1, .25, .5, 1},
		NativeHistogramBucketFactor: 1.1,
	}, []string{"probe"})
	lat := prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "lookout_latency_seconds", Help: "h", Objectives: map[float64]float64{0.5: 0.05}}, []string{"probe"})
	reg.MustRegister(runs, success, dur, lat)

	s := New(Options{})
	const steps = 40 // 10 minutes
	for i := range steps {
		runs.WithLabelValues("shop", "up").Inc()
		if i%4 == 0 {
			runs.WithLabelValues("shop", "down").Inc()
		}
		success.WithLabelValues("shop").Set(1)
		for _, v := range []float64{0.1, 0.2, 0.4, 0.4, 0.8} {
			dur.WithLabelValues("shop").Observe(v)
		}
		lat.WithLabelValues("shop").Observe(2)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		s.Ingest(t0.Add(time.Duration(i)*step), mfs)
	}
	end := t0.Add((steps - 1) * step)

	tests := []struct {
		name    string
		expr    string
		want    float64
		relTol  float64
		absTol  float64
		atStart bool
	}{
		{name: "rate of a counter", expr: `rate(lookout_probe_runs_total{result="up"}[5m])`, want: 1.0 / 15, relTol: 1e-9},
		{name: "increase of a sparse counter", expr: `increase(lookout_probe_runs_total{result="down"}[10m])`, want: 10, relTol: 0.1},
		{name: "gauge", expr: `probe_success`, want: 1},
		{name: "classic histogram p75", expr: `histogram_quantile(0.75, rate(lookout_probe_duration_seconds_bucket[5m]))`, want: 0.25 + 0.25*1.75/2, relTol: 1e-9},
		{name: "classic histogram count", expr: `rate(lookout_probe_duration_seconds_count[5m])`, want: 5.0 / 15, relTol: 1e-9},
		{name: "native histogram p75", expr: `histogram_quantile(0.75, rate(lookout_probe_duration_seconds[5m]))`, want: 0.4, relTol: 0.06}, // within the schema-3 bucket (0.3855, 0.4204]
		{name: "native histogram count", expr: `histogram_count(rate(lookout_probe_duration_seconds[5m]))`, want: 5.0 / 15, relTol: 1e-9},
		{name: "native histogram sum", expr: `histogram_sum(lookout_probe_duration_seconds)`, want: 1.9 * steps, relTol: 1e-9},
		{name: "summary quantile", expr: `lookout_latency_seconds{quantile="0.5"}`, want: 2},
		{name: "summary count", expr: `lookout_latency_seconds_count`, want: steps},
		{name: "offset into the past", expr: `lookout_latency_seconds_count offset 5m`, want: steps - 20},
		{name: "series count", expr: `count({probe="shop"})`, want: 2 + 1 + 1 + 6 + 2 + 1 + 2}, // runs, success, native, buckets with +Inf, _sum/_count, quantile, _sum/_count
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := one(t, s, tc.expr, end)
			if diff := math.Abs(got - tc.want); diff > tc.relTol*math.Abs(tc.want)+tc.absTol {
				t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
	t.Run("range query", func(t *testing.T) {
		qry, err := newEngine().NewRangeQuery(context.Background(), s, nil, `rate(lookout_probe_runs_total{result="up"}[1m])`, t0.Add(2*time.Minute), end, step)
		if err != nil {
			t.Fatal(err)
		}
		defer qry.Close()
		m, err := qry.Exec(context.Background()).Matrix()
		if err != nil || len(m) != 1 {
			t.Fatalf("matrix %v, err %v", m, err)
		}
		if n := len(m[0].Floats); n != int(end.Sub(t0.Add(2*time.Minute))/step)+1 {
			t.Errorf("%d points, want one per step", n)
		}
		for _, p := range m[0].Floats {
			if math.Abs(p.F-1.0/15) > 1e-9 {
				t.Fatalf("rate %v at %d, want 1/15", p.F, p.T)
			}
		}
	})
}

func TestStaleness(t *testing.T) {
	s := New(Options{})
	nativeFamily := func() *dto.MetricFamily {
		return &dto.MetricFamily{Name: proto.String("web_vitals_lcp_seconds"), Type: dto.MetricType_HISTOGRAM.Enum(), Metric: []*dto.Metric{{
			Histogram: &dto.Histogram{
				SampleCount: proto.Uint64(3), SampleSum: proto.Float64(3), Schema: proto.Int32(0),
				ZeroThreshold: proto.Float64(1e-128),
				PositiveSpan:  []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(2)}},
				PositiveDelta: []int64{1, 1},
			},
		}}}
	}
	for i := range 10 {
		s.Ingest(t0.Add(time.Duration(i)*step), []*dto.MetricFamily{
			family("probe_success", dto.MetricType_GAUGE, 1, "probe=a", "probe=b"),
			nativeFamily(),
		})
	}
	last := t0.Add(9 * step)
	gone := t0.Add(10 * step)
	s.Ingest(gone, []*dto.MetricFamily{family("probe_success", dto.MetricType_GAUGE, 1, "probe=a")})

	tests := []struct {
		name string
		expr string
		at   time.Time
		want int
	}{
		{"both before", `probe_success`, last, 2},
		{"only a when b is gone", `probe_success`, gone, 1},
		{"only a a second later", `probe_success`, gone.Add(time.Second), 1},
		{"only a a minute later", `probe_success`, gone.Add(time.Minute), 1},
		{"native histogram before", `web_vitals_lcp_seconds`, last, 1},
		{"native histogram gone", `web_vitals_lcp_seconds`, gone, 0},
		{"b still in the range before it went", `count_over_time(probe_success{probe="b"}[1m])`, gone, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := instant(t, s, tc.expr, tc.at); len(got) != tc.want {
				t.Errorf("%s at +%s: %d series, want %d: %v", tc.expr, tc.at.Sub(t0), len(got), tc.want, got)
			}
		})
	}
	t.Run("one marker, not one per gather", func(t *testing.T) {
		before := s.Stats().Samples
		s.Ingest(gone.Add(step), []*dto.MetricFamily{family("probe_success", dto.MetricType_GAUGE, 1, "probe=a")})
		if got := s.Stats().Samples - before; got != 1 {
			t.Errorf("%d samples added, want 1 (a's)", got)
		}
	})
	t.Run("a series that comes back", func(t *testing.T) {
		back := gone.Add(2 * step)
		s.Ingest(back, []*dto.MetricFamily{family("probe_success", dto.MetricType_GAUGE, 1, "probe=a", "probe=b")})
		if got := instant(t, s, `probe_success`, back); len(got) != 2 {
			t.Errorf("got %v, want a and b", got)
		}
	})
}

func TestRetention(t *testing.T) {
	s := New(Options{Retention: 10 * time.Minute})
	const steps = 4 * 60 // an hour
	for i := range steps {
		mfs := []*dto.MetricFamily{family("g", dto.MetricType_GAUGE, float64(i))}
		if i < 20 {
			mfs = append(mfs, family("early", dto.MetricType_GAUGE, 1))
		}
		s.Ingest(t0.Add(time.Duration(i)*step), mfs)
	}
	end := t0.Add((steps - 1) * step)
	t.Run("queries see only the retention", func(t *testing.T) {
		if got := one(t, s, `count_over_time(g[1h])`, end); got != 41 {
			t.Errorf("count_over_time over an hour = %v, want 41 (10 minutes)", got)
		}
		if got := instant(t, s, `g`, t0.Add(30*time.Minute)); len(got) != 0 {
			t.Errorf("a sample from half an hour ago: %v", got)
		}
	})
	t.Run("memory is freed", func(t *testing.T) {
		st := s.Stats()
		if st.Series != 1 {
			t.Errorf("%d series, want 1: the early one has no samples left", st.Series)
		}
		// A chunk goes once all its samples are older: at most one chunk
		// beyond the retention plus the open one.
		if st.Samples > 41+chunkSamples {
			t.Errorf("%d samples held, want at most %d", st.Samples, 41+chunkSamples)
		}
	})
	t.Run("compact from now", func(t *testing.T) {
		s.Compact(end.Add(time.Hour))
		if st := s.Stats(); st.Series != 0 || st.Samples != 0 || st.Bytes != 0 {
			t.Errorf("after compacting an hour later: %+v, want empty", st)
		}
	})
	t.Run("too old", func(t *testing.T) {
		err := s.Append(t0, labels.FromStrings("__name__", "g"), 1)
		if !errors.Is(err, storage.ErrTooOldSample) {
			t.Errorf("append before the retention: %v", err)
		}
	})
}

func TestSeriesLimit(t *testing.T) {
	s := New(Options{MaxSeries: 3})
	probes := []string{"probe=a", "probe=b", "probe=c", "probe=d", "probe=e"}
	for i := range 3 {
		s.Ingest(t0.Add(time.Duration(i)*step), []*dto.MetricFamily{family("probe_success", dto.MetricType_GAUGE, 1, probes...)})
	}
	if st := s.Stats(); st.Series != 3 || st.DroppedSeries != 2 {
		t.Errorf("stats %+v, want 3 series and 2 dropped (counted once each)", st)
	}
	if got := instant(t, s, `probe_success`, t0.Add(2*step)); len(got) != 3 {
		t.Errorf("%d series queryable, want 3", len(got))
	}
	err := s.Append(t0.Add(3*step), labels.FromStrings("__name__", "ALERTS", "alertname", "X"), 1)
	if !errors.Is(err, ErrSeriesLimit) {
		t.Errorf("append of a new series at the limit: %v", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	want := `
# HELP lookout_store_dropped_series_total New series the alerting store refused at its series limit.
# TYPE lookout_store_dropped_series_total counter
lookout_store_dropped_series_total 3
# HELP lookout_store_series Series held by the alerting store.
# TYPE lookout_store_series gauge
lookout_store_series 3
# HELP lookout_store_samples Samples held by the alerting store.
# TYPE lookout_store_samples gauge
lookout_store_samples 9
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "lookout_store_dropped_series_total", "lookout_store_series", "lookout_store_samples"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "lookout_store_bytes"); err != nil || n != 1 {
		t.Errorf("lookout_store_bytes: %d, %v", n, err)
	}
}

func TestMatchersAndLabels(t *testing.T) {
	s := New(Options{})
	s.Ingest(t0, []*dto.MetricFamily{
		family("probe_success", dto.MetricType_GAUGE, 1, "probe=api,team=core", "probe=shop,team=web", "probe=blog,team=web"),
		family("lookout_probe_runs_total", dto.MetricType_COUNTER, 5, "probe=api,result=up"),
		family("legacy", dto.MetricType_UNTYPED, 2),
	})
	tests := []struct {
		name     string
		matchers []*labels.Matcher
		want     []string // probe label values
	}{
		{"equal", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "team", "web")}, []string{"blog", "shop"}},
		{"not equal", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "probe_success"), labels.MustNewMatcher(labels.MatchNotEqual, "team", "web")}, []string{"api"}},
		{"regexp", []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "probe", "s.*|b.*")}, []string{"blog", "shop"}},
		{"not regexp", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "probe_success"), labels.MustNewMatcher(labels.MatchNotRegexp, "probe", "s.*|b.*")}, []string{"api"}},
		{"name regexp", []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", "lookout_.*")}, []string{"api"}},
		{"no match", []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "nope")}, nil},
	}
	q, err := s.Querier(t0.Add(-time.Minute).UnixMilli(), t0.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			ss := q.Select(context.Background(), true, nil, tc.matchers...)
			for ss.Next() {
				got = append(got, ss.At().Labels().Get("probe"))
			}
			if ss.Err() != nil {
				t.Fatal(ss.Err())
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("same through PromQL", func(t *testing.T) {
		if got := instant(t, s, `probe_success{team!="web", probe=~"a.*", probe!~"x"}`, t0); len(got) != 1 || got[0].Metric.Get("probe") != "api" {
			t.Errorf("got %v", got)
		}
	})
	t.Run("label values", func(t *testing.T) {
		vals, _, err := q.LabelValues(context.Background(), "probe", nil, labels.MustNewMatcher(labels.MatchEqual, "team", "web"))
		if err != nil || !slices.Equal(vals, []string{"blog", "shop"}) {
			t.Errorf("got %q, %v", vals, err)
		}
		vals, _, _ = q.LabelValues(context.Background(), "__name__", &storage.LabelHints{Limit: 2})
		if !slices.Equal(vals, []string{"legacy", "lookout_probe_runs_total"}) {
			t.Errorf("names limited to 2: %q", vals)
		}
	})
	t.Run("label names", func(t *testing.T) {
		names, _, err := q.LabelNames(context.Background(), nil)
		if err != nil || !slices.Equal(names, []string{"__name__", "probe", "result", "team"}) {
			t.Errorf("got %q, %v", names, err)
		}
		names, _, _ = q.LabelNames(context.Background(), nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "legacy"))
		if !slices.Equal(names, []string{"__name__"}) {
			t.Errorf("names of legacy: %q", names)
		}
	})
}

func TestAppend(t *testing.T) {
	s := New(Options{})
	alert := labels.FromStrings("__name__", "ALERTS", "alertname", "ProbeDown", "alertstate", "firing")
	tests := []struct {
		name    string
		at      time.Duration
		v       float64
		wantErr error
	}{
		{"first", 0, 1, nil},
		{"next", step, 1, nil},
		{"duplicate", step, 1, storage.ErrDuplicateSampleForTimestamp},
		{"out of order", step / 2, 1, storage.ErrOutOfOrderSample},
		{"stale", 2 * step, math.Float64frombits(value.StaleNaN), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Append(t0.Add(tc.at), alert, tc.v); !errors.Is(err, tc.wantErr) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
		})
	}
	t.Run("query", func(t *testing.T) {
		if got := one(t, s, `ALERTS{alertstate="firing"}`, t0.Add(step+time.Second)); got != 1 {
			t.Errorf("ALERTS = %v", got)
		}
		if got := instant(t, s, `ALERTS`, t0.Add(2*step+time.Second)); len(got) != 0 {
			t.Errorf("after the staleness marker: %v", got)
		}
	})
	t.Run("empty labels", func(t *testing.T) {
		if err := s.Append(t0, labels.EmptyLabels(), 1); err == nil {
			t.Error("no error")
		}
	})
}

func TestAppendHistogram(t *testing.T) {
	s := New(Options{})
	lat := labels.FromStrings("__name__", "latency_seconds", "job", "api")
	h := func(count float64) *histogram.FloatHistogram {
		return &histogram.FloatHistogram{
			Schema: 0, Count: count, Sum: 2 * count,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []float64{count / 2, count / 2},
		}
	}
	tests := []struct {
		name    string
		at      time.Duration
		h       *histogram.FloatHistogram
		wantErr error
	}{
		{"first", 0, h(4), nil},
		{"next", step, h(8), nil},
		{"duplicate", step, h(8), storage.ErrDuplicateSampleForTimestamp},
		{"out of order", step / 2, h(8), storage.ErrOutOfOrderSample},
		{"negative bucket", 2 * step, &histogram.FloatHistogram{Count: 1, PositiveSpans: []histogram.Span{{Length: 1}}, PositiveBuckets: []float64{-1}}, histogram.ErrHistogramNegativeBucketCount},
		{"buckets without a span", 2 * step, &histogram.FloatHistogram{Count: 1, PositiveBuckets: []float64{1}}, histogram.ErrHistogramSpansBucketsMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.AppendHistogram(t0.Add(tc.at), lat, tc.h); !errors.Is(err, tc.wantErr) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
		})
	}
	t.Run("query", func(t *testing.T) {
		if got := one(t, s, `histogram_count(latency_seconds)`, t0.Add(step)); got != 8 {
			t.Errorf("histogram_count = %v, want 8", got)
		}
		if got := one(t, s, `histogram_sum(latency_seconds - latency_seconds offset 15s)`, t0.Add(step)); got != 8 {
			t.Errorf("histogram_sum of the difference = %v, want 8", got)
		}
	})
	t.Run("the store keeps a copy", func(t *testing.T) {
		mine := h(20)
		if err := s.AppendHistogram(t0.Add(3*step), lat, mine); err != nil {
			t.Fatal(err)
		}
		mine.Count = 1
		if got := one(t, s, `histogram_count(latency_seconds)`, t0.Add(3*step)); got != 20 {
			t.Errorf("histogram_count = %v after the caller changed its histogram, want 20", got)
		}
	})
}

// TestIteratorSeek checks Seek and Next against a plain decode, across
// several chunks, with histogram samples interleaved.
func TestIteratorSeek(t *testing.T) {
	s := New(Options{Retention: 24 * time.Hour})
	l := labels.FromStrings("__name__", "x")
	const n = 3*chunkSamples + 17
	for i := range n {
		if err := s.Append(t0.Add(time.Duration(i)*step), l, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	q, _ := s.Querier(math.MinInt64, math.MaxInt64)
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "x"))
	if !ss.Next() {
		t.Fatal("no series")
	}
	ser := ss.At()
	var it chunkenc.Iterator
	tests := []struct {
		name  string
		seeks []int // sample indexes to seek to, in order
	}{
		{"start", []int{0}},
		{"inside the first chunk", []int{5, 5, 7}},
		{"across chunks", []int{3, chunkSamples, 2*chunkSamples + 1, n - 1}},
		{"into the open chunk", []int{3*chunkSamples + 3}},
		{"backwards is a no-op", []int{200, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it = ser.Iterator(it)
			cur := 0
			for _, k := range tc.seeks {
				want := max(k, cur)
				if typ := it.Seek(t0.Add(time.Duration(k) * step).UnixMilli()); typ != chunkenc.ValFloat {
					t.Fatalf("seek %d: %v", k, typ)
				}
				if ts, v := it.At(); v != float64(want) || ts != t0.Add(time.Duration(want)*step).UnixMilli() {
					t.Fatalf("seek %d: at %v, want %d", k, v, want)
				}
				cur = want
			}
			for i := cur + 1; i < n; i++ {
				if it.Next() != chunkenc.ValFloat {
					t.Fatalf("next ended at %d", i)
				}
				if _, v := it.At(); v != float64(i) {
					t.Fatalf("next: %v, want %d", v, i)
				}
			}
			if it.Next() != chunkenc.ValNone || it.Err() != nil {
				t.Fatal("iterator did not end cleanly")
			}
			if it.Seek(math.MaxInt64) != chunkenc.ValNone {
				t.Fatal("seek past the end")
			}
		})
	}
}

// TestConcurrentIngestAndQuery runs under -race.
func TestConcurrentIngestAndQuery(t *testing.T) {
	s := New(Options{Retention: 10 * time.Minute})
	var wg sync.WaitGroup
	const steps = 400 // several chunks and compactions
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range steps {
			s.Ingest(t0.Add(time.Duration(i)*step), []*dto.MetricFamily{
				family("lookout_probe_runs_total", dto.MetricType_COUNTER, float64(i), "probe=a", "probe=b"),
			})
		}
	})
	wg.Go(func() {
		eng := newEngine()
		for {
			select {
			case <-done:
				return
			default:
			}
			qry, err := eng.NewInstantQuery(context.Background(), s, nil, `sum(rate(lookout_probe_runs_total[5m]))`, t0.Add(steps*step/2))
			if err != nil {
				t.Error(err)
				return
			}
			if res := qry.Exec(context.Background()); res.Err != nil {
				t.Error(res.Err)
			}
			qry.Close()
		}
	})
	wg.Wait()
	if got := one(t, s, `sum(rate(lookout_probe_runs_total[5m]))`, t0.Add((steps-1)*step)); math.Abs(got-2.0/15) > 1e-9 {
		t.Errorf("rate after concurrent ingest: %v", got)
	}
}
