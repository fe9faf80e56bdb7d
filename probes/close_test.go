package probes_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// closingProber is a prober that holds something to let go of: each run
// waits for release when gate is set, and Close counts its calls.
type closingProber struct {
	gate    chan struct{} // nil: runs return at once
	started chan struct{} // a run started
	runs    atomic.Int32
	closes  atomic.Int32
}

func (p *closingProber) Probe(context.Context) probes.Result {
	p.runs.Add(1)
	if p.gate != nil {
		p.started <- struct{}{}
		<-p.gate
	}
	return probes.Result{State: probes.Up}
}

func (p *closingProber) Close() error {
	p.closes.Add(1)
	return nil
}

// TestRunnerClose: a runner closes its prober once, and never while a run
// of it is in flight; no run starts after Close.
func TestRunnerClose(t *testing.T) {
	cfg := config.Probe{Name: "removed", Timeout: config.Duration(time.Second), FailureThreshold: config.FailureThreshold{Failures: 1, Of: 1}}
	tests := []struct {
		name     string
		inFlight bool // Close comes while a run is going
		closes   int  // Close calls
	}{
		{"idle: closed at once", false, 1},
		{"idle, closed twice: the prober once", false, 2},
		{"a run in flight: closed when it ends", true, 1},
		{"a run in flight, closed twice: the prober once", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &closingProber{}
			r := probes.NewRunner(cfg, &probes.Kind{Name: "test"}, p, slog.New(slog.DiscardHandler))
			r.Probe(t.Context())
			var wg sync.WaitGroup
			if tt.inFlight {
				p.gate, p.started = make(chan struct{}), make(chan struct{})
				wg.Go(func() { r.Probe(t.Context()) })
				<-p.started
			}
			for range tt.closes {
				r.Close()
			}
			if tt.inFlight {
				if got := p.closes.Load(); got != 0 {
					t.Errorf("prober closed %d times while its run was in flight; want 0", got)
				}
				close(p.gate)
				wg.Wait()
			}
			if got := p.closes.Load(); got != 1 {
				t.Errorf("prober closed %d times; want 1", got)
			}
			runs := p.runs.Load()
			res := r.Probe(t.Context())
			if p.runs.Load() != runs || res.State != probes.Down || res.Reason != "probe removed" {
				t.Errorf("Probe after Close ran the prober (%d runs, then %d) or returned %s %q; want no run, down \"probe removed\"",
					runs, p.runs.Load(), res.State, res.Reason)
			}
			if got := len(r.Status().Results); got != 1+btoi(tt.inFlight) {
				t.Errorf("history holds %d results; want the runs before Close only", got)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
