package incidents

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openDB opens a bbolt file in dir.
func openDB(t *testing.T, dir string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "lookout.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openStore(t *testing.T, db *bolt.DB, limits Limits) *Store {
	t.Helper()
	s, err := Open(db, limits, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func observe(t *testing.T, s *Store, firing map[string]time.Time) {
	t.Helper()
	if err := s.Observe(firing, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func openOnes(s *Store) []Incident {
	var out []Incident
	for _, inc := range s.List(time.Time{}) {
		if inc.Open() {
			out = append(out, inc)
		}
	}
	return out
}

// TestAutomaticIncidents: an incident opens once a probe's down alert
// fires, names the probe and starts when the alert became active; it is
// resolved with a final update when the alert stops; the next alert opens
// a new one.
func TestAutomaticIncidents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t, t.TempDir())
		defer db.Close()
		s := openStore(t, db, Limits{})
		down := time.Now()
		time.Sleep(time.Minute) // the alert's for
		observe(t, s, nil)
		if got := s.List(time.Time{}); len(got) != 0 {
			t.Fatalf("incidents before any alert fired: %+v", got)
		}
		opened := time.Now()
		observe(t, s, map[string]time.Time{"checkout": down})
		time.Sleep(15 * time.Second)
		observe(t, s, map[string]time.Time{"checkout": down})
		got := s.List(time.Time{})
		if len(got) != 1 {
			t.Fatalf("%d incidents after the alert fired twice; want 1: %+v", len(got), got)
		}
		inc := got[0]
		if !inc.Auto || !inc.Open() || inc.Probe != "checkout" || inc.Title != "checkout is down" || !inc.Started.Equal(down) {
			t.Errorf("incident %+v; want an open automatic one titled \"checkout is down\" since %v", inc, down)
		}
		if len(inc.Updates) != 1 || inc.Updates[0].Status != Investigating || !inc.Updates[0].Time.Equal(opened) || inc.Updates[0].By != AutoAuthor {
			t.Errorf("updates %+v; want one investigating update at %v by %s", inc.Updates, opened, AutoAuthor)
		}

		time.Sleep(time.Minute)
		up := time.Now()
		observe(t, s, nil)
		inc, err := s.Get(inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := inc.Updates[len(inc.Updates)-1]
		if inc.Open() || !inc.Resolved.Equal(up) || last.Status != Resolved || !last.Time.Equal(up) || !strings.Contains(last.Message, "checkout") {
			t.Errorf("after the alert stopped: %+v; want resolved at %v with a final resolved update", inc, up)
		}

		time.Sleep(time.Hour)
		again := time.Now()
		observe(t, s, map[string]time.Time{"checkout": again})
		if open := openOnes(s); len(open) != 1 || open[0].ID == inc.ID || !open[0].Started.Equal(again) {
			t.Errorf("open after the alert fired again: %+v; want a new incident since %v", open, again)
		}
	})
}

// TestManualIncidents: the on-call's updates, resolving by hand, and how
// they meet the automatic ones.
func TestManualIncidents(t *testing.T) {
	t.Run("resolved by hand while the alert fires, it stays resolved", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			s := openStore(t, db, Limits{})
			since := time.Now()
			observe(t, s, map[string]time.Time{"api": since})
			inc := openOnes(s)[0]
			if _, err := s.Resolve(inc.ID, "A false alarm: the check was wrong.", "alice"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
			observe(t, s, map[string]time.Time{"api": since})
			if open := openOnes(s); len(open) != 0 {
				t.Errorf("the same alert opened %+v again", open)
			}
			observe(t, s, map[string]time.Time{"api": time.Now()})
			if open := openOnes(s); len(open) != 1 {
				t.Errorf("a new alert opened %d incidents; want 1", len(open))
			}
		})
	})
	t.Run("a manual incident keeps its probe from getting an automatic one, and stays open", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			s := openStore(t, db, Limits{})
			inc, err := s.Open("api", "Slow logins", "Logins take up to a minute.", "alice", Identified)
			if err != nil {
				t.Fatal(err)
			}
			observe(t, s, map[string]time.Time{"api": time.Now()})
			observe(t, s, nil)
			open := openOnes(s)
			if len(open) != 1 || open[0].ID != inc.ID || open[0].Auto || open[0].Status() != Identified {
				t.Errorf("open: %+v; want only the manual incident, still open and identified", open)
			}
		})
	})
	t.Run("updates of an automatic incident are kept when it resolves", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			s := openStore(t, db, Limits{})
			observe(t, s, map[string]time.Time{"api": time.Now()})
			id := openOnes(s)[0].ID
			if _, err := s.Update(id, "A bad deploy; rolling back.", "alice", Identified); err != nil {
				t.Fatal(err)
			}
			observe(t, s, nil)
			inc, _ := s.Get(id)
			var statuses []Status
			for _, u := range inc.Updates {
				statuses = append(statuses, u.Status)
			}
			if want := []Status{Investigating, Identified, Resolved}; !reflect.DeepEqual(statuses, want) || inc.Open() {
				t.Errorf("statuses %v, open %v; want %v and resolved", statuses, inc.Open(), want)
			}
		})
	})
	t.Run("a resolved incident takes resolved notes only", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			s := openStore(t, db, Limits{})
			inc, _ := s.Open("api", "Errors", "Some requests fail.", "alice", "")
			resolved, _ := s.Resolve(inc.ID, "Fixed.", "alice")
			time.Sleep(time.Hour)
			_, err := s.Update(inc.ID, "Back again?", "bob", Investigating)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "status" {
				t.Errorf("investigating on a resolved incident: %v; want an error on status", err)
			}
			after, err := s.Update(inc.ID, "The cause: an expired certificate.", "bob", Resolved)
			if err != nil {
				t.Fatal(err)
			}
			if !after.Resolved.Equal(resolved.Resolved) || len(after.Updates) != 3 {
				t.Errorf("after a note: resolved %v with %d updates; want still %v with 3", after.Resolved, len(after.Updates), resolved.Resolved)
			}
		})
	})
}

// TestKeptAcrossRestarts: incidents and every update read back the same
// from the database after the store is opened again.
func TestKeptAcrossRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		db := openDB(t, dir)
		s := openStore(t, db, Limits{})
		inc, err := s.Open("api", "Checkout fails", "Card payments fail.", "alice", "")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Minute)
		if _, err := s.Update(inc.ID, "The payment provider is down.", "alice", Identified); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Minute)
		observe(t, s, map[string]time.Time{"web": time.Now().Add(-time.Minute)})
		want := s.List(time.Time{})
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db = openDB(t, dir)
		defer db.Close()
		s = openStore(t, db, Limits{})
		got := s.List(time.Time{})
		if len(got) != 2 || !reflect.DeepEqual(times(got), times(want)) {
			t.Fatalf("after reopening: %+v\nwant %+v", got, want)
		}
		for i := range got {
			got[i].normalize()
			want[i].normalize()
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after reopening: %+v\nwant %+v", got, want)
		}
		// IDs go on from where they were.
		next, err := s.Open("api", "Another", "More trouble.", "bob", "")
		if err != nil {
			t.Fatal(err)
		}
		if next.ID == inc.ID || next.ID == got[0].ID {
			t.Errorf("new incident took ID %s, which is taken", next.ID)
		}
	})
}

// times lists every time of incs, to compare them with Equal's sense.
func times(incs []Incident) []string {
	var out []string
	for _, inc := range incs {
		out = append(out, inc.Started.UTC().String(), inc.Resolved.UTC().String())
		for _, u := range inc.Updates {
			out = append(out, u.Time.UTC().String())
		}
	}
	return out
}

// normalize drops the monotonic clock and location, which JSON does not
// keep.
func (i *Incident) normalize() {
	i.Started, i.Resolved, i.AlertSince = i.Started.UTC().Round(0), i.Resolved.UTC().Round(0), i.AlertSince.UTC().Round(0)
	for k := range i.Updates {
		i.Updates[k].Time = i.Updates[k].Time.UTC().Round(0)
	}
}

// TestRetention: a resolved incident is kept 90 days, then deleted from
// memory and from the database; an open one is never deleted.
func TestRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		db := openDB(t, dir)
		s := openStore(t, db, Limits{})
		old, _ := s.Open("api", "Old trouble", "Down.", "alice", "")
		open, _ := s.Open("web", "Long trouble", "Slow.", "alice", "")
		if _, err := s.Resolve(old.ID, "Fixed.", "alice"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(Retention - time.Hour)
		observe(t, s, nil)
		if _, err := s.Get(old.ID); err != nil {
			t.Errorf("an hour before its 90 days: %v; want it kept", err)
		}
		time.Sleep(time.Hour)
		observe(t, s, nil)
		if _, err := s.Get(old.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("after 90 days: %v; want ErrNotFound", err)
		}
		if _, err := s.Get(open.ID); err != nil {
			t.Errorf("the open incident: %v; want it kept", err)
		}
		db.Close()
		db = openDB(t, dir)
		defer db.Close()
		s = openStore(t, db, Limits{})
		if got := s.List(time.Time{}); len(got) != 1 || got[0].ID != open.ID {
			t.Errorf("after reopening: %+v; want only the open incident", got)
		}
	})
}

// TestRefused: a request the store refuses names its field or limit and
// changes nothing.
func TestRefused(t *testing.T) {
	long := strings.Repeat("x", DefaultMaxMessage+1)
	tests := []struct {
		name  string
		do    func(s *Store, id string) error
		field string // "": a *LimitError
	}{
		{"no title", func(s *Store, _ string) error { _, err := s.Open("api", " ", "m", "a", ""); return err }, "title"},
		{"no probe", func(s *Store, _ string) error { _, err := s.Open("", "t", "m", "a", ""); return err }, "probe"},
		{"no message", func(s *Store, _ string) error { _, err := s.Open("api", "t", "", "a", ""); return err }, "message"},
		{"message too long", func(s *Store, id string) error { _, err := s.Update(id, long, "a", Monitoring); return err }, "message"},
		{"title too long", func(s *Store, _ string) error {
			_, err := s.Open("api", strings.Repeat("t", DefaultMaxTitle+1), "m", "a", "")
			return err
		}, "title"},
		{"author too long", func(s *Store, id string) error {
			_, err := s.Update(id, "m", strings.Repeat("a", DefaultMaxBy+1), Monitoring)
			return err
		}, "by"},
		{"unknown status", func(s *Store, id string) error { _, err := s.Update(id, "m", "a", "fixed"); return err }, "status"},
		{"no status", func(s *Store, id string) error { _, err := s.Update(id, "m", "a", ""); return err }, "status"},
		{"opened resolved", func(s *Store, _ string) error { _, err := s.Open("api", "t", "m", "a", Resolved); return err }, "status"},
		{"too many open", func(s *Store, _ string) error {
			_, err := s.Open("web", "t", "m", "a", "")
			return err
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			s := openStore(t, db, Limits{MaxOpen: 1})
			inc, err := s.Open("api", "Trouble", "Down.", "alice", "")
			if err != nil {
				t.Fatal(err)
			}
			before := s.Version()
			err = tt.do(s, inc.ID)
			var fe *FieldError
			var le *LimitError
			switch {
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Errorf("%v; want an error on field %s", err, tt.field)
			case tt.field == "" && !errors.As(err, &le):
				t.Errorf("%v; want a *LimitError", err)
			}
			if s.Version() != before || len(s.List(time.Time{})) != 1 {
				t.Errorf("a refused request changed the store: %+v", s.List(time.Time{}))
			}
		})
	}
}

// TestLimits: past MaxOpen an alert opens no incident but the others
// still do what they must; past MaxKept the oldest resolved incident
// goes; past MaxUpdates no update is taken but the final one fits.
func TestLimits(t *testing.T) {
	t.Run("max open", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			s := openStore(t, db, Limits{MaxOpen: 2})
			now := time.Now()
			err := s.Observe(map[string]time.Time{"a": now, "b": now, "c": now}, now)
			var le *LimitError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), "c") {
				t.Errorf("three alerts, two open at most: %v; want a *LimitError naming c", err)
			}
			if n := len(openOnes(s)); n != 2 {
				t.Errorf("%d open; want 2", n)
			}
			time.Sleep(time.Minute)
			observe(t, s, map[string]time.Time{"c": now})
			if open := openOnes(s); len(open) != 1 || open[0].Probe != "c" {
				t.Errorf("once a and b are up: %+v; want c's incident only", open)
			}
		})
	})
	t.Run("max kept", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			s := openStore(t, db, Limits{MaxOpen: 1, MaxKept: 3})
			var ids []string
			for range 4 {
				inc, err := s.Open("api", "t", "m", "a", "")
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute)
				if _, err := s.Resolve(inc.ID, "fixed", "a"); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, inc.ID)
			}
			if _, err := s.Get(ids[0]); !errors.Is(err, ErrNotFound) {
				t.Errorf("the oldest resolved incident: %v; want it deleted", err)
			}
			if n := len(s.List(time.Time{})); n != 3 {
				t.Errorf("%d kept; want 3", n)
			}
		})
	})
	t.Run("max updates", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			s := openStore(t, db, Limits{MaxUpdates: 2})
			observe(t, s, map[string]time.Time{"api": time.Now()})
			id := openOnes(s)[0].ID
			if _, err := s.Update(id, "on it", "a", Identified); err != nil {
				t.Fatal(err)
			}
			var le *LimitError
			if _, err := s.Update(id, "more", "a", Monitoring); !errors.As(err, &le) {
				t.Errorf("a third update: %v; want a *LimitError", err)
			}
			observe(t, s, nil)
			if inc, _ := s.Get(id); inc.Open() || len(inc.Updates) != 3 {
				t.Errorf("%+v; want resolved with its final update", inc)
			}
		})
	})
}

// failures records reported write failures.
type failures struct{ errs []error }

func (f *failures) WriteFailed(err error) { f.errs = append(f.errs, err) }

// TestStorageRefused: a write the database refuses is a *StorageError,
// reported, and leaves the store as it was.
func TestStorageRefused(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	f := &failures{}
	s, err := Open(db, Limits{}, f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	inc, err := s.Open("api", "t", "m", "a", "")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = s.Update(inc.ID, "more", "a", Identified)
	var se *StorageError
	if !errors.As(err, &se) || len(f.errs) != 1 {
		t.Errorf("update on a closed database: %v, %d reported; want a *StorageError, reported", err, len(f.errs))
	}
	if got, _ := s.Get(inc.ID); len(got.Updates) != 1 {
		t.Errorf("the refused update is in memory: %+v", got.Updates)
	}
	if err := s.Observe(map[string]time.Time{"web": time.Now()}, time.Now()); !errors.As(err, &se) {
		t.Errorf("observe on a closed database: %v; want a *StorageError", err)
	}
	if open := openOnes(s); len(open) != 1 {
		t.Errorf("open: %+v; want only the first incident", open)
	}
}
