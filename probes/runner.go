package probes

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/config"
)

// HistoryLen is how many recent results each probe keeps for the API. The
// newest keeps every check it made; older ones keep their reason.
const HistoryLen = 20

// Runner runs one configured probe with its timeout and retries, and keeps
// its recent results, its damped state and its metrics.
type Runner struct {
	cfg    config.Probe
	prober Prober
	log    *slog.Logger

	mu       sync.Mutex
	history  []Result // oldest first, at most HistoryLen
	window   []bool   // failed flag of the last FailureThreshold.Of runs
	state    State
	reason   string
	lastRun  time.Time
	runs     [3]prometheus.Counter // by State
	duration prometheus.Histogram
	descs    probeDescs
}

// NewRunner wraps prober for the probe cfg; log receives state changes.
func NewRunner(cfg config.Probe, prober Prober, log *slog.Logger) *Runner {
	labels := prometheus.Labels{"probe": cfg.Name}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	r := &Runner{cfg: cfg, prober: prober, log: log.With("probe", cfg.Name), state: Up, descs: newProbeDescs(cfg.Name, cfg.Labels)}
	for s := range r.runs {
		rl := prometheus.Labels{"result": State(s).String()}
		for k, v := range labels {
			rl[k] = v
		}
		r.runs[s] = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lookout_probe_runs_total", Help: "Probe runs by raw result (up, degraded, down).", ConstLabels: rl,
		})
	}
	r.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:                            "lookout_probe_duration_seconds",
		Help:                            "How long each probe run took, retries included.",
		ConstLabels:                     labels,
		Buckets:                         []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	})
	return r
}

// Name is the probe's name.
func (r *Runner) Name() string { return r.cfg.Name }

// Config is the probe's config.
func (r *Runner) Config() config.Probe { return r.cfg }

// Offset is the probe's stable place within its interval, so that many
// probes with the same interval spread out instead of firing together.
func (r *Runner) Offset(interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(r.cfg.Name))
	return time.Duration(h.Sum64() % uint64(interval))
}

// Run probes once and records the result; the scheduler calls it.
func (r *Runner) Run(ctx context.Context) { r.Probe(ctx) }

// Probe probes once, re-probing up to retries times while it fails, and
// records the result. Each attempt has the probe's timeout.
func (r *Runner) Probe(ctx context.Context) Result {
	start := time.Now()
	var res Result
	for attempt := 1; attempt <= 1+r.cfg.Retries; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.cfg.Timeout.Std())
		res = r.prober.Probe(actx)
		cancel()
		res.Attempts = attempt
		if res.State != Down || ctx.Err() != nil {
			break
		}
	}
	res.Start = start
	res.Duration = time.Since(start)
	if ctx.Err() != nil && res.State == Down {
		return res // cancelled by shutdown or reload: not the target's fault
	}
	r.record(res)
	return res
}

func (r *Runner) record(res Result) {
	r.runs[res.State].Inc()
	r.duration.Observe(res.Duration.Seconds())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastRun = res.Start
	if n := len(r.history); n > 0 {
		// Only the newest result keeps its list of checks; older ones
		// keep state, reason and phases, which bounds memory at scale.
		r.history[n-1].Assertions = nil
	}
	r.history = append(r.history, res)
	if len(r.history) > HistoryLen {
		r.history = slices.Delete(r.history, 0, len(r.history)-HistoryLen)
	}
	r.window = append(r.window, res.State == Down)
	if of := r.cfg.FailureThreshold.Of; len(r.window) > of {
		r.window = slices.Delete(r.window, 0, len(r.window)-of)
	}
	prev, first := r.state, len(r.history) == 1
	r.state, r.reason = r.damped()
	if r.state != prev || (first && r.state != Up) {
		r.log.Info("probe state changed", "from", prev, "to", r.state, "reason", r.reason)
	}
}

// damped is down when enough recent runs failed; otherwise it is the state
// of the latest run that did not fail, noting a failure below the
// threshold in the reason.
func (r *Runner) damped() (State, string) {
	failed := 0
	for _, f := range r.window {
		if f {
			failed++
		}
	}
	last := r.history[len(r.history)-1]
	th := r.cfg.FailureThreshold
	if failed >= th.Failures {
		return Down, last.Reason
	}
	state, reason := Up, ""
	for i := len(r.history) - 1; i >= 0; i-- {
		if h := r.history[i]; h.State != Down {
			state, reason = h.State, h.Reason
			break
		}
	}
	if last.State == Down {
		reason = fmt.Sprintf("%d of the last %d runs failed (down at %d): %s", failed, len(r.window), th.Failures, last.Reason)
	}
	return state, reason
}

// Status is a snapshot of a probe for the API and metrics.
type Status struct {
	Name    string            `json:"name"`
	Labels  map[string]string `json:"labels,omitempty"`
	State   State             `json:"state"`
	Reason  string            `json:"reason,omitempty"`
	LastRun time.Time         `json:"last_run"`
	Results []Result          `json:"results"` // newest first
}

// Status returns the probe's current state and recent results.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := slices.Clone(r.history)
	slices.Reverse(res)
	return Status{Name: r.cfg.Name, Labels: r.cfg.Labels, State: r.state, Reason: r.reason, LastRun: r.lastRun, Results: res}
}

// Last returns the latest result, if any.
func (r *Runner) Last() (Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.history) == 0 {
		return Result{}, false
	}
	return r.history[len(r.history)-1], true
}
