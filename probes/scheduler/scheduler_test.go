package scheduler

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a task that takes a fixed time and records when it ran.
type recorder struct {
	name  string
	takes time.Duration
	conc  *concurrency

	mu        sync.Mutex
	starts    []time.Time
	cancelled int
	skipped   int
}

type concurrency struct {
	mu       sync.Mutex
	now, max int
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Skip() {
	r.mu.Lock()
	r.skipped++
	r.mu.Unlock()
}

func (r *recorder) Run(ctx context.Context) {
	r.mu.Lock()
	r.starts = append(r.starts, time.Now())
	r.mu.Unlock()
	if r.conc != nil {
		r.conc.mu.Lock()
		r.conc.now++
		r.conc.max = max(r.conc.max, r.conc.now)
		r.conc.mu.Unlock()
		defer func() {
			r.conc.mu.Lock()
			r.conc.now--
			r.conc.mu.Unlock()
		}()
	}
	select {
	case <-time.After(r.takes):
	case <-ctx.Done():
		r.mu.Lock()
		r.cancelled++
		r.mu.Unlock()
	}
}

func (r *recorder) runs() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.starts...)
}

func offset(name string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(interval))
}

// start runs s in the bubble and returns a stop function that cancels it
// and waits for Run to return.
func start(t *testing.T, s *Scheduler) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestEveryNext(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := Every{Interval: time.Minute, Offset: 7 * time.Second}
	tests := []struct {
		name        string
		after, want time.Time
	}{
		{"before offset", base, base.Add(7 * time.Second)},
		{"exactly planned is not repeated", base.Add(7 * time.Second), base.Add(67 * time.Second)},
		{"between runs", base.Add(30 * time.Second), base.Add(67 * time.Second)},
		{"before the epoch", time.Unix(-90, 0), time.Unix(-53, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.Next(tt.after); !got.Equal(tt.want) {
				t.Errorf("Next(%v) = %v, want %v", tt.after, got, tt.want)
			}
		})
	}
}

// TestSpreadAndCadence: 500 probes with one interval each run within the
// first interval, spread over it rather than at once, and then exactly
// one interval apart.
func TestSpreadAndCadence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, interval = 500, time.Minute
		s := New(64, prometheus.NewRegistry())
		tasks := make([]*recorder, n)
		jobs := make([]Job, n)
		for i := range tasks {
			tasks[i] = &recorder{name: fmt.Sprintf("probe-%d", i), takes: 50 * time.Millisecond}
			jobs[i] = Job{Task: tasks[i], Timing: Every{Interval: interval, Offset: offset(tasks[i].name, interval)}}
		}
		t0 := time.Now()
		s.Set(jobs)
		stop := start(t, s)
		time.Sleep(3*interval - time.Millisecond)
		stop()

		perSecond := map[int64]int{}
		for _, task := range tasks {
			runs := task.runs()
			if len(runs) < 2 {
				t.Fatalf("%s ran %d times in 3 intervals, want at least 2", task.name, len(runs))
			}
			if first := runs[0].Sub(t0); first >= interval {
				t.Errorf("%s first ran %v after start, want within the first interval", task.name, first)
			}
			perSecond[runs[0].Unix()]++
			for i := 1; i < len(runs); i++ {
				if gap := runs[i].Sub(runs[i-1]); gap != interval {
					t.Errorf("%s: gap between runs %d and %d is %v, want %v", task.name, i-1, i, gap, interval)
				}
			}
		}
		busiest := 0
		for _, c := range perSecond {
			busiest = max(busiest, c)
		}
		if busiest > n/10 {
			t.Errorf("%d of %d probes started in the same second; want them spread over the interval", busiest, n)
		}
	})
}

// TestOverrunIsSkippedAndCounted: a run that outlasts its interval is
// never joined by a second run of the same probe.
func TestOverrunIsSkippedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		s := New(8, reg)
		conc := &concurrency{}
		slow := &recorder{name: "slow", takes: 25 * time.Second, conc: conc}
		s.Set([]Job{{Task: slow, Timing: Every{Interval: 10 * time.Second}}})
		stop := start(t, s)
		time.Sleep(95 * time.Second)
		stop()

		runs := slow.runs()
		// Runs start at 10s, 40s, 70s: each blocks the two planned times after it.
		if len(runs) != 3 {
			t.Errorf("slow ran %d times in 95s, want 3", len(runs))
		}
		if conc.max != 1 {
			t.Errorf("%d runs of one probe at once, want 1", conc.max)
		}
		slow.mu.Lock()
		defer slow.mu.Unlock()
		if slow.skipped != 6 {
			t.Errorf("slow was told of %d skipped runs, want 6", slow.skipped)
		}
	})
}

// TestConcurrencyLimit: runs beyond the global limit wait for a slot, and
// the wait shows as scheduler lag.
func TestConcurrencyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		s := New(3, reg)
		conc := &concurrency{}
		var jobs []Job
		for i := range 9 {
			task := &recorder{name: fmt.Sprintf("p%d", i), takes: time.Second, conc: conc}
			jobs = append(jobs, Job{Task: task, Timing: Every{Interval: time.Minute}})
		}
		s.Set(jobs)
		stop := start(t, s)
		time.Sleep(70 * time.Second)
		stop()

		if conc.max != 3 {
			t.Errorf("max runs at once = %d, want the limit 3", conc.max)
		}
		m := &dtoHistogram{}
		m.read(t, reg, "lookout_scheduler_lag_seconds")
		if m.count != 9 || m.sum != 9 { // 3 waited 0s, 3 waited 1s, 3 waited 2s
			t.Errorf("lag histogram count=%d sum=%v, want 9 runs with 9s of lag in all", m.count, m.sum)
		}
	})
}

// TestSetKeepsUnchangedAndStopsRemoved: a reload keeps the planned time of
// a task it passes again, and cancels the run of one it drops.
func TestSetKeepsUnchangedAndStopsRemoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(8, prometheus.NewRegistry())
		kept := &recorder{name: "kept", takes: time.Millisecond}
		dropped := &recorder{name: "dropped", takes: time.Hour}
		timing := Every{Interval: time.Minute, Offset: 10 * time.Second}
		s.Set([]Job{{Task: kept, Timing: timing}, {Task: dropped, Timing: Every{Interval: 2 * time.Hour, Offset: time.Second}}})
		stop := start(t, s)
		defer stop()
		time.Sleep(5 * time.Second) // dropped is running (offset 0), kept not yet
		planned := s.Planned()["kept"]
		s.Set([]Job{{Task: kept, Timing: timing}})
		synctest.Wait()
		if got := s.Planned()["kept"]; !got.Equal(planned) {
			t.Errorf("kept's planned time moved from %v to %v on reload", planned, got)
		}
		if _, ok := s.Planned()["dropped"]; ok {
			t.Error("dropped is still planned after it was removed")
		}
		dropped.mu.Lock()
		cancelled := dropped.cancelled
		dropped.mu.Unlock()
		if cancelled != 1 {
			t.Errorf("dropped's run in flight was cancelled %d times, want 1", cancelled)
		}
	})
}

type dtoHistogram struct {
	count uint64
	sum   float64
}

func (h *dtoHistogram) read(t *testing.T, reg *prometheus.Registry, name string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			hist := mf.GetMetric()[0].GetHistogram()
			h.count, h.sum = hist.GetSampleCount(), hist.GetSampleSum()
			return
		}
	}
	t.Fatalf("no metric %s", name)
}

// TestTrigger: a triggered task runs at once, out of its plan; triggers
// while it runs make one more run when it ends, never two at once; an
// unknown name is ignored; the plan is kept.
func TestTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(8, prometheus.NewRegistry())
		conc := &concurrency{}
		task := &recorder{name: "beat", takes: 10 * time.Second, conc: conc}
		s.Set([]Job{{Task: task, Timing: Every{Interval: time.Hour, Offset: 30 * time.Minute}}})
		stop := start(t, s)
		t0 := time.Now()
		planned := s.Planned()["beat"]

		s.Trigger("beat")
		s.Trigger("nobody")
		synctest.Wait()
		time.Sleep(time.Second) // the first run goes on for 9 s more
		for range 3 {
			s.Trigger("beat")
		}
		time.Sleep(time.Minute)
		replanned := s.Planned()["beat"]
		stop()

		runs := task.runs()
		want := []time.Time{t0, t0.Add(10 * time.Second)}
		if len(runs) != len(want) {
			t.Fatalf("ran at %v, want %v", runs, want)
		}
		for i := range want {
			if !runs[i].Equal(want[i]) {
				t.Errorf("run %d at %v after the first trigger, want %v", i, runs[i].Sub(t0), want[i].Sub(t0))
			}
		}
		if conc.max != 1 {
			t.Errorf("%d runs of one task at once, want 1", conc.max)
		}
		if !replanned.Equal(planned) {
			t.Errorf("planned run moved from %v to %v", planned, replanned)
		}
	})
}
