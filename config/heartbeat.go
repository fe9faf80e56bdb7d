package config

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Heartbeat is a dead man's switch: a job checks in at
// /v1/heartbeat/NAME, and the probe is down when no success arrived
// within the schedule plus grace, or the last signal was a failure
// (probes[].heartbeat).
type Heartbeat struct {
	Schedule *Schedule `yaml:"schedule"` // when the job runs, or:
	Every    Duration  `yaml:"every"`
	Timezone string    `yaml:"timezone"` // of schedule; default UTC
	Grace    Duration  `yaml:"grace"`    // how late a success may be; default DefaultHeartbeatGrace
	// Token is the secret a check-in shows (Authorization: Bearer, or
	// ?token=).
	Token      string `yaml:"token"`
	Assert     []Expr `yaml:"assert"`
	DegradedIf []Expr `yaml:"degraded_if"`
	// Location is Timezone loaded.
	Location *time.Location `yaml:"-"`
}

// DefaultHeartbeatGrace is how late a check-in may be when grace is not
// set.
const DefaultHeartbeatGrace = Duration(5 * time.Minute)

// MinHeartbeatToken is the shortest token a heartbeat accepts.
const MinHeartbeatToken = 16

func (h *Heartbeat) check(d *decoder, x exprs, path string) {
	h.Location = checkWhen(d, path, whenFields{h.Schedule, h.Every, h.Timezone, &h.Grace}, DefaultHeartbeatGrace, "a check-in")
	switch {
	case h.Token == "":
		d.errorAt(path+".token", "missing; a check-in changes the probe's state, so it needs a secret token (generate one, e.g. openssl rand -hex 16, and give it to the job)")
	case len(h.Token) < MinHeartbeatToken:
		d.errorAt(path+".token", "is %d characters; want at least %d so it cannot be guessed (the value is not shown)", len(h.Token), MinHeartbeatToken)
	case strings.ContainsAny(h.Token, " \t\r\n"):
		d.errorAt(path+".token", "holds white space; want a token without (the value is not shown)")
	}
	x.compile(d, path, h.Assert, h.DegradedIf)
}

// whenFields are a recurring job's timing in a config section (a
// heartbeat, a backup's expect): a cron schedule (in timezone) or every
// so long, and how late a success may be.
type whenFields struct {
	schedule *Schedule
	every    Duration
	timezone string
	grace    *Duration
}

// checkWhen checks w at path, reads the cron fields in the time zone
// (UTC by default, never the host's), sets the grace's default, and
// returns the time zone. late says what the grace lets be late.
func checkWhen(d *decoder, path string, w whenFields, defaultGrace Duration, late string) *time.Location {
	switch {
	case w.schedule != nil && w.every != 0:
		d.errorAt(path+".every", "schedule and every are both set; want one of them")
	case w.schedule == nil && w.every == 0:
		d.errorAt(path, "has neither schedule nor every; want when the job runs, like schedule: \"0 3 * * *\" or every: 24h")
	case w.every < 0:
		d.errorAt(path+".every", "%s is negative; want how often the job runs, like 24h", w.every.Std())
	}
	loc := time.UTC
	if w.timezone != "" {
		l, err := time.LoadLocation(w.timezone)
		if err != nil {
			d.errorAt(path+".timezone", "%q is not a known time zone; want an IANA name like Europe/Berlin or UTC", w.timezone)
		} else {
			loc = l
		}
	}
	if w.schedule != nil && w.schedule.Schedule != nil {
		if _, ok := w.schedule.Schedule.(cron.ConstantDelaySchedule); ok {
			if w.timezone != "" {
				d.errorAt(path+".timezone", "is set, but schedule %q is an interval; a time zone applies to cron fields only", w.schedule.Spec)
			}
		} else if !strings.Contains(w.schedule.Spec, "TZ=") {
			if s, err := cronParser.Parse("CRON_TZ=" + loc.String() + " " + w.schedule.Spec); err == nil {
				w.schedule.Schedule = s
			}
		}
	}
	switch {
	case *w.grace == 0 && !d.has(path+".grace"):
		*w.grace = defaultGrace
	case *w.grace < 0:
		d.errorAt(path+".grace", "%s is negative; want how late %s may be, like 1h", w.grace.Std(), late)
	}
	return loc
}
