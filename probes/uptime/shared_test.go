package uptime_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/uptime"
)

// sharedDB stands for a cluster's shared database: every replica's
// periods.
type sharedDB struct {
	mu      sync.Mutex
	periods map[string][]uptime.SharedPeriod // by replica
}

// replica is one replica's view of it.
type replica struct {
	db   *sharedDB
	name string
}

func (r replica) Save(ps []uptime.SharedPeriod) error {
	r.db.mu.Lock()
	defer r.db.mu.Unlock()
	for _, p := range ps {
		kept := r.db.periods[r.name]
		replaced := false
		for i, k := range kept {
			if k.Probe == p.Probe && k.Step == p.Step && k.Start.Equal(p.Start) {
				kept[i], replaced = p, true
			}
		}
		if !replaced {
			r.db.periods[r.name] = append(kept, p)
		}
	}
	return nil
}

func (r replica) Load(probe string, s uptime.Step, from, to time.Time) ([]uptime.SharedPeriod, error) {
	r.db.mu.Lock()
	defer r.db.mu.Unlock()
	var out []uptime.SharedPeriod
	for name, ps := range r.db.periods {
		for _, p := range ps {
			if name != r.name && p.Probe == probe && p.Step == s && !p.Start.Before(from) && p.Start.Before(to) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func (r replica) Prune(uptime.Step, time.Time) error { return nil }

// TestSharedUptime: a probe that moves from one replica to another half
// way through an hour is reported, by either replica, with the whole
// hour watched: its time up on the first and down on the second.
func TestSharedUptime(t *testing.T) {
	db := &sharedDB{periods: map[string][]uptime.SharedPeriod{}}
	open := func(name string) *uptime.Ledger {
		l, err := uptime.Open(openDB(t, filepath.Join(t.TempDir(), "lookout.db")), uptime.Options{Shared: replica{db, name}, ShareEvery: 1})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := open("a"), open("b")
	hour := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	obs := func(st probes.State) []uptime.Observation {
		return []uptime.Observation{{Probe: "api", State: st, Judged: true}}
	}
	for m := 0; m <= 30; m++ { // a runs it for the first half hour, up
		a.Record(hour.Add(time.Duration(m)*time.Minute), obs(probes.Up))
	}
	for m := 30; m <= 60; m++ { // then b, down
		b.Record(hour.Add(time.Duration(m)*time.Minute), obs(probes.Down))
	}
	for _, l := range []*uptime.Ledger{a, b} {
		if err := l.Flush(hour.Add(61 * time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for name, l := range map[string]*uptime.Ledger{"a": a, "b": b} {
		ps, err := l.Periods("api", uptime.Hour, hour, hour.Add(time.Hour))
		if err != nil || len(ps) != 1 {
			t.Fatalf("%s: periods %v, %v", name, ps, err)
		}
		if m := ps[0].Millis; m.Up != 30*60*1000 || m.Down != 30*60*1000 {
			t.Errorf("%s reports %+v for the hour; want 30 minutes up and 30 down", name, m)
		}
	}
}
