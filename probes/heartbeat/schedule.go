package heartbeat

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/lookout-dev/lookout/config"
)

// schedule is when a heartbeat's job runs: a cron schedule (in the
// heartbeat's time zone, as config reads it) or every so long.
type schedule struct {
	cron  cron.Schedule // nil for every
	every time.Duration
	grace time.Duration
	loc   *time.Location
	text  string // as the config says it: the cron spec or "every 24h"
}

func newSchedule(cfg *config.Heartbeat) schedule {
	s := schedule{every: cfg.Every.Std(), grace: cfg.Grace.Std(), loc: cfg.Location}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if cfg.Schedule != nil {
		s.cron, s.text = cfg.Schedule.Schedule, cfg.Schedule.Spec
		if spec, ok := s.cron.(*cron.SpecSchedule); ok && spec.Location != nil {
			s.loc = spec.Location // the heartbeat's time zone, or the spec's CRON_TZ
		}
	} else {
		s.text = "every " + short(s.every)
	}
	return s
}

// due is the first run a success is expected for after ref (the last
// success, or when the heartbeat was created): the first scheduled time
// after ref, or ref plus every. Zero when the schedule never fires again.
//
// A success at s counts for every run scheduled at or before s, so the
// probe is down once a run is due and grace has passed without a success
// after it (see Prober.Probe). A wall-clock time that the end of daylight
// saving time repeats counts once: robfig/cron plans "30 2 * * *" at
// 02:30 summer time and again at 02:30 winter time that night, where cron
// (Vixie cron, cronie) runs a daily job once. A time the start of daylight
// saving time skips is not planned that day (as robfig/cron, and so
// Kubernetes CronJobs, do; cronie runs such a job right after the change,
// and its success then counts for the next day's run).
func (s schedule) due(ref time.Time) time.Time {
	if s.cron == nil {
		return ref.Add(s.every)
	}
	t := s.cron.Next(ref.In(s.loc)) // in the location it is given
	for i := 0; i < 1500 && !t.IsZero() && repeated(t); i++ {
		t = s.cron.Next(t)
	}
	return t
}

// repeated reports whether t's wall-clock time, in its location, was
// shown before, in the hour (or so) the end of daylight saving time
// repeats: the offset three hours earlier was larger, and the instant the
// difference earlier still had it.
func repeated(t time.Time) bool {
	_, off := t.Zone()
	_, before := t.Add(-3 * time.Hour).Zone()
	if before <= off {
		return false
	}
	_, then := t.Add(-time.Duration(before-off) * time.Second).Zone()
	return then == before
}

// when writes t for people, in the heartbeat's time zone.
func (s schedule) when(t time.Time) string {
	return t.In(s.loc).Format("2006-01-02 15:04:05 MST")
}

// short writes a duration without zero units: 1h, 1h30m, 5m, 90s as 1m30s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
