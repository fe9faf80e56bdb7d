package daemon

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/maintenance"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/alerting/notify/alertmanager"
	sentrynotify "github.com/lookout-dev/lookout/alerting/notify/sentry"
	slacknotify "github.com/lookout-dev/lookout/alerting/notify/slack"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/silences"
	"github.com/lookout-dev/lookout/alerting/store"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
)

// Buckets of Lookout's database besides the outbox's and the silences'.
var (
	ruleAlertsBucket = []byte("rule_alerts")    // alerts of each alerting rule
	dispatchBucket   = []byte("dispatch_state") // what each group last notified
	acksBucket       = []byte("acks")           // who acknowledged each group, from Slack
)

// alertingParts are the running pieces of alerting.
type alertingParts struct {
	// sentries are closed (flushed) at shutdown.
	sentries []*sentrynotify.Notifier
	// slackSecrets are, by receiver, the signing secrets Slack's button
	// clicks are checked against.
	slackSecrets map[string]string
	db           *bolt.DB
	store        *store.Store
	rules        *rules.Manager
	dispatcher   *dispatch.Dispatcher
	outbox       *notify.Outbox
	// forwarder sends the alerts of the receivers that forward to an
	// Alertmanager.
	forwarder *alertmanager.Forwarder
	silences  *silences.Store
	// maintenance holds the maintenance windows, which mute as silences
	// do (see maintenance.go).
	maintenance *maintenance.Store
	// alertState is where saving the rules' alerts reports a failed
	// write to db.
	alertState storageComponent
	// slack is where keeping Slack threads and acknowledgements reports
	// a failed write.
	slack storageComponent
	// heartbeats is where keeping heartbeats' check-ins reports a failed
	// write (the database is alerting's; heartbeat.go uses it).
	heartbeats storageComponent
	// uptime is where the uptime ledger reports a failed write.
	uptime storageComponent
	// deps are what the integrations were built with, for a reload's dry
	// run of new receivers.
	deps integrationDeps
	// cluster is alerting in a cluster (see clusterAlerts); nil for a
	// single replica.
	cluster *clusterAlerts
}

// setupAlerting opens the database and builds the store, the rule
// manager, the dispatcher and the outbox, restoring their state. A
// database that cannot be opened for writing is an error naming the
// cause (see openStorage); one that fails later does not stop paging.
func (d *daemon) setupAlerting(cfg *config.Config) (*alertingParts, error) {
	db, err := openStorage(cfg.Storage.Path)
	if err != nil {
		return nil, err
	}
	a := &alertingParts{db: db, store: store.New(store.Options{})}
	if err := a.build(d, cfg); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

func (a *alertingParts) build(d *daemon, cfg *config.Config) error {
	ac := cfg.Alerting
	// alerting.external_url, for the notifiers' links and the rules'
	// templates ($externalURL, externalURL, pathPrefix).
	externalURL := ""
	var templateURL *url.URL
	if ac.ExternalURL != nil {
		externalURL, templateURL = ac.ExternalURL.String(), ac.ExternalURL.URL
	}
	if err := bucketsExist(a.db); err != nil {
		return err
	}
	faults, err := newStorageFaults(d.reg, d.log)
	if err != nil {
		return err
	}
	a.alertState = faults.component(storageAlertState, "the rules' alerts are not saved, so a restart starts their `for` clocks over and may page again for what fires")
	if d.cluster != nil {
		a.cluster = newClusterAlerts(d, a, cfg)
	}
	boltThreads, err := slacknotify.NewBoltThreads(a.db)
	if err != nil {
		return err
	}
	var threads slacknotify.Threads = boltThreads
	if a.cluster != nil {
		a.cluster.threads = fallbackThreads{shared: slacknotify.RecordThreads(a.cluster.c.Records("slack_threads")), local: boltThreads}
		threads = a.cluster.threads
	}
	a.slack = faults.component(storageSlack, "Slack threads and acknowledgements are not kept: the group's next notification starts a new thread")
	a.heartbeats = faults.component(storageHeartbeats, "heartbeat check-ins are kept in memory only: a restart forgets those not saved")
	a.uptime = faults.component(storageUptime, "the probes' uptime since the last write is kept in memory only: a restart loses it")
	deps := integrationDeps{threads: threads, threadFaults: a.slack, pacer: slacknotify.NewPacer(slacknotify.DefaultPace), externalURL: externalURL, reg: d.reg}
	notifiers := map[string]map[string]notify.Notifier{} // receiver → integration → notifier
	for _, r := range ac.Receivers {
		ns, sentries, err := d.integrations(r, deps)
		if err != nil {
			return err
		}
		if r.Alertmanager == nil { // forwarded, never through the outbox
			notifiers[r.Name] = ns
		}
		a.sentries = append(a.sentries, sentries...)
		if r.Slack != nil && r.Slack.SigningSecret != "" {
			if a.slackSecrets == nil {
				a.slackSecrets = map[string]string{}
			}
			a.slackSecrets[r.Name] = r.Slack.SigningSecret
		}
	}
	a.deps = deps
	// Receivers that forward to an Alertmanager, as Prometheus does:
	// firing alerts valid for four evaluations (a minute at least).
	if a.forwarder, err = alertmanager.New(ac.Receivers, alertmanager.Options{
		ValidFor: 4 * max(ac.EvaluationInterval.Std(), time.Minute), Registerer: d.reg, Logger: d.log,
	}); err != nil {
		return err
	}
	outboxFaults := faults.component(storageOutbox, "notifications are sent from memory, and one not delivered before Lookout stops is lost")
	outboxOpts := notify.OutboxOptions{WriteFailures: outboxFaults, StateBucket: dispatchBucket}
	if a.cluster != nil {
		outboxOpts.Store, outboxOpts.MaySend = a.cluster.store, a.cluster.maySend
	}
	if a.outbox, err = notify.NewOutbox(a.db, notifiers, outboxOpts, d.reg, d.log); err != nil {
		return err
	}
	silenceFaults := faults.component(storageSilences, "silences cannot be created or expired (the API answers 507)")
	if a.cluster != nil {
		a.silences, err = silences.OpenIn(a.cluster.bucket("silences"), ac.Silences, silenceFaults)
	} else {
		a.silences, err = silences.Open(a.db, ac.Silences, silenceFaults)
	}
	if err != nil {
		return err
	}
	// Maintenance windows count with the silences in
	// lookout_storage_write_failures_total: they mute alike.
	maintenanceFaults := faults.component(storageSilences, "maintenance windows cannot be created or ended (the API answers 507)")
	if err := d.setupMaintenance(a, cfg, maintenanceFaults); err != nil {
		return err
	}
	var sink dispatch.Sink = stateSink{a.outbox}
	var sender rules.Sender
	if a.cluster != nil {
		// The leader restores the groups' states from the shared
		// database when it takes the lease (clusterAlerts.takeOver).
		sink, sender = clusterSink{stateSink{a.outbox}, a.cluster}, a.cluster
	}
	a.dispatcher = dispatch.New(dispatch.Options{
		Route: route(ac.Route), Inhibit: inhibitRules(ac.InhibitRules), Silences: muters{a.silences, a.maintenance},
		SendResolvedWhenMuted: *ac.SendResolvedWhenMuted,
		Forward:               a.forwarder.Receivers(), Forwarder: a.forwarder,
	}, sink, d.reg, d.log)
	if a.cluster == nil {
		notified, err := loadNotified(a.db)
		if err != nil {
			return err
		}
		a.dispatcher.Restore(notified)
		sender = a.dispatcher
	}
	a.rules = rules.NewManager(rules.Options{
		Storage: a.store, Sender: sender, Interval: ac.EvaluationInterval.Std(), ExternalURL: templateURL,
		Ingest: d.ingest, AfterTick: a.afterTick, Logger: d.log,
	}, d.reg)
	d.reg.MustRegister(a.store, a.silences)
	return nil
}

func bucketsExist(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{ruleAlertsBucket, dispatchBucket, acksBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// ingest puts into the store what /metrics shows and the rules read:
// only the families their selectors name, unless some selector names
// none, so 10,000 probes do not keep 2 h of every probe series.
func (d *daemon) ingest(ts time.Time) {
	names, all := d.alerting.rules.MetricNames()
	keepName := func(n string) bool {
		return all || names[n] || names[n+"_bucket"] || names[n+"_count"] || names[n+"_sum"]
	}
	gathered, err := d.reg.Gather()
	if err != nil {
		d.log.Warn("gather metrics for the rules", "err", err)
	}
	d.alerting.store.IngestEach(ts, func(add func(*dto.MetricFamily)) {
		for _, mf := range gathered {
			if keepName(mf.GetName()) {
				add(mf)
			}
		}
		// The probe families are added one by one: each is valid only
		// during its call.
		_ = d.probeMetrics.EachFamilyOf(keepName, func(mf *dto.MetricFamily) error {
			add(mf)
			return nil
		})
	})
	d.alerting.store.Compact(ts)
}

// applyRules loads rules for cfg into the manager, restoring the alerts
// saved before a restart for rules that kept their group, name and query.
// For grace after start, restored alerts whose series are not back yet
// keep their state.
func (a *alertingParts) applyRules(groups []*rules.Group, grace time.Duration) error {
	graceUntil := time.Now().Add(grace)
	a.rules.Update(groups)
	return a.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(ruleAlertsBucket)
		for _, g := range a.rules.Groups() {
			for _, r := range g.Rules {
				ar, ok := r.(*rules.AlertingRule)
				if !ok {
					continue
				}
				v := b.Get([]byte(ruleKey(g, ar)))
				if v == nil || len(ar.Alerts()) > 0 {
					continue
				}
				var saved []rules.Alert
				if err := json.Unmarshal(v, &saved); err != nil {
					return fmt.Errorf("restore alerts of %s: %w", ar.Name(), err)
				}
				ar.Restore(saved, graceUntil)
			}
		}
		return nil
	})
}

func ruleKey(g *rules.Group, r *rules.AlertingRule) string {
	return g.Key() + ";" + r.Name() + ";" + r.Query()
}

// afterTick saves the rules' alerts and deletes silences expired for
// silences.Retention and one-off maintenance windows ended for
// maintenance.Retention, after each evaluation.
func (a *alertingParts) afterTick(now time.Time) {
	if a.cluster != nil {
		a.cluster.afterTick(now)
		// Silences, maintenance windows and check-ins made on other
		// replicas; a failure keeps what was read last.
		errs := []error{a.silences.Reload(), a.maintenance.Reload()}
		if hb := a.cluster.d.opts.Heartbeats; hb != nil {
			errs = append(errs, hb.Sync())
		}
		if pages := a.cluster.d.pages; pages != nil {
			before := pages.incidents.Version()
			errs = append(errs, pages.incidents.Reload())
			if pages.incidents.Version() != before {
				pages.server.Invalidate()
			}
		}
		for _, err := range errs {
			if err != nil {
				d := a.cluster.d
				d.log.Warn("cluster: read the silences, maintenance windows, check-ins and incidents of the other replicas; keeping those read before", "err", err)
			}
		}
	}
	a.saveRuleAlerts()
	// A failure is counted and logged as the store's write failure; the
	// next evaluation tries again.
	_, _ = a.silences.DeleteExpired(now)
	_, _ = a.maintenance.DeleteExpired(now)
}

// muters mute an alert that any of them mutes: the silences and the
// maintenance windows. Muted gives all their IDs, sorted.
type muters []dispatch.Silences

var _ dispatch.Silences = muters{}

// Muted implements dispatch.Silences.
func (ms muters) Muted(lset model.LabelSet, at time.Time) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.Muted(lset, at)...)
	}
	slices.Sort(ids)
	return ids
}

// saveRuleAlerts records every alerting rule's alerts after a tick, so a
// restart resumes pending `for` clocks and knows what was firing.
func (a *alertingParts) saveRuleAlerts() {
	err := a.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(ruleAlertsBucket); err != nil {
			return err
		}
		b, err := tx.CreateBucket(ruleAlertsBucket)
		if err != nil {
			return err
		}
		for _, g := range a.rules.Groups() {
			for _, r := range g.Rules {
				ar, ok := r.(*rules.AlertingRule)
				if !ok || len(ar.Alerts()) == 0 {
					continue
				}
				v, err := json.Marshal(ar.Alerts())
				if err != nil {
					return err
				}
				if err := b.Put([]byte(ruleKey(g, ar)), v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		a.alertState.WriteFailed(fmt.Errorf("save alert state: %w", err))
	}
}

// stateSink writes a notification and its group's state in one
// transaction, so a crash can neither lose the state nor repeat a page
// the state says was sent.
type stateSink struct{ outbox *notify.Outbox }

var _ dispatch.StateSink = stateSink{}

func (s stateSink) Enqueue(n *alerting.Notification) error { return s.outbox.Enqueue(n) }

func (s stateSink) EnqueueWithState(n *alerting.Notification, groupKey string, st dispatch.NotifiedState) error {
	var v []byte // nil deletes the state of a group with nothing firing
	if len(st.Firing) > 0 {
		var err error
		if v, err = json.Marshal(st); err != nil {
			return err
		}
	}
	return s.outbox.EnqueueWithState(n, groupKey, v)
}

func loadNotified(db *bolt.DB) (map[string]dispatch.NotifiedState, error) {
	out := map[string]dispatch.NotifiedState{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(dispatchBucket).ForEach(func(k, v []byte) error {
			var st dispatch.NotifiedState
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("dispatch state of %s: %w", k, err)
			}
			out[string(k)] = st
			return nil
		})
	})
	return out, err
}

// route converts the configured routing tree.
func route(r *config.Route) *dispatch.Route {
	out := &dispatch.Route{Receiver: r.Receiver, Continue: r.Continue, Matchers: matchers(r.Matchers)}
	if r.GroupBy != nil {
		out.GroupBy = make([]model.LabelName, len(r.GroupBy))
		for i, l := range r.GroupBy {
			out.GroupBy[i] = model.LabelName(l)
		}
	}
	out.GroupWait = explicit(r.GroupWait)
	out.GroupInterval = explicit(r.GroupInterval)
	out.RepeatInterval = explicit(r.RepeatInterval)
	for _, c := range r.Routes {
		out.Routes = append(out.Routes, route(c))
	}
	return out
}

// explicit converts a timer the config may leave unset (nil: inherit).
// The dispatcher reads zero as "inherit", so an explicit 0s (as in
// group_wait: 0s, notify at once) becomes the smallest positive duration.
func explicit(d *config.Duration) time.Duration {
	switch {
	case d == nil:
		return 0
	case *d == 0:
		return time.Nanosecond
	}
	return d.Std()
}

func matchers(ms []config.Matcher) dispatch.Matchers {
	out := make(dispatch.Matchers, len(ms))
	for i, m := range ms {
		out[i] = m.Matcher
	}
	return out
}

func inhibitRules(irs []config.InhibitRule) []dispatch.InhibitRule {
	out := make([]dispatch.InhibitRule, len(irs))
	for i, ir := range irs {
		out[i] = dispatch.InhibitRule{SourceMatchers: matchers(ir.SourceMatchers), TargetMatchers: matchers(ir.TargetMatchers)}
		for _, l := range ir.Equal {
			out[i].Equal = append(out[i].Equal, model.LabelName(l))
		}
	}
	return out
}

// minRestartGrace is the least restartGrace: a start also loads storage,
// schedules every probe and gathers before the first evaluation, which
// takes longer than short intervals on a busy machine.
const minRestartGrace = 10 * time.Second

// restartGrace is how long after a start restored alerts wait for their
// series: every probe starts a run within its interval and finishes it
// within its timeout, once per attempt (cron schedules count as an hour at
// most), and two evaluations follow; at least minRestartGrace. A restored
// alert that resolved only because its probe had not run yet would page
// again as a new incident.
func restartGrace(cfg *config.Config) time.Duration {
	longest := time.Duration(0)
	for _, p := range cfg.Probes {
		iv := p.Interval.Std()
		if p.Schedule != nil {
			iv = time.Hour
		}
		longest = max(longest, iv+time.Duration(1+p.Retries)*p.Timeout.Std())
	}
	return max(minRestartGrace, longest+2*cfg.Alerting.EvaluationInterval.Std())
}

// probeReason is why the probe an alert is about fails, for Slack.
func (d *daemon) probeReason(ls model.LabelSet) string {
	r := d.set.get(string(ls["probe"]))
	if r == nil {
		return ""
	}
	return r.Status().Reason
}

// probeTrace is the trace and span ID of the failing run of the probe an
// alert is about, for Sentry's trace context; "" without tracing.
func (d *daemon) probeTrace(ls model.LabelSet) (traceID, spanID string) {
	r := d.set.get(string(ls["probe"]))
	if r == nil {
		return "", ""
	}
	return r.LastFailedTrace()
}

// probeTraceURL is telemetry.tracing.trace_url of the failing run of the
// probe an alert is about, for Slack's Trace link; "" when there is none.
func (d *daemon) probeTraceURL(ls model.LabelSet) string {
	id, _ := d.probeTrace(ls)
	return d.tracing.TraceLink(id)
}

// probeEvidence is the newest kept run with a screenshot of the browser
// probe an alert is about, while that probe is down: the failing run's
// evidence; "" otherwise.
func (d *daemon) probeEvidence(ls model.LabelSet) (probe, run string) {
	probe = string(ls["probe"])
	r, b := d.set.get(probe), d.opts.Browser
	if r == nil || b == nil || r.Status().State != probes.Down {
		return "", ""
	}
	return probe, b.Artifacts().Newest(probe, browserprobe.ScreenshotFile)
}

// probeScreenshot is that run's screenshot, for Sentry's attachment:
// named after the probe and the run, nil when there is none.
func (d *daemon) probeScreenshot(ls model.LabelSet) (name string, png []byte) {
	probe, run := d.probeEvidence(ls)
	if run == "" {
		return "", nil
	}
	png, err := d.opts.Browser.Artifacts().Screenshot(probe, run)
	if err != nil {
		d.log.Warn("attach a browser probe's screenshot", "probe", probe, "run", run, "err", err)
		return "", nil
	}
	return "screenshot-" + run + ".png", png
}

// screenshotURL links that run's screenshot on the admin listener at
// externalURL (alerting.external_url), for Slack's Screenshot link; nil
// without an external URL, which a link needs.
func (d *daemon) screenshotURL(externalURL string) func(model.LabelSet) string {
	if externalURL == "" || d.opts.Browser == nil {
		return nil
	}
	base := strings.TrimSuffix(externalURL, "/")
	return func(ls model.LabelSet) string {
		probe, run := d.probeEvidence(ls)
		if run == "" {
			return ""
		}
		return base + "/api/v1/probes/" + url.PathEscape(probe) + "/artifacts/" + run + "/" + browserprobe.ScreenshotFile
	}
}

// close flushes the Sentry clients and closes the database.
func (a *alertingParts) close() {
	for _, s := range a.sentries {
		_ = s.Close(5 * time.Second)
	}
	a.db.Close()
}

// slackActions are what Slack's buttons do: silence a group or
// acknowledge it.
type slackActions struct {
	a   *alertingParts
	log *slog.Logger
}

var _ slacknotify.Actions = slackActions{}

// Silence silences exactly the group's labels.
func (s slackActions) Silence(groupLabels model.LabelSet, by string, d time.Duration) (string, error) {
	var ms dispatch.Matchers
	for name, v := range groupLabels {
		m, err := labels.NewMatcher(labels.MatchEqual, string(name), string(v))
		if err != nil {
			return "", err
		}
		ms = append(ms, m)
	}
	now := time.Now()
	sil, err := s.a.silences.Add(dispatch.Silence{Matchers: ms, StartsAt: now, EndsAt: now.Add(d), CreatedBy: by, Comment: "from Slack"})
	if err != nil {
		return "", err
	}
	s.log.Info("silence created from Slack", "id", sil.ID, "by", by, "matchers", ms.String())
	return sil.ID, nil
}

// Ack records who acknowledged the group.
func (s slackActions) Ack(groupKey, by string) error {
	v, _ := json.Marshal(struct {
		By string    `json:"by"`
		At time.Time `json:"at"`
	}{by, time.Now()})
	s.log.Info("alert group acknowledged from Slack", "group", groupKey, "by", by)
	var err error
	if s.a.cluster != nil {
		err = s.a.cluster.c.Records("slack_acks").Put(groupKey, v)
	} else {
		err = s.a.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(acksBucket).Put([]byte(groupKey), v) })
	}
	if err != nil {
		s.a.slack.WriteFailed(err) // and the user is told in Slack
		return fmt.Errorf("record the acknowledgement: %w", err)
	}
	return nil
}
