// Package maintenance keeps Lookout's maintenance windows and answers the
// dispatcher's question as silences do: is this alert muted? While a
// window is on, the alerts its matchers select are muted and name it in
// silencedBy: "maintenance:NAME" for a window of the config's maintenance
// section, its ID for a one-off created at run time.
//
// Configured windows are replaced at each reload (SetConfig). One-offs
// are kept in Lookout's database, so they survive restarts; one that
// ended is deleted Retention (90 days) later, as long as the uptime
// ledger keeps its days, so every second it counts as maintenance can be
// traced to its window. At most MaxOneOffs are kept: a new one takes the
// place of the one that ended longest ago. A write the database refuses
// changes nothing and is returned as a *StorageError.
//
// A window also counts for a probe's uptime when its matchers select the
// probe's own labels (probe=NAME and the probe's labels; see Covers). One
// that needs alert labels, such as alertname="ProbeDown", mutes those
// alerts but is no maintenance of the probe.
package maintenance

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/internal/kept"
	"github.com/lookout-dev/lookout/config"
)

// ConfiguredPrefix starts the ID of every configured window, before its
// name: "maintenance:weekly-db".
const ConfiguredPrefix = "maintenance:"

// maxUpcoming bounds how many windows of one configured maintenance
// Upcoming lists, for schedules that start every minute.
const maxUpcoming = 20

// States of a window, as the API shows them.
const (
	StateScheduled = "scheduled" // starts later
	StateActive    = "active"    // on: mutes what it matches
	StateEnded     = "ended"
)

// Window is one maintenance window: when it is on and what it mutes. It
// is also how a one-off is stored (State aside).
type Window struct {
	// ID names the window in silencedBy: ConfiguredPrefix and the name
	// for a configured one, "maintenance-" and 16 hex digits for a one-off.
	ID string `json:"id"`
	// Name is the configured maintenance's name; empty for a one-off.
	Name    string `json:"name,omitempty"`
	Message string `json:"message,omitempty"`
	// Start is included, End excluded.
	Start time.Time `json:"startsAt"`
	End   time.Time `json:"endsAt"`
	// Matchers select the alerts muted, as written in the config or the
	// request, like probe=~"api-.*".
	Matchers   []string `json:"matchers"`
	Configured bool     `json:"configured"`
	// CreatedBy is who created a one-off.
	CreatedBy string `json:"createdBy,omitempty"`
	// State is filled in answers: scheduled, active or ended.
	State string `json:"state,omitempty"`
}

// StateAt names the window's state at t.
func (w Window) StateAt(t time.Time) string {
	switch {
	case !t.Before(w.End):
		return StateEnded
	case !t.Before(w.Start):
		return StateActive
	}
	return StateScheduled
}

// Span is one window of a configured maintenance.
type Span struct {
	Start time.Time `json:"startsAt"`
	End   time.Time `json:"endsAt"`
}

// Planned is a configured maintenance as the API lists it: how it recurs,
// the window it is in (Current, nil when none) and its next one (nil when
// none is left, as for a one-off that started).
type Planned struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Message  string   `json:"message,omitempty"`
	Matchers []string `json:"matchers"`
	// Schedule, Timezone and Duration are set for a recurring window.
	Schedule string `json:"schedule,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Duration string `json:"duration,omitempty"`
	Current  *Span  `json:"current,omitempty"`
	Next     *Span  `json:"next,omitempty"`
}

// Listing is every window the store holds, as GET /api/v1/maintenance
// shows them: the configured ones in the config's order, the one-offs
// newest first.
type Listing struct {
	Configured []Planned `json:"configured"`
	OneOffs    []Window  `json:"oneOffs"`
}

// configured is a maintenance of the config, with its matchers.
type configured struct {
	m  config.Maintenance
	ms dispatch.Matchers
}

func (c *configured) window(start, end time.Time) Window {
	w := Window{ID: ConfiguredPrefix + c.m.Name, Name: c.m.Name, Message: c.m.Message, Start: start, End: end, Configured: true}
	for _, x := range c.m.Matchers {
		w.Matchers = append(w.Matchers, x.String())
	}
	return w
}

// Store holds the configured windows and the one-offs, the latter in a
// bbolt bucket and in memory.
type Store struct {
	// oneOffs are the one-offs as silences: Comment holds the message.
	oneOffs *kept.Silences

	mu         sync.RWMutex // guards configured
	configured []configured
}

var _ dispatch.Silences = (*Store)(nil)

// SetConfig replaces the configured windows with ms, as config checked
// them; the one-offs stay.
func (s *Store) SetConfig(ms []config.Maintenance) {
	cs := make([]configured, len(ms))
	for i, m := range ms {
		cs[i].m = m
		for _, x := range m.Matchers {
			cs[i].ms = append(cs[i].ms, x.Matcher)
		}
	}
	s.mu.Lock()
	s.configured = cs
	s.mu.Unlock()
}

// Muted implements dispatch.Silences: the IDs of the windows on at at
// whose matchers select lset, sorted.
func (s *Store) Muted(lset model.LabelSet, at time.Time) []string {
	ids := s.oneOffs.Muted(lset, at)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range s.configured {
		c := &s.configured[i]
		if !c.ms.Matches(lset) {
			continue
		}
		if _, _, ok := c.m.ActiveAt(at); ok {
			ids = append(ids, ConfiguredPrefix+c.m.Name)
		}
	}
	slices.Sort(ids)
	return ids
}

// Covers returns a window on at at whose matchers select lset, a probe's
// label set (probe=NAME and the probe's labels): the probe is under
// maintenance. Of several, the one that started first.
func (s *Store) Covers(lset model.LabelSet, at time.Time) (Window, bool) {
	ws := s.active(at, func(ms dispatch.Matchers) bool { return ms.Matches(lset) })
	if len(ws) == 0 {
		return Window{}, false
	}
	return ws[0], true
}

// Active returns the windows on at at, by start.
func (s *Store) Active(at time.Time) []Window {
	return s.active(at, func(dispatch.Matchers) bool { return true })
}

func (s *Store) active(at time.Time, match func(dispatch.Matchers) bool) []Window {
	s.mu.RLock()
	var out []Window
	for i := range s.configured {
		c := &s.configured[i]
		if !match(c.ms) {
			continue
		}
		if start, end, ok := c.m.ActiveAt(at); ok {
			out = append(out, c.window(start, end))
		}
	}
	for _, o := range s.oneOffs.All() {
		if o.Active(at) && match(o.Matchers) {
			out = append(out, fromSilence(o))
		}
	}
	s.mu.RUnlock()
	return sorted(out, at)
}

// Upcoming returns the windows that start after from, up to from+horizon,
// by start: each configured maintenance's (at most maxUpcoming of one)
// and the one-offs'.
func (s *Store) Upcoming(from time.Time, horizon time.Duration) []Window {
	until := from.Add(horizon)
	s.mu.RLock()
	var out []Window
	for i := range s.configured {
		c := &s.configured[i]
		start, end, ok := c.m.Next(from)
		for n := 0; ok && !start.After(until) && n < maxUpcoming; n++ {
			out = append(out, c.window(start, end))
			start, end, ok = c.m.Next(start)
		}
	}
	for _, o := range s.oneOffs.All() {
		if o.StartsAt.After(from) && !o.StartsAt.After(until) {
			out = append(out, fromSilence(o))
		}
	}
	s.mu.RUnlock()
	return sorted(out, from)
}

// sorted sorts ws by start, then ID, and fills in their state at t.
func sorted(ws []Window, t time.Time) []Window {
	slices.SortFunc(ws, func(a, b Window) int {
		return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.ID, b.ID))
	})
	for i := range ws {
		ws[i].State = ws[i].StateAt(t)
	}
	return ws
}

// List returns every window as of at: each configured maintenance with
// its current and next window, and the one-offs, newest first, with their
// state.
func (s *Store) List(at time.Time) Listing {
	oneOffs := s.oneOffs.All()
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := Listing{Configured: make([]Planned, 0, len(s.configured)), OneOffs: make([]Window, 0, len(oneOffs))}
	for i := range s.configured {
		out.Configured = append(out.Configured, s.configured[i].planned(at))
	}
	for _, o := range oneOffs {
		w := fromSilence(o)
		w.State = w.StateAt(at)
		out.OneOffs = append(out.OneOffs, w)
	}
	slices.SortFunc(out.OneOffs, func(a, b Window) int {
		return cmp.Or(b.Start.Compare(a.Start), strings.Compare(a.ID, b.ID))
	})
	return out
}

func (c *configured) planned(at time.Time) Planned {
	w := c.window(time.Time{}, time.Time{})
	p := Planned{ID: w.ID, Name: w.Name, Message: w.Message, Matchers: w.Matchers}
	if c.m.Schedule != nil {
		p.Schedule, p.Duration = c.m.Schedule.Spec, c.m.Duration.Std().String()
		if c.m.Location != nil {
			p.Timezone = c.m.Location.String()
		}
	}
	if start, end, ok := c.m.ActiveAt(at); ok {
		p.Current = &Span{Start: start, End: end}
	}
	if start, end, ok := c.m.Next(at); ok {
		p.Next = &Span{Start: start, End: end}
	}
	return p
}
