// Package statuspage serves Lookout's public status pages: for each
// config.StatusPage, at its path an HTML page readable without JavaScript
// and at its path + ".json" the same as JSON; and for every probe listed
// on some page, shields-style SVG badges of its state and its 30-day
// uptime.
//
// A page shows only what it lists: per listed probe its state, its 90
// daily uptime bars and its incidents and maintenance. It never shows a
// probe's URL or labels (the Source does not even hand them over), nor
// why a probe failed unless the page has show_reasons, nor anything of a
// probe it does not list. Pages are built from the Source at most every
// CacheFor (or when Invalidate says something changed) and served from
// memory with an ETag; each client IP has a rate limit.
package statuspage

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lookout-dev/lookout/alerting/incidents"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/uptime"
)

// What a page shows of the past.
const (
	// Days is how many daily uptime bars a component has, today last.
	Days = 90
	// RecentIncidents is how long a resolved incident stays in a page's
	// incident list (the bars show it as long as they reach back).
	RecentIncidents = 7 * 24 * time.Hour
	// MaintenanceHorizon is how far ahead upcoming maintenance is shown.
	MaintenanceHorizon = 7 * 24 * time.Hour
)

// Source is what the pages are built from. Lookout's daemon implements
// it; everything it returns may be shown on a page, so it hands over no
// URL, label or reason beyond ProbeStatus.Reason, which a page shows
// only with show_reasons.
type Source interface {
	// Probe is a probe's state now; false when no probe has the name.
	Probe(name string) (ProbeStatus, bool)
	// DailyUptime are the probe's daily periods that start in [from, to),
	// every day, those nobody watched as zero (as uptime.Ledger.Periods).
	DailyUptime(probe string, from, to time.Time) ([]uptime.Period, error)
	// Incidents are the incidents open now or resolved at or after since.
	Incidents(since time.Time) []incidents.Incident
	// Maintenance are the maintenance windows that cover the probe at now
	// or start within horizon after it.
	Maintenance(probe string, now time.Time, horizon time.Duration) []Window
}

// ProbeStatus is a probe's state as a status page sees it.
type ProbeStatus struct {
	State probes.State
	// Judged is false before a run judged the target: no data yet.
	Judged bool
	// Maintenance is whether a maintenance window covers the probe now.
	Maintenance bool
	// Reason is why the probe is down or degraded; shown only by pages
	// with show_reasons.
	Reason string
}

// Window is a maintenance window as a page shows it.
type Window struct {
	Message    string
	Start, End time.Time
}

// State is a component's state on a page.
type State string

// States, from best to worst for a page's summary (no data aside).
const (
	Operational      State = "operational"
	UnderMaintenance State = "maintenance"
	Degraded         State = "degraded"
	Down             State = "down"
	NoData           State = "no_data"
)

// Text is the state as a page says it: never told by colour alone.
func (s State) Text() string {
	switch s {
	case Operational:
		return "Operational"
	case UnderMaintenance:
		return "Under maintenance"
	case Degraded:
		return "Degraded"
	case Down:
		return "Down"
	}
	return "No data"
}

func stateOf(st ProbeStatus, ok bool) State {
	switch {
	case !ok || !st.Judged:
		return NoData
	case st.Maintenance:
		return UnderMaintenance
	case st.State == probes.Up:
		return Operational
	case st.State == probes.Degraded:
		return Degraded
	}
	return Down
}

// Page is one status page: what its HTML shows and its JSON holds.
type Page struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// Updated is the minute the page was built in: a page whose
	// components did not change keeps its ETag.
	Updated time.Time `json:"updated"`
	// State is the worst of the components' states; Summary says it.
	State       State         `json:"state"`
	Summary     string        `json:"summary"`
	Groups      []Group       `json:"groups"`
	Incidents   []Incident    `json:"incidents"`
	Maintenance []Maintenance `json:"maintenance"`
}

// Group is a heading and its components, in the config's order.
type Group struct {
	Name       string      `json:"name"`
	Components []Component `json:"components"`
}

// Component is one listed probe.
type Component struct {
	Name      string `json:"name"`
	State     State  `json:"state"`
	StateText string `json:"state_text"`
	Reason    string `json:"reason,omitempty"`
	// Uptime30d and Uptime90d are percentages of the time outside
	// maintenance that the probe was up or degraded; null: no data.
	Uptime30d *float64 `json:"uptime_30d"`
	Uptime90d *float64 `json:"uptime_90d"`
	// Days are the last Days UTC days, oldest first, today last.
	Days []Day `json:"days"`
}

// Day is one daily bar.
type Day struct {
	Date string `json:"date"` // 2006-01-02, UTC
	// Uptime is a percentage; null when nobody watched the probe that
	// day outside maintenance.
	Uptime             *float64      `json:"uptime"`
	DownSeconds        float64       `json:"down_seconds"`
	MaintenanceSeconds float64       `json:"maintenance_seconds"`
	Incidents          []IncidentRef `json:"incidents,omitempty"`
}

// IncidentRef names an incident open some time that day.
type IncidentRef struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// Incident is an incident as outsiders see it: who wrote an update is
// not shown.
type Incident struct {
	ID        string           `json:"id"`
	Component string           `json:"component"`
	Title     string           `json:"title"`
	Status    incidents.Status `json:"status"`
	Started   time.Time        `json:"started"`
	Resolved  time.Time        `json:"resolved,omitzero"`
	Updates   []IncidentUpdate `json:"updates"` // newest first
}

// IncidentUpdate is one update of an incident.
type IncidentUpdate struct {
	Time    time.Time        `json:"time"`
	Status  incidents.Status `json:"status"`
	Message string           `json:"message"`
}

// Maintenance is a maintenance window of listed components.
type Maintenance struct {
	Message    string    `json:"message"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Active     bool      `json:"active"`
	Components []string  `json:"components"`
}

// component is what every page listing a probe shows of it, gathered
// once per build.
type component struct {
	status      ProbeStatus
	ok          bool
	days        []Day
	up30, up90  *float64
	maintenance []Window
}

// gather reads what the pages show of each probe they list.
func gather(src Source, names []string, now time.Time, incs []incidents.Incident) (map[string]*component, []error) {
	today := now.UTC().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(Days - 1))
	out := make(map[string]*component, len(names))
	var errs []error
	for _, name := range names {
		c := &component{}
		c.status, c.ok = src.Probe(name)
		periods, err := src.DailyUptime(name, from, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("uptime of %s: %w", name, err))
		}
		c.days, c.up30, c.up90 = days(periods, from, incsOf(incs, name), now)
		c.maintenance = src.Maintenance(name, now, MaintenanceHorizon)
		out[name] = c
	}
	return out, errs
}

func incsOf(incs []incidents.Incident, probe string) []incidents.Incident {
	var out []incidents.Incident
	for _, inc := range incs {
		if inc.Probe == probe {
			out = append(out, inc)
		}
	}
	return out
}

// days are the Days bars from from, filled from periods (missing ones are
// days nobody watched), with the uptime over the last 30 and all days.
func days(periods []uptime.Period, from time.Time, incs []incidents.Incident, now time.Time) ([]Day, *float64, *float64) {
	byDay := make(map[time.Time]uptime.Millis, len(periods))
	for _, p := range periods {
		byDay[p.Start.UTC()] = p.Millis
	}
	out := make([]Day, Days)
	var sum30, sum90 uptime.Total
	for i := range out {
		start := from.AddDate(0, 0, i)
		m := byDay[start]
		d := Day{
			Date: start.Format(time.DateOnly), Uptime: percent(m.Total()),
			DownSeconds: uptime.Of(m.Down).Seconds(), MaintenanceSeconds: uptime.Of(m.Maintenance).Seconds(),
		}
		for _, inc := range incs {
			if inc.Overlaps(start, start.Add(24*time.Hour)) && inc.Started.Before(now) {
				d.Incidents = append(d.Incidents, IncidentRef{ID: inc.ID, Title: inc.Title})
			}
		}
		out[i] = d
		sum90.Add(m)
		if i >= Days-30 {
			sum30.Add(m)
		}
	}
	return out, percent(sum30), percent(sum90)
}

// percent is t's uptime as a percentage; nil without judged time.
func percent(t uptime.Total) *float64 {
	u, ok := t.Uptime()
	if !ok {
		return nil
	}
	return floorPercent(u)
}

// floorPercent is a share as a percentage to four decimals, rounded down
// so that any downtime shows below 100.
func floorPercent(share float64) *float64 {
	p := math.Floor(share*1e6) / 1e4
	return &p
}

// build is one page's model from the gathered components.
func build(cfg config.StatusPage, comps map[string]*component, incs []incidents.Incident, now time.Time) Page {
	p := Page{Title: cfg.Title, Description: cfg.Description, Updated: now.UTC().Truncate(time.Minute), Groups: []Group{}, Incidents: []Incident{}, Maintenance: []Maintenance{}}
	listed := map[string]bool{}
	var states []State
	for _, g := range cfg.Groups {
		grp := Group{Name: g.Name, Components: make([]Component, 0, len(g.Probes))}
		for _, name := range g.Probes {
			c := comps[name]
			st := stateOf(c.status, c.ok)
			comp := Component{Name: name, State: st, StateText: st.Text(), Uptime30d: c.up30, Uptime90d: c.up90, Days: c.days}
			if cfg.ShowReasons && (st == Down || st == Degraded) {
				comp.Reason = c.status.Reason
			}
			grp.Components = append(grp.Components, comp)
			listed[name] = true
			states = append(states, st)
		}
		p.Groups = append(p.Groups, grp)
	}
	p.State, p.Summary = summary(states)
	// The bars know of every incident in 90 days; the page lists the open
	// ones, then those resolved in the last week.
	var resolved []Incident
	for _, inc := range incs {
		if !listed[inc.Probe] {
			continue
		}
		pub := publicIncident(inc)
		switch {
		case inc.Open():
			p.Incidents = append(p.Incidents, pub)
		case now.Sub(inc.Resolved) < RecentIncidents:
			resolved = append(resolved, pub)
		}
	}
	p.Incidents = append(p.Incidents, resolved...)
	p.Maintenance = maintenance(cfg, comps, now)
	return p
}

// summary is the page's state, the worst of its components', and the
// line that says it.
func summary(states []State) (State, string) {
	count := map[State]int{}
	for _, s := range states {
		count[s]++
	}
	switch n := len(states); {
	case count[Down] == n && n > 0:
		return Down, "Major outage"
	case count[Down] > 0:
		return Down, "Partial outage"
	case count[Degraded] > 0:
		return Degraded, "Degraded performance"
	case count[UnderMaintenance] > 0:
		return UnderMaintenance, "Under maintenance"
	case count[NoData] == n:
		return NoData, "No data yet"
	}
	return Operational, "All systems operational"
}

func publicIncident(inc incidents.Incident) Incident {
	out := Incident{ID: inc.ID, Component: inc.Probe, Title: inc.Title, Status: inc.Status(), Started: inc.Started.UTC(), Resolved: inc.Resolved.UTC(),
		Updates: make([]IncidentUpdate, 0, len(inc.Updates))}
	if inc.Open() {
		out.Resolved = time.Time{}
	}
	for _, u := range slices.Backward(inc.Updates) {
		out.Updates = append(out.Updates, IncidentUpdate{Time: u.Time.UTC(), Status: u.Status, Message: u.Message})
	}
	return out
}

// maintenance are the windows of the page's components, one entry per
// window however many components it covers, soonest first.
func maintenance(cfg config.StatusPage, comps map[string]*component, now time.Time) []Maintenance {
	out := []Maintenance{}
	index := map[Window]int{}
	for _, g := range cfg.Groups {
		for _, name := range g.Probes {
			for _, w := range comps[name].maintenance {
				key := Window{Message: w.Message, Start: w.Start.UTC(), End: w.End.UTC()}
				i, seen := index[key]
				if !seen {
					i, index[key] = len(out), len(out)
					out = append(out, Maintenance{Message: w.Message, Start: key.Start, End: key.End, Active: !now.Before(w.Start) && now.Before(w.End)})
				}
				if !slices.Contains(out[i].Components, name) {
					out[i].Components = append(out[i].Components, name)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Maintenance) int { return a.Start.Compare(b.Start) })
	return out
}

// probeNames are the probes some page lists, each once, in order.
func probeNames(pages []config.StatusPage) []string {
	var names []string
	seen := map[string]bool{}
	for _, p := range pages {
		for _, g := range p.Groups {
			for _, name := range g.Probes {
				if !seen[name] {
					seen[name] = true
					names = append(names, name)
				}
			}
		}
	}
	return names
}

// downText says a duration the way a person reads it: 43 s, 12 min,
// 2 h 5 min.
func downText(secs float64) string {
	d := time.Duration(secs) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// percentText shows an uptime percentage rounded down to two decimals,
// so any downtime shows below 100%.
func percentText(p *float64) string {
	if p == nil {
		return "no data"
	}
	if *p >= 100 {
		return "100%"
	}
	return fmt.Sprintf("%.2f%%", math.Floor(*p*100)/100)
}
