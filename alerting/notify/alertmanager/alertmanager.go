// Package alertmanager forwards alerts to an existing Alertmanager cluster
// the way Prometheus does, for teams that keep their routing, silences and
// receivers there: every evaluation, the alerts routed to a receiver with
// an alertmanager section are POSTed to /api/v2/alerts of each of its
// URLs. A firing alert is sent with an endsAt a few evaluations ahead, so
// Alertmanager resolves it on its own if Lookout stops sending it; a
// resolved one is sent with its end for as long as the rules keep it
// (15 minutes), so an Alertmanager that missed a request still learns of
// it. Nothing is retried: the next evaluation sends everything again.
package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/config"
)

const (
	// maxBatch is the most alerts one POST carries, as Prometheus's
	// notifier sends them.
	maxBatch = 256
	// queueBatches is how many evaluations' batches wait for a slow
	// Alertmanager before the oldest is dropped: each evaluation sends
	// every alert again, so the newest batch is the one that matters.
	queueBatches = 16
)

// Options are what the forwarder takes from the daemon rather than from
// its receivers' config.
type Options struct {
	// ValidFor is how far past each send a firing alert's endsAt is:
	// Prometheus uses four times the larger of its evaluation interval
	// and one minute.
	ValidFor time.Duration
	// Registerer takes the forwarder's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Forwarder sends the alerts of each Alertmanager receiver. Forward never
// blocks: a queue per receiver holds what Run has not sent yet.
type Forwarder struct {
	validFor time.Duration
	log      *slog.Logger
	targets  map[string]*target // by receiver

	sent, failed *prometheus.CounterVec
	dropped      *prometheus.CounterVec
}

// target is one receiver's Alertmanagers.
type target struct {
	receiver string
	ams      []am
	client   *http.Client
	timeout  time.Duration
	queue    chan []postable
}

// am is one Alertmanager: where to post, and how /metrics names it.
type am struct {
	url  *url.URL
	name string
}

// postable is one alert as Alertmanager's API v2 takes it.
type postable struct {
	Labels       model.LabelSet `json:"labels"`
	Annotations  model.LabelSet `json:"annotations,omitempty"`
	StartsAt     time.Time      `json:"startsAt,omitzero"`
	EndsAt       time.Time      `json:"endsAt,omitzero"`
	GeneratorURL string         `json:"generatorURL,omitempty"`
}

// New returns the forwarder of the receivers that have an alertmanager
// section, as config.Load leaves them (checked, timeouts filled in).
// Errors (a TLS file that cannot be read) never contain a URL.
func New(receivers []config.Receiver, opts Options) (*Forwarder, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Forwarder{
		validFor: opts.ValidFor, log: log, targets: map[string]*target{},
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_alertmanager_alerts_sent_total",
			Help: "Alerts an Alertmanager accepted from this receiver (each evaluation sends every alert again).",
		}, []string{"receiver", "alertmanager"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_alertmanager_errors_total",
			Help: "POSTs of alerts that an Alertmanager refused or that did not reach it; the next evaluation sends the alerts again.",
		}, []string{"receiver", "alertmanager"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_alertmanager_alerts_dropped_total",
			Help: "Alerts dropped unsent because newer evaluations queued behind them for a slow Alertmanager.",
		}, []string{"receiver"}),
	}
	var errs []error
	for _, r := range receivers {
		if r.Alertmanager == nil {
			continue
		}
		t, err := newTarget(r.Name, *r.Alertmanager)
		if err != nil {
			errs = append(errs, fmt.Errorf("receiver %s: alertmanager: %w", r.Name, err))
			continue
		}
		f.targets[r.Name] = t
		for _, a := range t.ams {
			f.sent.WithLabelValues(r.Name, a.name)
			f.failed.WithLabelValues(r.Name, a.name)
		}
		f.dropped.WithLabelValues(r.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(f.sent, f.failed, f.dropped)
	}
	return f, nil
}

func newTarget(receiver string, cfg config.AlertmanagerRcv) (*target, error) {
	client, err := commoncfg.NewClientFromConfig(config.PeerHTTPConfig(cfg.BasicAuth, cfg.BearerToken, cfg.TLS), "lookout_alertmanager")
	if err != nil {
		return nil, err
	}
	t := &target{receiver: receiver, client: client, timeout: cfg.Timeout.Std(), queue: make(chan []postable, queueBatches)}
	for _, u := range cfg.URLs {
		p := *u.URL
		p.Path = strings.TrimSuffix(p.Path, "/") + "/api/v2/alerts"
		t.ams = append(t.ams, am{url: &p, name: p.Host})
	}
	return t, nil
}

// Receivers are the receivers the forwarder sends for, for the
// dispatcher's Options.Forward.
func (f *Forwarder) Receivers() map[string]bool {
	out := make(map[string]bool, len(f.targets))
	for name := range f.targets {
		out[name] = true
	}
	return out
}

// Forward queues one evaluation's alerts of receiver: a firing alert
// (no end, or one ahead) valid until ValidFor from now, a resolved one
// with its end.
func (f *Forwarder) Forward(receiver string, alerts []alerting.Alert) {
	t := f.targets[receiver]
	if t == nil || len(alerts) == 0 {
		return
	}
	now := time.Now()
	batch := make([]postable, 0, len(alerts))
	for _, a := range alerts {
		p := postable{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL}
		if !a.ResolvedAt(now) {
			p.EndsAt = now.Add(f.validFor)
			if a.EndsAt.After(p.EndsAt) {
				p.EndsAt = a.EndsAt
			}
		}
		batch = append(batch, p)
	}
	for {
		select {
		case t.queue <- batch:
			return
		default:
		}
		select {
		case old := <-t.queue: // the oldest evaluation: every later one sends its alerts again
			f.dropped.WithLabelValues(receiver).Add(float64(len(old)))
		default:
		}
	}
}

// Run sends what Forward queues until ctx is done.
func (f *Forwarder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range f.targets {
		wg.Go(func() { f.run(ctx, t) })
	}
	wg.Wait()
}

func (f *Forwarder) run(ctx context.Context, t *target) {
	for {
		var batch []postable
		select {
		case <-ctx.Done():
			return
		case batch = <-t.queue:
		}
		// Whatever queued meanwhile goes in the same POSTs, the newest
		// state of each alert winning.
		latest := map[model.Fingerprint]postable{}
		order := []model.Fingerprint{}
		for more := true; more; {
			for _, p := range batch {
				fp := p.Labels.Fingerprint()
				if _, ok := latest[fp]; !ok {
					order = append(order, fp)
				}
				latest[fp] = p
			}
			select {
			case batch = <-t.queue:
			default:
				more = false
			}
		}
		all := make([]postable, len(order))
		for i, fp := range order {
			all[i] = latest[fp]
		}
		for chunk := range slices.Chunk(all, maxBatch) {
			f.post(ctx, t, chunk)
		}
	}
}

// post sends alerts to every Alertmanager of t at once.
func (f *Forwarder) post(ctx context.Context, t *target, alerts []postable) {
	body, err := json.Marshal(alerts)
	if err != nil {
		f.log.Error("alertmanager: encode alerts", "receiver", t.receiver, "err", err)
		return
	}
	var wg sync.WaitGroup
	for _, a := range t.ams {
		wg.Go(func() {
			if err := f.postOne(ctx, t, a, body); err != nil {
				f.log.Warn("alertmanager: send alerts; the next evaluation sends them again", "receiver", t.receiver, "alertmanager", a.name, "alerts", len(alerts), "err", err)
				f.failed.WithLabelValues(t.receiver, a.name).Inc()
				return
			}
			f.sent.WithLabelValues(t.receiver, a.name).Add(float64(len(alerts)))
		})
	}
	wg.Wait()
}

// postOne POSTs body to one Alertmanager. Its errors never hold the URL,
// which may hold credentials.
func (f *Forwarder) postOne(ctx context.Context, t *target, a am, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url.String(), bytes.NewReader(body))
	if err != nil {
		return errors.New("build request: invalid url")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Lookout")
	resp, err := t.client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post: Alertmanager answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
