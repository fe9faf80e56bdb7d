package mongodb

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
	"github.com/lookout-dev/lookout/config"
)

// TestExpectedSince: the newest time a backup must be at least as new as
// is the schedule's latest run that the grace has passed since, in the
// schedule's time zone; with every, now less every and grace.
func TestExpectedSince(t *testing.T) {
	cfg, err := config.Parse("lookout.yml", []byte(`
mongodb:
  - name: daily
    uri: mongodb://127.0.0.1:27017
    backups: {expect: {schedule: "0 2 * * *", grace: 2h}, sources: [{pbm: {}}]}
  - name: berlin
    uri: mongodb://127.0.0.1:27017
    backups: {expect: {schedule: "0 2 * * *", timezone: Europe/Berlin, grace: 30m}, sources: [{pbm: {}}]}
  - name: weekly
    uri: mongodb://127.0.0.1:27017
    backups: {expect: {schedule: "0 3 * * 0", grace: 6h}, sources: [{pbm: {}}]}
  - name: every
    uri: mongodb://127.0.0.1:27017
    backups: {expect: {every: 24h}, sources: [{pbm: {}}]}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	tests := []struct {
		target    int
		now       string
		wantSince string
	}{
		{0, "2026-12-06T03:59:59Z", "2026-12-05T02:00:00Z"}, // today's run still has grace
		{0, "2026-12-06T04:00:00Z", "2026-12-06T02:00:00Z"},
		{0, "2026-12-06T23:00:00Z", "2026-12-06T02:00:00Z"},
		{1, "2026-12-06T01:29:00Z", "2026-12-05T01:00:00Z"}, // 02:00 in Berlin is 01:00 UTC in winter
		{1, "2026-12-06T01:30:00Z", "2026-12-06T01:00:00Z"},
		{2, "2026-12-10T12:00:00Z", "2026-12-06T03:00:00Z"}, // Sunday's run, four days back
		{3, "2026-12-06T12:00:00Z", "2026-12-05T10:00:00Z"}, // 24h and the default 2h grace
	}
	for _, tt := range tests {
		name := cfg.MongoDB[tt.target].Name + " at " + tt.now
		t.Run(name, func(t *testing.T) {
			got := expectedSince(cfg.MongoDB[tt.target].Backups.Expect, utc(tt.now))
			if want := utc(tt.wantSince); !got.Equal(want) {
				t.Errorf("expected since %s, want %s", got.UTC().Format(time.RFC3339), tt.wantSince)
			}
		})
	}
}

// TestBackupsOnFerretDB: PBM's collections seeded in a real FerretDB
// (every status: done, error, running with a fresh and with a stale
// heartbeat, PITR chunks, restores) and dump files whose times the test
// sets, read by a pass; then FerretDB goes away and the PBM source's last
// report stays, with its error counted.
func TestBackupsOnFerretDB(t *testing.T) {
	srv := ferretdbtest.Start(t)
	now := time.Now().Truncate(time.Second)
	ago := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	ts := func(d time.Duration) bson.Timestamp { return bson.Timestamp{T: uint32(ago(d)), I: 1} }

	dumps, offsite := t.TempDir(), t.TempDir()
	writeDump := func(dir, name string, size int, age time.Duration) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	writeDump(dumps, "2026-12-05.archive.gz", 1000, 25*time.Hour)
	writeDump(dumps, "2026-12-04.archive.gz", 3000, 49*time.Hour)
	writeDump(dumps, "2026-12-01.archive.gz", 2900, 121*time.Hour)
	writeDump(dumps, "notes.txt", 10, time.Minute) // not a dump: the pattern leaves it out
	writeDump(offsite, "2026-12-04.archive.gz", 3000, 48*time.Hour)

	cfg := testTarget("main", srv.URI, time.Hour, 5*time.Second)
	cfg.Backups = &config.Backups{
		Expect:      config.BackupExpect{Every: config.Duration(24 * time.Hour), Grace: config.Duration(2 * time.Hour)},
		Retention:   config.Duration(720 * time.Hour),
		RestoreTest: &config.RestoreTest{Heartbeat: "restore-drill", Every: config.Duration(720 * time.Hour)},
		Sources: []config.BackupSource{
			{Name: "pbm", Kind: config.BackupPBM, PBM: &config.PBMSource{}},
			{Name: "files", Kind: config.BackupFiles, Files: &config.FilesSource{Path: dumps, Pattern: "*.archive.gz"}},
			{Name: "offsite", Kind: config.BackupFiles, Files: &config.FilesSource{Path: offsite, Pattern: "*", CopyOf: "files"}},
		},
	}
	logs := &syncBuffer{}
	c, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return now }
	c.RestoreDrills(func(name string) (time.Time, bool) {
		if name != "restore-drill" {
			return time.Time{}, false
		}
		return now.Add(-200 * time.Hour), true
	})
	client := connect(t, c)

	admin := client.Database("admin")
	backup := func(name, typ, status string, start, end time.Duration, size int64, hb time.Duration, errText string) bson.D {
		d := bson.D{{Key: "name", Value: name}, {Key: "type", Value: typ}, {Key: "status", Value: status},
			{Key: "start_ts", Value: ago(start)}, {Key: "last_transition_ts", Value: ago(end)},
			{Key: "last_write_ts", Value: ts(end + time.Minute)}, {Key: "hb", Value: ts(hb)}, {Key: "size", Value: size},
			{Key: "replsets", Value: bson.A{bson.D{{Key: "name", Value: "rs0"}, {Key: "status", Value: status}}}}}
		if errText != "" {
			d = append(d, bson.E{Key: "error", Value: errText})
		}
		return d
	}
	docs := []any{
		backup("2026-12-01T02:00:00Z", "logical", "done", 122*time.Hour, 121*time.Hour, 800, 121*time.Hour, ""),
		backup("2026-12-04T02:00:00Z", "logical", "done", 50*time.Hour, 49*time.Hour, 300, 49*time.Hour, ""),
		backup("2026-12-05T02:00:00Z", "logical", "done", 27*time.Hour, 26*time.Hour+30*time.Minute, 100, 26*time.Hour, ""),
		backup("2026-12-06T02:00:00Z", "logical", "error", 3*time.Hour, 2*time.Hour, 0, 2*time.Hour, "upload: access denied"),
		backup("2026-12-06T04:00:00Z", "physical", "running", 10*time.Minute, 10*time.Minute, 0, 5*time.Second, ""),
		backup("2026-12-06T01:00:00Z", "incremental", "done", 4*time.Hour, 3*time.Hour, 40, 3*time.Hour, ""),
		backup("2026-12-06T03:00:00Z", "incremental", "running", time.Hour, time.Hour, 0, 5*time.Minute, ""),
	}
	if _, err := admin.Collection("pbmBackups").InsertMany(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Collection("pbmPITRChunks").InsertMany(t.Context(), []any{
		bson.D{{Key: "rs", Value: "rs0"}, {Key: "start_ts", Value: ts(30 * time.Minute)}, {Key: "end_ts", Value: ts(20 * time.Minute)}},
		bson.D{{Key: "rs", Value: "rs0"}, {Key: "start_ts", Value: ts(20 * time.Minute)}, {Key: "end_ts", Value: ts(10 * time.Minute)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Collection("pbmRestores").InsertMany(t.Context(), []any{
		bson.D{{Key: "name", Value: "r1"}, {Key: "status", Value: "done"}, {Key: "start_ts", Value: ago(101 * time.Hour)}, {Key: "last_transition_ts", Value: ago(100 * time.Hour)}},
		bson.D{{Key: "name", Value: "r2"}, {Key: "status", Value: "error"}, {Key: "start_ts", Value: ago(2 * time.Hour)}, {Key: "last_transition_ts", Value: ago(time.Hour)}},
	}); err != nil {
		t.Fatal(err)
	}

	sec := func(d time.Duration) int64 { return ago(d) }
	want := fmt.Sprintf(`
# HELP mongodb_backup_last_success_timestamp_seconds When the newest successful backup of the type completed; 0 when the source has none.
# TYPE mongodb_backup_last_success_timestamp_seconds gauge
mongodb_backup_last_success_timestamp_seconds{source="files",target="main",type="dump"} %d
mongodb_backup_last_success_timestamp_seconds{source="offsite",target="main",type="dump"} %d
mongodb_backup_last_success_timestamp_seconds{source="pbm",target="main",type="incremental"} %d
mongodb_backup_last_success_timestamp_seconds{source="pbm",target="main",type="logical"} %d
mongodb_backup_last_success_timestamp_seconds{source="pbm",target="main",type="physical"} 0
# HELP mongodb_backup_last_size_bytes The newest successful backup's size.
# TYPE mongodb_backup_last_size_bytes gauge
mongodb_backup_last_size_bytes{source="files",target="main",type="dump"} 1000
mongodb_backup_last_size_bytes{source="offsite",target="main",type="dump"} 3000
mongodb_backup_last_size_bytes{source="pbm",target="main",type="incremental"} 40
mongodb_backup_last_size_bytes{source="pbm",target="main",type="logical"} 100
# HELP mongodb_backup_previous_size_bytes The size of the successful backup before the newest.
# TYPE mongodb_backup_previous_size_bytes gauge
mongodb_backup_previous_size_bytes{source="files",target="main",type="dump"} 3000
mongodb_backup_previous_size_bytes{source="pbm",target="main",type="logical"} 300
# HELP mongodb_backup_last_duration_seconds How long the newest successful backup took.
# TYPE mongodb_backup_last_duration_seconds gauge
mongodb_backup_last_duration_seconds{source="pbm",target="main",type="incremental"} 3600
mongodb_backup_last_duration_seconds{source="pbm",target="main",type="logical"} 1800
# HELP mongodb_backup_running 1 while a backup of the type runs.
# TYPE mongodb_backup_running gauge
mongodb_backup_running{source="files",target="main",type="dump"} 0
mongodb_backup_running{source="offsite",target="main",type="dump"} 0
mongodb_backup_running{source="pbm",target="main",type="incremental"} 1
mongodb_backup_running{source="pbm",target="main",type="logical"} 0
mongodb_backup_running{source="pbm",target="main",type="physical"} 1
# HELP mongodb_backup_stuck 1 when a running backup's heartbeat is older than 30 s.
# TYPE mongodb_backup_stuck gauge
mongodb_backup_stuck{source="files",target="main",type="dump"} 0
mongodb_backup_stuck{source="offsite",target="main",type="dump"} 0
mongodb_backup_stuck{source="pbm",target="main",type="incremental"} 1
mongodb_backup_stuck{source="pbm",target="main",type="logical"} 0
mongodb_backup_stuck{source="pbm",target="main",type="physical"} 0
# HELP mongodb_backup_failures_since_success Failed backups newer than the newest success.
# TYPE mongodb_backup_failures_since_success gauge
mongodb_backup_failures_since_success{source="files",target="main",type="dump"} 0
mongodb_backup_failures_since_success{source="offsite",target="main",type="dump"} 0
mongodb_backup_failures_since_success{source="pbm",target="main",type="incremental"} 0
mongodb_backup_failures_since_success{source="pbm",target="main",type="logical"} 1
mongodb_backup_failures_since_success{source="pbm",target="main",type="physical"} 0
# HELP mongodb_backup_oldest_timestamp_seconds The restore point of the oldest restorable backup.
# TYPE mongodb_backup_oldest_timestamp_seconds gauge
mongodb_backup_oldest_timestamp_seconds{source="files",target="main"} %d
mongodb_backup_oldest_timestamp_seconds{source="offsite",target="main"} %d
mongodb_backup_oldest_timestamp_seconds{source="pbm",target="main"} %d
# HELP mongodb_backup_restorable How many restorable backups the source holds.
# TYPE mongodb_backup_restorable gauge
mongodb_backup_restorable{source="files",target="main"} 3
mongodb_backup_restorable{source="offsite",target="main"} 1
mongodb_backup_restorable{source="pbm",target="main"} 4
# HELP mongodb_backup_pitr_lag_seconds Time since the end of the newest point-in-time-recovery oplog chunk.
# TYPE mongodb_backup_pitr_lag_seconds gauge
mongodb_backup_pitr_lag_seconds{source="pbm",target="main"} 600
# HELP mongodb_backup_last_restore_test_timestamp_seconds When the last successful restore drill ended; 0 when none is known.
# TYPE mongodb_backup_last_restore_test_timestamp_seconds gauge
mongodb_backup_last_restore_test_timestamp_seconds{source="heartbeat",target="main"} %d
mongodb_backup_last_restore_test_timestamp_seconds{source="pbm",target="main"} %d
# HELP mongodb_backup_copy_last_success_timestamp_seconds The newest backup in the off-site copy of the source.
# TYPE mongodb_backup_copy_last_success_timestamp_seconds gauge
mongodb_backup_copy_last_success_timestamp_seconds{source="files",target="main"} %d
# HELP mongodb_backup_expected_since_timestamp_seconds The newest time the last successful backup must be at least as new as now: the schedule's latest run that the grace has passed since.
# TYPE mongodb_backup_expected_since_timestamp_seconds gauge
mongodb_backup_expected_since_timestamp_seconds{target="main"} %d
# HELP mongodb_backup_grace_seconds How long after its scheduled time a backup may complete (backups.expect.grace).
# TYPE mongodb_backup_grace_seconds gauge
mongodb_backup_grace_seconds{target="main"} 7200
# HELP mongodb_backup_retention_seconds How old the oldest restorable backup must be at least (backups.retention).
# TYPE mongodb_backup_retention_seconds gauge
mongodb_backup_retention_seconds{target="main"} 2.592e+06
# HELP mongodb_backup_restore_test_max_age_seconds How old the last successful restore drill may be (backups.restore_test.every).
# TYPE mongodb_backup_restore_test_max_age_seconds gauge
mongodb_backup_restore_test_max_age_seconds{target="main"} 2.592e+06
`,
		sec(25*time.Hour), sec(48*time.Hour), sec(3*time.Hour), sec(26*time.Hour+30*time.Minute),
		sec(121*time.Hour), sec(48*time.Hour), sec(121*time.Hour+time.Minute),
		sec(200*time.Hour), sec(100*time.Hour), sec(48*time.Hour), sec(26*time.Hour))
	names := []string{
		"mongodb_backup_last_success_timestamp_seconds", "mongodb_backup_last_size_bytes", "mongodb_backup_previous_size_bytes",
		"mongodb_backup_last_duration_seconds", "mongodb_backup_running", "mongodb_backup_stuck", "mongodb_backup_failures_since_success",
		"mongodb_backup_oldest_timestamp_seconds", "mongodb_backup_restorable", "mongodb_backup_pitr_lag_seconds",
		"mongodb_backup_last_restore_test_timestamp_seconds", "mongodb_backup_copy_last_success_timestamp_seconds",
		"mongodb_backup_expected_since_timestamp_seconds", "mongodb_backup_grace_seconds", "mongodb_backup_retention_seconds",
		"mongodb_backup_restore_test_max_age_seconds",
	}

	c.collectOnce(t.Context(), client)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Fatalf("after a pass over PBM's collections and the dump folders:\n%v", err)
	}

	// The API's view: each source's newest backups, newest first.
	var pbm, files BackupSourceStatus
	for _, st := range c.Backups() {
		switch st.Source {
		case "pbm":
			pbm = st
		case "files":
			files = st
		}
	}
	var got []string
	for _, e := range pbm.Backups {
		got = append(got, e.Type+" "+e.Status+" "+e.Error)
	}
	wantPBM := []string{"physical running ", "incremental running ", "logical error upload: access denied", "incremental done ",
		"logical done ", "logical done ", "logical done "}
	if strings.Join(got, "|") != strings.Join(wantPBM, "|") || pbm.Error != "" || pbm.ReadAt.IsZero() {
		t.Errorf("PBM's backups in the API: %q (error %q, read at %s); want %q", got, pbm.Error, pbm.ReadAt, wantPBM)
	}
	if rp := pbm.Backups[3].RestorePoint; !rp.Equal(now.Add(-3*time.Hour - time.Minute)) {
		t.Errorf("the incremental backup's restore point %s; want its last_write_ts, %s", rp, now.Add(-3*time.Hour-time.Minute))
	}
	if len(files.Backups) != 3 || files.Backups[0].Name != "2026-12-05.archive.gz" || files.Backups[0].Size != 1000 ||
		!files.Backups[0].End.Equal(now.Add(-25*time.Hour)) || files.Backups[2].Name != "2026-12-01.archive.gz" {
		t.Errorf("the dump folder's backups in the API: %+v; want the three dumps, newest first", files.Backups)
	}

	// FerretDB goes away: PBM's last report stays, its error is counted,
	// and the dump folders are still read.
	srv.Stop()
	c.collectOnce(t.Context(), client)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Errorf("with FerretDB down, the last report is not kept:\n%v", err)
	}
	text := metricsText(t, c)
	for _, line := range []string{
		`lookout_collector_errors_total{collector="mongodb_backup_pbm",target="main"} 1`,
		`lookout_collector_errors_total{collector="mongodb_backup_files",target="main"} 0`,
		`lookout_collector_errors_total{collector="mongodb_backup_offsite",target="main"} 0`,
		`lookout_collector_errors_total{collector="mongodb_backups",target="main"} 0`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	for _, st := range c.Backups() {
		if st.Source == "pbm" && (st.Error == "" || len(st.Backups) != len(wantPBM) || strings.Contains(st.Error, srv.URI)) {
			t.Errorf("with FerretDB down, the API shows PBM's error %q and %d backups; want the error, without the URI, and the last %d", st.Error, len(st.Backups), len(wantPBM))
		}
	}
	if !strings.Contains(logs.String(), `collector failed" target=main collector=mongodb_backup_pbm`) {
		t.Errorf("the PBM source's failure is not logged:\n%s", logs)
	}
}
