package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

// Defaults of Options.
const (
	DefaultRetention = 2 * time.Hour
	DefaultMaxSeries = 100_000
)

// compactEvery is how often, in sample time, Ingest compacts by itself.
const compactEvery = time.Minute

// ErrSeriesLimit is returned by Append for a new series when the store
// already holds Options.MaxSeries.
var ErrSeriesLimit = errors.New("store: series limit reached")

// Options bound the store.
type Options struct {
	// Retention is how long samples are kept and queryable, counted back
	// from the newest sample (or from now, at Compact). Default 2h.
	Retention time.Duration
	// MaxSeries is the most series held. New series beyond it are dropped
	// and counted. Default 100,000.
	MaxSeries int
}

// Stats describe what the store holds.
type Stats struct {
	Series  int
	Samples int
	// Bytes is the memory held by sample data: chunk bytes (capacity) and
	// their slice headers, and the native histograms. Series labels and
	// the index are not included.
	Bytes int
	// DroppedSeries counts the new series refused at the series limit.
	// A series refused in every gather counts once, as long as fewer than
	// MaxSeries distinct series have been refused.
	DroppedSeries int
}

// Store holds Lookout's own series for PromQL. It is safe for concurrent
// use: Ingest, Append and Compact take a write lock, queries a read lock
// while they select series and copy each open chunk.
type Store struct {
	opts  Options
	descs descs

	mu       sync.RWMutex
	byHash   map[uint64]*memSeries // chained on hash collisions
	byName   map[string][]*memSeries
	gathered []*memSeries // series of the last Ingest, for staleness
	spare    []*memSeries
	gen      uint64 // Ingest count
	maxT     int64  // newest sample time
	cutoff   int64  // samples before it are dropped and hidden
	compactT int64  // sample time of Ingest's last compaction
	refused  map[uint64]struct{}
	stats    Stats
}

var _ storage.Queryable = (*Store)(nil)

// New returns an empty store; zero options take their defaults.
func New(opts Options) *Store {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	return &Store{
		opts:     opts,
		descs:    newDescs(),
		byHash:   map[uint64]*memSeries{},
		byName:   map[string][]*memSeries{},
		refused:  map[uint64]struct{}{},
		maxT:     math.MinInt64,
		cutoff:   math.MinInt64,
		compactT: math.MinInt64,
	}
}

// memSeries is one series: sealed float chunks, oldest first, the open
// chunk, and native histogram samples. Timestamps increase across floats
// and histograms together.
type memSeries struct {
	lset      labels.Labels
	next      *memSeries   // same hash
	sealed    []byte       // full float chunks, see appendSealed
	head      *xorAppender // open chunk, reused after each seal; nil before the first float
	hists     []histSample
	lastT     int64
	lastStale bool   // the last sample is a staleness marker
	gen       uint64 // the Ingest that last saw it
	removed   bool
}

type histSample struct {
	t int64
	h *histogram.FloatHistogram // never modified once stored
}

// Append adds one float sample, creating the series if needed. Staleness
// of appended series is the caller's: append value.StaleNaN when a series
// ends, as Prometheus's rule manager does.
func (s *Store) Append(ts time.Time, l labels.Labels, v float64) error {
	if l.IsEmpty() {
		return errors.New("store: append: empty labels")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ser, err := s.getOrCreate(l, l.Hash(), true)
	if err != nil {
		return fmt.Errorf("store: append %s: %w", l, err)
	}
	if err := s.appendFloat(ser, ts.UnixMilli(), v); err != nil {
		return fmt.Errorf("store: append %s: %w", l, err)
	}
	return nil
}

// AppendHistogram adds one native histogram sample, creating the series
// if needed. The store keeps a copy of h. An invalid histogram is an
// error, as in Prometheus's TSDB.
func (s *Store) AppendHistogram(ts time.Time, l labels.Labels, h *histogram.FloatHistogram) error {
	if l.IsEmpty() {
		return errors.New("store: append: empty labels")
	}
	if err := h.Validate(); err != nil {
		return fmt.Errorf("store: append %s: %w", l, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ser, err := s.getOrCreate(l, l.Hash(), true)
	if err != nil {
		return fmt.Errorf("store: append %s: %w", l, err)
	}
	if err := s.appendHist(ser, ts.UnixMilli(), h.Copy()); err != nil {
		return fmt.Errorf("store: append %s: %w", l, err)
	}
	return nil
}

// getOrCreate finds the series of l or creates it, copying l unless the
// store may keep it (owned); Ingest passes a scratch buffer. It returns ErrSeriesLimit
// when the series is new and the store full.
func (s *Store) getOrCreate(l labels.Labels, hash uint64, owned bool) (*memSeries, error) {
	for ser := s.byHash[hash]; ser != nil; ser = ser.next {
		if labels.Equal(ser.lset, l) {
			return ser, nil
		}
	}
	if s.stats.Series >= s.opts.MaxSeries {
		if _, seen := s.refused[hash]; !seen {
			if len(s.refused) < s.opts.MaxSeries {
				s.refused[hash] = struct{}{}
			}
			s.stats.DroppedSeries++
		}
		return nil, ErrSeriesLimit
	}
	delete(s.refused, hash)
	if !owned {
		l = l.Copy()
	}
	ser := &memSeries{lset: l, lastT: math.MinInt64, next: s.byHash[hash]}
	s.byHash[hash] = ser
	name := l.Get(labels.MetricName)
	s.byName[name] = append(s.byName[name], ser)
	s.stats.Series++
	return ser, nil
}

// appendFloat appends one sample; t must be after the series' last one
// and not before the retention cutoff.
func (s *Store) appendFloat(ser *memSeries, t int64, v float64) error {
	if err := s.checkTime(ser, t); err != nil {
		return err
	}
	if ser.head == nil {
		ser.head = newXORAppender()
		s.stats.Bytes += cap(ser.head.w.b)
	}
	before := cap(ser.head.w.b)
	ser.head.append(t, v)
	s.stats.Bytes += cap(ser.head.w.b) - before
	if ser.head.num() == chunkSamples {
		c := ser.head.bytes()
		sealed := appendSealed(ser.sealed, c)
		s.stats.Bytes += cap(sealed) - cap(ser.sealed)
		ser.sealed = sealed
		// The next chunk of a series is likely as big as this one.
		before := cap(c)
		ser.head.resetChunk(len(c) + len(c)/8)
		s.stats.Bytes += cap(ser.head.w.b) - before
	}
	s.noteAppend(ser, t, value.IsStaleNaN(v))
	return nil
}

func (s *Store) appendHist(ser *memSeries, t int64, h *histogram.FloatHistogram) error {
	if err := s.checkTime(ser, t); err != nil {
		return err
	}
	ser.hists = append(ser.hists, histSample{t: t, h: h})
	s.stats.Bytes += histBytes(h)
	s.noteAppend(ser, t, value.IsStaleNaN(h.Sum))
	return nil
}

func (s *Store) checkTime(ser *memSeries, t int64) error {
	switch {
	case t < s.cutoff:
		return storage.ErrTooOldSample
	case t == ser.lastT:
		return storage.ErrDuplicateSampleForTimestamp
	case t < ser.lastT:
		return storage.ErrOutOfOrderSample
	}
	return nil
}

func (s *Store) noteAppend(ser *memSeries, t int64, stale bool) {
	ser.lastT, ser.lastStale = t, stale
	s.maxT = max(s.maxT, t)
	s.stats.Samples++
}

func histBytes(h *histogram.FloatHistogram) int {
	const spanSize = int(unsafe.Sizeof(histogram.Span{}))
	return int(unsafe.Sizeof(histSample{})+unsafe.Sizeof(*h)) +
		8*(len(h.PositiveBuckets)+len(h.NegativeBuckets)+len(h.CustomValues)) +
		spanSize*(len(h.PositiveSpans)+len(h.NegativeSpans))
}

// Stats reports what the store holds.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stats
}

// Compact drops samples older than now minus the retention, and series
// left without samples. Float samples are freed a chunk at a time (up to
// 120 samples, 30 minutes at 15 s); older samples still held are hidden
// from queries. Ingest compacts by itself every minute of sample time.
func (s *Store) Compact(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compact(now.Add(-s.opts.Retention).UnixMilli())
}

func (s *Store) compact(cutoff int64) {
	s.cutoff = max(s.cutoff, cutoff)
	affected := map[string]bool{}
	for hash, first := range s.byHash {
		for ser := first; ser != nil; ser = ser.next {
			if s.truncate(ser, s.cutoff) {
				continue
			}
			s.unlink(hash, ser)
			affected[ser.lset.Get(labels.MetricName)] = true
		}
	}
	for name := range affected {
		kept := slices.DeleteFunc(slices.Clone(s.byName[name]), func(ser *memSeries) bool { return ser.removed })
		if len(kept) == 0 {
			delete(s.byName, name)
			continue
		}
		s.byName[name] = kept
	}
}

// truncate drops the series' samples before cutoff and reports whether
// any are left. A sealed chunk goes once the next chunk starts at or
// before cutoff, so all its samples are older.
func (s *Store) truncate(ser *memSeries, cutoff int64) bool {
	var buf [8][]byte
	chunks := splitSealed(ser.sealed, buf[:0])
	k := 0
	for ; k < len(chunks); k++ {
		var next int64
		switch {
		case k+1 < len(chunks):
			next = chunkMinTime(chunks[k+1])
		case ser.head.num() > 0:
			next = chunkMinTime(ser.head.bytes())
		default:
			next = ser.head.t + 1 // the last float sample is the chunk's last
		}
		if next > cutoff {
			break
		}
		s.stats.Samples -= chunkLen(chunks[k])
	}
	if k > 0 {
		var kept []byte
		if k < len(chunks) {
			// A new array: queries may still read the old one.
			rest := ser.sealed[len(ser.sealed)-sealedSize(chunks[k:]):]
			kept = append(make([]byte, 0, len(rest)), rest...)
		}
		s.stats.Bytes += cap(kept) - cap(ser.sealed)
		ser.sealed = kept
	}
	if len(ser.sealed) == 0 && ser.head != nil && ser.head.t < cutoff {
		s.stats.Samples -= ser.head.num()
		s.stats.Bytes -= cap(ser.head.w.b)
		ser.head = nil
	}
	h := 0
	for h < len(ser.hists) && ser.hists[h].t < cutoff {
		s.stats.Bytes -= histBytes(ser.hists[h].h)
		h++
	}
	if h > 0 {
		s.stats.Samples -= h
		ser.hists = slices.Clone(ser.hists[h:])
	}
	return ser.head != nil || len(ser.sealed) > 0 || len(ser.hists) > 0
}

// sealedSize is the bytes chunks take in a sealed slice, prefixes included.
func sealedSize(chunks [][]byte) int {
	n := 0
	for _, c := range chunks {
		n += uvarintLen(uint64(len(c))) + len(c)
	}
	return n
}

func uvarintLen(x uint64) int {
	var pre [binary.MaxVarintLen64]byte
	return binary.PutUvarint(pre[:], x)
}

func (s *Store) unlink(hash uint64, ser *memSeries) {
	ser.removed = true
	s.stats.Series--
	if s.byHash[hash] == ser {
		if ser.next == nil {
			delete(s.byHash, hash)
		} else {
			s.byHash[hash] = ser.next
		}
		return
	}
	for p := s.byHash[hash]; p != nil; p = p.next {
		if p.next == ser {
			p.next = ser.next
			return
		}
	}
}

// minTime is the series' first sample time.
func (ser *memSeries) minTime() int64 {
	t := int64(math.MaxInt64)
	switch {
	case len(ser.sealed) > 0:
		_, k := binary.Uvarint(ser.sealed)
		t = chunkMinTime(ser.sealed[k:])
	case ser.head != nil && ser.head.num() > 0:
		t = chunkMinTime(ser.head.bytes())
	}
	if len(ser.hists) > 0 {
		t = min(t, ser.hists[0].t)
	}
	return t
}
