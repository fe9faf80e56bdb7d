// Package mongodb collects metrics from a MongoDB server (or a server that
// speaks its protocol, such as FerretDB) on Lookout's own schedule.
//
// A Collector connects to one target, runs a pass of its sub-collectors every
// interval, and keeps the metrics of the last completed pass; /metrics serves
// that snapshot, so a scrape never waits on the database. One failing
// sub-collector never hides the others, and a feature that the server lacks
// is reported once, as lookout_mongodb_feature_supported 0, not as an error
// on every pass.
package mongodb

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lookout-dev/lookout/config"
)

// Collector collects one target. It is a prometheus.Collector that serves the
// last completed pass.
type Collector struct {
	cfg    config.MongoDB
	opts   *options.ClientOptions
	redact redactor
	log    *slog.Logger
	descs  *descs
	subs   []subCollector
	// members are direct connections to replica-set members.
	members *members
	pools   *poolStats
	// slow reads slow queries; nil when SlowQueries.Source is empty (as
	// only a config built in code leaves it).
	slow *slowQueries
	// backups reads the backup sources; nil without mongodb[].backups.
	backups *backupStep
	now     func() time.Time

	mu   sync.Mutex
	snap []prometheus.Metric // the last completed pass; startingMetrics before the first

	// Touched only by the goroutine running passes.
	errs      map[string]float64   // errors_total by sub-collector
	lastOK    map[string]time.Time // last success by sub-collector
	lastErr   map[string]string    // the last error logged, by sub-collector
	supported map[string]bool      // features seen, and whether supported
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns the Collector of one target, as config.Parse checked it and
// filled its defaults; it does no network I/O. It fails only when the
// driver refuses the URI's options, as config's check does, or cannot read
// a TLS file the URI names.
func New(cfg config.MongoDB, log *slog.Logger) (*Collector, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := newRedactor(cfg.URI)
	pools := newPoolStats()
	opts := options.Client().ApplyURI(cfg.URI).
		SetAppName("lookout").
		SetMaxPoolSize(config.MongoMaxPoolSize).
		SetConnectTimeout(cfg.Timeout.Std()).
		SetServerSelectionTimeout(cfg.Timeout.Std()).
		SetPoolMonitor(pools.monitor())
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("mongodb %s: uri: %w", cfg.Name, r.err(err))
	}
	c := &Collector{
		cfg:       cfg,
		opts:      opts,
		redact:    r,
		log:       log.With("target", cfg.Name),
		descs:     newDescs(),
		members:   newMembers(opts, r),
		pools:     pools,
		now:       time.Now,
		errs:      map[string]float64{},
		lastOK:    map[string]time.Time{},
		lastErr:   map[string]string{},
		supported: map[string]bool{},
	}
	if cfg.SlowQueries.Source != "" {
		c.slow = newSlowQueries(cfg, c.log)
	}
	if cfg.Backups != nil {
		c.backups = newBackupStep(cfg.Backups, func() time.Time { return c.now() })
		c.backups.redact = r
	}
	c.subs = c.subCollectors(pools)
	c.snap = c.startingMetrics()
	return c, nil
}

// Run collects every interval until ctx ends, then disconnects and returns.
func (c *Collector) Run(ctx context.Context) error {
	client, err := c.connect()
	if err != nil {
		return err
	}
	defer c.disconnect(ctx, client)

	c.collectOnce(ctx, client)
	t := time.NewTicker(c.cfg.Interval.Std())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.collectOnce(ctx, client)
		}
	}
}

// connect makes the client; the driver connects lazily, so this does no I/O.
func (c *Collector) connect() (*mongo.Client, error) {
	client, err := mongo.Connect(c.opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb %s: connect: %w", c.cfg.Name, c.redact.err(err))
	}
	return client, nil
}

func (c *Collector) disconnect(ctx context.Context, client *mongo.Client) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout.Std())
	defer cancel()
	c.members.close(ctx)
	if err := client.Disconnect(ctx); err != nil {
		c.log.Warn("mongodb: disconnect", "err", c.redact.err(err))
	}
}

// Describe sends every descriptor the collector may use.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.descs.describe(ch)
	if c.slow != nil {
		c.slow.describe(ch)
	}
	if c.backups != nil {
		c.backups.descs.describe(ch)
	}
}

// Name is the target's name.
func (c *Collector) Name() string { return c.cfg.Name }

// SlowQueries returns the k query shapes that took the most time since
// Lookout started watching (all of them, up to 1,000, for k <= 0); nil
// when slow queries are not collected.
func (c *Collector) SlowQueries(k int) []SlowQueryShape {
	if c.slow == nil {
		return nil
	}
	return c.slow.Top(k)
}

// RestoreDrills tells the collector when a heartbeat probe last
// succeeded, for restore_test.heartbeat; call it before Run.
func (c *Collector) RestoreDrills(lastSuccess func(heartbeat string) (time.Time, bool)) {
	if c.backups != nil {
		c.backups.drill = lastSuccess
	}
}

// Backups is what each backup source of the target showed at its last
// read (mongodb[].backups); nil when the target has none.
func (c *Collector) Backups() []BackupSourceStatus {
	if c.backups == nil {
		return nil
	}
	return c.backups.status()
}

// Collect sends the metrics of the last completed pass.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	snap := c.snap
	c.mu.Unlock()
	for _, m := range snap {
		ch <- m
	}
}
