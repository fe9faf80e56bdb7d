// Package uptime keeps how long each probe spent up, degraded, down and
// under maintenance: per hour for the last 7 days and per day for the last
// 90, in the bbolt file the alert state lives in, so SLA reports, status
// pages and badges survive restarts.
//
// The ledger samples every probe's state on a tick (Run) and gives the
// time since the probe's previous sample to the state it had then. Time
// nobody watched is nobody's: before a probe's first judged run, across a
// restart, or a gap longer than MaxGap counts for no state, so a stopped
// Lookout neither makes a probe look down nor up. Periods start on UTC
// hours and days, and count milliseconds. A probe's records are 25 bytes
// each (a 9-byte key and 16 bytes of times, plus bbolt's own few), at most
// 90 + 168 of them: about 6.4 KB a probe however long Lookout runs.
package uptime

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/probes"
)

// Defaults of Options.
const (
	DefaultDays   = 90
	DefaultHours  = 7 * 24
	DefaultMaxGap = 2 * time.Minute
)

// bucketName holds one nested bucket per probe, named after it, whose
// keys are a period's kind ('h' or 'd') and its start (Unix seconds, big
// endian), and whose values are a Millis (four little-endian uint32).
var bucketName = []byte("uptime")

// Step is the length of a period: Hour or Day.
type Step byte

const (
	Hour Step = 'h'
	Day  Step = 'd'
)

// Duration is the step's length.
func (s Step) Duration() time.Duration {
	if s == Day {
		return 24 * time.Hour
	}
	return time.Hour
}

// start is the period of step s that t falls in.
func (s Step) start(t time.Time) time.Time { return t.UTC().Truncate(s.Duration()) }

// Millis is how long a probe spent in each state in a period, in
// milliseconds (a day is 86,400,000 of them, well within a uint32).
type Millis struct {
	Up, Degraded, Down, Maintenance uint32
}

// Of is the time ms milliseconds are, for reports.
func Of(ms uint32) time.Duration { return time.Duration(ms) * time.Millisecond }

// Watched is the time the probe was watched in the period.
func (s Millis) Watched() uint32 { return s.Up + s.Degraded + s.Down + s.Maintenance }

// Uptime is the share of the watched time outside maintenance that the
// probe was up or degraded; false when there was none.
func (s Millis) Uptime() (float64, bool) { return s.Total().Uptime() }

// Total is s as a Total.
func (s Millis) Total() Total {
	return Total{uint64(s.Up), uint64(s.Degraded), uint64(s.Down), uint64(s.Maintenance)}
}

// Total is the time of many periods in each state, in milliseconds: 90
// days of them pass a uint32.
type Total struct {
	Up, Degraded, Down, Maintenance uint64
}

// Sum adds the periods up.
func Sum(ps []Period) Total {
	var t Total
	for _, p := range ps {
		t.Add(p.Millis)
	}
	return t
}

// Add adds one period's time.
func (t *Total) Add(m Millis) {
	t.Up += uint64(m.Up)
	t.Degraded += uint64(m.Degraded)
	t.Down += uint64(m.Down)
	t.Maintenance += uint64(m.Maintenance)
}

// Uptime is the share of the time outside maintenance that the probe was
// up or degraded; false when nobody watched it outside maintenance.
func (t Total) Uptime() (float64, bool) {
	judged := t.Up + t.Degraded + t.Down
	if judged == 0 {
		return 0, false
	}
	return float64(t.Up+t.Degraded) / float64(judged), true
}

func (s *Millis) add(c category, ms uint32) {
	switch c {
	case catUp:
		s.Up += ms
	case catDegraded:
		s.Degraded += ms
	case catDown:
		s.Down += ms
	case catMaintenance:
		s.Maintenance += ms
	}
}

func (s Millis) encode() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:], s.Up)
	binary.LittleEndian.PutUint32(b[4:], s.Degraded)
	binary.LittleEndian.PutUint32(b[8:], s.Down)
	binary.LittleEndian.PutUint32(b[12:], s.Maintenance)
	return b
}

func decodeSeconds(b []byte) (Millis, bool) {
	if len(b) != 16 {
		return Millis{}, false
	}
	return Millis{
		binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint32(b[4:]),
		binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:]),
	}, true
}

// Period is one hour or day of a probe.
type Period struct {
	Start time.Time `json:"start"`
	Millis
}

// Observation is a probe's state at a sample: Judged is false before its
// first run that judged the target; Maintenance is whether a maintenance
// window covers it.
type Observation struct {
	Probe       string
	State       probes.State
	Judged      bool
	Maintenance bool
}

// category is what a sampled interval counts as.
type category uint8

const (
	catNone category = iota
	catUp
	catDegraded
	catDown
	catMaintenance
)

func categoryOf(o Observation) category {
	switch {
	case !o.Judged:
		return catNone
	case o.Maintenance:
		return catMaintenance
	case o.State == probes.Up:
		return catUp
	case o.State == probes.Degraded:
		return catDegraded
	}
	return catDown
}

// Options bound the ledger.
type Options struct {
	// Days and Hours are how many daily and hourly periods are kept;
	// 0 means DefaultDays and DefaultHours.
	Days, Hours int
	// MaxGap is the longest time between two samples of a probe that
	// still counts; 0 means DefaultMaxGap.
	MaxGap time.Duration
	// Shared, in a cluster, keeps every replica's periods (see Shared);
	// nil for a single replica.
	Shared Shared
	// ShareEvery is how many flushes apart the open periods are shared;
	// 0 means DefaultShareEvery.
	ShareEvery int
}

// Ledger keeps the probes' periods. Safe for concurrent use.
type Ledger struct {
	db   *bolt.DB
	opts Options

	mu     sync.Mutex
	tally  map[string]*tally
	pruned time.Time // the hour last pruned
	// flushes counts the flushes, for ShareEvery.
	flushes int
}

// tally is a probe's open periods and its last sample.
type tally struct {
	last      time.Time
	cat       category
	hour, day Period
	// done are the periods closed since the last flush.
	done  []donePeriod
	dirty bool
	// unshared are the periods closed since they were last shared;
	// counted whether time was counted since.
	unshared []donePeriod
	counted  bool
}

type donePeriod struct {
	step Step
	p    Period
}

// Open returns the ledger kept in db, creating its bucket.
func Open(db *bolt.DB, opts Options) (*Ledger, error) {
	if opts.Days <= 0 {
		opts.Days = DefaultDays
	}
	if opts.Hours <= 0 {
		opts.Hours = DefaultHours
	}
	if opts.MaxGap <= 0 {
		opts.MaxGap = DefaultMaxGap
	}
	if opts.ShareEvery <= 0 {
		opts.ShareEvery = DefaultShareEvery
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		return nil, fmt.Errorf("uptime: open: %w", err)
	}
	return &Ledger{db: db, opts: opts, tally: map[string]*tally{}}, nil
}

// Record takes the samples taken at at. A probe's first sample since the
// start opens its periods where the stored ones left off.
func (l *Ledger) Record(at time.Time, obs []Observation) {
	at = at.UTC()
	l.mu.Lock()
	defer l.mu.Unlock()
	var missing []string
	for _, o := range obs {
		if l.tally[o.Probe] == nil {
			missing = append(missing, o.Probe)
		}
	}
	if len(missing) > 0 {
		l.load(missing, at)
	}
	for _, o := range obs {
		t := l.tally[o.Probe]
		if gap := at.Sub(t.last); !t.last.IsZero() && gap > 0 && gap <= l.opts.MaxGap {
			t.count(t.last, at)
		} else {
			t.roll(at)
		}
		t.last, t.cat = at, categoryOf(o)
	}
}

// load opens the tallies of probes, each continuing the stored periods at
// at (or starting empty ones).
func (l *Ledger) load(names []string, at time.Time) {
	hour, day := Hour.start(at), Day.start(at)
	_ = l.db.View(func(tx *bolt.Tx) error { // a failed read starts empty periods
		root := tx.Bucket(bucketName)
		for _, name := range names {
			t := &tally{hour: Period{Start: hour}, day: Period{Start: day}}
			if b := root.Bucket([]byte(name)); b != nil {
				t.hour.Millis, _ = decodeSeconds(b.Get(key(Hour, hour)))
				t.day.Millis, _ = decodeSeconds(b.Get(key(Day, day)))
			}
			l.tally[name] = t
		}
		return nil
	})
}

// count gives [from, to) to the tally's category, period by period.
func (t *tally) count(from, to time.Time) {
	for from.Before(to) {
		t.roll(from)
		end := t.hour.Start.Add(time.Hour)
		if to.Before(end) {
			end = to
		}
		ms := uint32(end.Sub(from) / time.Millisecond)
		if t.cat != catNone && ms > 0 {
			t.hour.add(t.cat, ms)
			t.day.add(t.cat, ms)
			t.dirty, t.counted = true, true
		}
		from = end
	}
	t.roll(to)
}

// roll closes the open hour and day when at is past them.
func (t *tally) roll(at time.Time) {
	if h := Hour.start(at); !h.Equal(t.hour.Start) {
		if t.hour.Watched() > 0 {
			t.done = append(t.done, donePeriod{Hour, t.hour})
			t.unshared = append(t.unshared, donePeriod{Hour, t.hour})
		}
		t.hour = Period{Start: h}
	}
	if d := Day.start(at); !d.Equal(t.day.Start) {
		if t.day.Watched() > 0 {
			t.done = append(t.done, donePeriod{Day, t.day})
			t.unshared = append(t.unshared, donePeriod{Day, t.day})
		}
		t.day = Period{Start: d}
	}
}

func key(s Step, start time.Time) []byte {
	k := make([]byte, 9)
	k[0] = byte(s)
	binary.BigEndian.PutUint64(k[1:], uint64(start.Unix()))
	return k
}

// Flush writes what changed since the last flush, and once an hour drops
// the periods older than the ledger keeps.
func (l *Ledger) Flush(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	prune := !Hour.start(now).Equal(l.pruned)
	err := l.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketName)
		for name, t := range l.tally {
			if !t.dirty && len(t.done) == 0 {
				continue
			}
			b, err := root.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			for _, d := range t.done {
				if err := b.Put(key(d.step, d.p.Start), d.p.encode()); err != nil {
					return err
				}
			}
			for _, p := range []donePeriod{{Hour, t.hour}, {Day, t.day}} {
				if p.p.Watched() > 0 {
					if err := b.Put(key(p.step, p.p.Start), p.p.encode()); err != nil {
						return err
					}
				}
			}
		}
		if prune {
			return l.prune(root, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("uptime: flush: %w", err)
	}
	for _, t := range l.tally {
		t.done, t.dirty = t.done[:0], false
	}
	if prune {
		l.pruned = Hour.start(now)
	}
	if l.opts.Shared != nil {
		return l.share(now, prune)
	}
	return nil
}

// prune deletes every probe's periods older than kept, and the buckets
// of probes left with none.
func (l *Ledger) prune(root *bolt.Bucket, now time.Time) error {
	cutoff := map[Step][]byte{
		Hour: key(Hour, Hour.start(now).Add(-time.Duration(l.opts.Hours-1)*time.Hour)),
		Day:  key(Day, Day.start(now).Add(-time.Duration(l.opts.Days-1)*24*time.Hour)),
	}
	var empty [][]byte
	err := root.ForEachBucket(func(name []byte) error {
		b := root.Bucket(name)
		c := b.Cursor()
		var old [][]byte
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if limit, ok := cutoff[Step(k[0])]; ok && string(k) < string(limit) {
				old = append(old, append([]byte(nil), k...))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if k, _ := b.Cursor().First(); k == nil {
			empty = append(empty, append([]byte(nil), name...))
		}
		return nil
	})
	for _, name := range empty {
		if err == nil && l.tally[string(name)] == nil {
			err = root.DeleteBucket(name)
		}
	}
	return err
}

// Periods returns the probe's periods of step s that start in [from, to),
// every one of them, those nobody watched as zero.
func (l *Ledger) Periods(probe string, s Step, from, to time.Time) ([]Period, error) {
	from, to = s.start(from), to.UTC()
	if !to.After(from) {
		return nil, nil
	}
	n := int(to.Sub(from)/s.Duration()) + 1
	if n > l.opts.Days*24+l.opts.Hours {
		return nil, fmt.Errorf("uptime: %d periods asked for; at most %d are kept", n, l.opts.Days*24+l.opts.Hours)
	}
	out := make([]Period, 0, n)
	for p := from; p.Before(to); p = p.Add(s.Duration()) {
		out = append(out, Period{Start: p})
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName).Bucket([]byte(probe))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(key(s, from)); k != nil && k[0] == byte(s); k, v = c.Next() {
			start := time.Unix(int64(binary.BigEndian.Uint64(k[1:])), 0).UTC()
			if !start.Before(to) {
				break
			}
			if i := int(start.Sub(from) / s.Duration()); i >= 0 && i < len(out) {
				out[i].Millis, _ = decodeSeconds(v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("uptime: read %s: %w", probe, err)
	}
	l.mu.Lock()
	if t := l.tally[probe]; t != nil { // newer than what is stored
		for _, d := range slices.Concat(t.done, []donePeriod{{Hour, t.hour}, {Day, t.day}}) {
			if d.step == s && !d.p.Start.Before(from) && d.p.Start.Before(to) {
				out[int(d.p.Start.Sub(from)/s.Duration())].Millis = d.p.Millis
			}
		}
	}
	l.mu.Unlock()
	if l.opts.Shared != nil {
		// Without the other replicas' periods (the shared database does
		// not answer), this replica's own are still worth showing.
		_ = l.addShared(probe, s, from, to, out)
	}
	return out, nil
}

// Bytes is what the probe's stored periods take: keys and values.
func (l *Ledger) Bytes(probe string) int {
	n := 0
	_ = l.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketName).Bucket([]byte(probe)); b != nil {
			_ = b.ForEach(func(k, v []byte) error {
				n += len(k) + len(v)
				return nil
			})
		}
		return nil
	})
	return n
}

// Run samples every interval until ctx ends, and flushes every flushEvery
// and when it stops. sample returns the probes' states at the moment.
func (l *Ledger) Run(ctx context.Context, interval, flushEvery time.Duration, sample func() []Observation, onError func(error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	flushed := time.Now()
	l.Record(time.Now(), sample())
	for {
		select {
		case <-ctx.Done():
			l.Record(time.Now(), sample())
			if err := l.Flush(time.Now()); err != nil && onError != nil {
				onError(err)
			}
			return
		case now := <-tick.C:
			l.Record(now, sample())
			if now.Sub(flushed) >= flushEvery {
				flushed = now
				if err := l.Flush(now); err != nil && onError != nil {
					onError(err)
				}
			}
		}
	}
}
