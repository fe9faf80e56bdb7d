// Command scale runs many HTTP probes through Lookout's real scheduler
// against a local target in a child process, and reports whether every
// probe keeps its interval and how much memory the process needs.
//
// By default: 10,000 probes every 60s, for two intervals and five seconds,
// at most 512 runs at once, with all metrics gathered every 15s as
// Prometheus would scrape them. Goals: every probe runs within the first
// interval; the p99 of |gap between consecutive runs − interval| is at
// most 100ms; peak RSS stays below 150 MB.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/usage"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/lookout-dev/lookout/bench/internal/target"
	"github.com/lookout-dev/lookout/bench/internal/workload"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/scheduler"
)

type options struct {
	probes, maxConcurrent      int
	interval, duration, scrape time.Duration
	memProfile                 string
}

func main() {
	serve := flag.Bool(target.Flag, false, "internal: serve as the target child process")
	var o options
	flag.IntVar(&o.probes, "probes", 10000, "number of probes")
	flag.DurationVar(&o.interval, "interval", time.Minute, "interval of every probe")
	flag.DurationVar(&o.duration, "duration", 0, "how long to run (0: two intervals plus 5s)")
	flag.IntVar(&o.maxConcurrent, "max-concurrent", config.DefaultMaxConcurrent, "most probe runs at once (scheduler.max_concurrent)")
	flag.DurationVar(&o.scrape, "scrape", 15*time.Second, "gather all metrics this often, as Prometheus would (0: never)")
	flag.StringVar(&o.memProfile, "memprofile", "", "at the end, write a heap profile to `FILE`")
	flag.Parse()
	if o.duration == 0 {
		o.duration = 2*o.interval + 5*time.Second
	}
	target.Main("scale", *serve, func(ctx context.Context) error { return run(ctx, o, os.Stdout) })
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	if o.probes < 1 || o.maxConcurrent < 1 || o.interval <= 0 {
		return errors.New("-probes and -max-concurrent must be at least 1, -interval positive")
	}
	nofile, err := raiseFileLimit()
	if err != nil {
		return err
	}
	child, err := target.Start(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := child.Stop(); err == nil {
			err = stopErr
		}
	}()
	url := "http://" + child.Addr + "/health"
	fmt.Fprintf(out, "scale: %d probes every %s for %s, max %d concurrent, against %s (target pid %d), open files limit %d\n",
		o.probes, o.interval, o.duration, o.maxConcurrent, url, child.Pid(), nofile)
	runners, err := build(out, url, o)
	if err != nil {
		return err
	}
	res, err := schedule(ctx, out, o, runners)
	if err != nil {
		return err
	}
	report(out, o, res)
	if o.memProfile != "" {
		err = writeHeapProfile(o.memProfile)
	}
	runtime.KeepAlive(res.tasks) // in the heap profile, as in a running daemon
	return err
}

// build makes the probes as the daemon does at start-up: parse the config,
// then a runner per probe.
func build(out io.Writer, url string, o options) ([]*probes.Runner, error) {
	start := time.Now()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := workload.Config(url, o.probes, o.interval)
	if err != nil {
		return nil, err
	}
	runners, err := workload.Runners(cfg, log)
	if err != nil {
		return nil, err
	}
	mem := usage.ReadMemory(0)
	fmt.Fprintf(out, "built %d probes in %s (config parse and runners); RSS %s, peak so far %s\n\n",
		len(runners), time.Since(start).Round(time.Millisecond), mib(mem.RSS), mib(mem.HWM))
	return runners, nil
}

// schedule runs the probes on the real scheduler for o.duration, with a
// registry holding what the daemon's does (scheduler and probe metrics).
func schedule(ctx context.Context, out io.Writer, o options, runners []*probes.Runner) (results, error) {
	runs := newRunCounts()
	tasks := make([]*recordedTask, len(runners))
	jobs := make([]scheduler.Job, len(runners))
	perProbe := int(o.duration/o.interval) + 2 // runs each probe can make, so recording never grows a slice
	for i, r := range runners {
		tasks[i] = &recordedTask{Runner: r, timing: workload.Timing(r), runs: runs, starts: make([]time.Time, 0, perProbe)}
		jobs[i] = scheduler.Job{Task: tasks[i], Timing: tasks[i].timing}
	}
	reg := prometheus.NewRegistry()
	sched := scheduler.New(o.maxConcurrent, reg)
	collector := probes.NewCollector(func() []*probes.Runner { return runners }, probes.Kinds{runners[0].Kind()})
	cpu0 := usage.CPU()
	rctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	setAt := time.Now()
	sched.Set(jobs)
	g, gctx := errgroup.WithContext(rctx)
	g.Go(func() error { return sched.Run(gctx) })
	mon := &monitor{out: out, reg: reg, probes: collector, runs: runs, start: setAt, scrape: o.scrape}
	g.Go(func() error { return mon.Run(gctx) })
	if err := g.Wait(); err != nil {
		return results{}, err
	}
	res := results{setAt: setAt, elapsed: time.Since(setAt), tasks: tasks, runs: runs, reg: prometheus.Gatherers{reg, collector}, mem: usage.ReadMemory(0), scrapes: mon.stats}
	cpu1 := usage.CPU()
	res.cpu = cpu1 - cpu0
	runtime.GC()
	runtime.ReadMemStats(&res.heap)
	return res, nil
}

// writeHeapProfile writes what is in use on the heap, after a GC, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	return nil
}

// raiseFileLimit lifts the soft limit on open files to the hard limit
// (each run in flight holds a socket) and returns the new soft limit.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("setrlimit: %w", err)
		}
	}
	return lim.Cur, nil
}
