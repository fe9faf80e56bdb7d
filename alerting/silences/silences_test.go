package silences_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/silences"
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

// TestSilencesSurviveRestart: a silence mutes matching alerts, is still
// there after the database is closed and opened again, and can be expired.
func TestSilencesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lookout.db")
	db := openDB(t, path)
	st, err := silences.Open(db)
	if err != nil {
		t.Fatal(err)
	}
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
	st, err = silences.Open(db)
	if err != nil {
		t.Fatal(err)
	}
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

func TestAddRejectsBadSilences(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
	defer db.Close()
	st, err := silences.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ms := mustMatchers(t, `alertname="X"`)
	tests := []struct {
		name string
		sil  dispatch.Silence
		want string
	}{
		{"no matchers", dispatch.Silence{EndsAt: now.Add(time.Hour), CreatedBy: "a"}, "silence: no matchers"},
		{"ends before start", dispatch.Silence{Matchers: ms, StartsAt: now.Add(2 * time.Hour), EndsAt: now.Add(time.Hour), CreatedBy: "a"}, "silence: ends before it starts"},
		{"over", dispatch.Silence{Matchers: ms, StartsAt: now.Add(-2 * time.Hour), EndsAt: now.Add(-time.Hour), CreatedBy: "a"}, "silence: already over"},
		{"no author", dispatch.Silence{Matchers: ms, EndsAt: now.Add(time.Hour)}, "silence: no author"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.Add(tt.sil)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want an error starting %q", err, tt.want)
			}
		})
	}
	if _, err := st.Expire("nope"); err == nil || !strings.Contains(err.Error(), "no such silence") {
		t.Errorf("expiring an unknown silence: %v", err)
	}
}
