// Package heartbeat is the heartbeat probe (probes[].heartbeat), a dead
// man's switch for cron jobs and backups as healthchecks.io and Sentry
// Crons are: the job checks in at /v1/heartbeat/NAME (Store serves the
// routes and keeps each heartbeat's last signals, in Lookout's database),
// and a run of the probe judges those signals against the schedule at
// that moment. It is down when the last outcome was a failure, or when a
// run was due, grace has passed, and no success came at or after it; a
// success counts for every run due up to it. No run is expected before
// the heartbeat was created (first configured), a time that survives
// restarts with the signals.
package heartbeat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
)

// Prober judges one heartbeat's signals.
type Prober struct {
	name  string
	cfg   *config.Heartbeat
	sched schedule
	store *Store

	// late is the last reason a missed run was worded with, reused while
	// it says the same, so a probe's history holds one copy of it.
	mu   sync.Mutex
	late string
}

var _ probes.Prober = (*Prober)(nil)

// New builds the prober of the heartbeat probe named name, whose
// check-ins store keeps.
func New(name string, cfg *config.Heartbeat, store *Store) (*Prober, error) {
	if store == nil {
		return nil, errors.New("heartbeat: no store of check-ins")
	}
	return &Prober{name: name, cfg: cfg, sched: newSchedule(cfg), store: store}, nil
}

// Facts are a heartbeat's signals as a run found them, with the run a
// success is expected for next.
type Facts struct {
	Created time.Time `json:"created"`
	Success time.Time `json:"last_success,omitzero"`
	Start   time.Time `json:"last_start,omitzero"`
	Fail    time.Time `json:"last_fail,omitzero"`
	// Running is whether a start came after the last outcome.
	Running bool `json:"running,omitempty"`
	// RunDuration is the run the last success ended, from its start; 0
	// when it sent no start.
	RunDuration time.Duration `json:"-"`
	ExitCode    int           `json:"exit_code"`
	// Due is the scheduled run a success is expected for next, and
	// LateAfter when the probe goes down without one (Due plus grace);
	// zero when the schedule never fires again.
	Due       time.Time `json:"due,omitzero"`
	LateAfter time.Time `json:"late_after,omitzero"`
	// Known is whether the store knows the heartbeat: `lookout probe`
	// runs without the daemon's check-ins.
	Known bool           `json:"-"`
	loc   *time.Location // the heartbeat's, for reports
}

// Past keeps nothing: a heartbeat's runs are evaluations of the same
// signals, which the newest result holds.
func (f *Facts) Past() probes.Facts { return nil }

// MarshalJSON adds the run's duration in seconds.
func (f *Facts) MarshalJSON() ([]byte, error) {
	type plain Facts
	return json.Marshal(struct {
		*plain
		RunDurationSeconds float64 `json:"run_duration_seconds,omitempty"`
	}{(*plain)(f), f.RunDuration.Seconds()})
}

// Probe judges the heartbeat's signals at this moment: down on a failure
// or a missed run, else what assert and degraded_if say.
func (p *Prober) Probe(_ context.Context) probes.Result {
	now := time.Now()
	sig, known := p.store.Signals(p.name)
	if !known {
		sig.Created = now
	}
	f := &Facts{
		Created: sig.Created, Success: sig.Success, Start: sig.Start, Fail: sig.Fail, Running: sig.Running,
		RunDuration: sig.Duration, ExitCode: sig.ExitCode, Known: known, loc: p.sched.loc,
	}
	res := probes.Result{Start: now, State: probes.Down, Facts: f}
	defer func() { res.Duration = time.Since(now) }()
	ref := sig.Created
	if sig.Success.After(ref) {
		ref = sig.Success
	}
	if f.Due = p.sched.due(ref); !f.Due.IsZero() {
		f.LateAfter = f.Due.Add(p.sched.grace)
	}
	switch {
	case sig.Failed:
		res.Reason = sig.Reason
		return res
	case !f.LateAfter.IsZero() && !now.Before(f.LateAfter):
		res.Reason = p.lateReason(sig, f)
		return res
	}
	if len(p.cfg.Assert) > 0 || len(p.cfg.DegradedIf) > 0 {
		res.Checks = exprcheck.Run(p.cfg.Assert, p.cfg.DegradedIf, vars(sig, now))
	}
	res.State, res.Reason = probes.Verdict(res.Checks)
	return res
}

// lateReason says which run got no success, since when it is late, and
// when the last success came.
func (p *Prober) lateReason(sig Signals, f *Facts) string {
	s := p.sched
	last := "no success since the heartbeat was created at " + s.when(sig.Created)
	if !sig.Success.IsZero() {
		last = "last success at " + s.when(sig.Success)
	}
	what := fmt.Sprintf("schedule %q", s.text)
	if s.cron == nil {
		what = s.text
	}
	reason := fmt.Sprintf("no success for the run due at %s (%s, grace %s, late since %s); %s",
		s.when(f.Due), what, short(s.grace), s.when(f.LateAfter), last)
	p.mu.Lock()
	defer p.mu.Unlock()
	if reason != p.late {
		p.late = reason
	}
	return p.late
}

// vars are the variables of a heartbeat's expressions: duration (the
// last success's run, from its start), since_success (since the last
// success, or since the heartbeat was created) and exit_code (of the last
// outcome).
func vars(sig Signals, now time.Time) cel.Activation {
	since := sig.Created
	if !sig.Success.IsZero() {
		since = sig.Success
	}
	act, _ := cel.NewActivation(map[string]any{
		"duration": sig.Duration, "since_success": now.Sub(since), "exit_code": sig.ExitCode,
	})
	return act
}
