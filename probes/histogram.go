package probes

import (
	"cmp"
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// durationBuckets are the classic buckets of lookout_probe_duration_seconds.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

const (
	// nativeSchema 3 gives buckets growing by 2^(1/8), about 9 % each.
	nativeSchema = 3
	// maxNativeBuckets bounds a probe's native buckets; past it the
	// resolution halves, as client_golang does.
	maxNativeBuckets = 160
)

// durationHistogram is one probe's run-duration histogram with classic and
// native buckets. It is far smaller than a prometheus.Histogram (which keeps
// hot and cold copies and a sync.Map of native buckets), which matters with
// ten thousand probes. The caller serialises access.
type durationHistogram struct {
	count   uint64
	sum     float64
	classic [13]uint64 // per bucket of durationBuckets, then +Inf; not cumulative
	schema  int32
	// native are the non-empty positive native buckets in index order;
	// nil until the first observation above the zero threshold.
	native []nativeBucket
}

// nativeBucket is one non-empty native bucket: index i spans
// (2^((i-1)/2^schema), 2^(i/2^schema)]. Eight bytes, not sixteen: a probe
// may have up to maxNativeBuckets of them, and a bucket would need four
// billion runs to overflow.
type nativeBucket struct {
	index int32
	count uint32
}

func (h *durationHistogram) observe(v float64) {
	h.count++
	h.sum += v
	h.classic[bucketOf(v)]++
	if v <= prometheus.DefNativeHistogramZeroThreshold {
		return // counted in the zero bucket, which is count minus the rest
	}
	if h.native == nil {
		h.schema = nativeSchema
	}
	idx := nativeIndex(v, h.schema)
	at, found := slices.BinarySearchFunc(h.native, idx, func(b nativeBucket, idx int32) int { return cmp.Compare(b.index, idx) })
	if found {
		h.native[at].count++
	} else {
		h.native = slices.Insert(h.native, at, nativeBucket{index: idx, count: 1})
	}
	for len(h.native) > maxNativeBuckets && h.schema > -4 {
		h.halveResolution()
	}
}

// bucketOf is the classic bucket holding v; the last is +Inf.
func bucketOf(v float64) int {
	i, _ := slices.BinarySearch(durationBuckets, v)
	return i
}

// nativeIndex is the bucket holding v at schema.
func nativeIndex(v float64, schema int32) int32 {
	return int32(math.Ceil(math.Log2(v) * math.Exp2(float64(schema))))
}

// halveResolution merges pairs of buckets, in place: bucket i becomes
// ceil(i/2), which keeps the order.
func (h *durationHistogram) halveResolution() {
	merged := h.native[:0]
	for _, b := range h.native {
		b.index = (b.index + 1) >> 1 // arithmetic shift: ceil for negatives too
		if n := len(merged); n > 0 && merged[n-1].index == b.index {
			merged[n-1].count += b.count
			continue
		}
		merged = append(merged, b)
	}
	h.native, h.schema = merged, h.schema-1
}

// snapshot copies the histogram so it can be written after the lock is
// released; its native buckets are appended to into, which is returned.
func (h *durationHistogram) snapshot(into []nativeBucket) (durationHistogram, []nativeBucket) {
	c := *h
	if h.native == nil {
		return c, into // stays nil: nothing above the zero threshold yet
	}
	from := len(into)
	into = append(into, h.native...)
	c.native = into[from:len(into):len(into)]
	return c, into
}

// metric writes the histogram as one Prometheus histogram sample, its
// messages taken from sc.
func (h *durationHistogram) metric(labels []*dto.LabelPair, sc *scratch, ex *exemplars) *dto.Metric {
	hist := sc.histograms.one()
	count, sum := sc.uints.one(), sc.floats.one()
	*count, *sum = h.count, h.sum
	hist.SampleCount, hist.SampleSum = count, sum
	buckets, cums := sc.buckets.take(len(durationBuckets)), sc.uints.take(len(durationBuckets))
	hist.Bucket = sc.bucketPtrs.take(len(durationBuckets))
	var cum uint64
	for i := range durationBuckets {
		cum += h.classic[i]
		cums[i] = cum
		// The upper bounds are shared: encoders only read them.
		buckets[i].UpperBound, buckets[i].CumulativeCount = &durationBuckets[i], &cums[i]
		hist.Bucket[i] = &buckets[i]
	}
	if ex != nil {
		// A traced run's observation links its trace: on its classic
		// bucket (OpenMetrics), and with the native ones (protobuf).
		for i := range *ex {
			e := ex[i].dto()
			if e == nil {
				continue
			}
			if i < len(durationBuckets) {
				buckets[i].Exemplar = e
			}
			hist.Exemplars = append(hist.Exemplars, e)
		}
	}
	h.nativeSpans(hist, sc)
	m := sc.metrics.one()
	m.Label, m.Histogram = labels, hist
	return m
}

// nativeSpans writes the native part: schema, zero bucket, and the
// buckets as spans of consecutive indexes and the deltas between their
// counts. A histogram with nothing above the zero threshold has it too, at
// the starting schema, as client_golang's has.
func (h *durationHistogram) nativeSpans(hist *dto.Histogram, sc *scratch) {
	var inNative uint64
	spans := 0
	for k, b := range h.native {
		inNative += uint64(b.count)
		if k == 0 || b.index != h.native[k-1].index+1 {
			spans++
		}
	}
	schema, zeroCount := sc.int32s.one(), sc.uints.one()
	*schema, *zeroCount = h.schema, h.count-inNative
	if h.native == nil { // nothing above the zero threshold yet
		*schema = nativeSchema
	}
	hist.Schema, hist.ZeroThreshold, hist.ZeroCount = schema, sc.zeroThreshold(), zeroCount
	spanMsgs, offsets, lengths := sc.spans.take(spans), sc.int32s.take(spans), sc.uint32s.take(spans)
	hist.PositiveSpan = sc.spanPtrs.take(spans)[:0]
	hist.PositiveDelta = sc.int64s.take(len(h.native))
	var prev int64
	for k, b := range h.native {
		if k == 0 || b.index != h.native[k-1].index+1 {
			n := len(hist.PositiveSpan)
			offsets[n] = b.index
			if k > 0 {
				offsets[n] = b.index - h.native[k-1].index - 1
			}
			spanMsgs[n].Offset, spanMsgs[n].Length = &offsets[n], &lengths[n]
			hist.PositiveSpan = append(hist.PositiveSpan, &spanMsgs[n])
		}
		lengths[len(hist.PositiveSpan)-1]++
		hist.PositiveDelta[k] = int64(b.count) - prev
		prev = int64(b.count)
	}
}
