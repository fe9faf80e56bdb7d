// Package stats summarises what the benchmark programs measure: medians of
// per-round figures and quantiles of latencies.
package stats

import (
	"cmp"
	"math"
	"slices"
)

// number is what Median averages: float figures, durations, byte counts.
type number interface {
	~int64 | ~float64
}

// Median is the middle of xs, or the mean of the two middle values for an
// even count; xs is not changed. It panics on an empty xs.
func Median[T number](xs []T) T {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Quantile is the q-th quantile of xs by the nearest-rank method: the
// smallest value with at least a share q of xs at or below it (q 1 is the
// maximum); xs is not changed. It panics on an empty xs.
func Quantile[T cmp.Ordered](xs []T, q float64) T {
	s := slices.Sorted(slices.Values(xs))
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
