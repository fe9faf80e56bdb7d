package probes

import (
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
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
	native  map[int]int64 // positive native buckets by index
}

func (h *durationHistogram) observe(v float64) {
	h.count++
	h.sum += v
	i, _ := slices.BinarySearch(durationBuckets, v)
	h.classic[i]++
	if v <= prometheus.DefNativeHistogramZeroThreshold {
		return // counted in the zero bucket, which is count minus the rest
	}
	if h.native == nil {
		h.native, h.schema = map[int]int64{}, nativeSchema
	}
	h.native[nativeIndex(v, h.schema)]++
	for len(h.native) > maxNativeBuckets && h.schema > -4 {
		h.halveResolution()
	}
}

// nativeIndex is the bucket holding v: bucket i spans (2^((i-1)/2^s), 2^(i/2^s)].
func nativeIndex(v float64, schema int32) int {
	return int(math.Ceil(math.Log2(v) * math.Exp2(float64(schema))))
}

func (h *durationHistogram) halveResolution() {
	merged := make(map[int]int64, len(h.native)/2+1)
	for i, c := range h.native {
		merged[(i+1)>>1] += c // ceil(i/2), arithmetic shift for negatives too
	}
	h.native, h.schema = merged, h.schema-1
}

// snapshot copies the histogram so it can be written after the lock is
// released.
func (h *durationHistogram) snapshot() durationHistogram {
	c := *h
	c.native = make(map[int]int64, len(h.native))
	for i, n := range h.native {
		c.native[i] = n
	}
	return c
}

// metric writes the histogram as one Prometheus histogram sample.
func (h *durationHistogram) metric(labels []*dto.LabelPair) *dto.Metric {
	hist := &dto.Histogram{SampleCount: proto.Uint64(h.count), SampleSum: proto.Float64(h.sum)}
	// One allocation per kind rather than three per bucket: a scrape of
	// ten thousand probes writes this many times.
	buckets := make([]dto.Bucket, len(durationBuckets))
	cums := make([]uint64, len(durationBuckets))
	uppers := slices.Clone(durationBuckets)
	hist.Bucket = make([]*dto.Bucket, len(durationBuckets))
	var cum uint64
	for i := range durationBuckets {
		cum += h.classic[i]
		cums[i] = cum
		buckets[i].UpperBound, buckets[i].CumulativeCount = &uppers[i], &cums[i]
		hist.Bucket[i] = &buckets[i]
	}
	if h.native != nil {
		var inNative uint64
		idx := make([]int, 0, len(h.native))
		for i, c := range h.native {
			idx = append(idx, i)
			inNative += uint64(c)
		}
		slices.Sort(idx)
		hist.Schema = proto.Int32(h.schema)
		hist.ZeroThreshold = proto.Float64(prometheus.DefNativeHistogramZeroThreshold)
		hist.ZeroCount = proto.Uint64(h.count - inNative)
		var prev int64
		for k, i := range idx {
			if k == 0 || i != idx[k-1]+1 {
				offset := int32(i)
				if k > 0 {
					offset = int32(i - idx[k-1] - 1)
				}
				hist.PositiveSpan = append(hist.PositiveSpan, &dto.BucketSpan{Offset: proto.Int32(offset), Length: proto.Uint32(0)})
			}
			span := hist.PositiveSpan[len(hist.PositiveSpan)-1]
			span.Length = proto.Uint32(span.GetLength() + 1)
			hist.PositiveDelta = append(hist.PositiveDelta, h.native[i]-prev)
			prev = h.native[i]
		}
	}
	return &dto.Metric{Label: labels, Histogram: hist}
}
