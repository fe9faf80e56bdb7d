package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/alerting/notify/webhook"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/store"
	"github.com/lookout-dev/lookout/config"
)

const ruleFile = `groups:
  - name: bench
    rules:
      - alert: BenchTriggered
        expr: lookout_bench_trigger == 1
        for: %s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.alert_id }} triggered"
`

// chain is the daemon's alerting path, built the way the daemon builds
// it: store → rules.Manager → dispatch.Dispatcher → notify.Outbox (bbolt,
// dispatch state in the notification's transaction) → webhook.
type chain struct {
	o      options
	db     *bbolt.DB
	store  *store.Store
	mgr    *rules.Manager
	disp   *dispatch.Dispatcher
	outbox *notify.Outbox
	rec    *recorder

	mu    sync.Mutex
	ticks int // evaluations so far
}

func newChain(o options, dir, hookURL string, rec *recorder) (*chain, error) {
	db, err := bbolt.Open(filepath.Join(dir, "lookout.db"), 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	c := &chain{o: o, db: db, store: store.New(store.Options{}), rec: rec}
	if err := c.build(dir, hookURL); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

func (c *chain) build(dir, hookURL string) error {
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	u, err := url.Parse(hookURL)
	if err != nil {
		return err
	}
	wh := webhook.New(config.Webhook{URL: config.URL{URL: u}, Timeout: config.DefaultWebhookTimeout}, webhook.Options{})
	if c.outbox, err = notify.NewOutbox(c.db, map[string]map[string]notify.Notifier{"hook": {"webhook": wh}}, notify.OutboxOptions{}, reg, log); err != nil {
		return err
	}
	gw := c.o.groupWait
	if gw == 0 {
		gw = time.Nanosecond // dispatch.Route takes 0 as "inherit" (30s at the root)
	}
	c.disp = dispatch.New(dispatch.Options{
		Route: &dispatch.Route{
			Receiver: "hook", GroupBy: []model.LabelName{model.AlertNameLabel, idLabel},
			GroupWait: gw, GroupInterval: c.o.groupInterval, RepeatInterval: time.Hour,
		},
		SendResolvedWhenMuted: true,
	}, stateSink{c}, reg, log)
	path := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(path, fmt.Appendf(nil, ruleFile, model.Duration(c.o.forDur)), 0o600); err != nil {
		return err
	}
	groups, err := rules.Load([]string{path}, log)
	if err != nil {
		return err
	}
	c.mgr = rules.NewManager(rules.Options{
		Storage: c.store, Sender: sender{r: c.rec, d: c.disp}, Interval: c.o.interval,
		Ingest: c.ingest, AfterTick: c.saveRuleAlerts, Logger: log,
	}, reg)
	c.mgr.Update(groups)
	return c.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range []string{"rule_alerts", "dispatch_state"} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
}

// active reports whether alert j's series is 1 at evaluation k: alerts
// start every -every evaluations and stay for `for` plus two intervals.
func (c *chain) active(j, k int) bool {
	start := firstEval(c.o, j)
	hold := int(c.o.forDur/c.o.interval) + 2
	return k >= start && k < start+hold
}

// firstEval is the evaluation at which alert j's series appears.
func firstEval(o options, j int) int { return 1 + j*o.every }

// ingest runs as each evaluation starts: it notes the time and ingests
// lookout_bench_trigger{alert_id} for the alerts active now.
func (c *chain) ingest(ts time.Time) {
	now := time.Now()
	c.mu.Lock()
	k := c.ticks
	c.ticks++
	c.mu.Unlock()
	c.rec.tickStarted(k, now)
	mf := &dto.MetricFamily{Name: proto.String("lookout_bench_trigger"), Type: dto.MetricType_GAUGE.Enum()}
	for j := range c.o.alerts {
		if c.active(j, k) {
			mf.Metric = append(mf.Metric, &dto.Metric{
				Label: []*dto.LabelPair{{Name: proto.String(idLabel), Value: proto.String(alertID(j))}},
				Gauge: &dto.Gauge{Value: proto.Float64(1)},
			})
		}
	}
	c.store.Ingest(ts, []*dto.MetricFamily{mf})
	c.store.Compact(ts)
}

func alertID(j int) string { return fmt.Sprintf("a-%02d", j) }

// saveRuleAlerts stores every rule's alerts after each evaluation, as
// the daemon does (one bbolt transaction per tick).
func (c *chain) saveRuleAlerts(time.Time) {
	err := c.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("rule_alerts"))
		for _, g := range c.mgr.Groups() {
			for _, r := range g.Rules {
				ar, ok := r.(*rules.AlertingRule)
				if !ok {
					continue
				}
				v, err := json.Marshal(ar.Alerts())
				if err != nil {
					return err
				}
				if err := b.Put([]byte(g.Key()+";"+ar.Name()), v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		c.mgr.Logger().Error("save alert state", "err", err)
	}
}

// stateSink writes a notification and its group's state in one
// transaction, as the daemon's does, and notes when it committed.
type stateSink struct{ c *chain }

var _ dispatch.StateSink = stateSink{}

func (s stateSink) Enqueue(n *alerting.Notification) error {
	err := s.c.outbox.Enqueue(n)
	s.c.rec.enqueued(n, time.Now())
	return err
}

func (s stateSink) EnqueueWithState(n *alerting.Notification, groupKey string, st dispatch.NotifiedState) error {
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	err = s.c.outbox.EnqueueWith(n, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("dispatch_state"))
		if len(st.Firing) == 0 {
			return b.Delete([]byte(groupKey))
		}
		return b.Put([]byte(groupKey), v)
	})
	s.c.rec.enqueued(n, time.Now())
	return err
}
