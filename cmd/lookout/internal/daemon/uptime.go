package daemon

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/lookout-dev/lookout/probes/uptime"
)

// Uptime sampling: every probe's state every defaultUptimeEvery
// (Options.UptimeEvery), written to lookout.db every uptimeFlushEvery (and
// when Lookout stops), so a crash loses at most that much of the
// accounting.
const (
	defaultUptimeEvery = 10 * time.Second
	uptimeFlushEvery   = time.Minute
)

// storageUptime is the uptime ledger's component of
// lookout_storage_write_failures_total.
const storageUptime = "uptime"

// uptimeSample is the state now of every probe this replica runs, for the
// ledger: in a cluster, the others count the time of theirs.
func (d *daemon) uptimeSample() []uptime.Observation {
	runners := d.ownRunners()
	now := time.Now()
	out := make([]uptime.Observation, 0, len(runners))
	for _, r := range runners {
		st, judged := r.Current()
		out = append(out, uptime.Observation{Probe: r.Name(), State: st, Judged: judged, Maintenance: d.underMaintenance(r.Name(), r.Config().Labels, now)})
	}
	return out
}

// underMaintenance reports whether a maintenance window covers the probe
// at t; none does until maintenance windows are configured.
func (d *daemon) underMaintenance(probe string, labels map[string]string, t time.Time) bool {
	if d.maintenance == nil {
		return false
	}
	return d.maintenance(probe, labels, t)
}

// runUptime samples the probes until ctx ends.
func (d *daemon) runUptime(ctx context.Context) error {
	every := cmp.Or(d.opts.UptimeEvery, defaultUptimeEvery)
	d.uptime.Run(ctx, every, max(every, uptimeFlushEvery), d.uptimeSample, d.alerting.uptime.WriteFailed)
	return nil
}

// uptimeReport is GET /api/v1/probes/{name}/uptime.
type uptimeReport struct {
	Probe   string         `json:"probe"`
	Step    string         `json:"step"`
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
	Total   uptimePeriod   `json:"total"`
	Periods []uptimePeriod `json:"periods"`
	// Bytes is what the probe's stored periods take in lookout.db.
	Bytes int `json:"bytes"`
}

// uptimePeriod is a period's seconds in each state and its uptime: the
// share of the time outside maintenance that the probe was up or
// degraded; null when nobody watched it.
type uptimePeriod struct {
	Start       *time.Time `json:"start,omitempty"`
	Up          float64    `json:"up_seconds"`
	Degraded    float64    `json:"degraded_seconds"`
	Down        float64    `json:"down_seconds"`
	Maintenance float64    `json:"maintenance_seconds"`
	Uptime      *float64   `json:"uptime"`
}

func periodOf(t uptime.Total, start *time.Time) uptimePeriod {
	secs := func(ms uint64) float64 { return float64(ms) / 1000 }
	p := uptimePeriod{Start: start, Up: secs(t.Up), Degraded: secs(t.Degraded), Down: secs(t.Down), Maintenance: secs(t.Maintenance)}
	if u, ok := t.Uptime(); ok {
		u = math.Round(u*1e6) / 1e6
		p.Uptime = &u
	}
	return p
}

// handleUptime reports a probe's uptime per hour or day, for SLA reports:
// ?step=1d (default, kept 90 days) or 1h (kept 7 days), ?from= and ?to=
// as RFC 3339 or Unix seconds (default: the last 30 days or 24 hours).
func (d *daemon) handleUptime(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if d.set.get(name) == nil {
		http.Error(w, fmt.Sprintf("no probe named %q", name), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	step, span := uptime.Day, 30*24*time.Hour
	switch q.Get("step") {
	case "", "1d":
	case "1h":
		step, span = uptime.Hour, 24*time.Hour
	default:
		http.Error(w, fmt.Sprintf("step: %q is not a step; want 1d or 1h", q.Get("step")), http.StatusBadRequest)
		return
	}
	to, err := timeParam(q.Get("to"), time.Now())
	if err != nil {
		http.Error(w, "to: "+err.Error(), http.StatusBadRequest)
		return
	}
	from, err := timeParam(q.Get("from"), to.Add(-span))
	if err != nil {
		http.Error(w, "from: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !from.Before(to) {
		http.Error(w, fmt.Sprintf("from: %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339)), http.StatusBadRequest)
		return
	}
	periods, err := d.uptime.Periods(name, step, from, to)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rep := uptimeReport{Probe: name, Step: q.Get("step"), From: from.UTC(), To: to.UTC(), Periods: make([]uptimePeriod, 0, len(periods)), Bytes: d.uptime.Bytes(name)}
	if rep.Step == "" {
		rep.Step = "1d"
	}
	for i := range periods {
		rep.Periods = append(rep.Periods, periodOf(periods[i].Total(), &periods[i].Start))
	}
	rep.Total = periodOf(uptime.Sum(periods), nil)
	writeJSON(w, rep)
}

// timeParam is a query's time: RFC 3339 or Unix seconds; def when empty.
func timeParam(v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Unix(0, int64(secs*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a time; want RFC 3339 (2026-01-02T15:04:05Z) or Unix seconds", v)
	}
	return t, nil
}
