package probes

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"math/bits"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lookout-dev/lookout/config"
)

// HistoryLen is how many recent results each probe keeps for the API. The
// newest keeps everything it found; older ones keep state, reason,
// duration and what their kind's Facts.Past keeps, which bounds memory
// at scale.
const HistoryLen = 20

// Runner runs one configured probe with its timeout and retries, and keeps
// its recent results, its damped state and its metrics.
type Runner struct {
	cfg    config.Probe
	kind   *Kind
	prober Prober
	log    *slog.Logger
	// pairs label every metric of the probe: probe, then the probe's
	// labels.
	pairs labelPairs

	// life guards the runs in flight and whether the runner was closed.
	life     sync.Mutex
	inFlight int32
	closed   bool

	mu       sync.Mutex
	last     Result
	history  [HistoryLen]pastResult // ring; next is the slot to write
	next, n  int32
	window   failWindow
	state    State
	reason   string
	since    time.Time   // when state last changed, or the first judged run
	runs     [3]uint64   // by State; runs lost to the prober are not among them
	skipped  uint64      // planned runs the scheduler skipped
	lost     uint64      // runs lost to the prober itself (Result.ProberError)
	tracing  *runTracing // nil: tracing off
	duration durationHistogram
}

// pastResult is a compact Result for the history: 32 bytes, as every
// probe keeps HistoryLen of them (ten thousand probes, 6 MB).
type pastResult struct {
	start int64 // Unix nanoseconds
	// run is the duration in nanoseconds (up to 208 days) << 10, the
	// attempts (at most 255) << 2, and the state, or proberError (3) for a
	// run lost to the prober.
	run uint64
	// detail is what most runs leave out: nil, the kind's Facts.Past
	// when the reason is empty, or a *pastDetail with both.
	detail any
}

type pastDetail struct {
	reason string
	facts  Facts
}

// NewRunner wraps prober, of kind, for the probe cfg; log receives state
// changes.
func NewRunner(cfg config.Probe, kind *Kind, prober Prober, log *slog.Logger) *Runner {
	names := append([]string{"probe"}, slices.Sorted(maps.Keys(cfg.Labels))...)
	values := make([]string, len(names))
	values[0] = cfg.Name
	for i, n := range names[1:] {
		values[i+1] = cfg.Labels[n]
	}
	return &Runner{
		cfg: cfg, kind: kind, prober: prober, log: log,
		pairs:  newLabelPairs(names, values, kind),
		window: failWindow{size: uint8(min(max(cfg.FailureThreshold.Of, 1), 128))},
	}
}

// Kind is the probe's kind.
func (r *Runner) Kind() *Kind { return r.kind }

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

// Skip counts a planned run that the scheduler skipped because the
// previous run was still going.
func (r *Runner) Skip() {
	r.mu.Lock()
	r.skipped++
	r.mu.Unlock()
}

// Run probes once and records the result; the scheduler calls it.
func (r *Runner) Run(ctx context.Context) { r.Probe(ctx) }

// Probe probes once, re-probing up to retries times while it fails, and
// records the result. Each attempt has the probe's timeout. After Close it
// probes nothing and returns a down result it does not record.
func (r *Runner) Probe(ctx context.Context) Result {
	start := time.Now()
	if !r.enter() {
		return Result{Start: start, State: Down, Reason: "probe removed"}
	}
	defer r.leave()
	var res Result
	ctx, span := r.startRun(ctx)
	for attempt := 1; attempt <= 1+r.cfg.Retries; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.cfg.Timeout.Std())
		actx, aspan := r.startAttempt(actx, span, attempt)
		res = r.prober.Probe(actx)
		EndSpan(aspan, res)
		cancel()
		res.Attempts = attempt
		if res.State != Down || ctx.Err() != nil {
			break
		}
	}
	res.Start = start
	res.Duration = time.Since(start)
	if span != nil {
		span.SetAttributes(attribute.Int("lookout.probe.attempts", res.Attempts))
		EndSpan(span, res)
	}
	if ctx.Err() != nil && res.State == Down {
		return res // cancelled by shutdown or reload: not the target's fault
	}
	r.record(res, traced(span))
	return res
}

// Close is for a probe that a reload removed or replaced: when its prober
// holds something to let go of (io.Closer, such as an HTTP probe's
// connections), Close closes it at once, or when the run in flight ends.
// No run starts after Close.
func (r *Runner) Close() {
	r.life.Lock()
	first, idle := !r.closed, r.inFlight == 0
	r.closed = true
	r.life.Unlock()
	if first && idle {
		r.closeProber()
	}
}

func (r *Runner) enter() bool {
	r.life.Lock()
	defer r.life.Unlock()
	if r.closed {
		return false
	}
	r.inFlight++
	return true
}

func (r *Runner) leave() {
	r.life.Lock()
	r.inFlight--
	last := r.closed && r.inFlight == 0
	r.life.Unlock()
	if last {
		r.closeProber()
	}
}

func (r *Runner) closeProber() {
	c, ok := r.prober.(io.Closer)
	if !ok {
		return
	}
	if err := c.Close(); err != nil {
		r.log.Warn("close removed probe", "probe", r.cfg.Name, "err", err)
	}
}

// record keeps a run's result. A run lost to the prober goes into the
// history and its counter only: the state, the failure window, the last
// result that metrics show and the run counts and durations are those of
// the runs that judged the target.
func (r *Runner) record(res Result, trace trace.SpanContext) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res.ProberError {
		r.lost++
		r.remember(res)
		r.log.Warn("probe run lost to the prober, not the target; the probe keeps its state", "probe", r.cfg.Name, "state", r.state, "reason", res.Reason)
		return
	}
	r.runs[res.State]++
	r.duration.observe(res.Duration.Seconds())
	if r.tracing != nil {
		r.tracing.observe(res.Duration.Seconds(), trace, res.State == Down, res.Start.Add(res.Duration))
	}
	r.last = res
	r.remember(res)
	r.window.push(res.State == Down)
	prev, first := r.state, r.judged() == 1
	r.state, r.reason = r.damped()
	if r.state != prev || first {
		r.since = res.Start
	}
	if r.state != prev || (first && r.state != Up) {
		r.log.Info("probe state changed", "probe", r.cfg.Name, "from", prev, "to", r.state, "reason", r.reason)
	}
}

// remember writes res into the history ring.
func (r *Runner) remember(res Result) {
	r.history[r.next] = compact(res)
	r.next = (r.next + 1) % HistoryLen
	r.n = min(r.n+1, HistoryLen)
}

// judged is how many runs judged the target: all but those lost to the
// prober.
func (r *Runner) judged() uint64 { return r.runs[Up] + r.runs[Degraded] + r.runs[Down] }

// proberError is pastResult's state bits of a run lost to the prober.
const proberError = 3

func compact(res Result) pastResult {
	state := uint64(res.State & 3)
	if res.ProberError {
		state = proberError
	}
	p := pastResult{
		start: res.Start.UnixNano(),
		run:   uint64(max(res.Duration, 0))<<10 | uint64(min(max(res.Attempts, 0), 255))<<2 | state,
	}
	var facts Facts
	if res.Facts != nil {
		facts = res.Facts.Past()
	}
	switch {
	case res.Reason != "":
		p.detail = &pastDetail{res.Reason, facts}
	case facts != nil:
		p.detail = facts
	}
	return p
}

// state is the run's state: Down for a run lost to the prober.
func (p pastResult) state() State {
	if p.proberError() {
		return Down
	}
	return State(p.run & 3)
}

func (p pastResult) proberError() bool { return p.run&3 == proberError }

func (p pastResult) reason() string {
	if d, ok := p.detail.(*pastDetail); ok {
		return d.reason
	}
	return ""
}

func (p pastResult) expand() Result {
	res := Result{
		Start: time.Unix(0, p.start), Duration: time.Duration(p.run >> 10), State: p.state(),
		Attempts: int(p.run >> 2 & 255), ProberError: p.proberError(),
	}
	switch d := p.detail.(type) {
	case *pastDetail:
		res.Reason, res.Facts = d.reason, d.facts
	case Facts:
		res.Facts = d
	}
	return res
}

// damped is down when enough recent runs failed; otherwise it is the state
// of the latest run that did not fail, noting a failure below the
// threshold in the reason. Runs lost to the prober count as neither.
func (r *Runner) damped() (State, string) {
	th := r.cfg.FailureThreshold
	if int(r.window.failures) >= th.Failures {
		return Down, r.last.Reason
	}
	state, reason := Up, ""
	for k := int32(1); k <= r.n; k++ {
		h := r.history[(r.next-k+HistoryLen)%HistoryLen]
		if h.state() != Down {
			state, reason = h.state(), h.reason()
			break
		}
	}
	if r.last.State == Down {
		reason = fmt.Sprintf("%d of the last %d runs failed (down at %d): %s", r.window.failures, min(r.judged(), uint64(r.window.size)), th.Failures, r.last.Reason)
	}
	return state, reason
}

// Status is a snapshot of a probe for the API and metrics.
type Status struct {
	Name   string            `json:"name"`
	Kind   string            `json:"kind"`
	Labels map[string]string `json:"labels,omitempty"`
	State  State             `json:"state"`
	Reason string            `json:"reason,omitempty"`
	// Since is when the probe entered its state; zero before its first
	// run that judged the target.
	Since   time.Time `json:"since,omitzero"`
	LastRun time.Time `json:"last_run"`
	Results []Result  `json:"results"` // newest first
}

// Current is the probe's damped state, and whether a run has judged the
// target yet: cheaper than Status, for whoever samples every probe.
func (r *Runner) Current() (state State, judged bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state, r.judged() > 0
}

// Status returns the probe's current state and recent results: the
// latest run that judged the target in full, the others as the history
// keeps them.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{Name: r.cfg.Name, Kind: r.kind.Name, Labels: r.cfg.Labels, State: r.state, Reason: r.reason, Since: r.since, Results: make([]Result, 0, r.n)}
	if r.n == 0 {
		return st
	}
	st.LastRun = r.last.Start
	if newest := r.history[(r.next-1+HistoryLen)%HistoryLen]; newest.proberError() {
		st.LastRun = time.Unix(0, newest.start)
	}
	full := false // whether r.last, the newest judged run, is in
	for k := int32(1); k <= r.n; k++ {
		h := r.history[(r.next-k+HistoryLen)%HistoryLen]
		if !full && !h.proberError() {
			st.Results, full = append(st.Results, r.last), true
			continue
		}
		st.Results = append(st.Results, h.expand())
	}
	return st
}

// failWindow is whether each of a probe's last size runs failed (at most
// 100, as failure_threshold.of is), as a ring of bits.
type failWindow struct {
	bits                 [2]uint64
	next, size, failures uint8 // failures: set bits
}

// push records a run, forgetting the oldest once the window is full.
func (w *failWindow) push(failed bool) {
	word, bit := w.next/64, uint64(1)<<(w.next%64)
	if w.bits[word]&bit != 0 {
		w.failures--
	}
	w.bits[word] &^= bit
	if failed {
		w.bits[word] |= bit
		w.failures++
	}
	w.next = (w.next + 1) % w.size
}

// Damping is a probe's flap damping as it stands: which of its recent
// runs failed (failure_threshold's window) and the damped state, so a
// probe that moves to another replica of a cluster keeps its window
// instead of starting over (which would delay a down, or end one early).
type Damping struct {
	Window   [2]uint64 `json:"window"`
	Next     uint8     `json:"next"`
	Size     uint8     `json:"size"`
	Failures uint8     `json:"failures"`
	State    State     `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Since    time.Time `json:"since,omitzero"`
}

// Damping returns the probe's damping; ok is false before any run judged
// the target, and while it is up with no failure in its window (what a
// probe that never ran starts from).
func (r *Runner) Damping() (d Damping, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.judged() == 0 || r.state == Up && r.window.failures == 0 {
		return Damping{}, false
	}
	w := r.window
	return Damping{Window: w.bits, Next: w.next, Size: w.size, Failures: w.failures, State: r.state, Reason: r.reason, Since: r.since}, true
}

// TakeDamping continues from the damping another replica published of
// this probe; its next run is judged with that window. The zero Damping
// (the probe was up with no failure) empties the window. A window of
// another size (failure_threshold.of differs between the replicas'
// configs) is not taken; nor is one whose bits do not add up.
func (r *Runner) TakeDamping(d Damping) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d == (Damping{}) {
		r.window = failWindow{size: r.window.size}
		r.state, r.reason = Up, ""
		return true
	}
	if d.Size != r.window.size || d.Next >= d.Size || int(d.Failures) != bits.OnesCount64(d.Window[0])+bits.OnesCount64(d.Window[1]) {
		return false
	}
	r.window = failWindow{bits: d.Window, next: d.Next, size: d.Size, failures: d.Failures}
	r.state, r.reason, r.since = d.State, d.Reason, d.Since
	return true
}
