package probes

import (
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// TestHistogramMatchesClientGolang: for the same observations, the compact
// histogram writes the same classic and native buckets as client_golang's
// own histogram with a 1.1 bucket factor (also schema 3).
func TestHistogramMatchesClientGolang(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) float64
		n    int
	}{
		{"fast local target", func(r *rand.Rand) float64 { return 0.0005 + r.Float64()*0.004 }, 1000},
		{"spread over seconds", func(r *rand.Rand) float64 { return r.ExpFloat64() * 0.3 }, 5000},
		{"with zeros", func(r *rand.Rand) float64 { return float64(r.IntN(3)) * 0.01 }, 300},
		{"wide range halves resolution", func(r *rand.Rand) float64 { return 1e-6 * float64(uint64(1)<<r.IntN(40)) * (1 + r.Float64()) }, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "x", Buckets: durationBuckets,
				NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: maxNativeBuckets,
			})
			var h durationHistogram
			r := rand.New(rand.NewPCG(1, 2))
			for range tt.n {
				v := tt.gen(r)
				ref.Observe(v)
				h.observe(v)
			}
			var want dto.Metric
			if err := ref.Write(&want); err != nil {
				t.Fatal(err)
			}
			snap, _ := h.snapshot(nil)
			got := snap.metric(nil, new(scratch), nil)
			w, g := want.GetHistogram(), got.GetHistogram()
			w.CreatedTimestamp = nil
			if tt.name == "with zeros" && len(w.PositiveSpan) == 0 {
				t.Fatal("reference histogram has no native buckets")
			}
			// Encodings may differ (client_golang fills short gaps with
			// empty buckets); the buckets they describe must not.
			wantBuckets, gotBuckets := nativeBuckets(w), nativeBuckets(g)
			w.PositiveSpan, w.PositiveDelta, g.PositiveSpan, g.PositiveDelta = nil, nil, nil, nil
			if !proto.Equal(w, g) {
				t.Errorf("histograms differ\nclient_golang: %v\nlookout:       %v", w, g)
			}
			if !maps.Equal(wantBuckets, gotBuckets) {
				t.Errorf("native buckets differ\nclient_golang: %v\nlookout:       %v", wantBuckets, gotBuckets)
			}
		})
	}
}

// nativeBuckets decodes spans and deltas into the non-empty buckets.
func nativeBuckets(h *dto.Histogram) map[int]int64 {
	m := map[int]int64{}
	idx, k, count := 0, 0, int64(0)
	for i, span := range h.GetPositiveSpan() {
		if i == 0 {
			idx = int(span.GetOffset())
		} else {
			idx += int(span.GetOffset())
		}
		for range span.GetLength() {
			count += h.GetPositiveDelta()[k]
			k++
			if count != 0 {
				m[idx] = count
			}
			idx++
		}
	}
	return m
}

// TestHistogramNativePartAlways: every probe's histogram carries the native
// part, at the starting schema before any observation, whatever the
// probes snapshotted before it hold.
func TestHistogramNativePartAlways(t *testing.T) {
	var busy, idle durationHistogram
	busy.observe(0.2)
	sc := new(scratch)
	var native []nativeBucket
	var snaps [2]durationHistogram
	snaps[0], native = busy.snapshot(native)
	snaps[1], _ = idle.snapshot(native)
	for i, want := range []int32{nativeSchema, nativeSchema} {
		h := snaps[i].metric(nil, sc, nil).GetHistogram()
		if h.Schema == nil || h.GetSchema() != want || h.GetZeroThreshold() <= 0 {
			t.Errorf("histogram %d: schema %v, zero threshold %v; want schema %d and a zero threshold", i, h.Schema, h.GetZeroThreshold(), want)
		}
	}
}
