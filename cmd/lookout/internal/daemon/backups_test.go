package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
)

// Secrets of the unreachable backup sources of TestBackupRulesPage.
const (
	backupS3Secret    = "s3-secret-key-7c1d9e"
	backupAtlasSecret = "mdb_sa_sk_atlas-secret-2b8f"
)

// backupRulesWithoutFor is the built-in backup rule pack with every for:
// removed, as a user rule file overriding the built-in rules: their
// expressions and annotations exactly, firing at the first evaluation.
func backupRulesWithoutFor(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../../alerting/rules/backups.yml")
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^\s+for: .*\n`).ReplaceAllString(string(b), "")
	return strings.Replace(s, "name: lookout-mongodb-backups", "name: backups-test", 1)
}

// insertPBMState writes into the admin database what Percona Backup for
// MongoDB keeps there: a done backup 20 hours old, a failed one 2 hours
// old, an incremental one running for an hour (its heartbeat 5 minutes
// old), and point-in-time chunks an hour behind.
func insertPBMState(t *testing.T, client *mongo.Client, now time.Time) {
	t.Helper()
	ago := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	ts := func(d time.Duration) bson.Timestamp { return bson.Timestamp{T: uint32(ago(d)), I: 1} }
	backup := func(typ, status string, start, end, hb time.Duration, errText string) bson.D {
		return bson.D{{Key: "name", Value: fmt.Sprint(ago(start))}, {Key: "type", Value: typ}, {Key: "status", Value: status},
			{Key: "start_ts", Value: ago(start)}, {Key: "last_transition_ts", Value: ago(end)}, {Key: "last_write_ts", Value: ts(end)},
			{Key: "hb", Value: ts(hb)}, {Key: "size", Value: int64(500)}, {Key: "error", Value: errText}}
	}
	admin := client.Database("admin")
	if _, err := admin.Collection("pbmBackups").InsertMany(t.Context(), []any{
		backup("logical", "done", 21*time.Hour, 20*time.Hour, 20*time.Hour, ""),
		backup("logical", "error", 3*time.Hour, 2*time.Hour, 2*time.Hour, "upload: access denied"),
		backup("incremental", "running", time.Hour, time.Hour, 5*time.Minute, ""),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Collection("pbmPITRChunks").InsertOne(t.Context(),
		bson.D{{Key: "rs", Value: "rs0"}, {Key: "start_ts", Value: ts(70 * time.Minute)}, {Key: "end_ts", Value: ts(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
}

// writeDump writes a dump file of size bytes into folder, dated at.
func writeDump(t *testing.T, folder, name string, size int, at time.Time) {
	t.Helper()
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(folder, name)
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
}

// TestBackupRulesPage: every built-in backup rule pages a real webhook
// when its condition is true on a running daemon: PBM's collections in a
// real FerretDB (a failed newest backup, one stuck, PITR an hour behind,
// no restore), dump folders whose files the test dates (stale, shrunk,
// short of the retention, an off-site copy days behind), a restore-drill
// heartbeat that never checked in, and an S3 bucket and the Atlas API that
// cannot be reached, which count as never backed up. Their secrets appear
// nowhere: not in the log, /metrics, the backups API or the pages.
func TestBackupRulesPage(t *testing.T) {
	srv := ferretdbtest.Start(t)
	now := time.Now()
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(t.Context())
	insertPBMState(t, client, now)

	dir := t.TempDir()
	dumps, offsite := filepath.Join(dir, "dumps"), filepath.Join(dir, "offsite")
	writeDump(t, dumps, "a.archive.gz", 1000, now.Add(-96*time.Hour))
	writeDump(t, dumps, "b.archive.gz", 100, now.Add(-72*time.Hour)) // less than half the one before
	writeDump(t, offsite, "a.archive.gz", 1000, now.Add(-144*time.Hour))

	hook := newHookServer(t)
	writeConfig(t, filepath.Join(dir, "rules.yml"), backupRulesWithoutFor(t))
	cfg := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfg, fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  public: {listen: 127.0.0.1:0}
storage: {path: %[1]q}
alerting:
  evaluation_interval: 200ms
  rule_files: [rules.yml]
  route: {receiver: hook, group_by: [alertname, source], group_wait: 0s, group_interval: 200ms, repeat_interval: 1h}
  receivers:
    - name: hook
      webhook: {url: %[2]q}
probes:
  - name: restore-drill
    interval: 1h
    heartbeat: {every: 720h, token: %[3]s}
mongodb:
  - name: main
    uri: %[4]q
    interval: 1s
    timeout: 800ms
    backups:
      expect: {every: 24h, grace: 2h}
      retention: 720h
      sources:
        - pbm: {}
        - files: {path: %[5]q, pattern: "*.archive.gz"}
        - {name: offsite, files: {path: %[6]q, copy_of: files}}
        - s3: {endpoint: "http://127.0.0.1:1", bucket: dumps, access_key_id: AKIAEXAMPLE, secret_access_key: %[7]s}
        - atlas: {group_id: 5f1d7a, cluster: main, client_id: mdb_sa_id_x, client_secret: %[8]s, base_url: "http://127.0.0.1:1"}
      restore_test: {heartbeat: restore-drill, every: 720h}
`, filepath.Join(dir, "data"), hook.srv.URL, beatToken, srv.URI, dumps, offsite, backupS3Secret, backupAtlasSecret))
	d := startBeatDaemon(t, cfg)
	defer d.stop(t)

	want := map[string][]string{
		"MongoDBBackupStale":          {"atlas", "files", "s3"},
		"MongoDBBackupFailed":         {"pbm"},
		"MongoDBBackupStuck":          {"pbm"},
		"MongoDBBackupShrunk":         {"files"},
		"MongoDBPITRLagHigh":          {"pbm"},
		"MongoDBBackupCopyStale":      {"files"},
		"MongoDBBackupRetentionShort": {"files", "offsite", "pbm"},
		"MongoDBRestoreTestStale":     {""},
	}
	got := map[string][]string{}
	var pages []string
	deadline := time.After(60 * time.Second)
	for !allPaged(got, want) {
		select {
		case m := <-hook.got:
			for _, a := range m.Alerts {
				if a.Status != "firing" || a.Labels["target"] != "main" {
					continue
				}
				name, src := a.Labels["alertname"], a.Labels["source"]
				if !slices.Contains(got[name], src) {
					got[name] = append(got[name], src)
				}
				pages = append(pages, fmt.Sprint(a.Labels, a.Annotations))
			}
		case <-deadline:
			t.Fatalf("after 60 s the webhook got %v; want every backup rule: %v", got, want)
		}
	}
	for name, sources := range got {
		slices.Sort(sources)
		if !slices.Equal(sources, want[name]) {
			t.Errorf("%s paged for sources %q; want %q", name, sources, want[name])
		}
	}

	_, metrics := d.get(t, "/metrics")
	_, api := d.get(t, "/api/v1/mongodb/backups?target=main")
	if !strings.Contains(api, `"source": "pbm"`) || !strings.Contains(api, "upload: access denied") || !strings.Contains(api, `"source": "s3"`) {
		t.Errorf("/api/v1/mongodb/backups lacks PBM's failed backup or the s3 source:\n%s", api)
	}
	for what, text := range map[string]string{"the log": d.logs.String(), "/metrics": metrics, "the backups API": api, "the pages": strings.Join(pages, "\n")} {
		for _, secret := range []string{backupS3Secret, backupAtlasSecret} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows the secret %q", what, secret)
			}
		}
	}
}

// allPaged reports whether got has every alert and source of want.
func allPaged(got, want map[string][]string) bool {
	for name, sources := range want {
		for _, s := range sources {
			if !slices.Contains(got[name], s) {
				return false
			}
		}
	}
	return true
}
