package dispatch

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
)

// group is one aggregation group: the alerts of one route that share the
// route's group_by labels. It is guarded by the dispatcher's lock.
type group struct {
	key     string
	route   *node
	labels  model.LabelSet
	alerts  map[model.Fingerprint]*alerting.Alert
	next    time.Time // when the group is flushed next
	flushed bool      // flushed at least once, so group_wait is over

	// What the receiver was told: alerts it believes are firing, and
	// when it was last sent a notification (zero: never).
	firing     map[model.Fingerprint]bool
	notifiedAt time.Time
}

func newGroup(key string, r *node, labels model.LabelSet, now time.Time) *group {
	return &group{
		key:    key,
		route:  r,
		labels: labels,
		alerts: map[model.Fingerprint]*alerting.Alert{},
		next:   now.Add(r.groupWait),
		firing: map[model.Fingerprint]bool{},
	}
}

// flushPlan is what one flush decided, computed under the lock and
// committed under it after the sink took the notification.
type flushPlan struct {
	g        *group
	n        *alerting.Notification // nil: nothing to send
	firing   map[model.Fingerprint]bool
	resolved map[model.Fingerprint]*alerting.Alert // to drop once flushed
}

// plan decides whether g notifies at now and with which alerts, as
// Alertmanager's dedup stage does after its mute stage:
//   - an unmuted firing alert the receiver was not told of sends;
//   - a resolved alert the receiver was told of sends, if it is not
//     muted or SendResolvedWhenMuted is set;
//   - otherwise an unchanged group with unmuted firing alerts sends
//     again once repeat_interval has passed since the last notification.
//
// Muted firing alerts are left out; the receiver's belief about them is
// kept, so their resolution can still be sent.
func (d *Dispatcher) plan(g *group, now time.Time) flushPlan {
	p := flushPlan{g: g, firing: map[model.Fingerprint]bool{}, resolved: map[model.Fingerprint]*alerting.Alert{}}
	var out []alerting.Alert
	send, anyFiring := false, false
	for fp, a := range g.alerts {
		muted := d.muted(a.Labels, now)
		told := g.firing[fp]
		if a.ResolvedAt(now) {
			p.resolved[fp] = a
			switch {
			case told && (!muted || d.sendResolvedWhenMuted):
				out = append(out, *a)
				send = true
			case !told && !muted:
				out = append(out, *a)
			}
			continue
		}
		if muted {
			if told {
				p.firing[fp] = true
			}
			continue
		}
		c := *a
		c.EndsAt = time.Time{} // firing as sent, whatever the rule's validity
		out = append(out, c)
		p.firing[fp] = true
		anyFiring = true
		if !told {
			send = true
		}
	}
	if !send && anyFiring && !g.notifiedAt.IsZero() && now.Sub(g.notifiedAt) >= g.route.repeatInterval {
		send = true
	}
	if !send {
		return p
	}
	slices.SortFunc(out, func(a, b alerting.Alert) int { return strings.Compare(a.Labels.String(), b.Labels.String()) })
	status := alerting.StatusResolved
	for i := range out {
		if !out[i].ResolvedAt(now) {
			status = alerting.StatusFiring
			break
		}
	}
	p.n = &alerting.Notification{
		ID:          notificationID(g.key, now),
		Receiver:    g.route.receiver,
		GroupKey:    g.key,
		GroupLabels: maps.Clone(g.labels),
		Status:      status,
		Alerts:      out,
		CreatedAt:   now,
	}
	return p
}

// commit records a flush the sink accepted (or that sent nothing):
// what the receiver now believes, and the resolved alerts leave the
// group unless they fired again meanwhile. An empty group is removed.
func (d *Dispatcher) commit(p flushPlan, now time.Time) {
	g := p.g
	if p.n != nil {
		g.firing = p.firing
		g.notifiedAt = now
	}
	for fp, a := range p.resolved {
		if g.alerts[fp] == a {
			delete(g.alerts, fp)
			delete(g.firing, fp)
		}
	}
	if len(g.alerts) == 0 && d.groups[g.key] == g {
		delete(d.groups, g.key)
	}
}

// state is the group's NotifiedState once p.n is sent at now.
func (p *flushPlan) state(now time.Time) NotifiedState {
	return NotifiedState{Firing: sortedKeys(p.firing), NotifiedAt: now}
}

func sortedKeys(set map[model.Fingerprint]bool) []model.Fingerprint {
	fps := slices.Collect(maps.Keys(set))
	slices.Sort(fps)
	return fps
}
