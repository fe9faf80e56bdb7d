package daemon

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/lookout-dev/lookout/collectors/webvitals"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// hasHeartbeats reports whether cfg has a heartbeat probe.
func hasHeartbeats(cfg *config.Config) bool {
	return slices.ContainsFunc(cfg.Probes, func(p config.Probe) bool { return p.Heartbeat != nil })
}

// setupHeartbeats keeps the heartbeats' check-ins in the database, from
// which the store takes what it kept before a restart (a failed write is
// counted in lookout_storage_write_failures_total{component="heartbeats"}
// and logged, and the check-in counts from memory), runs a heartbeat's
// probe at each of its check-ins (so a failure is down at once, and an
// older evaluation never overtakes it: the scheduler runs a probe once at
// a time), and serves the check-in routes on the public listener, even
// before a reload adds the first heartbeat probe (until then every name
// is unknown, 404).
func (d *daemon) setupHeartbeats(cfg *config.Config) error {
	beats := d.opts.Heartbeats
	if beats == nil {
		if hasHeartbeats(cfg) {
			return errors.New("heartbeat probes need a store of check-ins (daemon.Options.Heartbeats)")
		}
		return nil
	}
	if err := beats.Open(d.alerting.db, d.alerting.heartbeats); err != nil {
		return err
	}
	beats.OnCheckin(d.sched.Trigger)
	if d.cluster != nil {
		// Check-ins reach any replica; the one running the heartbeat's
		// probe merges them after each evaluation.
		beats.Share(d.cluster.c.Heartbeats())
	}
	d.heartbeats = beats
	// Check-ins arrive on the public listener: each client address
	// (behind server.public.trusted_proxies, the one they forward) has its
	// rate, so a flood from one cannot crowd out the others.
	limiter := webvitals.NewClientLimiter(checkinRate, checkinBurst, checkinClients)
	d.checkinTrusted.Store(new(config.NetPrefixes(trustedProxies(cfg))))
	beats.LimitClients(func(r *http.Request) bool {
		return limiter.Allow(webvitals.ClientKey(r, *d.checkinTrusted.Load()), time.Now())
	})
	return nil
}

// The rate of check-ins per client address: a host running many cron jobs
// checks each in as it starts and ends, often at the same minute.
const (
	checkinRate    = 10  // a second
	checkinBurst   = 300 // at once
	checkinClients = 10000
)

// configureHeartbeats tells the store which heartbeats the running
// probes have, after a start or a reload swapped them in.
func (d *daemon) configureHeartbeats(runners []*probes.Runner) {
	if d.opts.Heartbeats == nil {
		return
	}
	beats := map[string]*config.Heartbeat{}
	for _, r := range runners {
		if hb := r.Config().Heartbeat; hb != nil {
			beats[r.Name()] = hb
		}
	}
	d.opts.Heartbeats.Configure(beats)
	// lookout_heartbeat_checkins_total is served from the first heartbeat
	// probe on, a reload's too, and kept after the last is removed.
	if len(beats) > 0 && !d.heartbeatMetrics {
		d.reg.MustRegister(d.opts.Heartbeats)
		d.heartbeatMetrics = true
	}
}
