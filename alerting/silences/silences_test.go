package silences_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/silences"
	"github.com/lookout-dev/lookout/config"
)

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func mustMatchers(t *testing.T, ss ...string) dispatch.Matchers {
	t.Helper()
	ms, err := dispatch.ParseMatchers(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// defaults are alerting.silences as the config fills it in.
var defaults = config.Silences{Max: config.DefaultMaxSilences, MaxSize: config.DefaultMaxSilenceSize, MaxDuration: config.DefaultMaxSilenceDuration}

func openStore(t *testing.T, db *bolt.DB, limits config.Silences, failures silences.WriteFailures) *silences.Store {
	t.Helper()
	st, err := silences.Open(db, limits, failures)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSilencesSurviveRestart: a silence mutes matching alerts, is still
// there after the database is closed and opened again, and can be expired.
func TestSilencesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lookout.db")
	db := openDB(t, path)
	st := openStore(t, db, defaults, nil)
	sil, err := st.Add(dispatch.Silence{
		Matchers: mustMatchers(t, `alertname="ProbeDown"`, `probe=~"api-.*"`),
		EndsAt:   time.Now().Add(time.Hour), CreatedBy: "alice", Comment: "deploying",
	})
	if err != nil {
		t.Fatal(err)
	}
	api := model.LabelSet{"alertname": "ProbeDown", "probe": "api-health"}
	web := model.LabelSet{"alertname": "ProbeDown", "probe": "web-home"}
	if got := st.Muted(api, time.Now()); len(got) != 1 || got[0] != sil.ID {
		t.Errorf("api alert muted by %v, want [%s]", got, sil.ID)
	}
	if got := st.Muted(web, time.Now()); len(got) != 0 {
		t.Errorf("web alert muted by %v, want none", got)
	}
	db.Close()

	db = openDB(t, path)
	defer db.Close()
	st = openStore(t, db, defaults, nil)
	list := st.List()
	if len(list) != 1 || list[0].ID != sil.ID || list[0].Comment != "deploying" || list[0].Matchers.String() != sil.Matchers.String() {
		t.Fatalf("after reopening: %+v, want the silence back", list)
	}
	if got := st.Muted(api, time.Now()); len(got) != 1 {
		t.Error("the reloaded silence no longer mutes")
	}
	if _, err := st.Expire(sil.ID); err != nil {
		t.Fatal(err)
	}
	if got := st.Muted(api, time.Now().Add(time.Millisecond)); len(got) != 0 {
		t.Errorf("expired silence still mutes: %v", got)
	}
	want := "# HELP lookout_silences Silences by state.\n# TYPE lookout_silences gauge\n" +
		"lookout_silences{state=\"active\"} 0\nlookout_silences{state=\"expired\"} 1\nlookout_silences{state=\"pending\"} 0\n"
	if err := testutil.CollectAndCompare(st, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestAddRefuses: every rule a new silence must meet, each refused with
// its kind and a message naming what was wrong; silences just inside the
// limits are taken.
func TestAddRefuses(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
	defer db.Close()
	st := openStore(t, db, defaults, nil)
	now := time.Now()
	ms := mustMatchers(t, `alertname="X"`)
	hour := now.Add(time.Hour)
	days := func(n int) time.Time { return now.Add(time.Duration(n) * 24 * time.Hour) }
	// big is a comment that, with the author "a" and the matcher
	// alertname="X" (13 bytes), makes a silence of exactly 8 KiB.
	big := strings.Repeat("c", 8<<10-14)
	tests := []struct {
		name string
		sil  dispatch.Silence
		why  silences.Refusal // 0: taken
		want string
	}{
		{"no matchers", dispatch.Silence{EndsAt: hour, CreatedBy: "a"}, silences.Invalid, "silence: no matchers"},
		{"ends before start", dispatch.Silence{Matchers: ms, StartsAt: now.Add(2 * time.Hour), EndsAt: hour, CreatedBy: "a"}, silences.Invalid, "silence: ends before it starts"},
		{"over", dispatch.Silence{Matchers: ms, StartsAt: now.Add(-2 * time.Hour), EndsAt: now.Add(-time.Hour), CreatedBy: "a"}, silences.Invalid, "silence: already over"},
		{"no author", dispatch.Silence{Matchers: ms, EndsAt: hour}, silences.Invalid, "silence: no author"},
		{"matches every alertname", dispatch.Silence{Matchers: mustMatchers(t, `alertname=~".*"`), EndsAt: hour, CreatedBy: "a"}, silences.OverLimit,
			`silence: every matcher ({alertname=~".*"}) matches alerts without the label, so the silence would mute every alert`},
		{"only negative matchers", dispatch.Silence{Matchers: mustMatchers(t, `env!="prod"`, `team!~"web|api"`, `probe=""`), EndsAt: hour, CreatedBy: "a"}, silences.OverLimit,
			"silence: every matcher"},
		{"one matcher needs a value", dispatch.Silence{Matchers: mustMatchers(t, `env!="prod"`, `alertname=~".+"`), EndsAt: hour, CreatedBy: "a"}, 0, ""},
		{"a year", dispatch.Silence{Matchers: ms, StartsAt: now, EndsAt: days(365), CreatedBy: "a"}, silences.OverLimit,
			"silence: lasts 8760h0m0s, longer than alerting.silences.max_duration (2160h0m0s)"},
		{"90 days, from a later start", dispatch.Silence{Matchers: ms, StartsAt: days(10), EndsAt: days(100), CreatedBy: "a"}, 0, ""},
		{"8 KiB", dispatch.Silence{Matchers: ms, EndsAt: hour, CreatedBy: "a", Comment: big}, 0, ""},
		{"a byte over 8 KiB", dispatch.Silence{Matchers: ms, EndsAt: hour, CreatedBy: "ab", Comment: big}, silences.TooLarge,
			"silence: 8193 bytes, over alerting.silences.max_size (8192): comment 8178 bytes, createdBy 2, 1 matchers 13"},
		{"a long author", dispatch.Silence{Matchers: ms, EndsAt: hour, CreatedBy: strings.Repeat("a", 9000)}, silences.TooLarge,
			"silence: 9013 bytes, over alerting.silences.max_size (8192): comment 0 bytes, createdBy 9000, 1 matchers 13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Add(tt.sil)
			if tt.why == 0 {
				if err != nil || got.ID == "" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var refused *silences.RefusedError
			if !errors.As(err, &refused) || refused.Why != tt.why || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v (%#v), want refusal %d starting %q", err, refused, tt.why, tt.want)
			}
		})
	}
	if _, err := st.Expire("nope"); !errors.Is(err, silences.ErrNotFound) {
		t.Errorf("expiring an unknown silence: %v", err)
	}
}

// TestMaxSilences: the store keeps at most alerting.silences.max
// silences; an expired one holds its place until it is deleted 120 h
// after it ended, then a new one is taken.
func TestMaxSilences(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t, filepath.Join(dir, "lookout.db"))
		defer db.Close()
		st := openStore(t, db, config.Silences{Max: 3}, nil)
		add := func() error {
			_, err := st.Add(dispatch.Silence{Matchers: mustMatchers(t, `alertname="X"`), EndsAt: time.Now().Add(time.Hour), CreatedBy: "a"})
			return err
		}
		for range 3 {
			if err := add(); err != nil {
				t.Fatal(err)
			}
		}
		const full = "silence: Lookout keeps 3 silences, as many as alerting.silences.max allows (expired ones count until they are deleted 120h0m0s after they end)"
		var refused *silences.RefusedError
		if err := add(); !errors.As(err, &refused) || refused.Why != silences.OverLimit || !strings.HasPrefix(err.Error(), full) {
			t.Fatalf("the fourth: %v, want %q", err, full)
		}
		first := st.List()[2]
		if _, err := st.Expire(first.ID); err != nil {
			t.Fatal(err)
		}
		if err := add(); err == nil {
			t.Fatal("a just-expired silence freed its place; it should hold it for 120 h")
		}
		time.Sleep(Retention)
		if err := add(); err != nil {
			t.Errorf("120 h after one expired: %v, want a place free", err)
		}
	})
}

// TestSetLimits: new limits bound the silences added after them; those
// already kept stay, even beyond them.
func TestSetLimits(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
	defer db.Close()
	st := openStore(t, db, defaults, nil)
	add := func() error {
		_, err := st.Add(dispatch.Silence{Matchers: mustMatchers(t, `alertname="X"`), EndsAt: time.Now().Add(time.Hour), CreatedBy: "a"})
		return err
	}
	for range 2 {
		if err := add(); err != nil {
			t.Fatal(err)
		}
	}
	lower := defaults
	lower.Max = 1
	st.SetLimits(lower)
	if got := st.Limits(); got != lower {
		t.Errorf("Limits() = %+v, want %+v", got, lower)
	}
	var refused *silences.RefusedError
	if err := add(); !errors.As(err, &refused) || refused.Why != silences.OverLimit {
		t.Errorf("adding beyond the lowered max: %v, want refused", err)
	}
	if n := len(st.List()); n != 2 {
		t.Errorf("%d silences kept, want both from before the limit", n)
	}
}

// Retention is silences.Retention, for the synctest clock.
const Retention = silences.Retention

// TestExpiredDeleted: a silence is kept, expired, for 120 h after its end,
// then deleted from memory and from the database; one past that at start
// is deleted by Open.
func TestExpiredDeleted(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(dir, "lookout.db")
		db := openDB(t, path)
		st := openStore(t, db, defaults, nil)
		add := func(d time.Duration) dispatch.Silence {
			sil, err := st.Add(dispatch.Silence{Matchers: mustMatchers(t, `alertname="X"`), EndsAt: time.Now().Add(d), CreatedBy: "a"})
			if err != nil {
				t.Fatal(err)
			}
			return sil
		}
		short := add(time.Hour)
		time.Sleep(time.Minute)
		long := add(3 * time.Hour) // newer, so listed first
		ids := func(st *silences.Store) (out []string) {
			for _, s := range st.List() {
				out = append(out, s.ID)
			}
			return out
		}
		tests := []struct {
			name  string
			sleep time.Duration
			want  int // deleted
			kept  []string
		}{
			{"both expired, within 120 h", time.Hour - time.Minute + Retention - time.Second, 0, []string{long.ID, short.ID}},
			{"120 h after the first ended", time.Second, 1, []string{long.ID}},
			{"nothing more is due", time.Hour, 0, []string{long.ID}},
		}
		// Steps in turn on one clock (t.Run cannot be called in a bubble).
		for _, tt := range tests {
			time.Sleep(tt.sleep)
			n, err := st.DeleteExpired(time.Now())
			if err != nil || n != tt.want {
				t.Errorf("%s: DeleteExpired = %d, %v; want %d", tt.name, n, err, tt.want)
			}
			if got := ids(st); strings.Join(got, ",") != strings.Join(tt.kept, ",") {
				t.Errorf("%s: kept %v, want %v", tt.name, got, tt.kept)
			}
		}
		db.Close()
		db = openDB(t, path)
		defer db.Close()
		if got := ids(openStore(t, db, defaults, nil)); len(got) != 1 || got[0] != long.ID {
			t.Errorf("reopened within 120 h of the second's end: %v, want [%s]", got, long.ID)
		}
		time.Sleep(time.Hour + time.Minute)
		if got := ids(openStore(t, db, defaults, nil)); len(got) != 0 {
			t.Errorf("opened 120 h after the second ended: %v, want it deleted", got)
		}
	})
}

// failures records what the store reports.
type failures struct{ errs []error }

func (f *failures) WriteFailed(err error) { f.errs = append(f.errs, err) }

// TestStorageFailure: when the database refuses a write, Add and Expire
// return a *StorageError naming the cause, report it, and change nothing.
func TestStorageFailure(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
	var f failures
	st := openStore(t, db, defaults, &f)
	sil, err := st.Add(dispatch.Silence{Matchers: mustMatchers(t, `alertname="X"`), EndsAt: time.Now().Add(time.Hour), CreatedBy: "a"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // every write now fails with bbolt's "database not open"

	tests := []struct {
		name string
		do   func() error
	}{
		{"add", func() error {
			_, err := st.Add(dispatch.Silence{Matchers: mustMatchers(t, `alertname="Y"`), EndsAt: time.Now().Add(time.Hour), CreatedBy: "a"})
			return err
		}},
		{"expire", func() error { _, err := st.Expire(sil.ID); return err }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var se *silences.StorageError
			if !errors.As(err, &se) || !errors.Is(err, bolt.ErrDatabaseNotOpen) || err.Error() != "silence: write to storage: database not open" {
				t.Errorf("got %v, want a *StorageError wrapping bbolt's ErrDatabaseNotOpen", err)
			}
			if len(f.errs) != i+1 || !errors.Is(f.errs[i], bolt.ErrDatabaseNotOpen) {
				t.Errorf("reported %v, want this failure reported", f.errs)
			}
			if list := st.List(); len(list) != 1 || list[0].ID != sil.ID || !list[0].EndsAt.Equal(sil.EndsAt) {
				t.Errorf("the store changed: %+v", list)
			}
		})
	}
}

// TestStoredEncoding: a silence is stored in the "silences" bucket as its
// JSON under its ID, byte for byte as Lookout has always stored it, so
// the silences in a lookout.db written before read the same.
func TestStoredEncoding(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
	defer db.Close()
	start := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	sil, err := openStore(t, db, defaults, nil).Add(dispatch.Silence{
		Matchers: mustMatchers(t, `alertname="ProbeDown"`), StartsAt: start, EndsAt: start.Add(time.Hour), CreatedBy: "alice", Comment: "deploying",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + sil.ID + `","matchers":["alertname=\"ProbeDown\""],"startsAt":"2100-01-01T00:00:00Z","endsAt":"2100-01-01T01:00:00Z","createdBy":"alice","comment":"deploying"}`
	_ = db.View(func(tx *bolt.Tx) error {
		if got := string(tx.Bucket([]byte("silences")).Get([]byte(sil.ID))); got != want {
			t.Errorf("stored\n%s\nwant\n%s", got, want)
		}
		return nil
	})
}
