package store

import (
	"bytes"
	"context"
	"maps"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// Querier returns a querier over [mint, maxt] in milliseconds. Samples
// older than the retention are never returned.
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{s: s, mint: mint, maxt: maxt}, nil
}

type querier struct {
	s          *Store
	mint, maxt int64
}

var _ storage.Querier = (*querier)(nil)

// visibleFrom is the first sample time a query from mint may see: the
// retention counts back from the newest sample, and from the last
// compaction. The caller holds the lock.
func (s *Store) visibleFrom(mint int64) int64 {
	lo := max(mint, s.cutoff)
	if s.maxT != math.MinInt64 {
		lo = max(lo, s.maxT-s.opts.Retention.Milliseconds())
	}
	return lo
}

// each calls fn with each series that matches ms and has samples in the
// querier's range, under the read lock; lo is visibleFrom.
func (q *querier) each(ms []*labels.Matcher, fn func(ser *memSeries, lo int64)) {
	q.s.mu.RLock()
	defer q.s.mu.RUnlock()
	lo := q.s.visibleFrom(q.mint)
	visit := func(ser *memSeries) {
		if ser.lastT < lo || ser.minTime() > q.maxt || !matches(ser.lset, ms) {
			return
		}
		fn(ser, lo)
	}
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			for _, ser := range q.s.byName[m.Value] {
				visit(ser)
			}
			return
		}
	}
	for _, first := range q.s.byHash {
		for ser := first; ser != nil; ser = ser.next {
			visit(ser)
		}
	}
}

func matches(l labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}

// Select returns the matching series. Each holds the sealed chunks it saw
// (never modified) and a copy of the open chunk, so it can be read after
// the lock is released and while appends go on.
func (q *querier) Select(_ context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var list []*series
	q.each(ms, func(ser *memSeries, lo int64) {
		n := len(ser.hists)
		out := &series{lset: ser.lset, lo: lo, sealed: ser.sealed, hists: ser.hists[:n:n]}
		if ser.head != nil && ser.head.num() > 0 {
			out.head = bytes.Clone(ser.head.bytes())
		}
		list = append(list, out)
	})
	if sortSeries {
		slices.SortFunc(list, func(a, b *series) int { return labels.Compare(a.lset, b.lset) })
	}
	if hints != nil && hints.Limit > 0 && len(list) > hints.Limit {
		list = list[:hints.Limit]
	}
	return &seriesSet{list: list, i: -1}
}

// LabelValues returns the sorted values of name in matching series.
func (q *querier) LabelValues(_ context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	q.each(ms, func(ser *memSeries, _ int64) {
		if v := ser.lset.Get(name); v != "" {
			set[v] = struct{}{}
		}
	})
	vals, _ := hints.ApplyLimit(slices.Sorted(maps.Keys(set)))
	return vals, nil, nil
}

// LabelNames returns the sorted label names of matching series.
func (q *querier) LabelNames(_ context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	q.each(ms, func(ser *memSeries, _ int64) {
		ser.lset.Range(func(l labels.Label) { set[l.Name] = struct{}{} })
	})
	names, _ := hints.ApplyLimit(slices.Sorted(maps.Keys(set)))
	return names, nil, nil
}

func (q *querier) Close() error { return nil }

type seriesSet struct {
	list []*series
	i    int
}

func (ss *seriesSet) Next() bool                        { ss.i++; return ss.i < len(ss.list) }
func (ss *seriesSet) At() storage.Series                { return ss.list[ss.i] }
func (ss *seriesSet) Err() error                        { return nil }
func (ss *seriesSet) Warnings() annotations.Annotations { return nil }

// series is a snapshot of one series at Select.
type series struct {
	lset   labels.Labels
	sealed []byte // never modified, see appendSealed
	head   []byte // nil when the open chunk is empty
	hists  []histSample
	lo     int64
}

var _ storage.Series = (*series)(nil)

func (s *series) Labels() labels.Labels { return s.lset }

// Iterator returns an iterator over the series, reusing it when it is one
// of the store's.
func (s *series) Iterator(reuse chunkenc.Iterator) chunkenc.Iterator {
	it, ok := reuse.(*iterator)
	if !ok {
		it = &iterator{}
	}
	*it = iterator{s: s, chunks: splitSealed(s.sealed, it.chunks[:0])}
	if s.head != nil {
		it.chunks = append(it.chunks, s.head)
	}
	return it
}

// iterator merges a series' float chunks and histogram samples in time
// order, from its lo on. It keeps the next pending sample of each.
type iterator struct {
	s       *series
	chunks  [][]byte // sealed, then the open one
	started bool
	ci      int // next chunk to decode
	x       xorIterator
	fT      int64 // pending float sample, if fOK
	fV      float64
	fOK     bool
	hi      int // pending histogram sample
	cur     chunkenc.ValueType
	t       int64
	v       float64
	h       *histogram.FloatHistogram
	err     error
}

var _ chunkenc.Iterator = (*iterator)(nil)

// advanceFloat makes the next float sample pending.
func (it *iterator) advanceFloat() {
	for {
		if it.x.next() {
			it.fT, it.fV, it.fOK = it.x.t, it.x.v, true
			return
		}
		it.fOK = false
		if it.x.err != nil {
			it.err = it.x.err
			return
		}
		if it.ci >= len(it.chunks) {
			return
		}
		it.x.reset(it.chunks[it.ci])
		it.ci++
	}
}

// seekStreams makes the first samples at or after t pending, skipping
// whole chunks that end before t.
func (it *iterator) seekStreams(t int64) {
	if !it.fOK || it.fT < t {
		j := it.ci
		for j < len(it.chunks) && chunkMinTime(it.chunks[j]) <= t {
			j++
		}
		if j-1 >= it.ci { // chunks before j-1 end before t
			it.x.reset(it.chunks[j-1])
			it.ci = j
		}
		for {
			it.advanceFloat()
			if !it.fOK || it.fT >= t {
				break
			}
		}
	}
	hs := it.s.hists
	if it.hi < len(hs) && hs[it.hi].t < t {
		it.hi += sortSearch(hs[it.hi:], t)
	}
}

// sortSearch is the index of the first histogram sample at or after t.
func sortSearch(hs []histSample, t int64) int {
	i, _ := slices.BinarySearchFunc(hs, t, func(h histSample, t int64) int {
		switch {
		case h.t < t:
			return -1
		case h.t > t:
			return 1
		}
		return 0
	})
	return i
}

func (it *iterator) Next() chunkenc.ValueType {
	if !it.started {
		it.started = true
		it.seekStreams(it.s.lo)
	}
	if it.err != nil {
		it.cur = chunkenc.ValNone
		return it.cur
	}
	hs := it.s.hists
	hOK := it.hi < len(hs)
	switch {
	case it.fOK && (!hOK || it.fT < hs[it.hi].t):
		it.cur, it.t, it.v = chunkenc.ValFloat, it.fT, it.fV
		it.advanceFloat()
	case hOK:
		it.cur, it.t, it.h = chunkenc.ValFloatHistogram, hs[it.hi].t, hs[it.hi].h
		it.hi++
	default:
		it.cur = chunkenc.ValNone
	}
	return it.cur
}

func (it *iterator) Seek(t int64) chunkenc.ValueType {
	if it.started && (it.cur == chunkenc.ValNone || it.t >= t) {
		return it.cur // exhausted, or already there
	}
	it.started = true
	it.seekStreams(max(t, it.s.lo))
	return it.Next()
}

func (it *iterator) At() (int64, float64) { return it.t, it.v }

// AtHistogram is for integer histograms, which the store does not hold.
func (it *iterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return it.t, nil
}

func (it *iterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	if fh == nil {
		return it.t, it.h.Copy()
	}
	it.h.CopyTo(fh)
	return it.t, fh
}

func (it *iterator) AtT() int64  { return it.t }
func (it *iterator) AtST() int64 { return 0 }
func (it *iterator) Err() error  { return it.err }
