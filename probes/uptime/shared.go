package uptime

import (
	"errors"
	"fmt"
	"time"
)

// Shared is where, in a cluster, each replica keeps the periods it
// counted, so whichever replica serves a status page or the API reports
// a probe's uptime over the time any replica ran it.
type Shared interface {
	// Save stores this replica's periods.
	Save(periods []SharedPeriod) error
	// Load returns the periods of probe of step s that start in
	// [from, to) which the other replicas counted.
	Load(probe string, s Step, from, to time.Time) ([]SharedPeriod, error)
	// Prune deletes every replica's periods of step s that start
	// before before.
	Prune(s Step, before time.Time) error
}

// SharedPeriod is one replica's period of a probe.
type SharedPeriod struct {
	Probe string
	Step  Step
	Period
}

// DefaultShareEvery is Options.ShareEvery's default: the open periods are
// shared every tenth flush (ten minutes at the daemon's flush each
// minute), the closed ones at every flush.
const DefaultShareEvery = 10

// share saves what the ledger counted since it last shared: the periods
// closed since, and on every opts.ShareEvery-th call the open ones of the
// probes counted since. l.mu is held.
func (l *Ledger) share(now time.Time, prune bool) error {
	var out []SharedPeriod
	l.flushes++
	open := l.flushes%l.opts.ShareEvery == 0
	for name, t := range l.tally {
		for _, d := range t.unshared {
			out = append(out, SharedPeriod{Probe: name, Step: d.step, Period: d.p})
		}
		t.unshared = t.unshared[:0]
		if open && t.counted {
			for _, d := range []donePeriod{{Hour, t.hour}, {Day, t.day}} {
				if d.p.Watched() > 0 {
					out = append(out, SharedPeriod{Probe: name, Step: d.step, Period: d.p})
				}
			}
			t.counted = false
		}
	}
	var err error
	if len(out) > 0 {
		err = l.opts.Shared.Save(out)
	}
	if prune {
		err = errors.Join(err,
			l.opts.Shared.Prune(Hour, Hour.start(now).Add(-time.Duration(l.opts.Hours-1)*time.Hour)),
			l.opts.Shared.Prune(Day, Day.start(now).Add(-time.Duration(l.opts.Days-1)*24*time.Hour)))
	}
	if err != nil {
		return fmt.Errorf("uptime: share with the other replicas: %w", err)
	}
	return nil
}

// addShared adds to out (periods of step s from from on) what the other
// replicas counted of the probe.
func (l *Ledger) addShared(probe string, s Step, from, to time.Time, out []Period) error {
	others, err := l.opts.Shared.Load(probe, s, from, to)
	if err != nil {
		return fmt.Errorf("uptime: read the other replicas' periods of %s: %w", probe, err)
	}
	for _, o := range others {
		if i := int(o.Start.Sub(from) / s.Duration()); i >= 0 && i < len(out) {
			m := &out[i].Millis
			m.Up += o.Millis.Up
			m.Degraded += o.Millis.Degraded
			m.Down += o.Millis.Down
			m.Maintenance += o.Millis.Maintenance
		}
	}
	return nil
}
