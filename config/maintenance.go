package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/robfig/cron/v3"
)

// Maintenance is planned work (maintenance[]): while one of its windows
// is on, the alerts its matchers select are muted, as a silence mutes
// them. A window recurs on a cron schedule for a duration, or is a
// one-off from start to end.
type Maintenance struct {
	// Name identifies the maintenance; unique among them.
	Name string `yaml:"name"`
	// Schedule is when each window starts: five cron fields or a
	// descriptor such as @weekly, read in Timezone. Not an @every
	// interval, which has no time of its own.
	Schedule *Schedule `yaml:"schedule"`
	// Timezone is Schedule's IANA time zone; default UTC. Start and End
	// carry their own offset.
	Timezone string `yaml:"timezone"`
	// Duration is how long each scheduled window lasts, in elapsed time
	// (a window across a daylight saving change ends as many hours after
	// it started as Duration says); at most MaxMaintenanceDuration.
	Duration Duration `yaml:"duration"`
	// Start and End are a one-off window, in RFC 3339 with an offset.
	Start *Timestamp `yaml:"start"`
	End   *Timestamp `yaml:"end"`
	// Matchers select the alerts muted, like probe=~"api-.*"; at least
	// one must need a value, so that the window never mutes everything.
	Matchers []Matcher `yaml:"matchers"`
	// Message says what the work is; at most MaxMaintenanceMessage
	// characters.
	Message string `yaml:"message"`
	// Location is Timezone loaded; Schedule is read in it.
	Location *time.Location `yaml:"-"`
}

// Bounds of a maintenance window.
const (
	// MaxMaintenanceDuration is the longest one window lasts.
	MaxMaintenanceDuration = Duration(7 * 24 * time.Hour)
	// MaxMaintenanceMessage is how many characters a message holds.
	MaxMaintenanceMessage = 500
)

// Timestamp is an instant written in RFC 3339, offset included:
// 2026-05-01T22:00:00+02:00 or 2026-05-01T20:00:00Z.
type Timestamp struct {
	time.Time
}

func (t *Timestamp) parseScalar(s string) error {
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time; want a date, a time and an offset, like 2026-05-01T22:00:00+02:00 or 2026-05-01T20:00:00Z", s)
	}
	t.Time = v
	return nil
}

// AllMatchEmpty reports whether every matcher matches the empty string:
// such a set selects every alert that lacks its labels, so as a silence
// or a maintenance window it would mute (nearly) every alert.
func AllMatchEmpty(ms []*labels.Matcher) bool {
	return !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return !m.Matches("") })
}

// ActiveAt returns the window that t is in, from start (included) to end
// (excluded). Scheduled windows that overlap (a duration longer than the
// time between two starts) give the one that started last.
func (m *Maintenance) ActiveAt(t time.Time) (start, end time.Time, ok bool) {
	if !m.scheduled() {
		if m.Start == nil || m.End == nil || t.Before(m.Start.Time) || !t.Before(m.End.Time) {
			return time.Time{}, time.Time{}, false
		}
		return m.Start.Time, m.End.Time, true
	}
	d := m.Duration.Std()
	// Every window holding t starts in (t-d, t]; cron has no Prev, so
	// step through the starts from just before.
	for a := m.Schedule.Next(t.Add(-d - time.Second)); !a.IsZero() && !a.After(t); a = m.Schedule.Next(a) {
		if t.Before(a.Add(d)) {
			start, end, ok = a, a.Add(d), true
		}
	}
	return start, end, ok
}

// Next returns the first window that starts after after. A one-off has
// none once it has started.
func (m *Maintenance) Next(after time.Time) (start, end time.Time, ok bool) {
	if !m.scheduled() {
		if m.Start == nil || m.End == nil || !m.Start.After(after) {
			return time.Time{}, time.Time{}, false
		}
		return m.Start.Time, m.End.Time, true
	}
	a := m.Schedule.Next(after)
	if a.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	return a, a.Add(m.Duration.Std()), true
}

func (m *Maintenance) scheduled() bool { return m.Schedule != nil && m.Schedule.Schedule != nil }

func (c *Config) checkMaintenance(d *decoder) {
	names := map[string]int{}
	for i := range c.Maintenance {
		m := &c.Maintenance[i]
		at := fmt.Sprintf("maintenance[%d]", i)
		switch j, dup := names[m.Name]; {
		case m.Name == "":
			d.errorAt(at+".name", "missing; every maintenance needs a unique name")
		case dup:
			d.errorAt(at+".name", "duplicate maintenance name %q, first used by maintenance[%d]; names must be unique", m.Name, j)
		default:
			names[m.Name] = i
		}
		oneOff := m.Start != nil || m.End != nil
		switch {
		case m.Schedule != nil && oneOff:
			field := ".start"
			if m.Start == nil {
				field = ".end"
			}
			d.errorAt(at+field, "is set beside schedule; want schedule with duration for a recurring window, or start and end for a one-off")
		case m.Schedule != nil:
			m.checkSchedule(d, at)
		case oneOff:
			m.checkOneOff(d, at)
		default:
			d.errorAt(at, "has neither schedule nor start and end; want when the work is, like schedule: \"0 4 * * SUN\" with duration: 1h, or start and end in RFC 3339 for a one-off")
		}
		m.checkMatchers(d, at+".matchers")
		if n := utf8.RuneCountInString(m.Message); n > MaxMaintenanceMessage {
			d.errorAt(at+".message", "is %d characters; want at most %d", n, MaxMaintenanceMessage)
		}
	}
}

func (m *Maintenance) checkSchedule(d *decoder, at string) {
	m.Location = time.UTC
	if m.Timezone != "" {
		loc, err := time.LoadLocation(m.Timezone)
		if err != nil {
			d.errorAt(at+".timezone", "%q is not a known time zone; want an IANA name like Europe/Berlin or UTC", m.Timezone)
		} else {
			m.Location = loc
		}
	}
	switch {
	case m.Duration == 0 && !d.has(at+".duration"):
		d.errorAt(at+".duration", "missing; a schedule needs how long each window lasts, like 1h")
	case m.Duration == 0 && !d.hasErrorAt(at+".duration"):
		d.errorAt(at+".duration", "is 0; want how long each window lasts, like 1h")
	case m.Duration > MaxMaintenanceDuration:
		d.errorAt(at+".duration", "%s is longer than a window may last; want at most 168h (7 days)", m.Duration.Std())
	}
	s := m.Schedule
	switch {
	case s.Schedule == nil: // the decoder told what is wrong
	case isInterval(s.Schedule):
		d.errorAt(at+".schedule", "%q is an interval counted from whenever Lookout started; want when each window starts, like \"0 4 * * SUN\" or @weekly", s.Spec)
	case strings.Contains(s.Spec, "TZ="):
		d.errorAt(at+".schedule", "%q names its time zone; want the cron fields only, and the zone in timezone", s.Spec)
	default:
		if zoned, err := cronParser.Parse("CRON_TZ=" + m.Location.String() + " " + s.Spec); err == nil {
			s.Schedule = zoned
		}
		// Five years from a leap year's start: a date that exists at all
		// is among them.
		if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			d.errorAt(at+".schedule", "%q names no date that exists, so it never starts; want a schedule that does, like \"0 4 * * SUN\"", s.Spec)
			s.Schedule = nil
		}
	}
}

func isInterval(s cron.Schedule) bool {
	_, ok := s.(cron.ConstantDelaySchedule)
	return ok
}

func (m *Maintenance) checkOneOff(d *decoder, at string) {
	if m.Timezone != "" {
		d.errorAt(at+".timezone", "is set, but there is no schedule; start and end carry their own offset, like 2026-05-01T22:00:00+02:00")
	}
	if m.Duration != 0 || d.has(at+".duration") {
		d.errorAt(at+".duration", "is set beside start and end; a one-off window lasts from start to end")
	}
	const example = "like 2026-05-01T22:00:00+02:00"
	switch {
	case m.Start == nil:
		d.errorAt(at+".start", "missing; a one-off window needs start and end, %s", example)
	case m.End == nil:
		d.errorAt(at+".end", "missing; a one-off window needs start and end, %s", example)
	case m.Start.IsZero() || m.End.IsZero(): // the decoder told what is wrong
	case !m.End.After(m.Start.Time):
		d.errorAt(at+".end", "%s is not after start %s; want an end after the start", m.End.Format(time.RFC3339), m.Start.Format(time.RFC3339))
	case m.End.Sub(m.Start.Time) > MaxMaintenanceDuration.Std():
		d.errorAt(at+".end", "is %s after start, longer than a window may last; want at most 168h (7 days), or several windows", m.End.Sub(m.Start.Time))
	}
}

func (m *Maintenance) checkMatchers(d *decoder, at string) {
	if len(m.Matchers) == 0 {
		d.errorAt(at, "missing; want at least one matcher selecting the alerts to mute, like probe=~\"api-.*\"")
		return
	}
	ms := make([]*labels.Matcher, 0, len(m.Matchers))
	written := make([]string, 0, len(m.Matchers))
	for _, x := range m.Matchers {
		if x.Matcher == nil {
			return // the decoder told what is wrong
		}
		ms = append(ms, x.Matcher)
		written = append(written, x.String())
	}
	if AllMatchEmpty(ms) {
		d.errorAt(at, "every matcher (%s) matches alerts without the label, so the window would mute every alert; want at least one that needs a value, like probe=\"api-health\"", strings.Join(written, ", "))
	}
}
