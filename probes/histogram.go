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

// histogramMetric exposes a snapshot as one Prometheus histogram.
type histogramMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      durationHistogram
}

var _ prometheus.Metric = histogramMetric{}

func (m histogramMetric) Desc() *prometheus.Desc { return m.desc }

func (m histogramMetric) Write(out *dto.Metric) error {
	h := m.h
	hist := &dto.Histogram{SampleCount: proto.Uint64(h.count), SampleSum: proto.Float64(h.sum)}
	var cum uint64
	for i, upper := range durationBuckets {
		cum += h.classic[i]
		hist.Bucket = append(hist.Bucket, &dto.Bucket{UpperBound: proto.Float64(upper), CumulativeCount: proto.Uint64(cum)})
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
	out.Label = m.labels
	out.Histogram = hist
	return nil
}
