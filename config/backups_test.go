package config

import (
	"strings"
	"testing"
	"time"
)

// TestBackupsLoad: mongodb[].backups loads as the README writes it, every
// source kind with its defaults, and a second target with named sources.
func TestBackupsLoad(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/backups.yml")
	if err != nil {
		t.Fatal(err)
	}
	main, reports := cfg.MongoDB[0].Backups, cfg.MongoDB[1].Backups
	at := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	checks := []struct {
		name      string
		got, want any
	}{
		{"schedule's next run", main.Expect.Schedule.Next(at), time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)},
		{"grace", main.Expect.Grace.Std(), 2 * time.Hour},
		{"retention", main.Retention.Std(), 720 * time.Hour},
		{"sources", len(main.Sources), 4},
		{"pbm", main.Sources[0].Kind + " " + main.Sources[0].Name, "pbm pbm"},
		{"atlas credentials from the environment", main.Sources[1].Atlas.ClientSecret, "mdb_sa_sk_hunter3"},
		{"atlas base URL", main.Sources[1].Atlas.BaseParsed.Host, "cloud.mongodb.com"},
		{"files pattern", main.Sources[2].Files.Pattern, "*.archive.gz"},
		{"s3 endpoint", main.Sources[3].S3.EndpointURL.Host, "s3.eu-central-1.amazonaws.com"},
		{"s3 is the copy of files", main.Sources[3].Name + " copy_of " + main.Sources[3].CopyOf(), "s3 copy_of files"},
		{"restore test", main.RestoreTest.Heartbeat + " " + main.RestoreTest.Every.Std().String(), "restore-drill 720h0m0s"},
		{"every", reports.Expect.Every.Std(), 24 * time.Hour},
		{"default grace", reports.Expect.Grace, DefaultBackupGrace},
		{"named source", reports.Sources[1].Name + " " + reports.Sources[1].Kind + " copy_of " + reports.Sources[1].CopyOf(), "nightly-offsite s3 copy_of nightly"},
		{"default pattern", reports.Sources[0].Files.Pattern, "*"},
		{"no restore test", reports.RestoreTest == nil, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestBackupSecretsStayOutOfErrors: a key in a wrong place, or in a URL,
// is never shown in the errors.
func TestBackupSecretsStayOutOfErrors(t *testing.T) {
	_, err := loadTestdata(t, "testdata/invalid-backups.yml")
	if err == nil {
		t.Fatal("want errors")
	}
	for _, secret := range []string{"s3-hunter4", "AKIATEST", "hunter2"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the errors show %q:\n%v", secret, err)
		}
	}
}
