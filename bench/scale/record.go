package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/scheduler"
)

// recordedTask is a probe runner as the scheduler runs it, noting when
// each run actually started and whether it failed.
type recordedTask struct {
	*probes.Runner
	timing scheduler.Every
	runs   *runCounts
	// starts is written only by runs of this task, which the scheduler
	// never overlaps, and read once the scheduler has stopped.
	starts []time.Time
}

var _ scheduler.Task = (*recordedTask)(nil)

// Run probes once, as probes.Runner.Run does, recording the start and the
// outcome.
func (t *recordedTask) Run(ctx context.Context) {
	t.starts = append(t.starts, time.Now())
	res := t.Probe(ctx)
	switch {
	case res.State == probes.Up:
		t.runs.ok.Add(1)
	case ctx.Err() != nil:
		t.runs.cancelled.Add(1)
	default:
		t.runs.failed(res.Reason)
	}
}

// runCounts counts the runs of all probes by outcome.
type runCounts struct {
	ok, cancelled, failures atomic.Int64

	mu      sync.Mutex
	reasons map[string]int // runs by failure reason, for the first few reasons
}

// maxReasons bounds how many distinct failure reasons are kept.
const maxReasons = 10

func newRunCounts() *runCounts { return &runCounts{reasons: map[string]int{}} }

func (c *runCounts) failed(reason string) {
	c.failures.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, seen := c.reasons[reason]; seen || len(c.reasons) < maxReasons {
		c.reasons[reason]++
	}
}

func (c *runCounts) total() int64 { return c.ok.Load() + c.cancelled.Load() + c.failures.Load() }
