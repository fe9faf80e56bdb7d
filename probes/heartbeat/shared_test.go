package heartbeat_test

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/probes"
)

// sharedDB stands for a cluster's shared database: each replica's records
// by heartbeat.
type sharedDB struct {
	mu   sync.Mutex
	recs map[string]map[string][]byte // replica → heartbeat → signals
}

// replica is one replica's view of the shared database.
type replica struct {
	db   *sharedDB
	name string
}

func (r replica) Save(name string, v []byte) error {
	r.db.mu.Lock()
	defer r.db.mu.Unlock()
	if r.db.recs[r.name] == nil {
		r.db.recs[r.name] = map[string][]byte{}
	}
	r.db.recs[r.name][name] = slices.Clone(v)
	return nil
}

func (r replica) Load() (map[string][][]byte, error) {
	r.db.mu.Lock()
	defer r.db.mu.Unlock()
	out := map[string][][]byte{}
	for _, recs := range r.db.recs {
		for name, v := range recs {
			out[name] = append(out[name], v)
		}
	}
	return out, nil
}

// TestSharedCheckins: in a cluster, a job's start, success and failure
// may each reach another replica behind the load balancer; after a Sync,
// every replica's probe sees the run as one: its duration, its latest
// outcome and reason, and the probe is told to run at once.
func TestSharedCheckins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &sharedDB{recs: map[string]map[string][]byte{}}
		a, b := newBeats(t, restartBeats), newBeats(t, restartBeats)
		a.store.Share(replica{db, "a"})
		b.store.Share(replica{db, "b"})
		var told []string
		b.store.OnCheckin(func(name string) { told = append(told, name) })
		syncOf := func(s *beats) {
			t.Helper()
			if err := s.store.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute)

		a.checkin("POST", "/v1/heartbeat/dump/start", "")
		syncOf(b)
		if got := facts(t, b.expect("dump", probes.Up)); !got.Running {
			t.Errorf("b does not see the run a's start began: %+v", got)
		}
		if !slices.Equal(told, []string{"dump"}) {
			t.Errorf("b's probes told to run: %v, want dump", told)
		}
		time.Sleep(2 * time.Minute)
		b.checkin("POST", "/v1/heartbeat/dump", "")
		syncOf(a)
		if got := facts(t, a.expect("dump", probes.Up)); got.Running || got.RunDuration != 2*time.Minute {
			t.Errorf("a sees %+v; want the run ended by b's success, 2m long", got)
		}
		time.Sleep(time.Minute)
		a.checkin("POST", "/v1/heartbeat/dump/fail", "pg_dump: disk full")
		told = nil
		syncOf(b)
		b.expect("dump", probes.Down, "pg_dump: disk full")
		syncOf(b) // nothing new: no run
		if !slices.Equal(told, []string{"dump"}) {
			t.Errorf("b's probes told to run: %v, want dump once", told)
		}
		// The success before the failure does not win it back.
		syncOf(a)
		a.expect("dump", probes.Down, "pg_dump: disk full")
		if n := len(slices.Collect(maps.Keys(db.recs))); n != 2 {
			t.Errorf("%d replicas saved check-ins, want 2", n)
		}
	})
}
