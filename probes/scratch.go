package probes

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// scratch is the memory of one gather: the probes' snapshots and the
// messages of the family being written, in a few large arrays that are
// reused for the next family. A scrape of ten thousand probes allocates
// about 20 MB this way instead of 58 MB in 700,000 small messages, and
// holds at most one family's messages at a time. Nothing is kept between
// gathers: a pool would keep its arrays in the live heap, and the garbage
// collector lets the heap grow to twice that.
type scratch struct {
	snaps  []snapshot
	native []nativeBucket // the snapshots' native buckets
	family []*dto.Metric

	metrics    slab[dto.Metric]
	gauges     slab[dto.Gauge]
	counters   slab[dto.Counter]
	histograms slab[dto.Histogram]
	buckets    slab[dto.Bucket]
	bucketPtrs slab[*dto.Bucket]
	spans      slab[dto.BucketSpan]
	spanPtrs   slab[*dto.BucketSpan]
	floats     slab[float64]
	uints      slab[uint64]
	uint32s    slab[uint32]
	int32s     slab[int32]
	int64s     slab[int64]
	threshold  float64
}

// reserveValues makes room for gauge or counter families of up to n
// samples.
func (sc *scratch) reserveValues(n int) {
	sc.metrics.reserve(n)
	sc.gauges.reserve(n)
	sc.counters.reserve(n)
	sc.floats.reserve(n)
	sc.reserveFamily(n)
}

// dropHistograms lets the histogram family's messages go.
func (sc *scratch) dropHistograms() {
	sc.family = nil
	sc.metrics, sc.floats, sc.uints = slab[dto.Metric]{}, slab[float64]{}, slab[uint64]{}
	sc.histograms, sc.buckets, sc.bucketPtrs = slab[dto.Histogram]{}, slab[dto.Bucket]{}, slab[*dto.Bucket]{}
	sc.spans, sc.spanPtrs = slab[dto.BucketSpan]{}, slab[*dto.BucketSpan]{}
	sc.uint32s, sc.int32s, sc.int64s = slab[uint32]{}, slab[int32]{}, slab[int64]{}
}

// reserveHistograms makes room for a histogram family of n samples; the
// native buckets, of varying number, take what they need.
func (sc *scratch) reserveHistograms(n int) {
	classic := n * len(durationBuckets)
	sc.metrics.reserve(n)
	sc.histograms.reserve(n)
	sc.buckets.reserve(classic)
	sc.bucketPtrs.reserve(classic)
	sc.uints.reserve(classic + 2*n)
	sc.floats.reserve(n)
	sc.reserveFamily(n)
}

func (sc *scratch) reserveFamily(n int) {
	if cap(sc.family) < n {
		sc.family = make([]*dto.Metric, 0, n)
	}
}

// addValue adds a gauge or counter sample to the family being written.
func (sc *scratch) addValue(typ dto.MetricType, labels []*dto.LabelPair, v float64) {
	m, value := sc.metrics.one(), sc.floats.one()
	*value = v
	m.Label = labels
	if typ == dto.MetricType_COUNTER {
		c := sc.counters.one()
		c.Value, m.Counter = value, c
	} else {
		g := sc.gauges.one()
		g.Value, m.Gauge = value, g
	}
	sc.family = append(sc.family, m)
}

// zeroThreshold is the native histograms' zero threshold.
func (sc *scratch) zeroThreshold() *float64 {
	sc.threshold = prometheus.DefNativeHistogramZeroThreshold
	return &sc.threshold
}

// nextFamily makes the messages of the family just written reusable.
func (sc *scratch) nextFamily() {
	sc.family = sc.family[:0]
	sc.metrics.reset()
	sc.gauges.reset()
	sc.counters.reset()
	sc.histograms.reset()
	sc.buckets.reset()
	sc.bucketPtrs.reset()
	sc.spans.reset()
	sc.spanPtrs.reset()
	sc.floats.reset()
	sc.uints.reset()
	sc.uint32s.reset()
	sc.int32s.reset()
	sc.int64s.reset()
}

// slab hands out values from one backing array, so that many small
// messages cost one allocation. After reset it hands the same memory out
// again; a caller must be done with what it took before then.
type slab[T any] struct {
	items []T
	used  int
}

// reserve makes room for n more values in one array.
func (s *slab[T]) reserve(n int) {
	if s.used+n > len(s.items) {
		// The values handed out so far stay valid in the old array.
		s.items, s.used = make([]T, n), 0
	}
}

// take returns n zeroed values, contiguous.
func (s *slab[T]) take(n int) []T {
	if s.used+n > len(s.items) {
		s.reserve(max(2*len(s.items), n, 64))
	}
	out := s.items[s.used : s.used+n : s.used+n]
	clear(out)
	s.used += n
	return out
}

// one returns one zeroed value.
func (s *slab[T]) one() *T { return &s.take(1)[0] }

// reset makes all the values reusable. When the family needed more than
// one array, only the last is kept.
func (s *slab[T]) reset() { s.used = 0 }
