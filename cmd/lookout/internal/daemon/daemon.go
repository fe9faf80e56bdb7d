// Package daemon wires Lookout together: config, probes, scheduler and
// the HTTP server, with reloads. Run starts the whole daemon, so tests can
// too.
package daemon

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/remotewrite"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/statuspage"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/telemetry"
	"github.com/lookout-dev/lookout/collectors/webvitals"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/heartbeat"
	"github.com/lookout-dev/lookout/probes/scheduler"
	"github.com/lookout-dev/lookout/probes/tracing"
	"github.com/lookout-dev/lookout/probes/uptime"
)

// ShutdownTimeout bounds how long a stopping daemon waits for in-flight
// HTTP requests.
const ShutdownTimeout = 10 * time.Second

// Options start a daemon.
type Options struct {
	ConfigFile string
	Logger     *slog.Logger
	Version    string
	// Reload receives a value for each reload request (SIGHUP).
	Reload <-chan struct{}
	// Listening, when set, is told the address the admin listener
	// (server.listen) listens on.
	Listening func(addr net.Addr)
	// ListeningPublic, when set, is told the address of the public
	// listener (server.public.listen), if there is one.
	ListeningPublic func(addr net.Addr)
	// Kinds are the probe kinds the daemon runs (main's table,
	// kinds.All); a probe of a kind not among them does not start.
	Kinds probes.Kinds
	// Heartbeats are the check-ins the heartbeat kind of Kinds reads:
	// the daemon keeps them in its database and serves their routes.
	Heartbeats *heartbeat.Store
	// UptimeEvery is how often every probe's state is sampled for its
	// uptime; 0 means every 10 s.
	UptimeEvery time.Duration
	// Browser is the Chromium the browser kind of Kinds runs in: the
	// daemon applies the browser section to it at start and at each
	// reload, and closes it when it stops.
	Browser *browserprobe.Browser
}

// daemon is one running Lookout.
type daemon struct {
	opts Options
	log  *slog.Logger
	reg  *prometheus.Registry
	// probeMetrics are served beside reg, streamed (see serveMetrics).
	probeMetrics *probes.Collector
	set          probeSet
	// tracer traces every probe run (telemetry.tracing); nil: off.
	tracer  trace.Tracer
	tracing *config.Tracing
	sched   *scheduler.Scheduler
	ready   atomic.Bool
	reloads chan chan error
	// alerting is rule evaluation, dispatch and notification.
	alerting *alertingParts
	// started are the fingerprints of the config sections that only a restart
	// applies, as Lookout started with them (see restartOnly).
	started map[string][sha256.Size]byte
	// listen and storagePath are server.listen and storage.path as Lookout
	// started with them, for a reload's dry run (see dryRunRestartOnly).
	listen, publicListen, storagePath string
	// vitals is the Web Vitals beacon endpoint; nil when not enabled.
	vitals *webvitals.Collector
	// mongos are the MongoDB targets' collectors.
	mongos *mongoTargets
	// heartbeats serves the heartbeats' check-ins; nil when Lookout
	// started without heartbeat probes.
	heartbeats *heartbeat.Store
	// heartbeatMetrics is whether the heartbeats' counter is registered
	// (from the first heartbeat probe on).
	heartbeatMetrics bool
	// checkinTrusted are the proxies whose X-Forwarded-For the check-ins'
	// rate limit believes; a reload changes them.
	checkinTrusted atomic.Pointer[[]netip.Prefix]
	// cluster is this replica's membership; nil for a single replica.
	cluster *clusterParts
	// stopProbes ends the scheduler: when Run's context ends, or in a
	// cluster once the probes are handed over.
	stopProbes context.CancelFunc
	// uptime is every probe's time up, degraded, down and under
	// maintenance, kept in the alerting database.
	uptime *uptime.Ledger
	// maintenance reports whether a maintenance window covers a probe at
	// a time; nil: none is configured.
	maintenance func(probe string, labels map[string]string, t time.Time) bool
	pages       *statusPages

	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
}

// Run loads the config, starts everything and blocks until ctx is done,
// then drains: the HTTP server finishes requests in flight (up to
// ShutdownTimeout), probe runs are cancelled, and every goroutine has
// ended when Run returns.
func Run(ctx context.Context, opts Options) error {
	cfg, err := config.Load(opts.ConfigFile)
	if err != nil {
		return err
	}
	var tel *telemetry.Telemetry // nil: no telemetry, and its methods do nothing
	if s := cfg.Telemetry.Sentry; s != nil {
		if tel, err = telemetry.NewSentry(s.DSN, s.Environment, "lookout@"+opts.Version); err != nil {
			return err
		}
		defer tel.Close(5 * time.Second)
		defer tel.Recover()
		opts.Logger = slog.New(tel.Handler(opts.Logger.Handler()))
	}
	d := &daemon{
		opts: opts, log: opts.Logger, reg: prometheus.NewRegistry(), reloads: make(chan chan error),
	}
	if t := cfg.Telemetry.Tracing; t != nil {
		tp, err := tracing.New(ctx, t, opts.Version)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				d.log.Warn("export the last traces", "err", err)
			}
		}()
		d.tracer, d.tracing = tp.Tracer(), t
	}
	d.registerMetrics()
	applyRuntime(cfg.Runtime, d.log)
	d.sched = scheduler.New(cfg.Scheduler.MaxConcurrent, d.reg)
	groups, err := LoadRules(opts.ConfigFile, cfg, d.log)
	if err != nil {
		return err
	}
	if b := opts.Browser; b != nil {
		b.Configure(cfg.Browser)
		defer b.Close() // after the probes' runs ended: its processes go last
	}
	if err := d.setupCluster(cfg); err != nil {
		return err
	}
	if err := d.apply(cfg); err != nil {
		return err
	}
	if d.alerting, err = d.setupAlerting(cfg); err != nil {
		return err
	}
	uptimeOpts := uptime.Options{MaxGap: 12 * cmp.Or(opts.UptimeEvery, defaultUptimeEvery)}
	if d.cluster != nil {
		uptimeOpts.Shared = d.cluster.c.Uptime()
	}
	if d.uptime, err = uptime.Open(d.alerting.db, uptimeOpts); err != nil {
		d.alerting.close()
		return err
	}
	d.started = restartOnly(cfg)
	d.listen, d.storagePath = cfg.Server.Listen, cfg.Storage.Path
	if p := cfg.Server.Public; p != nil {
		d.publicListen = p.Listen
	}
	d.mongos = &mongoTargets{log: d.log}
	if hb := d.opts.Heartbeats; hb != nil {
		d.mongos.drills = func(name string) (time.Time, bool) {
			sig, ok := hb.Signals(name)
			return sig.Success, ok
		}
	}
	applyMongo, err := d.mongos.prepare(cfg.MongoDB)
	if err != nil {
		return err
	}
	applyMongo()
	d.reg.MustRegister(d.mongos)
	if d.cluster != nil {
		d.reg.MustRegister(d.cluster.c)
	}
	remoteWrite, err := remotewrite.New(cfg.RemoteWrite, remotewrite.Options{
		Families: d.families, Instance: replicaName(cfg), Registerer: d.reg, Logger: d.log,
		DB: d.alerting.db, WriteFailures: d.alerting.uptime.f.component(storageRemoteWrite,
			"a request for a remote_write receiver waits in memory only: a restart loses it"),
	})
	if err != nil {
		return err
	}
	if cfg.WebVitals.Enabled {
		if d.vitals, err = webvitals.New(cfg.WebVitals, trustedProxies(cfg), d.reg, d.log); err != nil {
			return fmt.Errorf("webvitals: %w", err)
		}
	}
	defer d.alerting.close()
	if err := d.alerting.applyRules(groups, restartGrace(cfg)); err != nil {
		return err
	}
	if err := d.setupHeartbeats(cfg); err != nil {
		return err
	}
	if err := d.setupStatusPages(cfg); err != nil {
		return err
	}
	lns, err := d.openListeners(cfg.Server)
	if err != nil {
		return err
	}
	// The public listener is told first: whoever waits for the admin
	// address then finds the public one known too.
	if opts.ListeningPublic != nil && lns.public != nil {
		opts.ListeningPublic(lns.public.ln.Addr())
	}
	if opts.Listening != nil {
		opts.Listening(lns.admin.ln.Addr())
	}
	for _, w := range cfg.Server.Warnings() {
		d.log.Warn("the admin API is exposed without credentials", "warning", w)
	}
	// Loading a big config leaves garbage (the YAML tree, CEL parses);
	// hand it back to the OS now rather than over the next minutes.
	cfg = nil
	debug.FreeOSMemory()
	started := []any{"version", opts.Version, "listen", lns.admin.ln.Addr().String()}
	if lns.public != nil {
		started = append(started, "public", lns.public.ln.Addr().String())
	}
	d.log.Info("lookout started", append(started, "probes", len(d.set.list()), "rule_groups", len(groups), "config", opts.ConfigFile)...)
	g, gctx := errgroup.WithContext(ctx)
	var runs []func(context.Context) error
	for _, run := range []func(context.Context) error{
		d.reloadLoop, d.alerting.outbox.Run, d.alerting.dispatcher.Run, d.alerting.rules.Run,
		func(ctx context.Context) error { d.alerting.forwarder.Run(ctx); return nil },
		func(ctx context.Context) error { remoteWrite.Run(ctx); return nil },
	} {
		runs = append(runs, run)
	}
	// In a cluster the probes run until this replica has handed them
	// over (runCluster), so a stop skips none of their runs.
	schedCtx, stopProbes := context.WithCancel(context.Background())
	defer stopProbes()
	runs = append(runs, func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			if d.cluster == nil {
				stopProbes()
			}
		}()
		return d.sched.Run(schedCtx)
	})
	d.stopProbes = stopProbes
	for _, l := range lns.all() {
		runs = append(runs, func(ctx context.Context) error { return d.serveListener(ctx, l) })
	}
	runs = append(runs, d.mongos.Run, d.runUptime, d.runStatusPages, d.runCluster)
	for _, run := range runs {
		g.Go(func() error {
			defer tel.Recover() // a panic reaches Sentry before it ends the process
			return run(gctx)
		})
	}
	d.ready.Store(true)
	err = g.Wait()
	d.log.Info("lookout stopped")
	return err
}

// storageRemoteWrite is remote_write's component of
// lookout_storage_write_failures_total: its requests waiting for a
// receiver.
const storageRemoteWrite = "remote_write"

// replicaName is the instance label remote_write gives Lookout's series:
// the cluster replica's name, or "" for the host's.
func replicaName(cfg *config.Config) string {
	if cfg.Cluster != nil {
		return cfg.Cluster.Replica
	}
	return ""
}

// applyRuntime sets the garbage collector's target to runtime.gogc,
// unless the GOGC environment variable set it.
func applyRuntime(rt config.Runtime, log *slog.Logger) {
	if env, ok := os.LookupEnv("GOGC"); ok {
		log.Debug("GOGC is set in the environment; runtime.gogc is not applied", "GOGC", env)
		return
	}
	debug.SetGCPercent(rt.GOGC)
}

func (d *daemon) registerMetrics() {
	d.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "lookout_config_last_reload_successful", Help: "Whether the last config load or reload succeeded.",
	})
	d.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "lookout_config_last_reload_success_timestamp_seconds", Help: "When the config last loaded successfully, in Unix seconds.",
	})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "lookout_build_info", Help: "Lookout's version.", ConstLabels: prometheus.Labels{"version": d.opts.Version},
	})
	build.Set(1)
	d.reg.MustRegister(d.reloadOK, d.reloadTime, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, k := range d.opts.Kinds {
		if k.Collector != nil {
			d.reg.MustRegister(k.Collector)
		}
	}
	d.probeMetrics = probes.NewCollector(d.ownRunners, d.opts.Kinds)
}

// apply builds the probes of cfg beside the running ones and swaps them in
// only when all of them built.
func (d *daemon) apply(cfg *config.Config) error {
	runners, prints, err := d.set.build(cfg, d.opts.Kinds, d.tracer, d.log)
	if err != nil {
		d.reloadOK.Set(0)
		return err
	}
	d.set.swap(runners, prints)
	d.configureHeartbeats(runners)
	var here func(*probes.Runner) bool // nil: every probe runs here
	if d.cluster != nil {
		here = d.runHere
	}
	d.sched.Set(jobs(runners, here))
	d.reloadOK.Set(1)
	d.reloadTime.SetToCurrentTime()
	return nil
}

// reload loads the config file again; on any problem the running setup
// stays as it was.
func (d *daemon) reload() error {
	cfg, err := config.Load(d.opts.ConfigFile)
	var groups []*rules.Group
	if err == nil {
		groups, err = LoadRules(d.opts.ConfigFile, cfg, d.log)
	}
	applyVitals, applyMongo := func() {}, func() {}
	if err == nil && d.vitals != nil && cfg.WebVitals.Enabled {
		applyVitals = d.vitals.Reconfigure(cfg.WebVitals, trustedProxies(cfg))
	}
	if err == nil {
		err = d.dryRunRestartOnly(cfg)
	}
	if err == nil {
		applyMongo, err = d.mongos.prepare(cfg.MongoDB)
	}
	if err == nil {
		err = d.apply(cfg) // the last step that can fail: it swaps the probes in
	}
	if err != nil {
		d.reloadOK.Set(0)
		d.log.Error("config reload failed; keeping the running config", "err", err)
		return err
	}
	applyVitals()
	d.checkinTrusted.Store(new(config.NetPrefixes(trustedProxies(cfg))))
	if b := d.opts.Browser; b != nil {
		b.Configure(cfg.Browser)
		if !slices.ContainsFunc(cfg.Probes, func(p config.Probe) bool { return p.Browser != nil }) {
			b.Release() // an idle Chromium would hold its memory for nothing
		}
	}
	d.alerting.silences.SetLimits(cfg.Alerting.Silences)
	d.applyMaintenance(cfg)
	d.applyStatusPages(cfg)
	applyMongo()
	d.alerting.rules.Update(groups)
	applyRuntime(cfg.Runtime, d.log)
	if changed := changedSections(d.started, restartOnly(cfg)); len(changed) > 0 {
		d.log.Warn("config reloaded, but these sections change only at the next start", "sections", strings.Join(changed, ", "))
	}
	d.log.Info("config reloaded", "probes", len(cfg.Probes), "rule_groups", len(groups))
	return nil
}

// restartOnly fingerprints the config sections that a reload does not apply,
// by name: the listeners, the storage, telemetry, whether Web Vitals are
// on, whether heartbeats' check-ins are served, and alerting's routing and
// receivers. Probes, rules, runtime, the MongoDB targets and the Web
// Vitals settings (with the public listener's trusted proxies, which only
// its rate limit uses) are reloaded.
func restartOnly(cfg *config.Config) map[string][sha256.Size]byte {
	a := cfg.Alerting
	server := cfg.Server
	if server.Public != nil {
		public := *server.Public
		public.TrustedProxies = nil
		server.Public = &public
	}
	sections := map[string]any{
		"server":                            server,
		"storage":                           cfg.Storage,
		"telemetry":                         cfg.Telemetry,
		"webvitals.enabled":                 cfg.WebVitals.Enabled,
		"alerting.route":                    a.Route,
		"alerting.inhibit_rules":            a.InhibitRules,
		"alerting.receivers":                a.Receivers,
		"alerting.external_url":             a.ExternalURL,
		"alerting.send_resolved_when_muted": a.SendResolvedWhenMuted,
		"status_pages[].path":               statuspage.Paths(cfg.StatusPages),
		"cluster":                           cfg.Cluster,
		"remote_write":                      cfg.RemoteWrite,
	}
	prints := make(map[string][sha256.Size]byte, len(sections))
	for name, v := range sections {
		prints[name] = config.Fingerprint(v)
	}
	return prints
}

// changedSections names the sections whose fingerprints differ, sorted.
func changedSections(was, now map[string][sha256.Size]byte) []string {
	var changed []string
	for name, p := range now {
		if was[name] != p {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	return changed
}

// trustedProxies are the public listener's trusted proxies: the Web Vitals
// rate limit believes their X-Forwarded-For.
func trustedProxies(cfg *config.Config) []config.Prefix {
	if p := cfg.Server.Public; p != nil {
		return p.TrustedProxies
	}
	return nil
}

// reloadLoop serialises reloads from SIGHUP and from POST /-/reload.
func (d *daemon) reloadLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.opts.Reload:
			_ = d.reload() // logged by reload
		case reply := <-d.reloads:
			reply <- d.reload()
		}
	}
}
