package maintenance_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/maintenance"
	"github.com/lookout-dev/lookout/config"
)

func openDB(t *testing.T, path string, opts *bolt.Options) *bolt.DB {
	t.Helper()
	if opts == nil {
		opts = &bolt.Options{Timeout: time.Second}
	}
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openStore(t *testing.T, db *bolt.DB, failures interface{ WriteFailed(error) }) *maintenance.Store {
	t.Helper()
	st, err := maintenance.Open(db, failures)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// maintenanceConfig loads a config file's maintenance section, checked as
// lookout check and a reload check it.
func maintenanceConfig(t *testing.T, yml string) []config.Maintenance {
	t.Helper()
	cfg, err := config.Parse("lookout.yml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Maintenance
}

// weeklyDB is the README's example.
const weeklyDB = `maintenance:
  - name: weekly-db
    schedule: "0 4 * * SUN"
    timezone: Europe/Berlin
    duration: 1h
    matchers: ['probe=~"api-.*"']
    message: Database maintenance
`

var (
	apiAlert = model.LabelSet{"alertname": "ProbeDown", "probe": "api-health", "severity": "page"}
	webAlert = model.LabelSet{"alertname": "ProbeDown", "probe": "web-home", "severity": "page"}
	apiProbe = model.LabelSet{"probe": "api-health", "team": "core"}
)

// TestWeeklyWindow: a weekly window in Europe/Berlin mutes a matching
// alert from Sunday 04:00 Berlin time until 05:00, every week, and
// nothing else; it covers the matching probe as long and lists its
// current and next window.
func TestWeeklyWindow(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		db := openDB(t, filepath.Join(dir, "lookout.db"), nil)
		defer db.Close()
		st := openStore(t, db, nil)
		st.SetConfig(maintenanceConfig(t, weeklyDB))

		// The bubble's clock starts on Saturday 2000-01-01 00:00 UTC,
		// 01:00 in Berlin (CET, UTC+1).
		sunday4 := time.Date(2000, 1, 2, 4, 0, 0, 0, berlin)
		steps := []struct {
			name  string
			at    time.Time
			muted bool
		}{
			{"Saturday", time.Date(2000, 1, 1, 1, 0, 0, 0, berlin), false},
			{"Sunday 03:59:59 Berlin", sunday4.Add(-time.Second), false},
			{"Sunday 04:00 Berlin (03:00 UTC)", sunday4, true},
			{"Sunday 04:59:59 Berlin", sunday4.Add(time.Hour - time.Second), true},
			{"Sunday 05:00 Berlin: the end is not in the window", sunday4.Add(time.Hour), false},
			{"Monday 04:30 Berlin", sunday4.Add(24*time.Hour + 30*time.Minute), false},
			{"the next Sunday 04:30 Berlin", sunday4.AddDate(0, 0, 7).Add(30 * time.Minute), true},
		}
		// Steps in turn on one clock (t.Run cannot be called in a bubble).
		for _, s := range steps {
			time.Sleep(time.Until(s.at))
			now := time.Now()
			var want []string
			if s.muted {
				want = []string{"maintenance:weekly-db"}
			}
			if got := st.Muted(apiAlert, now); !slices.Equal(got, want) {
				t.Errorf("%s: the api-health alert is muted by %v, want %v", s.name, got, want)
			}
			if got := st.Muted(webAlert, now); len(got) != 0 {
				t.Errorf("%s: the web-home alert is muted by %v, want by none", s.name, got)
			}
			w, covered := st.Covers(apiProbe, now)
			if covered != s.muted {
				t.Errorf("%s: probe api-health covered = %v, want %v", s.name, covered, s.muted)
			}
			if _, covered := st.Covers(model.LabelSet{"probe": "web-home"}, now); covered {
				t.Errorf("%s: probe web-home is covered", s.name)
			}
			if !s.muted {
				continue
			}
			start := now.In(berlin).Truncate(time.Hour) // Berlin is a whole hour off UTC
			if w.ID != "maintenance:weekly-db" || w.Name != "weekly-db" || w.Message != "Database maintenance" || !w.Configured ||
				!w.Start.Equal(start) || !w.End.Equal(start.Add(time.Hour)) || w.State != maintenance.StateActive ||
				!slices.Equal(w.Matchers, []string{`probe=~"api-.*"`}) {
				t.Errorf("%s: covered by %+v, want weekly-db's window from %s, for an hour", s.name, w, start)
			}
			if active := st.Active(now); len(active) != 1 || active[0].ID != w.ID {
				t.Errorf("%s: Active = %+v, want the weekly window", s.name, active)
			}
		}

		// From the second Sunday's window: the two windows of the next 14
		// days.
		next := st.Upcoming(time.Now(), 14*24*time.Hour)
		var starts []string
		for _, w := range next {
			starts = append(starts, w.Start.In(berlin).Format(time.RFC3339)+" "+w.State)
		}
		if want := []string{"2000-01-16T04:00:00+01:00 scheduled", "2000-01-23T04:00:00+01:00 scheduled"}; !slices.Equal(starts, want) {
			t.Errorf("Upcoming 14 days from %s: %v, want %v", time.Now().In(berlin), starts, want)
		}
		list := st.List(time.Now())
		if len(list.Configured) != 1 {
			t.Fatalf("List: %+v, want the weekly maintenance", list)
		}
		p := list.Configured[0]
		if p.Schedule != "0 4 * * SUN" || p.Timezone != "Europe/Berlin" || p.Duration != "1h0m0s" || p.Current == nil || p.Next == nil ||
			!p.Next.Start.Equal(time.Date(2000, 1, 16, 4, 0, 0, 0, berlin)) {
			t.Errorf("List during the window: %+v (current %v, next %v)", p, p.Current, p.Next)
		}

		st.SetConfig(nil)
		if got := st.Muted(apiAlert, time.Now()); len(got) != 0 {
			t.Errorf("after a reload without the window: muted by %v", got)
		}
	})
}

// TestOneOffPersists: a one-off mutes what it matches while it is on,
// is still there after the database is closed and opened again, and
// ending it unmutes, for good; it is deleted 90 days after it ended.
func TestOneOffPersists(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(dir, "lookout.db")
		db := openDB(t, path, nil)
		st := openStore(t, db, nil)
		w, err := st.Add(maintenance.Window{Matchers: []string{`probe="api-health"`}, End: time.Now().Add(time.Hour), Message: "upgrade", CreatedBy: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(w.ID, "maintenance-") || w.State != maintenance.StateActive || w.Configured || !w.Start.Equal(time.Now()) {
			t.Errorf("added %+v; want an active one-off from now, with an ID", w)
		}
		if got := st.Muted(apiAlert, time.Now()); !slices.Equal(got, []string{w.ID}) {
			t.Errorf("muted by %v, want [%s]", got, w.ID)
		}
		db.Close()

		db = openDB(t, path, nil)
		st = openStore(t, db, nil)
		time.Sleep(30 * time.Minute)
		list := st.List(time.Now()).OneOffs
		if len(list) != 1 || list[0].ID != w.ID || list[0].Message != "upgrade" || list[0].CreatedBy != "alice" || list[0].State != maintenance.StateActive {
			t.Fatalf("after reopening: %+v, want the window back", list)
		}
		if got := st.Muted(apiAlert, time.Now()); !slices.Equal(got, []string{w.ID}) {
			t.Errorf("after reopening, muted by %v, want [%s]", got, w.ID)
		}
		if _, ok := st.Covers(apiProbe, time.Now()); !ok {
			t.Error("after reopening, the probe is not covered")
		}
		ended, err := st.End(w.ID)
		if err != nil || ended.State != maintenance.StateEnded || !ended.End.Equal(time.Now()) {
			t.Fatalf("End: %+v, %v; want it ended now", ended, err)
		}
		if got := st.Muted(apiAlert, time.Now()); len(got) != 0 {
			t.Errorf("an ended window still mutes: %v", got)
		}
		db.Close()

		db = openDB(t, path, nil)
		defer db.Close()
		st = openStore(t, db, nil)
		if list := st.List(time.Now()).OneOffs; len(list) != 1 || list[0].State != maintenance.StateEnded {
			t.Errorf("reopened after End: %+v, want it kept, ended", list)
		}
		if got := st.Muted(apiAlert, time.Now()); len(got) != 0 {
			t.Errorf("reopened after End, still mutes: %v", got)
		}
		time.Sleep(maintenance.Retention - time.Second)
		if n, err := st.DeleteExpired(time.Now()); n != 0 || err != nil {
			t.Errorf("a second short of 90 days after the end: deleted %d, %v", n, err)
		}
		time.Sleep(time.Second)
		if n, err := st.DeleteExpired(time.Now()); n != 1 || err != nil {
			t.Errorf("90 days after the end: deleted %d, %v; want it deleted", n, err)
		}
		if list := openStore(t, db, nil).List(time.Now()).OneOffs; len(list) != 0 {
			t.Errorf("reopened 90 days after the end: %+v, want none", list)
		}
	})
}

// TestAddRefuses: every rule a new one-off must meet, each refused with
// its kind and a message naming the field; windows just inside the
// bounds are taken.
func TestAddRefuses(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"), nil)
	defer db.Close()
	st := openStore(t, db, nil)
	st.SetConfig(maintenanceConfig(t, weeklyDB))
	now := time.Now()
	api := []string{`probe="api-health"`}
	hour := now.Add(time.Hour)
	week := 7 * 24 * time.Hour
	tests := []struct {
		name string
		w    maintenance.Window
		why  maintenance.Refusal // 0: taken
		want string
	}{
		{"no matchers", maintenance.Window{End: hour}, maintenance.Invalid, "maintenance: matchers: missing"},
		{"a matcher that does not parse", maintenance.Window{Matchers: []string{`probe=~"("`}, End: hour}, maintenance.Invalid,
			`maintenance: matchers: matcher 1 ("probe=~\"(\"")`},
		{"every matcher matches the empty value", maintenance.Window{Matchers: []string{`probe=~".*"`, `env!="prod"`}, End: hour}, maintenance.OverLimit,
			`maintenance: matchers: every matcher ({env!="prod",probe=~".*"}) matches alerts without the label, so the window would mute every alert`},
		{"no end", maintenance.Window{Matchers: api}, maintenance.Invalid, "maintenance: endsAt: 0001-01-01T00:00:00Z is not after startsAt"},
		{"ends before it starts", maintenance.Window{Matchers: api, Start: hour, End: now.Add(time.Minute)}, maintenance.Invalid, "maintenance: endsAt: " + now.Add(time.Minute).Format(time.RFC3339) + " is not after startsAt"},
		{"in the past", maintenance.Window{Matchers: api, Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)}, maintenance.Invalid, "maintenance: endsAt: " + now.Add(-time.Hour).Format(time.RFC3339) + " is in the past"},
		{"7 days and a second", maintenance.Window{Matchers: api, Start: now, End: now.Add(week + time.Second)}, maintenance.OverLimit,
			"maintenance: duration: 168h0m1s from start to end is longer than a window may last; want at most 168h (7 days)"},
		{"7 days, from tomorrow", maintenance.Window{Matchers: api, Start: now.Add(24 * time.Hour), End: now.Add(24*time.Hour + week)}, 0, ""},
		{"a message of 500 characters", maintenance.Window{Matchers: api, End: hour, Message: strings.Repeat("é", 500)}, 0, ""},
		{"a message of 501", maintenance.Window{Matchers: api, End: hour, Message: strings.Repeat("é", 501)}, maintenance.OverLimit,
			"maintenance: message: is 501 characters; want at most 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Add(tt.w)
			if tt.why == 0 {
				if err != nil || got.ID == "" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var refused *maintenance.RefusedError
			if !errors.As(err, &refused) || refused.Why != tt.why || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v (%#v), want refusal %d starting %q", err, refused, tt.why, tt.want)
			}
		})
	}
	if n := len(st.List(now).OneOffs); n != 2 {
		t.Errorf("%d one-offs kept, want the 2 taken", n)
	}
	t.Run("ending a configured window", func(t *testing.T) {
		_, err := st.End("maintenance:weekly-db")
		if !errors.Is(err, maintenance.ErrConfigured) || !strings.Contains(err.Error(), "edit or remove it in the config file's maintenance section") {
			t.Errorf("got %v, want ErrConfigured saying to edit the config", err)
		}
	})
	t.Run("ending an unknown window", func(t *testing.T) {
		if _, err := st.End("maintenance-nope"); !errors.Is(err, maintenance.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})
}

// TestRequestWindow: a request's duration or end becomes the window's,
// from its start or now; what is wrong is named.
func TestRequestWindow(t *testing.T) {
	now := time.Date(2026, 5, 1, 20, 0, 0, 0, time.UTC)
	later := now.Add(3 * time.Hour)
	tests := []struct {
		name       string
		r          maintenance.Request
		start, end time.Time
		err        string
	}{
		{"a duration from now", maintenance.Request{Duration: "90m"}, now, now.Add(90 * time.Minute), ""},
		{"a duration from a start", maintenance.Request{StartsAt: later, Duration: "1h"}, later, later.Add(time.Hour), ""},
		{"an end", maintenance.Request{EndsAt: later}, now, later, ""},
		{"both", maintenance.Request{Duration: "1h", EndsAt: later}, time.Time{}, time.Time{}, "maintenance: duration: is set beside endsAt; want one of them"},
		{"neither", maintenance.Request{}, time.Time{}, time.Time{}, "maintenance: duration: missing; want how long the window lasts, like 1h, or endsAt"},
		{"not a duration", maintenance.Request{Duration: "soon"}, time.Time{}, time.Time{}, `maintenance: duration: "soon" is not a positive duration`},
		{"negative", maintenance.Request{Duration: "-1h"}, time.Time{}, time.Time{}, `maintenance: duration: "-1h" is not a positive duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := tt.r.Window(now)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Errorf("got %+v, %v; want error %q", w, err, tt.err)
				}
				return
			}
			if err != nil || !w.Start.Equal(tt.start) || !w.End.Equal(tt.end) {
				t.Errorf("got %s to %s, %v; want %s to %s", w.Start, w.End, err, tt.start, tt.end)
			}
		})
	}
}

// TestOneOffsBounded: the store keeps MaxOneOffs one-offs; a new one
// takes the place of the one that ended longest ago, and is refused only
// while none has ended.
func TestOneOffsBounded(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t, filepath.Join(dir, "lookout.db"), &bolt.Options{NoSync: true})
		defer db.Close()
		st := openStore(t, db, nil)
		add := func(d time.Duration) (maintenance.Window, error) {
			return st.Add(maintenance.Window{Matchers: []string{`probe="api-health"`}, End: time.Now().Add(d)})
		}
		var first maintenance.Window
		for i := range maintenance.MaxOneOffs {
			w, err := add(time.Duration(i+1) * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = w
			}
		}
		const full = "maintenance: Lookout keeps 1000 one-off windows and none has ended; end one first"
		var refused *maintenance.RefusedError
		if _, err := add(time.Hour); !errors.As(err, &refused) || refused.Why != maintenance.OverLimit || err.Error() != full {
			t.Fatalf("one more while none has ended: %v, want %q", err, full)
		}
		time.Sleep(2 * time.Second) // the first two ended
		w, err := add(time.Hour)
		if err != nil {
			t.Fatalf("one more after two ended: %v", err)
		}
		ids := map[string]bool{}
		for _, o := range st.List(time.Now()).OneOffs {
			ids[o.ID] = true
		}
		if len(ids) != maintenance.MaxOneOffs || ids[first.ID] || !ids[w.ID] {
			t.Errorf("kept %d, the first ended (%v), the new one (%v); want %d, the first replaced by the new one", len(ids), ids[first.ID], ids[w.ID], maintenance.MaxOneOffs)
		}
	})
}

// failures records what the store reports.
type failures struct{ errs []error }

func (f *failures) WriteFailed(err error) { f.errs = append(f.errs, err) }

// TestStorageFailure: when the database refuses a write, Add and End
// return a *StorageError naming the cause, report it, and change nothing.
func TestStorageFailure(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"), nil)
	var f failures
	st := openStore(t, db, &f)
	w, err := st.Add(maintenance.Window{Matchers: []string{`probe="api-health"`}, End: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // every write now fails with bbolt's "database not open"

	tests := []struct {
		name string
		do   func() error
	}{
		{"add", func() error {
			_, err := st.Add(maintenance.Window{Matchers: []string{`probe="web-home"`}, End: time.Now().Add(time.Hour)})
			return err
		}},
		{"end", func() error { _, err := st.End(w.ID); return err }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var se *maintenance.StorageError
			if !errors.As(err, &se) || !errors.Is(err, bolt.ErrDatabaseNotOpen) || err.Error() != "maintenance: write to storage: database not open" {
				t.Errorf("got %v, want a *StorageError wrapping bbolt's ErrDatabaseNotOpen", err)
			}
			if len(f.errs) != i+1 || !errors.Is(f.errs[i], bolt.ErrDatabaseNotOpen) {
				t.Errorf("reported %v, want this failure reported", f.errs)
			}
			if list := st.List(time.Now()).OneOffs; len(list) != 1 || list[0].ID != w.ID || !list[0].End.Equal(w.End) {
				t.Errorf("the store changed: %+v", list)
			}
			if got := st.Muted(apiAlert, time.Now()); !slices.Equal(got, []string{w.ID}) {
				t.Errorf("muted by %v, want still by [%s]", got, w.ID)
			}
		})
	}
}

// TestStoredEncoding: a one-off is stored in the "maintenance" bucket as
// its Window's JSON under its ID, byte for byte as Lookout has always
// stored it, so the one-offs in a lookout.db written before read the same.
func TestStoredEncoding(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"), nil)
	defer db.Close()
	start := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	w, err := openStore(t, db, nil).Add(maintenance.Window{
		Matchers: []string{`probe="api-health"`}, Start: start, End: start.Add(time.Hour), Message: "upgrade", CreatedBy: "alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + w.ID + `","message":"upgrade","startsAt":"2100-01-01T00:00:00Z","endsAt":"2100-01-01T01:00:00Z","matchers":["probe=\"api-health\""],"configured":false,"createdBy":"alice"}`
	_ = db.View(func(tx *bolt.Tx) error {
		if got := string(tx.Bucket([]byte("maintenance")).Get([]byte(w.ID))); got != want {
			t.Errorf("stored\n%s\nwant\n%s", got, want)
		}
		return nil
	})
}
