package probes_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// listProber returns its results in turn.
type listProber struct{ results []probes.Result }

func (p *listProber) Probe(context.Context) probes.Result {
	res := p.results[0]
	p.results = p.results[1:]
	return res
}

// TestProberErrorKeepsState: a run lost to the prober (a crashed browser)
// leaves the probe's state and its failure window as they were, is not
// counted among its runs nor in probe_success, but is counted in
// lookout_probe_prober_errors_total and kept in the history with its
// reason.
func TestProberErrorKeepsState(t *testing.T) {
	lost := probes.Result{State: probes.Down, Reason: "browser: the connection to Chromium was lost", ProberError: true}
	p := &listProber{results: []probes.Result{
		{State: probes.Up},
		lost,
		lost,
		{State: probes.Down, Reason: "page said no"},
		lost,
		{State: probes.Up},
	}}
	// Down at 2 failures of 3: two prober errors in a row must not count.
	pc := config.Probe{Name: "journey", Timeout: config.DefaultTimeout, FailureThreshold: config.FailureThreshold{Failures: 2, Of: 3}}
	r := probes.NewRunner(pc, &probes.Kind{Name: "scripted"}, p, slog.New(slog.DiscardHandler))
	c := probes.NewCollector(func() []*probes.Runner { return []*probes.Runner{r} }, probes.Kinds{r.Kind()})
	metrics := func(up, down, lost, success int) string {
		return fmt.Sprintf(`
# HELP lookout_probe_prober_errors_total Runs lost to the prober itself (a browser that crashed or could not start), not to the target; they leave the probe's state as it was.
# TYPE lookout_probe_prober_errors_total counter
lookout_probe_prober_errors_total{probe="journey"} %d
# HELP lookout_probe_runs_total Probe runs by raw result (up, degraded, down).
# TYPE lookout_probe_runs_total counter
lookout_probe_runs_total{probe="journey",result="degraded"} 0
lookout_probe_runs_total{probe="journey",result="down"} %d
lookout_probe_runs_total{probe="journey",result="up"} %d
# HELP probe_success Whether the last run of the probe succeeded (degraded counts as success).
# TYPE probe_success gauge
probe_success{probe="journey"} %d
`, lost, down, up, success)
	}
	names := []string{"lookout_probe_prober_errors_total", "lookout_probe_runs_total", "probe_success"}

	steps := []struct {
		name    string
		state   probes.State
		metrics string
	}{
		{"up", probes.Up, metrics(1, 0, 0, 1)},
		{"prober error", probes.Up, metrics(1, 0, 1, 1)},
		{"another prober error", probes.Up, metrics(1, 0, 2, 1)},
		{"down once, below the threshold", probes.Up, metrics(1, 1, 2, 0)},
		{"prober error after a failure", probes.Up, metrics(1, 1, 3, 0)},
		{"up again", probes.Up, metrics(2, 1, 3, 1)},
	}
	for i, s := range steps {
		res := r.Probe(t.Context())
		st := r.Status()
		if st.State != s.state {
			t.Fatalf("run %d (%s): state %s, want %s (reason %q)", i+1, s.name, st.State, s.state, st.Reason)
		}
		if err := testutil.GatherAndCompare(c, strings.NewReader(s.metrics), names...); err != nil {
			t.Errorf("run %d (%s): %v", i+1, s.name, err)
		}
		if s.name == "down once, below the threshold" && !strings.Contains(st.Reason, "1 of the last 2 runs failed") {
			t.Errorf("run %d: reason %q should count only the runs that judged the target (1 of the last 2)", i+1, st.Reason)
		}
		if got := st.Results[0]; got.ProberError != res.ProberError || got.Reason != res.Reason {
			t.Errorf("run %d: newest result in the history is %+v, want the run just made (%+v)", i+1, got, res)
		}
	}
	results := r.Status().Results
	if len(results) != len(steps) {
		t.Fatalf("history holds %d results, want %d", len(results), len(steps))
	}
	for i, want := range []bool{false, true, false, true, true, false} { // newest first
		if got := results[i]; got.ProberError != want || (want && got.Reason != lost.Reason) {
			t.Errorf("history[%d]: prober error %v, reason %q; want prober error %v", i, got.ProberError, got.Reason, want)
		}
	}
}
