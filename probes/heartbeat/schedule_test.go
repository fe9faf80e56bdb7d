package heartbeat_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/probes"
)

var berlin = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return loc
}()

// sleepUntil sleeps in the bubble until the wall-clock time t.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// TestEvery: a job that checks in every hour is up while on time, down
// once an hour plus grace passed without a success (the reason names when
// the run was due), and up again at its next success.
func TestEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBeats(t, `
  - name: sync
    heartbeat: {every: 1h, grace: 5m, token: "${HEARTBEAT_TOKEN}"}
`)
		t0 := time.Now()
		time.Sleep(time.Hour + 4*time.Minute)
		b.expect("sync", probes.Up) // the first run was due at t0+1h; grace has 1 min left
		time.Sleep(time.Minute)
		b.expect("sync", probes.Down, "no success for the run due at "+t0.Add(time.Hour).UTC().Format("2006-01-02 15:04:05 MST"),
			"every 1h, grace 5m", "no success since the heartbeat was created at "+t0.UTC().Format("2006-01-02 15:04:05"))

		b.checkin("POST", "/v1/heartbeat/sync", "")
		back := time.Now()
		b.expect("sync", probes.Up)
		time.Sleep(time.Hour + 5*time.Minute - time.Second)
		b.expect("sync", probes.Up)
		time.Sleep(time.Second)
		b.expect("sync", probes.Down, "due at "+back.Add(time.Hour).UTC().Format("2006-01-02 15:04:05"), "last success at "+back.UTC().Format("2006-01-02 15:04:05"))
		b.checkin("GET", "/v1/heartbeat/sync/0", "")
		b.expect("sync", probes.Up)
	})
}

// TestFailures: a failure is down at once, whatever the schedule, with
// the job's words or its exit code as the reason; a start does not clear
// it, the next success does; a run's duration is its start to its success.
func TestFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBeats(t, `
  - name: dump
    heartbeat: {every: 24h, token: "${HEARTBEAT_TOKEN}"}
`)
		time.Sleep(time.Minute)
		b.checkin("POST", "/v1/heartbeat/dump/fail", "pg_dump: error: connection to server failed\n")
		b.expect("dump", probes.Down, "pg_dump: error: connection to server failed")
		time.Sleep(time.Minute)
		b.checkin("POST", "/v1/heartbeat/dump/start", "")
		b.expect("dump", probes.Down, "pg_dump: error")
		time.Sleep(12 * time.Minute)
		b.checkin("POST", "/v1/heartbeat/dump", "")
		res := b.expect("dump", probes.Up)
		if f := facts(t, res); f.RunDuration != 12*time.Minute {
			t.Errorf("run duration %v, want 12m from start to success", f.RunDuration)
		}
		b.checkin("POST", "/v1/heartbeat/dump/2", "")
		b.expect("dump", probes.Down, "exited with code 2")
		b.checkin("POST", "/v1/heartbeat/dump/0", "")
		res = b.expect("dump", probes.Up)
		if f := facts(t, res); f.RunDuration != 0 {
			t.Errorf("run duration %v for a success without a start, want 0", f.RunDuration)
		}
	})
}

// TestCreatedLate: no run is expected before the heartbeat was created:
// created after today's 03:00, it waits for tomorrow's.
func TestCreatedLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 5, 4, 3, 30, 0, 0, time.UTC))
		b := newBeats(t, `
  - name: nightly
    heartbeat: {schedule: "0 3 * * *", grace: 10m, token: "${HEARTBEAT_TOKEN}"}
`)
		time.Sleep(time.Hour)
		res := b.expect("nightly", probes.Up)
		if f := facts(t, res); !f.Due.Equal(time.Date(2026, 5, 5, 3, 0, 0, 0, time.UTC)) {
			t.Errorf("due %v, want tomorrow 03:00", f.Due)
		}
		sleepUntil(time.Date(2026, 5, 5, 3, 10, 0, 0, time.UTC))
		b.expect("nightly", probes.Down, "due at 2026-05-05 03:00:00 UTC", `schedule "0 3 * * *"`, "late since 2026-05-05 03:10:00 UTC")
	})
}

// TestExpressions: assert and degraded_if read duration, since_success
// and exit_code.
func TestExpressions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBeats(t, `
  - name: slow
    heartbeat:
      every: 24h
      token: "${HEARTBEAT_TOKEN}"
      assert: ['exit_code == 0']
      degraded_if: ['duration > duration("30m")', 'since_success > duration("20h")']
`)
		b.checkin("POST", "/v1/heartbeat/slow/start", "")
		time.Sleep(45 * time.Minute)
		b.checkin("POST", "/v1/heartbeat/slow", "")
		b.expect("slow", probes.Degraded, `not duration > duration("30m")`, "45m")
		b.checkin("POST", "/v1/heartbeat/slow/start", "")
		time.Sleep(10 * time.Minute)
		b.checkin("POST", "/v1/heartbeat/slow", "")
		b.expect("slow", probes.Up)
		time.Sleep(21 * time.Hour)
		b.expect("slow", probes.Degraded, "since_success")
	})
}

// TestSpringForward: Europe/Berlin skips 02:00–03:00 on 29 March 2026. A
// job at "30 2 * * *" then has no 02:30: whether its cron skips it (as
// Kubernetes does) or runs it right after the change (as cronie does),
// the probe stays up that day; the next day's run is expected as usual.
func TestSpringForward(t *testing.T) {
	const cfg = `
  - name: nightly
    heartbeat: {schedule: "30 2 * * *", timezone: Europe/Berlin, grace: 1h, token: "${HEARTBEAT_TOKEN}"}
`
	for _, tt := range []struct {
		name      string
		runsAfter bool // the job runs at 03:00 CEST on the day of the change
	}{{"cron skips the run", false}, {"cron runs it after the change", true}} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sleepUntil(time.Date(2026, 3, 27, 12, 0, 0, 0, berlin))
				b := newBeats(t, cfg)
				sleepUntil(time.Date(2026, 3, 28, 2, 31, 0, 0, berlin))
				b.checkin("POST", "/v1/heartbeat/nightly", "")
				if tt.runsAfter {
					sleepUntil(time.Date(2026, 3, 29, 3, 1, 0, 0, berlin))
					b.checkin("POST", "/v1/heartbeat/nightly", "")
				}
				for _, at := range []time.Time{
					time.Date(2026, 3, 29, 3, 45, 0, 0, berlin), // 02:30 + 1h had it existed
					time.Date(2026, 3, 29, 12, 0, 0, 0, berlin),
					time.Date(2026, 3, 30, 3, 29, 59, 0, berlin),
				} {
					sleepUntil(at)
					res := b.expect("nightly", probes.Up)
					if f := facts(t, res); !f.Due.Equal(time.Date(2026, 3, 30, 2, 30, 0, 0, berlin)) {
						t.Errorf("at %s: due %s, want 2026-03-30 02:30 CEST", at, f.Due.In(berlin))
					}
				}
				sleepUntil(time.Date(2026, 3, 30, 3, 30, 0, 0, berlin))
				b.expect("nightly", probes.Down, "due at 2026-03-30 02:30:00 CEST", "late since 2026-03-30 03:30:00 CEST")
			})
		})
	}
}

// TestFallBack: Europe/Berlin shows 02:00–03:00 twice on 25 October
// 2026. A daily job at "30 2 * * *" runs once that night, at the first
// 02:30: no second run is expected an hour later. A daily job at
// "0 3 * * *" is due 25 hours after the day before's.
func TestFallBack(t *testing.T) {
	t.Run("30 2 * * *", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sleepUntil(time.Date(2026, 10, 24, 12, 0, 0, 0, berlin))
			b := newBeats(t, `
  - name: nightly
    heartbeat: {schedule: "30 2 * * *", timezone: Europe/Berlin, grace: 1h, token: "${HEARTBEAT_TOKEN}"}
`)
			firstPass := time.Date(2026, 10, 25, 0, 31, 0, 0, time.UTC) // 02:31 CEST
			sleepUntil(firstPass)
			b.checkin("POST", "/v1/heartbeat/nightly", "")
			sleepUntil(time.Date(2026, 10, 25, 3, 45, 0, 0, berlin)) // the second 02:30 (CET) + 1h has passed
			res := b.expect("nightly", probes.Up)
			if f := facts(t, res); !f.Due.Equal(time.Date(2026, 10, 26, 2, 30, 0, 0, berlin)) {
				t.Errorf("due %s, want 2026-10-26 02:30 CET", f.Due.In(berlin))
			}
			sleepUntil(time.Date(2026, 10, 26, 3, 30, 0, 0, berlin))
			b.expect("nightly", probes.Down, "due at 2026-10-26 02:30:00 CET")
		})
	})
	t.Run("0 3 * * *", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sleepUntil(time.Date(2026, 10, 23, 12, 0, 0, 0, berlin))
			b := newBeats(t, `
  - name: daily
    heartbeat: {schedule: "0 3 * * *", timezone: Europe/Berlin, grace: 1h, token: "${HEARTBEAT_TOKEN}"}
`)
			sleepUntil(time.Date(2026, 10, 24, 3, 5, 0, 0, berlin))
			b.checkin("POST", "/v1/heartbeat/daily", "")
			// 24h55m later: a day of 24 hours would be late, this one is 25.
			sleepUntil(time.Date(2026, 10, 25, 3, 59, 59, 0, berlin))
			b.expect("daily", probes.Up)
			sleepUntil(time.Date(2026, 10, 25, 4, 0, 0, 0, berlin))
			res := b.expect("daily", probes.Down, "due at 2026-10-25 03:00:00 CET", "last success at 2026-10-24 03:05:00 CEST")
			if strings.Contains(res.Reason, "UTC") {
				t.Errorf("reason %q tells UTC times; want the heartbeat's time zone", res.Reason)
			}
		})
	})
}
