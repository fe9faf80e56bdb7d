package ruletest

import (
	"math"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/store"
)

// promtool loads input series into Prometheus's TSDB head, which keeps
// native histograms in chunks and gives each one read back a counter
// reset hint from its place: gauge in a gauge chunk, not_reset after a
// counter chunk's first sample (a chunk holds no counter reset), unknown
// for the first. promtool compares histograms with their hint, so a raw
// series reads back as counter_reset_hint:not_reset, and rate(),
// increase() and resets() trust it; a reset hint written in the input
// only makes the head cut a chunk, and reads back as unknown.
//
// headHints gives each histogram sample of an input series that hint.
// Where the head cuts a chunk follows memSeries.histogramsAppendPreprocessor
// and appendFloatHistogram in Prometheus v0.316.0's tsdb/head_append.go;
// whether a histogram fits the open chunk is chunkenc's own decision.
func headHints(samples []sample) {
	var hs headSeries
	for i := range samples {
		hs.add(&samples[i])
	}
}

// headStorage is the store as rules write to it in promtool's TSDB head:
// a recorded histogram reads back with the hint the head gives it, as an
// input series' histograms do. Rules write from one goroutine. A sample
// the store refuses for its time (out of order, a duplicate) still counts
// for the hints, where the head would drop it: only rules that write one
// series twice at a time, or an input series, get there.
type headStorage struct {
	*store.Store
	series map[uint64]*headSeries
}

var _ rules.Storage = (*headStorage)(nil)

func newHeadStorage(st *store.Store) *headStorage {
	return &headStorage{Store: st, series: map[uint64]*headSeries{}}
}

func (hs *headStorage) Append(ts time.Time, l labels.Labels, v float64) error {
	if s := hs.series[l.Hash()]; s != nil {
		s.add(&sample{t: ts.UnixMilli(), v: v})
	}
	return hs.Store.Append(ts, l, v)
}

func (hs *headStorage) AppendHistogram(ts time.Time, l labels.Labels, h *histogram.FloatHistogram) error {
	if err := h.Validate(); err != nil {
		return hs.Store.AppendHistogram(ts, l, h) // refused, with the store's error
	}
	s := hs.series[l.Hash()]
	if s == nil {
		s = &headSeries{}
		hs.series[l.Hash()] = s
	}
	smp := sample{t: ts.UnixMilli(), h: h}
	s.add(&smp)
	return hs.Store.AppendHistogram(ts, l, smp.h)
}

// headChunkRange is the head's chunk range in promtool's test storage
// (util/teststorage sets the block duration to 24h).
const headChunkRange = int64(24 * time.Hour / time.Millisecond)

// headSeries is what the head keeps of one series to cut its chunks.
type headSeries struct {
	chunk      *chunkenc.FloatHistogramChunk // open chunk; nil after a float sample
	app        chunkenc.Appender
	minT, maxT int64 // of the open chunk
	nextAt     int64 // cut a chunk at or after this time
	computed   bool  // nextAt was estimated from the chunk's size
	lastHist   bool  // the last sample is a histogram
}

// add appends s as the head does; a histogram gets the hint it reads
// back with (on a copy).
func (hs *headSeries) add(s *sample) {
	switch {
	case s.h != nil:
		s.h = s.h.Copy()
		s.h.CounterResetHint = hs.append(s.t, s.h)
	case value.IsStaleNaN(s.v) && hs.lastHist:
		// The head writes a float staleness marker after a histogram as
		// a histogram one.
		hs.append(s.t, &histogram.FloatHistogram{Sum: s.v})
	default:
		hs.chunk, hs.app, hs.lastHist = nil, nil, false
	}
}

// append adds h at t as the head does and returns the hint the head
// gives h when it is read back.
func (hs *headSeries) append(t int64, h *histogram.FloatHistogram) histogram.CounterResetHint {
	prev := hs.app
	cut := false
	if hs.chunk == nil {
		hs.cutAt(t)
		cut = true
	}
	n, size := hs.chunk.NumSamples(), len(hs.chunk.Bytes())
	if n == 0 {
		hs.minT, hs.nextAt = t, chunkRangeEnd(t)
	}
	rangeEnd := hs.nextAt
	if hs.computed {
		rangeEnd = chunkRangeEnd(hs.minT)
	}
	const target = chunkenc.TargetBytesPerHistogramChunk
	if !hs.computed && size >= target/4 {
		hs.nextAt = chunkEndTime(hs.minT, hs.maxT, hs.nextAt, float64(target)/float64(size))
		hs.computed = true
	}
	if (t >= hs.nextAt || size >= 2*target) && (n >= chunkenc.MinSamplesPerHistogramChunk || t >= rangeEnd) {
		hs.cutAt(t)
		cut = true
	}
	if cut {
		hs.computed = false
	} else {
		prev = nil
	}
	// The appender may rewrite h's buckets: give it a copy.
	c, recoded, app, _ := hs.app.AppendFloatHistogram(prev, 0, t, h.Copy(), false)
	hs.app = app
	if c != nil {
		// A new chunk, or the open one rewritten with more buckets.
		hs.chunk = c.(*chunkenc.FloatHistogramChunk)
		if !recoded {
			hs.minT, hs.nextAt = t, chunkRangeEnd(t)
		}
	}
	hs.maxT, hs.lastHist = t, true
	switch {
	case hs.chunk.GetCounterResetHeader() == chunkenc.GaugeType:
		return histogram.GaugeType
	case hs.chunk.NumSamples() > 1:
		return histogram.NotCounterReset
	}
	return histogram.UnknownCounterReset
}

// cutAt opens a new, empty histogram chunk at t.
func (hs *headSeries) cutAt(t int64) {
	c := chunkenc.NewFloatHistogramChunk()
	app, err := c.Appender()
	if err != nil {
		panic(err) // never for an empty chunk
	}
	hs.chunk, hs.app, hs.minT, hs.nextAt = c, app, t, chunkRangeEnd(t)
}

// chunkRangeEnd is the end of the chunk range t is in.
func chunkRangeEnd(t int64) int64 {
	return (t/headChunkRange)*headChunkRange + headChunkRange
}

// chunkEndTime is the head's computeChunkEndTime: when to cut a chunk
// from start that is 1/ratioToFull full at cur, so that the chunks left
// before maxT are of equal size.
func chunkEndTime(start, cur, maxT int64, ratioToFull float64) int64 {
	n := float64(maxT-start) / (float64(cur-start+1) * ratioToFull)
	if n <= 1 {
		return maxT
	}
	return int64(float64(start) + float64(maxT-start)/math.Floor(n))
}
