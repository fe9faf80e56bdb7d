package heartbeat_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/probes"
)

const restartBeats = `
  - name: dump
    heartbeat: {every: 1h, grace: 10m, token: "${HEARTBEAT_TOKEN}"}
  - name: broken
    heartbeat: {every: 1h, grace: 10m, token: "${HEARTBEAT_TOKEN}"}
`

// faults records the writes that failed.
type faults struct {
	mu   sync.Mutex
	errs []error
}

func (f *faults) WriteFailed(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
}

func (f *faults) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errs)
}

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// start is a Lookout start: a new store, configured, then opened on the
// database, as the daemon does.
func start(t *testing.T, path string) (*beats, *bolt.DB, *faults) {
	t.Helper()
	b := newBeats(t, restartBeats)
	db := openDB(t, path)
	f := &faults{}
	if err := b.store.Open(db, f); err != nil {
		t.Fatal(err)
	}
	return b, db, f
}

// TestRestart: Lookout restarts between a job's start and its success.
// The success's run still lasts from the start, the success before the
// restart still counts (nothing missed is invented), a failure is still
// down, and the heartbeat keeps the time it was created.
func TestRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lookout.db")
		b, db, _ := start(t, path)
		created, _ := b.store.Signals("dump")
		time.Sleep(30 * time.Minute)
		b.checkin("POST", "/v1/heartbeat/dump", "")
		b.checkin("POST", "/v1/heartbeat/broken/fail", "tar: write error")
		time.Sleep(20 * time.Minute)
		b.checkin("POST", "/v1/heartbeat/dump/start", "")
		before, _ := b.store.Signals("dump")
		time.Sleep(5 * time.Minute)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		time.Sleep(25 * time.Minute) // Lookout is down
		b, db, _ = start(t, path)
		defer db.Close()
		after, _ := b.store.Signals("dump")
		if !after.Created.Equal(created.Created) || !after.Success.Equal(before.Success) || !after.Start.Equal(before.Start) || !after.Running {
			t.Errorf("after the restart dump's signals are %+v, want those before: %+v", after, before)
		}
		// The success 50 minutes ago is due again at +1h, late at +1h10m.
		b.expect("dump", probes.Up)
		b.expect("broken", probes.Down, "tar: write error")
		time.Sleep(5 * time.Minute)
		b.checkin("POST", "/v1/heartbeat/dump", "")
		res := b.expect("dump", probes.Up)
		f := facts(t, res)
		if want := f.Success.Sub(before.Start); f.RunDuration != want || want < 35*time.Minute || want > 35*time.Minute+time.Second {
			t.Errorf("the run took %v, want %v from the start before the restart (%v) to the success after it (%v)", f.RunDuration, want, before.Start, f.Success)
		}
	})
}

// TestStorageFailsOpen: when the database cannot be written, a check-in
// is still answered 200 and counts, from memory, and the failure is told.
func TestStorageFailsOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, db, f := start(t, filepath.Join(t.TempDir(), "lookout.db"))
		db.Close() // every write now fails
		b.checkin("POST", "/v1/heartbeat/broken/fail", "out of memory")
		b.expect("broken", probes.Down, "out of memory")
		if f.count() != 1 || !errors.Is(f.errs[0], bolt.ErrDatabaseNotOpen) {
			t.Errorf("write failures %v, want the closed database once", f.errs)
		}
		if got := b.counts()["ok"]; got != 1 {
			t.Errorf("lookout_heartbeat_checkins_total{result=\"ok\"} = %v, want 1", got)
		}
	})
}

// TestRemovedIsForgotten: a heartbeat a reload removes is deleted from the
// database; added back later, it is new (created then).
func TestRemovedIsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lookout.db")
		b, db, _ := start(t, path)
		b.checkin("POST", "/v1/heartbeat/broken/fail", "")
		b.configure(`
  - name: dump
    heartbeat: {every: 1h, token: "${HEARTBEAT_TOKEN}"}
`)
		time.Sleep(time.Hour)
		db.Close()
		b, db, _ = start(t, path)
		defer db.Close()
		sig, _ := b.store.Signals("broken")
		if sig.Failed || !sig.Created.Equal(time.Now()) {
			t.Errorf("broken, removed and added back, has %+v; want a new heartbeat created now", sig)
		}
		rec := httptest.NewRecorder()
		b.store.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/heartbeat/broken?token="+token, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("check-in of broken: %d", rec.Code)
		}
	})
}
