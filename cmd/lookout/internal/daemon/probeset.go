package daemon

import (
	"crypto/sha256"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/robfig/cron/v3"
	"go.opentelemetry.io/otel/trace"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/scheduler"
)

// probeSet is the running set of probes, swapped whole on reload.
type probeSet struct {
	mu      sync.RWMutex
	runners []*probes.Runner // sorted by name
	prints  map[string][sha256.Size]byte
}

func (s *probeSet) list() []*probes.Runner {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.runners
}

func (s *probeSet) get(name string) *probes.Runner {
	for _, r := range s.list() {
		if r.Name() == name {
			return r
		}
	}
	return nil
}

// build makes runners for cfg, reusing the running ones whose settings
// did not change so they keep their history. Nothing is swapped in: the
// caller does that with swap once everything built.
func (s *probeSet) build(cfg *config.Config, kinds probes.Kinds, tracer trace.Tracer, log *slog.Logger) ([]*probes.Runner, map[string][sha256.Size]byte, error) {
	s.mu.RLock()
	old := make(map[string]*probes.Runner, len(s.runners))
	for _, r := range s.runners {
		old[r.Name()] = r
	}
	oldPrints := s.prints
	s.mu.RUnlock()
	runners := make([]*probes.Runner, 0, len(cfg.Probes))
	prints := make(map[string][sha256.Size]byte, len(cfg.Probes))
	for _, pc := range cfg.Probes {
		fp := pc.Fingerprint()
		prints[pc.Name] = fp
		if r, ok := old[pc.Name]; ok && oldPrints[pc.Name] == fp {
			runners = append(runners, r)
			continue
		}
		r, err := kinds.NewRunner(pc, log)
		if err != nil {
			closeRemoved(runners, s.list())
			return nil, nil, err
		}
		r.Trace(tracer) // nil: tracing off
		runners = append(runners, r)
	}
	slices.SortFunc(runners, func(a, b *probes.Runner) int { return strings.Compare(a.Name(), b.Name()) })
	return runners, prints, nil
}

// swap makes runners the running set and closes the runners it removed or
// replaced (their connections), each once its run in flight has ended.
func (s *probeSet) swap(runners []*probes.Runner, prints map[string][sha256.Size]byte) {
	s.mu.Lock()
	old := s.runners
	s.runners, s.prints = runners, prints
	s.mu.Unlock()
	closeRemoved(old, runners)
}

// closeRemoved closes the runners of from that kept does not hold.
func closeRemoved(from, kept []*probes.Runner) {
	keep := make(map[*probes.Runner]bool, len(kept))
	for _, r := range kept {
		keep[r] = true
	}
	for _, r := range from {
		if !keep[r] {
			r.Close()
		}
	}
}

// jobs plans each runner: cron schedules as written, intervals (and
// @every) at the probe's stable offset.
func jobs(runners []*probes.Runner, here func(*probes.Runner) bool) []scheduler.Job {
	js := make([]scheduler.Job, len(runners))
	for i, r := range runners {
		pc := r.Config()
		interval := pc.Interval.Std()
		var timing scheduler.Timing
		if pc.Schedule != nil {
			timing = pc.Schedule.Schedule
			if every, ok := pc.Schedule.Schedule.(cron.ConstantDelaySchedule); ok {
				interval, timing = every.Delay, nil
			}
		}
		if timing == nil {
			timing = scheduler.Every{Interval: interval, Offset: r.Offset(interval)}
		}
		var task scheduler.Task = r
		if here != nil {
			task = clusterTask{Runner: r, here: here}
		}
		js[i] = scheduler.Job{Task: task, Timing: timing}
	}
	return js
}
