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
	switch {
	case h.Schedule != nil && h.Every != 0:
		d.errorAt(path+".every", "schedule and every are both set; want one of them")
	case h.Schedule == nil && h.Every == 0:
		d.errorAt(path, "has neither schedule nor every; want when the job runs, like schedule: \"0 3 * * *\" or every: 24h")
	case h.Every < 0:
		d.errorAt(path+".every", "%s is negative; want how often the job runs, like 24h", h.Every.Std())
	}
	h.Location = time.UTC
	if h.Timezone != "" {
		loc, err := time.LoadLocation(h.Timezone)
		if err != nil {
			d.errorAt(path+".timezone", "%q is not a known time zone; want an IANA name like Europe/Berlin or UTC", h.Timezone)
		} else {
			h.Location = loc
		}
	}
	if h.Schedule != nil && h.Schedule.Schedule != nil {
		if _, ok := h.Schedule.Schedule.(cron.ConstantDelaySchedule); ok {
			if h.Timezone != "" {
				d.errorAt(path+".timezone", "is set, but schedule %q is an interval; a time zone applies to cron fields only", h.Schedule.Spec)
			}
		} else if !strings.Contains(h.Schedule.Spec, "TZ=") {
			// Cron fields are read in the heartbeat's time zone, UTC by
			// default (never the host's).
			if s, err := cronParser.Parse("CRON_TZ=" + h.Location.String() + " " + h.Schedule.Spec); err == nil {
				h.Schedule.Schedule = s
			}
		}
	}
	switch {
	case h.Grace == 0 && !d.has(path+".grace"):
		h.Grace = DefaultHeartbeatGrace
	case h.Grace < 0:
		d.errorAt(path+".grace", "%s is negative; want how late a check-in may be, like 1h", h.Grace.Std())
	}
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
