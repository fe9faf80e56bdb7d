package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/cluster"
	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/incidents"
	slacknotify "github.com/lookout-dev/lookout/alerting/notify/slack"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// clusterAlerts is alerting in a cluster. Every replica evaluates the
// rules over the probes it runs and publishes its alerts in the shared
// database after each evaluation, as Prometheus sends its alerts to
// Alertmanager. The replica holding the leadership lease merges every
// live replica's alerts into its dispatcher, the only one that notifies;
// its outbox and the groups' states are in the shared database, fenced by
// its epoch, so a new leader carries on from them. The others' dispatchers
// stay empty and their outboxes send nothing.
//
// A probe that moves to another replica takes its alerts along: the
// replica that ran it keeps publishing their state from before the move
// for a while (handed over), and the new owner adopts them into its rules
// (rules.AlertingRule.Adopt), so a pending alert keeps its `for` clock and
// a firing one neither resolves nor pages again.
//
// When the state database has not answered for cluster.fail_open_after,
// each replica dispatches its own alerts and sends from memory: duplicate
// pages are possible, and each is counted in
// lookout_cluster_fail_open_notifications_total.
type clusterAlerts struct {
	d     *daemon
	a     *alertingParts
	c     *cluster.Cluster
	store *cluster.Outbox
	// failOpenAfter is cluster.fail_open_after.
	failOpenAfter time.Duration
	// validity is how long the leader holds a merged firing alert that
	// no live replica reports any longer (its replica died and the new
	// owner has not published it yet) before it resolves.
	validity time.Duration
	// handoverFor is how long a replica publishes the alerts of probes
	// that moved away, and how long the publication of a replica gone
	// stays for the new owners to adopt.
	handoverFor time.Duration
	// grace is how long adopted alerts keep their state while their probe
	// has not run here yet (restartGrace).
	grace time.Duration
	// failOpenSent counts lookout_cluster_fail_open_notifications_total.
	failOpenSent prometheus.Counter

	mu sync.Mutex
	// tick are the alerts the rules handed in during this evaluation.
	tick []alerting.Alert
	// prev are the rules' alerts at the last publication, by alert key;
	// handed are those whose probe moved away, with when it moved.
	prev   map[string]ruleAlert
	handed map[string]ruleAlert
	// led is the epoch this replica's dispatcher leads at, 0 when not
	// leading; alone: it dispatches its own alerts, failing open.
	led   int64
	alone bool
	// quorumFiring are the merged alerts of probes with a quorum that
	// reached it, so they resolve when they fall below.
	quorumFiring map[model.Fingerprint]bool
	// runningHere are the probes this replica ran since they last moved
	// here; handedDamping the damping of those that moved away, with
	// when; published is what every replica published at the last tick.
	runningHere   map[string]bool
	handedDamping map[string]handedDamping
	published     []cluster.Published
	// down is, by probe, when its merged ProbeDown started firing, as
	// the leader last dispatched it: for automatic incidents.
	down map[string]time.Time
	// threads are the Slack threads, shared with a fallback in
	// lookout.db.
	threads fallbackThreads
	// states are the listed probes' states the other replicas that run
	// them published, as of the last evaluation.
	states map[string]pageState
}

// handedDamping is the damping of a probe that moved away, published
// until handoverFor after the move.
type handedDamping struct {
	d     probes.Damping
	since time.Time
}

// ruleAlert is one alert of one rule, as published.
type ruleAlert struct {
	Rule  string      `json:"rule"` // ruleKey
	Alert rules.Alert `json:"alert"`
	// since is when its probe moved away (handed over only).
	since time.Time
}

func (r ruleAlert) key() string { return r.Rule + "\x00" + r.Alert.Labels.String() }

// publication is what a replica publishes after each evaluation.
type publication struct {
	// Send are the alerts of the probes it runs (and those no probe
	// owns), as the rules hand them to a dispatcher.
	Send []alerting.Alert `json:"send"`
	// Rules are its rules' alerts with their state, for adoption: those
	// of the probes it runs and those handed over.
	Rules []ruleAlert `json:"rules"`
	// Damping is the flap damping of the probes it runs, and of those
	// handed over, by probe, when not up with a clean window.
	Damping map[string]probes.Damping `json:"damping,omitempty"`
	// States are the states of the probes it runs that a status page
	// lists, for whichever replica serves the page.
	States map[string]pageState `json:"states,omitempty"`
}

// pageState is a probe's state as a status page shows it.
type pageState struct {
	State  probes.State `json:"state"`
	Judged bool         `json:"judged,omitempty"`
	Reason string       `json:"reason,omitempty"`
}

// newClusterAlerts prepares alerting in the cluster; setup finishes it
// once the outbox, dispatcher and rules exist.
func newClusterAlerts(d *daemon, a *alertingParts, cfg *config.Config) *clusterAlerts {
	cp := d.cluster
	lease, eval, grace := cp.cfg.Lease.Std(), cfg.Alerting.EvaluationInterval.Std(), restartGrace(cfg)
	ca := &clusterAlerts{
		d: d, a: a, c: cp.c, failOpenAfter: cp.cfg.FailOpenAfter.Std(),
		validity:    4*eval + 2*lease,
		handoverFor: max(10*lease, grace+2*lease+2*eval),
		grace:       grace,
		failOpenSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lookout_cluster_fail_open_notifications_total",
			Help: "Notifications this replica sent on its own while the state database was unreachable for longer than cluster.fail_open_after (other replicas may have sent the same).",
		}),
		prev: map[string]ruleAlert{}, handed: map[string]ruleAlert{}, quorumFiring: map[model.Fingerprint]bool{},
		runningHere: map[string]bool{}, handedDamping: map[string]handedDamping{},
	}
	ca.store = cp.c.Outbox(ca.failingOpen)
	d.reg.MustRegister(ca.failOpenSent)
	return ca
}

// failingOpen reports whether the state database has been unreachable for
// longer than cluster.fail_open_after.
func (ca *clusterAlerts) failingOpen() bool {
	return ca.failOpenAfter > 0 && ca.c.Unreachable() > ca.failOpenAfter
}

// maySend is the outbox's MaySend: the leader sends, once the stored
// lease says it still leads (one read of the database a send: a leader
// that cannot reach it sends nothing it could not then mark delivered,
// which the next leader would send again), and every replica failing open.
func (ca *clusterAlerts) maySend() bool {
	if ca.failingOpen() {
		return true
	}
	epoch, ok := ca.c.Leading()
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), ca.d.cluster.cfg.Lease.Std()/3)
	defer cancel()
	return ca.c.Fence(ctx, epoch) == nil
}

// Put implements rules.Sender: the evaluation's alerts wait for the
// publication after the tick.
func (ca *clusterAlerts) Put(alerts ...alerting.Alert) {
	ca.mu.Lock()
	ca.tick = append(ca.tick, alerts...)
	ca.mu.Unlock()
}

// sink counts what the dispatcher enqueues while failing open.
type clusterSink struct {
	stateSink
	ca *clusterAlerts
}

func (s clusterSink) EnqueueWithState(n *alerting.Notification, groupKey string, st dispatch.NotifiedState) error {
	err := s.stateSink.EnqueueWithState(n, groupKey, st)
	if err == nil && s.ca.isAlone() {
		s.ca.failOpenSent.Inc()
	}
	return err
}

func (ca *clusterAlerts) isAlone() bool {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.alone
}

// owners are the replicas that run the probe an alert is about, among
// names; ok is false for an alert about no probe this config has (every
// replica evaluates those alike).
func (ca *clusterAlerts) owners(probe string, names []string) (owners []string, ok bool) {
	r := ca.d.set.get(probe)
	if probe == "" || r == nil {
		return nil, false
	}
	pc := r.Config()
	return cluster.Assign(pc.Name, names, wanted(pc)), true
}

// afterTick publishes this replica's alerts, adopts those of probes that
// moved here, and, on the leader, dispatches every live replica's.
func (ca *clusterAlerts) afterTick(now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), ca.d.cluster.cfg.Lease.Std()/2)
	defer cancel()
	me, names := ca.d.cluster.cfg.Replica, ca.c.Replicas()
	ca.mu.Lock()
	sent := ca.tick
	ca.tick = nil
	ca.mu.Unlock()
	pub := ca.publication(sent, now, me, names)

	epoch, leading := ca.c.Leading()
	reachable := ca.c.Unreachable() == 0
	var all []cluster.Published
	if reachable {
		data, err := json.Marshal(pub)
		if err == nil {
			err = ca.c.Publish(ctx, data)
		}
		if err == nil {
			all, err = ca.c.AllPublished(ctx)
		}
		if err != nil {
			ca.a.alertState.WriteFailed(err)
			reachable = false
		}
	}
	if reachable {
		ca.a.outbox.RetryRemovals()
		ca.threads.sync()
		ca.adopt(all, me, names, now)
		ca.mu.Lock()
		ca.published = all
		ca.mu.Unlock()
		ca.remoteStates(all, me, names)
	}
	switch {
	case leading && reachable:
		ca.lead(ctx, epoch, all, names, now)
	case ca.failingOpen():
		ca.mu.Lock()
		ca.led, ca.alone = 0, true
		ca.mu.Unlock()
		ca.a.dispatcher.Put(pub.Send...)
	default:
		ca.mu.Lock()
		wasAlone := ca.alone
		reset := ca.led != 0 && !leading || wasAlone
		if reset {
			ca.led, ca.alone = 0, false
		}
		ca.mu.Unlock()
		if wasAlone && reachable {
			// Hand what it paged for on its own to the leader, so
			// those alerts are neither paged again nor left without
			// their resolved notification: their Slack threads first.
			ca.threads.sync()
			ca.handBack(ctx, me)
		}
		if reset {
			ca.a.dispatcher.Reset()
		}
	}
}

// handBack stores the states of the groups this replica notified while
// failing open, for the leader to merge (takeHandedBack).
func (ca *clusterAlerts) handBack(ctx context.Context, me string) {
	snap := ca.a.dispatcher.Snapshot()
	if len(snap) == 0 {
		return
	}
	v, err := json.Marshal(snap)
	if err == nil {
		err = ca.c.Bucket(handbackCollection).Write(map[string][]byte{me: v}, nil)
	}
	if err != nil {
		ca.d.log.Warn("cluster: hand the groups paged while failing open to the leader; their resolved notifications may be lost", "err", err)
	}
}

// takeHandedBack merges into the leader's dispatcher the groups other
// replicas paged for while failing open, and deletes them.
func (ca *clusterAlerts) takeHandedBack() {
	b := ca.c.Bucket(handbackCollection)
	all, err := b.Load()
	if err != nil || len(all) == 0 {
		return
	}
	var done []string
	for replica, v := range all {
		var notified map[string]dispatch.NotifiedState
		if err := json.Unmarshal(v, &notified); err != nil {
			ca.d.log.Warn("cluster: groups handed back do not decode; dropping them", "replica", replica, "err", err)
		} else {
			ca.a.dispatcher.Merge(notified)
			ca.d.log.Info("cluster: took over the groups a replica paged for while failing open", "replica", replica, "groups", len(notified))
		}
		done = append(done, replica)
	}
	_ = b.Write(nil, done) // again at the next evaluation if it failed: merging twice changes nothing
}

// handbackCollection has, by replica, the groups it notified while
// failing open.
const handbackCollection = "dispatch_handback"

// publication is this replica's alerts to publish: those of the probes it
// runs, and those of probes that moved away less than handoverFor ago,
// from before they moved.
func (ca *clusterAlerts) publication(sent []alerting.Alert, now time.Time, me string, names []string) publication {
	pub := publication{Send: []alerting.Alert{}, Rules: []ruleAlert{}}
	for _, a := range sent {
		if owners, ok := ca.owners(string(a.Labels["probe"]), names); !ok || slices.Contains(owners, me) {
			pub.Send = append(pub.Send, a)
		}
	}
	current := map[string]ruleAlert{}
	for _, g := range ca.a.rules.Groups() {
		for _, r := range g.Rules {
			ar, ok := r.(*rules.AlertingRule)
			if !ok {
				continue
			}
			for _, al := range ar.Alerts() {
				ra := ruleAlert{Rule: ruleKey(g, ar), Alert: al}
				if owners, ok := ca.owners(al.Labels.Get("probe"), names); !ok || slices.Contains(owners, me) {
					current[ra.key()] = ra
				}
			}
		}
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	for k, ra := range ca.prev {
		if _, still := current[k]; still {
			continue
		}
		if owners, ok := ca.owners(ra.Alert.Labels.Get("probe"), names); ok && !slices.Contains(owners, me) {
			if _, done := ca.handed[k]; !done && ra.Alert.State != rules.StateInactive {
				ra.since = now
				ca.handed[k] = ra
			}
		}
	}
	for k, ra := range ca.handed {
		if _, back := current[k]; back || now.Sub(ra.since) > ca.handoverFor {
			delete(ca.handed, k)
			continue
		}
		pub.Rules = append(pub.Rules, ra)
	}
	for _, ra := range current {
		pub.Rules = append(pub.Rules, ra)
	}
	ca.prev = current
	pub.Damping = ca.damping(now, me, names)
	pub.States = ca.listedStates(me, names)
	return pub
}

// listedStates are the states of the probes a status page lists that
// this replica runs.
func (ca *clusterAlerts) listedStates(me string, names []string) map[string]pageState {
	pages := ca.d.pages
	if pages == nil {
		return nil
	}
	pages.mu.Lock()
	listed := pages.listed
	pages.mu.Unlock()
	out := map[string]pageState{}
	for name := range listed {
		r := ca.d.set.get(name)
		if r == nil {
			continue
		}
		if owners, _ := ca.owners(name, names); !slices.Contains(owners, me) {
			continue
		}
		st, judged := r.Current()
		ps := pageState{State: st, Judged: judged}
		if st != probes.Up {
			ps.Reason = r.Status().Reason
		}
		out[name] = ps
	}
	return out
}

// remoteStates keeps, from what the live replicas published, the states
// of the listed probes they run.
func (ca *clusterAlerts) remoteStates(all []cluster.Published, me string, names []string) {
	states := map[string]pageState{}
	for _, p := range all {
		if p.Replica == me || !slices.Contains(names, p.Replica) {
			continue
		}
		var pub publication
		if json.Unmarshal(p.Data, &pub) != nil {
			continue
		}
		for name, ps := range pub.States {
			if owners, _ := ca.owners(name, names); slices.Contains(owners, p.Replica) {
				states[name] = ps
			}
		}
	}
	ca.mu.Lock()
	ca.states = states
	ca.mu.Unlock()
}

// pageState is the state a status page shows of a probe another replica
// runs; ok is false for one this replica runs (or nobody published).
func (ca *clusterAlerts) remoteState(name string) (pageState, bool) {
	if ca.d.runsHere(ca.d.set.get(name).Config()) {
		return pageState{}, false
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ps, ok := ca.states[name]
	return ps, ok
}

// damping is the damping to publish: that of the probes this replica
// runs, and that of the probes that moved away as it was when they did,
// for handoverFor. ca.mu is held.
func (ca *clusterAlerts) damping(now time.Time, me string, names []string) map[string]probes.Damping {
	out := map[string]probes.Damping{}
	for _, r := range ca.d.set.list() {
		pc := r.Config()
		if wanted(pc) == 0 {
			continue // on every replica, each from its own location
		}
		name := pc.Name
		if slices.Contains(cluster.Assign(name, names, wanted(pc)), me) {
			delete(ca.handedDamping, name)
			if d, ok := r.Damping(); ok {
				out[name] = d
			}
			continue
		}
		if ca.runningHere[name] {
			// It moved away: hand over its damping as it stands.
			delete(ca.runningHere, name)
			if d, ok := r.Damping(); ok {
				ca.handedDamping[name] = handedDamping{d: d, since: now}
			}
		}
	}
	for name, h := range ca.handedDamping {
		if now.Sub(h.since) > ca.handoverFor {
			delete(ca.handedDamping, name)
			continue
		}
		if _, ok := out[name]; !ok {
			out[name] = h.d
		}
	}
	return out
}

// gained is told of each run of a probe here: the first since the probe
// moved here takes the damping the replica that ran it before published
// (an empty window when it published none: the probe was up).
func (ca *clusterAlerts) gained(r *probes.Runner) {
	pc := r.Config()
	me := ca.d.cluster.cfg.Replica
	ca.mu.Lock()
	was := ca.runningHere[pc.Name]
	ca.runningHere[pc.Name] = true
	published := ca.published
	ca.mu.Unlock()
	if was || wanted(pc) == 0 {
		return
	}
	var from foundDamping
	names := ca.c.Replicas()
	owners := cluster.Assign(pc.Name, names, wanted(pc))
	serverNow := ca.c.ServerNow()
	for _, p := range published {
		if p.Replica == me || slices.Contains(owners, p.Replica) || serverNow.Sub(p.Seen) > ca.handoverFor {
			continue
		}
		var pub publication
		if json.Unmarshal(p.Data, &pub) != nil {
			continue
		}
		if d, ok := pub.Damping[pc.Name]; ok {
			from = foundDamping{d: d, replica: p.Replica, ok: true}
		}
	}
	if !from.ok {
		r.TakeDamping(probes.Damping{})
		return
	}
	if r.TakeDamping(from.d) {
		ca.d.log.Info("cluster: a probe that moved here keeps its flap damping", "probe", pc.Name, "from", from.replica, "failures", from.d.Failures, "state", from.d.State)
	}
}

// foundDamping is a damping found in another replica's publication.
type foundDamping struct {
	d       probes.Damping
	replica string
	ok      bool
}

// adopt takes into this replica's rules the alerts other replicas
// published of probes that run here now and not there: a replica gone, or
// probes moved.
func (ca *clusterAlerts) adopt(all []cluster.Published, me string, names []string, now time.Time) {
	serverNow := ca.c.ServerNow()
	byRule := map[string][]rules.Alert{}
	for _, p := range all {
		if p.Replica == me || serverNow.Sub(p.Seen) > ca.handoverFor {
			continue
		}
		var pub publication
		if err := json.Unmarshal(p.Data, &pub); err != nil {
			ca.d.log.Warn("cluster: a replica's published alerts do not decode; not adopting them", "replica", p.Replica, "err", err)
			continue
		}
		for _, ra := range pub.Rules {
			owners, ok := ca.owners(ra.Alert.Labels.Get("probe"), names)
			if ok && slices.Contains(owners, me) && !slices.Contains(owners, p.Replica) {
				byRule[ra.Rule] = append(byRule[ra.Rule], ra.Alert)
			}
		}
	}
	if len(byRule) == 0 {
		return
	}
	graceUntil := now.Add(ca.grace)
	for _, g := range ca.a.rules.Groups() {
		for _, r := range g.Rules {
			if ar, ok := r.(*rules.AlertingRule); ok {
				if n := ar.Adopt(byRule[ruleKey(g, ar)], graceUntil); n > 0 {
					ca.d.log.Info("cluster: adopted the alerts of probes that moved here", "rule", ar.Name(), "alerts", n)
				}
			}
		}
	}
}

// lead dispatches the live replicas' alerts, merged: an alert fires while
// any replica that runs its probe says so. On taking the lease over it
// first restores the groups' states and the outbox's pending deliveries.
func (ca *clusterAlerts) lead(ctx context.Context, epoch int64, all []cluster.Published, names []string, now time.Time) {
	ca.mu.Lock()
	led := ca.led
	ca.mu.Unlock()
	if led != epoch {
		if err := ca.takeOver(ctx); err != nil {
			ca.d.log.Warn("cluster: this replica leads but cannot read the alert groups' states yet; it dispatches from the next evaluation", "err", err)
			return
		}
		ca.mu.Lock()
		ca.led, ca.alone = epoch, false
		ca.mu.Unlock()
	} else if err := ca.a.outbox.Resume(); err != nil {
		// What it could not send while the database was away.
		ca.d.log.Warn("cluster: read the outbox", "err", err)
	}
	ca.takeHandedBack()
	merged := map[model.Fingerprint]*mergedAlert{}
	for _, p := range all {
		if !slices.Contains(names, p.Replica) {
			continue // gone: what it reported stays until validity, or its probes' new owners report it
		}
		var pub publication
		if err := json.Unmarshal(p.Data, &pub); err != nil {
			continue // logged by adopt
		}
		for _, a := range pub.Send {
			q := ca.quorum(string(a.Labels["probe"]))
			if q > 1 {
				// One alert for the probe, from all its locations.
				a.Labels = maps.Clone(a.Labels)
				delete(a.Labels, "location")
			}
			fp := a.Fingerprint()
			m := merged[fp]
			if m == nil {
				m = &mergedAlert{alert: a, quorum: q, firingAt: map[string]bool{}}
				merged[fp] = m
			}
			if a.EndsAt.IsZero() {
				m.firingAt[p.Replica] = true
			}
			m.merge(a)
		}
	}
	out := make([]alerting.Alert, 0, len(merged))
	down := map[string]time.Time{}
	ca.mu.Lock()
	for fp, m := range merged {
		a := m.alert
		if m.quorum > 1 {
			switch {
			case a.EndsAt.IsZero() && len(m.firingAt) >= m.quorum:
				ca.quorumFiring[fp] = true
				a.Annotations = maps.Clone(a.Annotations)
				a.Annotations["quorum"] = model.LabelValue(fmt.Sprintf("down from %d replicas (%s); quorum %d",
					len(m.firingAt), strings.Join(slices.Sorted(maps.Keys(m.firingAt)), ", "), m.quorum))
			case ca.quorumFiring[fp]:
				// Below the quorum now: resolved.
				delete(ca.quorumFiring, fp)
				if a.EndsAt.IsZero() {
					a.EndsAt = now
				}
			default:
				continue // never reached the quorum
			}
		}
		if a.EndsAt.IsZero() {
			if probe := string(a.Labels["probe"]); a.Name() == probeDownAlert && probe != "" {
				if since, ok := down[probe]; !ok || a.StartsAt.Before(since) {
					down[probe] = a.StartsAt
				}
			}
			a.EndsAt = now.Add(ca.validity)
		}
		out = append(out, a)
	}
	ca.down = down
	ca.mu.Unlock()
	ca.a.dispatcher.Put(out...)
	_ = ca.c.ForgetPublished(ctx, ca.c.ServerNow().Add(-ca.handoverFor))
}

// mergedAlert is one alert as the leader merges it from the replicas'
// publications.
type mergedAlert struct {
	alert  alerting.Alert
	quorum int
	// firingAt are the replicas that report it firing.
	firingAt map[string]bool
}

// merge takes a, reported by another replica, into the merged alert: one
// firing anywhere fires, with the earliest start; resolved everywhere, it
// ends at the latest end.
func (m *mergedAlert) merge(a alerting.Alert) {
	old := m.alert
	switch {
	case old.EndsAt.IsZero() && !a.EndsAt.IsZero():
		return
	case old.EndsAt.IsZero() && a.EndsAt.IsZero() && !a.StartsAt.Before(old.StartsAt):
		return
	case !old.EndsAt.IsZero() && !a.EndsAt.IsZero() && !a.EndsAt.After(old.EndsAt):
		return
	}
	m.alert = a
}

// quorum is how many replicas must see the probe down (probes[].quorum):
// 1 for an alert about no probe.
func (ca *clusterAlerts) quorum(probe string) int {
	if r := ca.d.set.get(probe); r != nil {
		return max(r.Config().Quorum, 1)
	}
	return 1
}

// takeOver restores the dispatcher from the shared database: the groups'
// states, and the deliveries the previous leader left pending.
func (ca *clusterAlerts) takeOver(ctx context.Context) error {
	var own map[string]dispatch.NotifiedState
	if ca.isAlone() {
		own = ca.a.dispatcher.Snapshot() // what it paged for, failing open
	}
	states, err := ca.store.GroupStates(ctx)
	if err != nil {
		return err
	}
	notified := make(map[string]dispatch.NotifiedState, len(states))
	for k, v := range states {
		var st dispatch.NotifiedState
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("group %s: %w", k, err)
		}
		notified[k] = st
	}
	ca.a.dispatcher.Reset()
	ca.a.dispatcher.Restore(notified)
	ca.a.dispatcher.Merge(own)
	// What the old leader left: after a lease, unless it delivered and
	// removed it meanwhile (it may have sent it just before losing the
	// database, and removes it once it is back).
	if err := ca.a.outbox.ResumeAfter(ca.d.cluster.cfg.Lease.Std()); err != nil {
		return err
	}
	ca.mu.Lock()
	for _, st := range notified {
		for _, fp := range st.Firing {
			// A probe's alert that reached its quorum under the old
			// leader resolves when it falls below under this one.
			ca.quorumFiring[fp] = true
		}
	}
	ca.mu.Unlock()
	ca.d.log.Info("cluster: this replica dispatches now, from the stored alert groups", "groups", len(notified))
	return nil
}

// firingDown is the probes whose merged ProbeDown fires, with since when,
// as this replica last dispatched them (nothing unless it leads).
func (ca *clusterAlerts) firingDown() map[string]time.Time {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return maps.Clone(ca.down)
}

// sequence is a collection of the shared database for incidents, which
// a database down at the start leaves empty (see bucket).
func (ca *clusterAlerts) sequence(collection string) incidents.Bucket {
	seq := ca.c.Sequence(collection)
	return startingSequence{&startingBucket{Bucket: seq, log: ca.d.log}, seq}
}

// startingSequence is a startingBucket with the sequence's IDs.
type startingSequence struct {
	*startingBucket
	seq cluster.Sequence
}

func (s startingSequence) NextID() (uint64, error) { return s.seq.NextID() }

// bucket is a collection of the shared database for silences or
// maintenance windows. A database down at the start leaves it empty
// until the first evaluation that reads it (Reload): Lookout starts all
// the same.
func (ca *clusterAlerts) bucket(collection string) alerting.Bucket {
	return &startingBucket{Bucket: ca.c.Bucket(collection), log: ca.d.log}
}

// startingBucket answers its first Load with nothing when the database
// does not answer, so a start does not wait for it.
type startingBucket struct {
	alerting.Bucket
	log    *slog.Logger
	loaded bool
}

func (b *startingBucket) Load() (map[string][]byte, error) {
	m, err := b.Bucket.Load()
	if err != nil && !b.loaded {
		b.loaded = true
		b.log.Warn("cluster: the state database did not answer; starting without its silences and maintenance windows until it does", "err", err)
		return map[string][]byte{}, nil
	}
	b.loaded = true
	return m, err
}

// ownRunners are the probes this replica runs now: every probe for a
// single replica. /metrics and the rules see only these, so a probe that
// moved away leaves no stale series behind; one that moved here shows
// from its first run here on (gained), never with what it showed the last
// time it ran here.
func (d *daemon) ownRunners() []*probes.Runner {
	all := d.set.list()
	if d.cluster == nil {
		return all
	}
	var ca *clusterAlerts
	if d.alerting != nil {
		ca = d.alerting.cluster
	}
	out := make([]*probes.Runner, 0, len(all))
	for _, r := range all {
		if d.runsHere(r.Config()) && (ca == nil || ca.ranHere(r.Name())) {
			out = append(out, r)
		}
	}
	return out
}

// ranHere reports whether the probe has started a run here since it
// last moved here.
func (ca *clusterAlerts) ranHere(probe string) bool {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.runningHere[probe]
}

// fallbackThreads keeps Slack threads in the shared database, and in
// lookout.db when it cannot: a replica that pages while failing open
// still finds the thread to resolve, and a thread it could not forget
// there (the zero Thread in lookout.db marks it) is not replied to by the
// group's next incident.
type fallbackThreads struct {
	shared slacknotify.Threads
	local  *slacknotify.BoltThreads
}

// sync hands what lookout.db holds to the shared database once it
// answers again, so the replica that sends the group's next notification
// finds the thread, or finds it forgotten.
func (f fallbackThreads) sync() {
	type kept struct {
		key string
		t   slacknotify.Thread
	}
	var all []kept
	_ = f.local.Each(func(key string, t slacknotify.Thread) error {
		all = append(all, kept{key, t})
		return nil
	})
	for _, k := range all {
		var err error
		if k.t == (slacknotify.Thread{}) {
			err = f.shared.Delete(k.key)
		} else {
			err = f.shared.Put(k.key, k.t)
		}
		if err != nil {
			return // the database is away again
		}
		_ = f.local.Delete(k.key)
	}
}

// Get prefers lookout.db's copy: it is there only when the shared
// database would not take a newer one, or forget the thread.
func (f fallbackThreads) Get(key string) (slacknotify.Thread, bool, error) {
	if lt, lok, lerr := f.local.Get(key); lerr == nil && lok {
		if lt == (slacknotify.Thread{}) { // forgotten
			if f.shared.Delete(key) == nil {
				_ = f.local.Delete(key)
			}
			return slacknotify.Thread{}, false, nil
		}
		return lt, true, nil
	}
	return f.shared.Get(key)
}

func (f fallbackThreads) Put(key string, t slacknotify.Thread) error {
	if err := f.shared.Put(key, t); err != nil {
		return f.local.Put(key, t)
	}
	_ = f.local.Delete(key) // an older copy from while the database was away
	return nil
}

func (f fallbackThreads) Delete(key string) error {
	if err := f.shared.Delete(key); err != nil {
		return f.local.Put(key, slacknotify.Thread{})
	}
	_ = f.local.Delete(key)
	return nil
}
