package uptime_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/uptime"
)

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// world is what the sampler sees: each probe's state, changed by the test
// as time passes.
type world struct {
	mu     sync.Mutex
	states map[string]uptime.Observation
}

func (w *world) set(probe string, st probes.State, maintenance bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.states[probe] = uptime.Observation{Probe: probe, State: st, Judged: true, Maintenance: maintenance}
}

func (w *world) sample() []uptime.Observation {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]uptime.Observation, 0, len(w.states))
	for _, o := range w.states {
		out = append(out, o)
	}
	return out
}

// running is a ledger's Run in the bubble.
type running struct {
	l       *uptime.Ledger
	stop    context.CancelFunc
	done    chan struct{}
	started bool
}

// start runs a ledger on db that samples w every 10 s, from now.
func start(t *testing.T, db *bolt.DB, w *world) *running {
	return startEvery(t, db, w, 10*time.Second)
}

func startEvery(t *testing.T, db *bolt.DB, w *world, every time.Duration) *running {
	t.Helper()
	l, err := uptime.Open(db, uptime.Options{MaxGap: 2 * every})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{l: l, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		l.Run(ctx, every, max(every, time.Minute), w.sample, func(err error) { t.Error(err) })
	}()
	synctest.Wait()
	return r
}

// advance lets d pass in the current states. The test's clock runs a
// nanosecond behind the samples, so that a state set after advance is
// what the sample at that instant sees: the phases are exact.
func (r *running) advance(d time.Duration) {
	if !r.started {
		r.started, d = true, d-time.Nanosecond
	}
	time.Sleep(d)
}

// close takes the last sample where the last phase ends.
func (r *running) close() {
	time.Sleep(time.Nanosecond)
	r.stop()
	<-r.done
}

func day(t *testing.T, l *uptime.Ledger, probe string, d time.Time) uptime.Millis {
	t.Helper()
	ps, err := l.Periods(probe, uptime.Day, d, d.Add(24*time.Hour))
	if err != nil || len(ps) != 1 {
		t.Fatalf("Periods(%s, day %s): %v, %d periods", probe, d, err, len(ps))
	}
	return ps[0].Millis
}

// TestAcrossDays: a probe up for 30 hours, then down for 2, then up
// again, sampled every 10 s, is counted to the second in each day and
// hour, across midnight; a probe not yet judged counts nowhere.
func TestAcrossDays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
		defer db.Close()
		t0 := time.Now().UTC() // midnight, 2000-01-01, in the bubble
		w := &world{states: map[string]uptime.Observation{"fresh": {Probe: "fresh"}}}
		w.set("api", probes.Up, false)
		r := start(t, db, w)
		r.advance(30 * time.Hour)
		w.set("api", probes.Down, false)
		r.advance(2 * time.Hour)
		w.set("api", probes.Degraded, false)
		r.advance(4 * time.Hour)
		r.close()

		day1, day2 := day(t, r.l, "api", t0), day(t, r.l, "api", t0.Add(24*time.Hour))
		if want := (uptime.Millis{Up: 1000 * 86400}); day1 != want {
			t.Errorf("day 1: %+v, want %+v", day1, want)
		}
		if want := (uptime.Millis{Up: 1000 * 6 * 3600, Down: 1000 * 2 * 3600, Degraded: 1000 * 4 * 3600}); day2 != want {
			t.Errorf("day 2: %+v, want %+v", day2, want)
		}
		if u, _ := day2.Uptime(); u != 10.0/12 {
			t.Errorf("day 2 uptime %v, want 10/12", u)
		}
		hours, err := r.l.Periods("api", uptime.Hour, t0.Add(29*time.Hour), t0.Add(33*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []uptime.Millis{{Up: 1000 * 3600}, {Down: 1000 * 3600}, {Down: 1000 * 3600}, {Degraded: 1000 * 3600}}
		for i, h := range hours {
			if h.Millis != want[i] || !h.Start.Equal(t0.Add(time.Duration(29+i)*time.Hour)) {
				t.Errorf("hour %d: %s %+v, want %s %+v", i, h.Start, h.Millis, t0.Add(time.Duration(29+i)*time.Hour), want[i])
			}
		}
		if s := day(t, r.l, "fresh", t0); s.Watched() != 0 {
			t.Errorf("a probe never judged: %+v, want nothing counted", s)
		}
		if _, ok := (uptime.Millis{}).Uptime(); ok {
			t.Error("an unwatched period has an uptime")
		}
	})
}

// TestRestart: a restart keeps what was counted and continues the day's
// period; the time Lookout was stopped counts for no state.
func TestRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lookout.db")
		db := openDB(t, path)
		t0 := time.Now().UTC()
		w := &world{states: map[string]uptime.Observation{}}
		w.set("api", probes.Up, false)
		r := start(t, db, w)
		r.advance(3 * time.Hour)
		w.set("api", probes.Down, false)
		r.advance(time.Hour)
		r.close()
		db.Close()

		time.Sleep(2 * time.Hour) // stopped
		db = openDB(t, path)
		defer db.Close()
		w.set("api", probes.Up, false)
		r = start(t, db, w)
		r.advance(5 * time.Hour)
		r.close()
		if got, want := day(t, r.l, "api", t0), (uptime.Millis{Up: 1000 * 8 * 3600, Down: 1000 * 3600}); got != want {
			t.Errorf("the day after a restart: %+v, want %+v (the 2 h stopped counted nowhere)", got, want)
		}
		// A ledger that has not sampled the probe since the start reads
		// what is stored.
		l, err := uptime.Open(db, uptime.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := day(t, l, "api", t0), (uptime.Millis{Up: 1000 * 8 * 3600, Down: 1000 * 3600}); got != want {
			t.Errorf("stored: %+v, want %+v", got, want)
		}
	})
}

// TestMaintenance: time under a maintenance window is maintenance,
// whatever the probe's state, and the uptime leaves it out.
func TestMaintenance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
		defer db.Close()
		t0 := time.Now().UTC()
		w := &world{states: map[string]uptime.Observation{}}
		w.set("db", probes.Up, false)
		r := start(t, db, w)
		r.advance(4 * time.Hour)
		w.set("db", probes.Down, true) // down, but in its window
		r.advance(time.Hour)
		w.set("db", probes.Down, false) // the window ended, still down
		r.advance(time.Hour)
		w.set("db", probes.Up, false)
		r.advance(2 * time.Hour)
		r.close()
		got := day(t, r.l, "db", t0)
		if want := (uptime.Millis{Up: 1000 * 6 * 3600, Down: 1000 * 3600, Maintenance: 1000 * 3600}); got != want {
			t.Errorf("%+v, want %+v", got, want)
		}
		if u, _ := got.Uptime(); u != 6.0/7 {
			t.Errorf("uptime %v, want 6/7: maintenance left out", u)
		}
	})
}

// TestRetention: after 100 days and a half, 90 daily periods (today's
// among them) and 168 hourly ones are kept, the older ones removed, and a
// probe's bytes stay bounded.
func TestRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
		defer db.Close()
		t0 := time.Now().UTC()
		w := &world{states: map[string]uptime.Observation{}}
		w.set("api", probes.Up, false)
		r := startEvery(t, db, w, 30*time.Minute)
		var peak int
		for range 100 {
			r.advance(24 * time.Hour)
			peak = max(peak, r.l.Bytes("api"))
		}
		r.advance(12*time.Hour + 30*time.Minute) // into the middle of day 101
		r.close()
		now := time.Now().UTC()
		days, err := r.l.Periods("api", uptime.Day, now.Add(-99*24*time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for _, d := range days {
			if d.Watched() > 0 {
				kept++
			}
		}
		if kept != 90 || days[len(days)-1].Watched() == 0 || days[0].Watched() != 0 {
			t.Errorf("%d daily periods kept of the last 100 days, want the last 90", kept)
		}
		if old := day(t, r.l, "api", t0); old.Watched() != 0 {
			t.Errorf("day 1 still kept after 100 days: %+v", old)
		}
		hours, _ := r.l.Periods("api", uptime.Hour, now.Add(-8*24*time.Hour), now)
		kept = 0
		for _, h := range hours {
			if h.Watched() > 0 {
				kept++
			}
		}
		if kept != 168 {
			t.Errorf("%d hourly periods kept of the last 8 days, want 168", kept)
		}
		if want := (90 + 168) * 25; peak > want {
			t.Errorf("a probe's periods took %d bytes at their peak, want at most %d", peak, want)
		}
		t.Logf("a probe's periods: %d bytes at the end, %d at the peak", r.l.Bytes("api"), peak)
	})
}
