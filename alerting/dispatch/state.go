package dispatch

import (
	"slices"
	"time"

	"github.com/prometheus/common/model"
)

// NotifiedState is what one group's receiver was last told, kept across
// restarts so a restart neither pages again for alerts that still fire
// nor forgets the resolved notification of alerts that cleared.
type NotifiedState struct {
	// Firing are the alerts the receiver was told are firing and not
	// yet told are resolved, sorted.
	Firing []model.Fingerprint `json:"firing"`
	// NotifiedAt is when the group last sent a notification; repeat
	// interval counts from it.
	NotifiedAt time.Time `json:"notifiedAt"`
}

// Snapshot returns the state of every group that has notified, by group
// key, for the daemon to persist. Restored states no group has claimed
// are included until they are older than the longest repeat interval of
// the routing tree, after which they are forgotten.
//
// A snapshot persisted apart from the outbox leaves a window: after a
// crash between an enqueue and the next persisted snapshot, the alerts
// that flush reported firing are sent again if they still fire, and
// their resolved notification is lost if they cleared meanwhile. A Sink
// that implements StateSink closes that window by storing each group's
// state in the same transaction as its notification.
func (d *Dispatcher) Snapshot() map[string]NotifiedState {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]NotifiedState{}
	for key, st := range d.restored {
		if now.Sub(st.NotifiedAt) > d.maxRepeat {
			delete(d.restored, key)
			continue
		}
		out[key] = NotifiedState{Firing: slices.Clone(st.Firing), NotifiedAt: st.NotifiedAt}
	}
	for key, g := range d.groups {
		if g.notifiedAt.IsZero() {
			continue
		}
		out[key] = g.state()
	}
	return out
}

// Restore loads states saved by Snapshot. Call it before Put: a group
// takes its state when its first alert arrives, so alerts that still
// fire are not sent again until their repeat interval, and an alert
// handed in as resolved is sent as resolved.
func (d *Dispatcher) Restore(notified map[string]NotifiedState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for key, st := range notified {
		st.Firing = slices.Clone(st.Firing)
		if g := d.groups[key]; g != nil {
			g.restore(st)
			continue
		}
		d.restored[key] = st
	}
}

func (g *group) restore(st NotifiedState) {
	g.firing = map[model.Fingerprint]bool{}
	for _, fp := range st.Firing {
		g.firing[fp] = true
	}
	g.notifiedAt = st.NotifiedAt
}

func (g *group) state() NotifiedState {
	return NotifiedState{Firing: sortedKeys(g.firing), NotifiedAt: g.notifiedAt}
}

// Reset forgets every group and restored state, as a replica does that
// stops leading its cluster: the new leader carries on from the stored
// states, and this one must not flush what it no longer owns.
func (d *Dispatcher) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.groups = map[string]*group{}
	d.restored = map[string]NotifiedState{}
	d.inhibit = newInhibitor(d.inhibit.rules)
}

// Merge adds what another dispatcher notified (in a cluster, a replica
// that paged on its own while the shared database was away): an alert
// either of them told a receiver is firing counts as told, so it is not
// paged again and its resolved notification is sent.
func (d *Dispatcher) Merge(notified map[string]NotifiedState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for key, st := range notified {
		if g := d.groups[key]; g != nil {
			for _, fp := range st.Firing {
				g.firing[fp] = true
			}
			if st.NotifiedAt.After(g.notifiedAt) {
				g.notifiedAt = st.NotifiedAt
			}
			continue
		}
		if old, ok := d.restored[key]; ok {
			st.Firing = sortedUnion(old.Firing, st.Firing)
			if old.NotifiedAt.After(st.NotifiedAt) {
				st.NotifiedAt = old.NotifiedAt
			}
		}
		d.restored[key] = NotifiedState{Firing: slices.Clone(st.Firing), NotifiedAt: st.NotifiedAt}
	}
}

func sortedUnion(a, b []model.Fingerprint) []model.Fingerprint {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
