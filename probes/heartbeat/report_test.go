package heartbeat_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/probes"
)

// TestReport: `lookout probe NAME` tells the schedule, the last signal of
// each kind and the run a success is expected for, in the heartbeat's
// time zone.
func TestReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 6, 1, 12, 0, 0, 0, berlin))
		b := newBeats(t, `
  - name: nightly-dump
    heartbeat: {schedule: "0 3 * * *", timezone: Europe/Berlin, grace: 1h, token: "${HEARTBEAT_TOKEN}"}
`)
		sleepUntil(time.Date(2026, 6, 2, 3, 0, 0, 0, berlin))
		b.checkin("POST", "/v1/heartbeat/nightly-dump/start", "")
		time.Sleep(12*time.Minute + 30*time.Second)
		b.checkin("POST", "/v1/heartbeat/nightly-dump", "")
		sleepUntil(time.Date(2026, 6, 2, 9, 0, 0, 0, berlin))
		b.checkin("POST", "/v1/heartbeat/nightly-dump/3", "")
		res := b.expect("nightly-dump", probes.Down, "exited with code 3")
		r := b.runners["nightly-dump"]

		var out strings.Builder
		rep := probes.NewReport(&out, time.Now())
		r.Kind().ReportTarget(rep, r.Config())
		r.Kind().ReportFacts(rep, res.Facts)
		want := `  schedule:   0 3 * * *, time zone Europe/Berlin, grace 1h
  success:    2026-06-02 03:12:30 CEST (5h47m30s ago), the run took 12m30s
  start:      2026-06-02 03:00:00 CEST (6h ago)
  failure:    2026-06-02 09:00:00 CEST (0s ago), exit code 3
  expected:   a success for the run due at 2026-06-03 03:00:00 CEST, by 2026-06-03 04:00:00 CEST
`
		if out.String() != want {
			t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
		}
	})
}
