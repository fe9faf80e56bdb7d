package mongodb

import "github.com/prometheus/client_golang/prometheus"

// slowDurationBuckets are the upper bounds, in seconds, of the slow-query
// duration histogram: from the default 100 ms threshold to a minute.
var slowDurationBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Bounds on the slow-query series, so that a server with many collections
// cannot grow /metrics without end. The first maxSlowSeries distinct
// (database, collection, op, plan) get series of their own; after that a new
// one is counted under collection "_other" of its database, for at most
// maxSlowFoldedSeries such series; after that under database and collection
// "_other". At most maxSlowSeries + maxSlowFoldedSeries + (ops × plans)
// series in all.
const (
	maxSlowSeries       = 2000
	maxSlowFoldedSeries = 500
	slowOtherLabel      = "_other"
)

// slowSeriesKey is the labels of one series, after the target.
type slowSeriesKey struct {
	database, collection, op, plan string
}

// slowSeriesStats is what one series has counted since Lookout started
// watching.
type slowSeriesStats struct {
	count    uint64
	seconds  float64
	buckets  []uint64 // per bucket of slowDurationBuckets, not cumulative
	examined float64
	returned float64
}

// slowSeries aggregates slow operations by series; the caller holds the
// lock of the slowQueries that owns it.
type slowSeries struct {
	max, maxFolded int
	m              map[slowSeriesKey]*slowSeriesStats
	folded         int  // series with collection "_other" of a real database
	folding        bool // whether a series was ever folded
}

func newSlowSeries() *slowSeries {
	return &slowSeries{max: maxSlowSeries, maxFolded: maxSlowFoldedSeries, m: map[slowSeriesKey]*slowSeriesStats{}}
}

// add counts op; it returns true the first time an operation is folded
// into "_other".
func (s *slowSeries) add(op slowOp) (startedFolding bool) {
	k, folded := s.key(slowSeriesKey{op.database, op.collection, op.op, op.plan})
	st := s.m[k]
	if st == nil {
		st = &slowSeriesStats{buckets: make([]uint64, len(slowDurationBuckets))}
		s.m[k] = st
	}
	st.count++
	st.seconds += op.seconds
	for i, le := range slowDurationBuckets {
		if op.seconds <= le {
			st.buckets[i]++
			break
		}
	}
	st.examined += op.docsExamined
	st.returned += op.docsReturned
	startedFolding = folded && !s.folding
	s.folding = s.folding || folded
	return startedFolding
}

// key returns the series that k is counted in, and whether that is a
// folded one; it reserves room for a new folded series.
func (s *slowSeries) key(k slowSeriesKey) (slowSeriesKey, bool) {
	if _, ok := s.m[k]; ok || len(s.m) < s.max {
		return k, false
	}
	k.collection = slowOtherLabel
	if _, ok := s.m[k]; ok {
		return k, true
	}
	if s.folded < s.maxFolded {
		s.folded++
		return k, true
	}
	k.database = slowOtherLabel
	return k, true
}

// addMetrics adds every series to p, and the collection scans by
// namespace.
func (s *slowSeries) addMetrics(p *pass, d *slowDescs) {
	collscans := map[[2]string]float64{}
	for k, st := range s.m {
		labels := []string{p.target, k.database, k.collection, k.op, k.plan}
		buckets := make(map[float64]uint64, len(slowDurationBuckets))
		var cum uint64
		for i, le := range slowDurationBuckets {
			cum += st.buckets[i]
			buckets[le] = cum
		}
		p.metrics = append(p.metrics,
			prometheus.MustNewConstMetric(d.queries, prometheus.CounterValue, float64(st.count), labels...),
			prometheus.MustNewConstHistogram(d.duration, st.count, st.seconds, buckets, labels...),
			prometheus.MustNewConstMetric(d.docsExamined, prometheus.CounterValue, st.examined, labels...),
			prometheus.MustNewConstMetric(d.docsReturned, prometheus.CounterValue, st.returned, labels...),
		)
		if k.plan == "COLLSCAN" {
			collscans[[2]string{k.database, k.collection}] += float64(st.count)
		}
	}
	for ns, n := range collscans {
		p.metrics = append(p.metrics, prometheus.MustNewConstMetric(d.collscans, prometheus.CounterValue, n, p.target, ns[0], ns[1]))
	}
}
