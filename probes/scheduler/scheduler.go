// Package scheduler runs tasks on their own schedules: each at a stable
// offset within its interval (so thousands of probes never fire at once),
// one run of a task at a time, and at most a fixed number of runs at once.
// Trigger runs a task out of plan (a heartbeat's check-in), still one run
// of it at a time.
package scheduler

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Task is one schedulable piece of work, such as a probe.
type Task interface {
	Name() string
	// Run does the work once; it must return soon after ctx is done.
	Run(ctx context.Context)
}

// Skipper is a Task that counts its skipped runs: the scheduler calls Skip
// when a planned run does not start because the previous run of the task
// is still going. A probe's Runner counts them in
// lookout_probe_skipped_total, beside its other series.
type Skipper interface {
	Skip()
}

// Timing says when a task runs next after a given planned time.
type Timing interface {
	Next(after time.Time) time.Time
}

// Every runs at Offset past each multiple of Interval since the Unix
// epoch. Because planned times are absolute, a restart or a reload keeps
// the same phase, and runs never drift.
type Every struct {
	Interval, Offset time.Duration
}

// Next returns the first planned time strictly after after.
func (e Every) Next(after time.Time) time.Time {
	n := after.UnixNano() - int64(e.Offset)
	k := n/int64(e.Interval) + 1
	if n < 0 && n%int64(e.Interval) != 0 {
		k--
	}
	return time.Unix(0, k*int64(e.Interval)+int64(e.Offset))
}

// Job is a task with its timing.
type Job struct {
	Task   Task
	Timing Timing
}

// Scheduler runs jobs; Set replaces the set while it runs.
type Scheduler struct {
	sem chan struct{}
	lag prometheus.Histogram

	mu      sync.Mutex
	entries map[string]*entry
	queue   entryHeap
	// triggered are the entries Trigger asked to run that were idle
	// then; Run starts them.
	triggered []*entry
	wake      chan struct{}
}

type entry struct {
	job     Job
	next    time.Time
	index   int // in queue; -1 when removed
	running bool
	cancel  context.CancelFunc // of the run in flight
	// again is a Trigger not yet served: the task runs once more, at
	// once or when its run in flight ends. A run that starts serves it.
	again     bool
	triggerAt time.Time // when again was set, for the lag
}

// New returns a scheduler allowing maxConcurrent runs at once, with its
// metrics registered on reg.
func New(maxConcurrent int, reg prometheus.Registerer) *Scheduler {
	s := &Scheduler{
		sem: make(chan struct{}, maxConcurrent),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:                        "lookout_scheduler_lag_seconds",
			Help:                        "Actual minus planned start of probe runs.",
			Buckets:                     []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 5},
			NativeHistogramBucketFactor: 1.1,
		}),
		entries: map[string]*entry{},
		wake:    make(chan struct{}, 1),
	}
	reg.MustRegister(s.lag)
	return s
}

// Set makes jobs the scheduled set. A job whose task is the same value as
// before keeps its planned time; new and changed ones are planned afresh;
// removed ones stop, and a run of theirs in flight is cancelled.
func (s *Scheduler) Set(jobs []Job) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		name := j.Task.Name()
		keep[name] = true
		if e, ok := s.entries[name]; ok && e.job.Task == j.Task {
			e.job.Timing = j.Timing
			continue
		}
		s.remove(name)
		e := &entry{job: j, next: j.Timing.Next(now)}
		s.entries[name] = e
		heap.Push(&s.queue, e)
	}
	for name := range s.entries {
		if !keep[name] {
			s.remove(name)
		}
	}
	s.poke()
}

// poke wakes Run.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Trigger runs the named task soon, out of its plan: as soon as a slot is
// free, or right after its run in flight ends, so runs of one task never
// overlap and the last run starts after the last Trigger. Triggers before
// that run starts are served by it. An unknown name is ignored.
func (s *Scheduler) Trigger(name string) {
	s.mu.Lock()
	e, ok := s.entries[name]
	if !ok || e.again {
		s.mu.Unlock()
		return
	}
	e.again, e.triggerAt = true, time.Now()
	if !e.running {
		s.triggered = append(s.triggered, e)
	}
	s.mu.Unlock()
	s.poke()
}

func (s *Scheduler) remove(name string) {
	e, ok := s.entries[name]
	if !ok {
		return
	}
	delete(s.entries, name)
	if e.index >= 0 {
		heap.Remove(&s.queue, e.index)
	}
	if e.cancel != nil {
		e.cancel()
	}
}

// Run dispatches jobs until ctx is done, then cancels the runs in flight
// and returns once they have all ended.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		wait := time.Hour
		if len(s.queue) > 0 {
			wait = time.Until(s.queue[0].next)
		}
		s.mu.Unlock()
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
			s.dispatchTriggered(ctx, &wg)
		case <-timer.C:
			s.dispatchDue(ctx, &wg)
		}
	}
}

func (s *Scheduler) dispatchDue(ctx context.Context, wg *sync.WaitGroup) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) > 0 && !s.queue[0].next.After(now) {
		e := s.queue[0]
		planned := e.next
		e.next = e.job.Timing.Next(planned)
		if !e.next.After(now) { // fell more than an interval behind: catch up
			e.next = e.job.Timing.Next(now)
		}
		heap.Fix(&s.queue, 0)
		if e.running {
			if sk, ok := e.job.Task.(Skipper); ok {
				sk.Skip()
			}
			continue
		}
		s.start(ctx, e, planned, wg)
	}
}

// dispatchTriggered starts the triggered tasks that are idle; one that is
// running runs again when its run ends.
func (s *Scheduler) dispatchTriggered(ctx context.Context, wg *sync.WaitGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.triggered {
		if e.again && !e.running && e.index >= 0 {
			s.start(ctx, e, e.triggerAt, wg)
		}
	}
	clear(s.triggered)
	s.triggered = s.triggered[:0]
}

// start runs e's task in a goroutine of its own; s.mu is held. The run
// serves any Trigger so far.
func (s *Scheduler) start(ctx context.Context, e *entry, planned time.Time, wg *sync.WaitGroup) {
	runCtx, cancel := context.WithCancel(ctx)
	e.running, e.cancel, e.again = true, cancel, false
	wg.Add(1)
	go s.run(runCtx, e, planned, wg)
}

func (s *Scheduler) run(ctx context.Context, e *entry, planned time.Time, wg *sync.WaitGroup) {
	defer wg.Done()
	defer func() {
		s.mu.Lock()
		e.running = false
		e.cancel()
		e.cancel = nil
		if e.again && e.index >= 0 { // triggered while it ran
			s.triggered = append(s.triggered, e)
			s.poke()
		}
		s.mu.Unlock()
	}()
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-s.sem }()
	s.lag.Observe(time.Since(planned).Seconds())
	e.job.Task.Run(ctx)
}

// Planned returns when each task runs next, for tests and the API.
func (s *Scheduler) Planned() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]time.Time, len(s.entries))
	for name, e := range s.entries {
		m[name] = e.next
	}
	return m
}

// entryHeap orders entries by planned time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
