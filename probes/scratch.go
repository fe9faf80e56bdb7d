package probes

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// scratch is the memory of one gather: the probes' snapshots and the
// messages of the family being written. The messages are reused for the
// next family, and a scratch for the next gather (through
// Collector.scratch), so a scrape of ten thousand probes allocates close
// to nothing instead of some 60 MB of short-lived messages.
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

// done drops the references a finished gather holds, so a pooled scratch
// keeps no result or runner alive.
func (sc *scratch) done() {
	sc.nextFamily()
	clear(sc.snaps)
	sc.snaps, sc.native = sc.snaps[:0], sc.native[:0]
	clear(sc.family[:cap(sc.family)])
}

// slab hands out values from one backing array, so that many small
// messages cost one allocation. After reset it hands the same memory out
// again; a caller must be done with what it took before then.
type slab[T any] struct {
	items []T
	used  int
}

// take returns n zeroed values, contiguous.
func (s *slab[T]) take(n int) []T {
	if s.used+n > len(s.items) {
		// The values handed out so far stay valid in the old array.
		s.items, s.used = make([]T, max(2*len(s.items), n, 64)), 0
	}
	out := s.items[s.used : s.used+n : s.used+n]
	clear(out)
	s.used += n
	return out
}

// one returns one zeroed value.
func (s *slab[T]) one() *T { return &s.take(1)[0] }

// reset makes all the values reusable. When the last gather needed more
// than one array, only the last, largest one is kept.
func (s *slab[T]) reset() { s.used = 0 }
