// Package dispatch routes alerts to receivers the way Alertmanager does:
// a routing tree picks the receivers, alerts are grouped by labels, each
// group is flushed on group_wait, group_interval and repeat_interval,
// inhibition rules and silences mute alerts, and every notification goes
// to a Sink (the outbox) that delivers it.
//
// # Resolved notifications
//
// The dispatcher remembers, per group, which alerts the receiver was
// told are firing and has not yet been told are resolved (the
// NotifiedState). A resolved alert is sent, and makes the group send,
// when the receiver was told it was firing and either it is not muted
// now or Options.SendResolvedWhenMuted is set. So a receiver that saw an
// alert fire always hears that it resolved, even if someone silenced it
// meanwhile; with SendResolvedWhenMuted off, a resolved alert that is
// muted is dropped, as Alertmanager does. An alert that was muted for
// its whole life, so the receiver never heard of it, never yields a
// resolved notification. A resolved alert the receiver never saw but
// that is not muted rides along in a notification sent for other
// reasons, as in Alertmanager, and never causes one by itself.
//
// # Differences from Alertmanager
//
//   - Repeat: an unchanged firing group is sent again at the first
//     group_interval tick at which repeat_interval has passed since the
//     last notification (Alertmanager waits for strictly more, which in
//     practice adds one group_interval).
//   - A resolved alert that belongs to no group, and that no group told a
//     receiver about, is dropped at once instead of forming a group that
//     would send nothing.
//   - A group whose alerts have all resolved and been flushed is removed
//     at that flush rather than by a periodic sweep.
//
// # Restarts and reloads
//
// Group keys are Alertmanager's: the route's identifier (its path of
// matchers and position among siblings) and the group labels, so they
// survive a restart, and a reload that keeps the tree's shape. The
// daemon persists each group's NotifiedState (through StateSink, or
// Snapshot) and hands it to Restore on start, or from the old to the new
// Dispatcher on reload; then alerts that still fire are not sent again
// before their repeat interval, and alerts the rule evaluator hands in
// as resolved get their resolved notification.
package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
)

// Options configure a Dispatcher.
type Options struct {
	Route    *Route
	Inhibit  []InhibitRule
	Silences Silences // nil: nothing is silenced
	// SendResolvedWhenMuted sends the resolved notification of an alert
	// the receiver was told is firing even if the alert is silenced or
	// inhibited when it resolves (see the package documentation). The
	// configuration defaults it to true; the zero Options keep
	// Alertmanager's behaviour of dropping it.
	SendResolvedWhenMuted bool
	// Forward are the receivers whose alerts are not grouped but handed,
	// at every Put, to Forwarder: those that forward to an Alertmanager,
	// which groups, silences and notifies itself.
	Forward   map[string]bool
	Forwarder Forwarder
}

// Forwarder takes, at every Put, the alerts routed to each receiver of
// Options.Forward. It must not block.
type Forwarder interface {
	Forward(receiver string, alerts []alerting.Alert)
}

// Sink takes the notifications the dispatcher decides to send: the
// outbox, which stores each before delivering it. An error leaves the
// group as if nothing had been sent, so the next group_interval tick
// tries again with a fresh notification.
type Sink interface {
	Enqueue(n *alerting.Notification) error
}

// StateSink is a Sink that also stores, in the same transaction as the
// notification, the state of the group that sent it, so that what the
// outbox will deliver and what Restore will load after a crash always
// agree. When the sink implements it, the dispatcher calls
// EnqueueWithState instead of Enqueue. The sink keeps the latest state
// per group key and may drop one whose Firing is empty once it is older
// than the longest repeat interval.
type StateSink interface {
	Sink
	EnqueueWithState(n *alerting.Notification, groupKey string, st NotifiedState) error
}

// Dispatcher groups alerts and hands notifications to a Sink. Put may be
// called before and while Run runs; all methods are safe for concurrent
// use.
type Dispatcher struct {
	tree                  *node
	maxRepeat             time.Duration
	silences              Silences
	sendResolvedWhenMuted bool
	sink                  Sink
	forward               map[string]bool
	forwarder             Forwarder
	log                   *slog.Logger
	wake                  chan struct{} // a group's schedule may have moved earlier

	mu       sync.Mutex
	groups   map[string]*group
	inhibit  *inhibitor
	restored map[string]NotifiedState // from Restore, until a group claims it
}

// New returns a Dispatcher for the routing tree, inhibition rules and
// silences in opts. It registers lookout_alert_groups and
// lookout_alerts{state} with reg unless reg is nil, and panics if they
// are already registered there.
func New(opts Options, sink Sink, reg prometheus.Registerer, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		tree:                  newTree(opts.Route),
		silences:              opts.Silences,
		sendResolvedWhenMuted: opts.SendResolvedWhenMuted,
		sink:                  sink,
		forward:               opts.Forward,
		forwarder:             opts.Forwarder,
		log:                   log,
		wake:                  make(chan struct{}, 1),
		groups:                map[string]*group{},
		inhibit:               newInhibitor(opts.Inhibit),
		restored:              map[string]NotifiedState{},
	}
	d.tree.walk(func(n *node) { d.maxRepeat = max(d.maxRepeat, n.repeatInterval) })
	if reg != nil {
		reg.MustRegister(newCollector(d))
	}
	return d
}

// Put hands the dispatcher the alerts of one evaluation: the firing ones
// and those that have just resolved. Alerts are copied. Those routed to a
// receiver of Options.Forward go to the Forwarder at once, ungrouped.
func (d *Dispatcher) Put(alerts ...alerting.Alert) {
	now := time.Now()
	var forward map[string][]alerting.Alert
	d.mu.Lock()
	changed := false
	for i := range alerts {
		a := cloneAlert(&alerts[i])
		d.inhibit.observe(a, now)
		for _, r := range d.tree.match(a.Labels) {
			if d.forward[r.receiver] && d.forwarder != nil {
				if forward == nil {
					forward = map[string][]alerting.Alert{}
				}
				forward[r.receiver] = append(forward[r.receiver], *a)
				continue
			}
			if d.insert(r, a, now) {
				changed = true
			}
		}
	}
	d.mu.Unlock()
	for receiver, as := range forward {
		d.forwarder.Forward(receiver, as)
	}
	if changed {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// insert adds a to its group on route r, creating the group if a fires
// or if a restored state says the receiver was told a fires. It reports
// whether anything changed.
func (d *Dispatcher) insert(r *node, a *alerting.Alert, now time.Time) bool {
	labels := r.groupLabels(a.Labels)
	key := r.groupKey(labels)
	fp := a.Fingerprint()
	resolved := a.ResolvedAt(now)
	g := d.groups[key]
	if g == nil {
		st, ok := d.restored[key]
		if resolved && !(ok && slices.Contains(st.Firing, fp)) {
			return false
		}
		g = newGroup(key, r, labels, now)
		if ok {
			g.restore(st)
			delete(d.restored, key)
		}
		d.groups[key] = g
	} else if resolved && g.alerts[fp] == nil && !g.firing[fp] {
		return false
	}
	g.alerts[fp] = a
	// As Alertmanager: an alert that started more than group_wait ago
	// (an old alert, or one seen again after a restart) does not wait.
	if !g.flushed && a.StartsAt.Add(r.groupWait).Before(now) && now.Before(g.next) {
		g.next = now
	}
	return true
}

// Run flushes groups when their timers are due until ctx is done; call
// it once. It returns nil once stopped; groups not yet flushed are not sent early,
// since after a restart the rule evaluator hands the alerts in again.
func (d *Dispatcher) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if next := d.flushDue(time.Now()); !next.IsZero() {
			timer.Reset(time.Until(next))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-due:
		}
	}
}

// flushDue flushes every group whose timer is due at now and returns
// when the next one is due (zero if no group is left). The sink is
// called without the lock held, so Put never waits for the outbox.
func (d *Dispatcher) flushDue(now time.Time) time.Time {
	d.mu.Lock()
	var plans []flushPlan
	for _, g := range d.groups {
		if !g.next.After(now) {
			g.next = now.Add(g.route.groupInterval)
			g.flushed = true
			plans = append(plans, d.plan(g, now))
		}
	}
	d.mu.Unlock()

	slices.SortFunc(plans, func(a, b flushPlan) int { return strings.Compare(a.g.key, b.g.key) })
	sent := make([]bool, len(plans))
	for i, p := range plans {
		if p.n == nil {
			sent[i] = true
			continue
		}
		if err := d.enqueue(p, now); err != nil {
			d.log.Error("enqueue notification; retrying at the next group interval",
				"group", p.g.key, "receiver", p.n.Receiver, "err", err)
			continue
		}
		sent[i] = true
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if len(plans) > 0 {
		d.inhibit.prune(now)
	}
	for i, p := range plans {
		if sent[i] {
			d.commit(p, now)
		}
	}
	var next time.Time
	for _, g := range d.groups {
		if next.IsZero() || g.next.Before(next) {
			next = g.next
		}
	}
	return next
}

func (d *Dispatcher) enqueue(p flushPlan, now time.Time) error {
	if ss, ok := d.sink.(StateSink); ok {
		return ss.EnqueueWithState(p.n, p.g.key, p.state(now))
	}
	return d.sink.Enqueue(p.n)
}

// muting returns the silences and the inhibiting alert that mute lset
// at now.
func (d *Dispatcher) muting(lset model.LabelSet, now time.Time) (silencedBy, inhibitedBy []string) {
	if d.silences != nil {
		silencedBy = d.silences.Muted(lset, now)
	}
	if fp, ok := d.inhibit.inhibitedBy(lset, now); ok {
		inhibitedBy = []string{fp.String()}
	}
	return silencedBy, inhibitedBy
}

func (d *Dispatcher) muted(lset model.LabelSet, now time.Time) bool {
	s, i := d.muting(lset, now)
	return len(s) > 0 || len(i) > 0
}

// notificationID is the same for every retry of one flush of one group
// and differs between flushes and groups.
func notificationID(groupKey string, at time.Time) string {
	h := sha256.Sum256([]byte(groupKey + "\x00" + at.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h[:16])
}

func cloneAlert(a *alerting.Alert) *alerting.Alert {
	c := *a
	c.Labels = maps.Clone(a.Labels)
	c.Annotations = maps.Clone(a.Annotations)
	return &c
}
