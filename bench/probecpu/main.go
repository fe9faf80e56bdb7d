// Command probecpu measures the CPU time a Lookout probe kind spends per
// 1,000 runs against a bare Go loop doing the same, both against a local
// target in a child process: -kind http (the default) makes the same
// fresh-connection requests, tcp the same connect, dns the same UDP query,
// flow the same three requests in sequence (one run of a three-step flow).
// With -tracing both sides are the kind's Lookout probe, one without a
// tracer and one whose runs are traced and exported over OTLP/HTTP to a
// receiver in the target child (goal: at most 1.15).
//
// Each round runs a batch of sequential probes of each side, in
// alternating order, and reads this process's user+system CPU time
// (getrusage) around each batch. A batch starts after a forced GC and ends
// with one, so each side pays for its own garbage. The figure to watch is
// the median over rounds of lookout/bare; the goal is at most 1.2.
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
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/bare"
	"github.com/lookout-dev/lookout/bench/internal/stats"
	"github.com/lookout-dev/lookout/bench/internal/target"
	"github.com/lookout-dev/lookout/bench/internal/usage"
	"github.com/lookout-dev/lookout/bench/internal/workload"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/dnsprobe"
	"github.com/lookout-dev/lookout/probes/flowprobe"
	"github.com/lookout-dev/lookout/probes/httpprobe"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

// goalRatio is the most CPU Lookout may spend per probe, relative to the
// bare loop.
const goalRatio = 1.2

type options struct {
	kind                                  string
	tracing                               bool
	rounds, probes, warmup, profileProbes int
	cpuProfile                            string
}

func main() {
	serve := flag.Bool(target.Flag, false, "internal: serve as the target child process")
	var o options
	flag.StringVar(&o.kind, "kind", "http", "the probe kind measured: http, tcp, dns or flow")
	flag.BoolVar(&o.tracing, "tracing", false, "compare the kind's probe with tracing off and on (sample ratio 1, OTLP/HTTP to the target child) instead of bare and Lookout")
	flag.IntVar(&o.rounds, "rounds", 7, "measured rounds; each runs one batch of each side")
	flag.IntVar(&o.probes, "probes", 1000, "sequential probes per batch")
	flag.IntVar(&o.warmup, "warmup", 200, "unmeasured probes of each side before the first round")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "after the rounds, profile one more batch of each side into `PREFIX`-bare.pprof and PREFIX-lookout.pprof (-tracing: PREFIX-off.pprof and PREFIX-on.pprof)")
	flag.IntVar(&o.profileProbes, "profile-probes", 5000, "probes in each profiled batch")
	flag.Parse()
	target.Main("probecpu", *serve, func(ctx context.Context) error { return run(ctx, o, os.Stdout) })
}

// side is one way of probing the target once.
type side struct {
	name  string
	probe func(context.Context) error
	// flush, when set, ends each batch (inside its measurement): work the
	// side left pending, such as spans still to export.
	flush func(context.Context) error
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	if o.rounds < 1 || o.probes < 1 {
		return errors.New("-rounds and -probes must be at least 1")
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
	var (
		sides  [2]side
		what   string
		traced *tracingSides
		goal   = goalRatio
	)
	if o.tracing {
		if traced, err = newTracingSides(ctx, o.kind, child.Addr); err != nil {
			return err
		}
		defer func() {
			if stopErr := traced.shutdown(); err == nil {
				err = stopErr
			}
		}()
		sides, what, goal = traced.sides, traced.what, tracingGoal
	} else if sides, what, err = newSides(o.kind, child.Addr); err != nil {
		return err
	}
	fmt.Fprintf(out, "probecpu: %d rounds of %d sequential %s probes per side against %s (target pid %d)\n",
		o.rounds, o.probes, o.kind, what, child.Pid())
	if traced != nil {
		fmt.Fprintf(out, "sides: the same probe with tracing off and on (sample ratio 1, batched OTLP/HTTP export to the target's receiver at http://%s%s)\n",
			child.Addr, target.OTLPPath)
	}
	fmt.Fprintf(out, "%s, GOMAXPROCS %d, %d CPUs\n\n", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	for _, s := range sides {
		if _, err := measure(ctx, s, o.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	rounds := make([][2]batch, o.rounds)
	for i := range rounds {
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0} // alternate which side goes first
		}
		for _, k := range order {
			b, err := measure(ctx, sides[k], o.probes)
			if err != nil {
				return fmt.Errorf("round %d: %w", i+1, err)
			}
			rounds[i][k] = b
		}
	}
	report(out, rounds, o.probes, [2]string{sides[0].name, sides[1].name}, goal)
	if o.cpuProfile != "" {
		if err := profile(ctx, out, sides, o); err != nil {
			return err
		}
	}
	if traced != nil {
		return traced.check(ctx, out, child.Addr)
	}
	return nil
}

// newSides builds the bare loop and Lookout's probe of kind (a
// probes.Runner, as the scheduler runs it: timeout, result recording,
// metrics) against the target at addr, and says what they check.
func newSides(kind, addr string) ([2]side, string, error) {
	runner, what, err := newRunner(kind, addr, benchLog())
	if err != nil {
		return [2]side{}, "", err
	}
	return [2]side{newBare(kind, addr), runnerSide("lookout", runner)}, what, nil
}

// benchLog is the probes' logger: warnings and errors only.
func benchLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newRunner builds Lookout's probe of kind against the target at addr as
// the daemon does, and says what it checks.
func newRunner(kind, addr string, log *slog.Logger) (*probes.Runner, string, error) {
	switch kind {
	case "http":
		what := "http://" + addr + "/health"
		cfg, err := workload.Config(what, 1, time.Minute)
		if err != nil {
			return nil, "", err
		}
		runners, err := workload.Runners(cfg, log)
		if err != nil {
			return nil, "", err
		}
		return runners[0], what, nil
	case "tcp":
		r, err := kindRunner(tcpprobe.Kind(), "tcp: {address: "+addr+"}", log)
		return r, addr, err
	case "dns":
		r, err := kindRunner(dnsprobe.Kind(), "dns: {name: "+target.DNSName+", server: '"+addr+"', transport: udp}", log)
		return r, "A " + target.DNSName + " at " + addr + " over udp", err
	case "flow":
		base := "http://" + addr + "/health"
		r, err := kindRunner(flowprobe.Kind(httpprobe.NewTransports()),
			strings.ReplaceAll(flowSection, "BASE", base), log)
		return r, "GET " + base + ", then " + base + "?s=" + statusUP + " twice", err
	}
	return nil, "", fmt.Errorf("-kind %q: want http, tcp, dns or flow", kind)
}

// newBare is the bare loop of kind against the target at addr (kind is
// one newRunner took).
func newBare(kind, addr string) side {
	b := side{name: "bare"}
	switch kind {
	case "http":
		p := bare.New("http://" + addr + "/health")
		var last bare.Times // kept so that the timings are not optimised away
		b.probe = func(ctx context.Context) (err error) {
			last, err = p.Probe(ctx)
			_ = last
			return err
		}
	case "tcp":
		p := bare.NewTCP(addr)
		b.probe = func(ctx context.Context) error { _, err := p.Probe(ctx); return err }
	case "dns":
		p := bare.NewDNS(addr, target.DNSName)
		b.probe = func(ctx context.Context) error { _, err := p.Probe(ctx); return err }
	case "flow":
		base := "http://" + addr + "/health"
		steps := []*bare.Prober{bare.New(base), bare.New(base + "?s=" + statusUP), bare.New(base + "?s=" + statusUP)}
		var last bare.Times
		b.probe = func(ctx context.Context) (err error) {
			for _, p := range steps {
				if last, err = p.Probe(ctx); err != nil {
					return err
				}
			}
			_ = last
			return nil
		}
	}
	return b
}

// runnerSide probes with runner as the scheduler does, and fails unless
// the probe is up.
func runnerSide(name string, runner *probes.Runner) side {
	return side{name: name, probe: func(ctx context.Context) error {
		if res := runner.Probe(ctx); res.State != probes.Up {
			return fmt.Errorf("%s: probe %s: %s", name, res.State, res.Reason)
		}
		return nil
	}}
}

// statusUP is the value of status in the target's body, which the flow's
// first step extracts and the next two send back as ?s=.
const statusUP = "UP"

// flowSection is the flow of -kind flow against the target's URL BASE:
// the first step extracts status from the JSON body, the next two send it
// in their URL (a template) and check the body, one with a regular
// expression, one with an assertion that reads the variable.
const flowSection = `flow:
      steps:
        - name: health
          http:
            url: BASE
            expect: {status: [200]}
          extract:
            status: {cel: 'body.status'}
        - name: echo
          http:
            url: 'BASE?s={{ vars.status }}'
            expect:
              status: [200]
              body_regex: '"status":\s*"UP"'
        - name: echo-again
          http:
            url: 'BASE?s={{ vars.status }}'
            expect: {status: [200]}
            assert: ['body.status == vars.status']`

// kindRunner builds the runner of one probe of kind whose section is
// section (YAML: flow style, or block style with its later lines indented
// by 6 spaces), as the daemon does.
func kindRunner(kind *probes.Kind, section string, log *slog.Logger) (*probes.Runner, error) {
	cfg, err := config.Parse("bench.yml", []byte("probes:\n  - name: probe-00000\n    interval: 60s\n    "+section+"\n"),
		func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	return probes.Kinds{kind}.NewRunner(cfg.Probes[0], log)
}

// batch is what one batch of probes cost.
type batch struct {
	cpu, wall     time.Duration
	allocs, bytes uint64
	n             int
}

func (b batch) cpuPer1000() float64 { return b.cpu.Seconds() * 1000 / float64(b.n) }

// measure runs n probes of s one after another and returns their cost,
// including a GC at the end so the batch pays for its own garbage.
func measure(ctx context.Context, s side, n int) (batch, error) {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := usage.CPU()
	start := time.Now()
	for range n {
		if err := s.probe(ctx); err != nil {
			return batch{}, err
		}
	}
	if s.flush != nil {
		if err := s.flush(ctx); err != nil {
			return batch{}, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	runtime.GC()
	wall := time.Since(start)
	cpu1 := usage.CPU()
	runtime.ReadMemStats(&m1)
	return batch{
		cpu: cpu1 - cpu0, wall: wall, n: n,
		allocs: m1.Mallocs - m0.Mallocs, bytes: m1.TotalAlloc - m0.TotalAlloc,
	}, nil
}

// report prints each round and the medians of the sides named names,
// and whether the median ratio of the second to the first meets goal.
func report(out io.Writer, rounds [][2]batch, n int, names [2]string, goal float64) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\t%[1]s CPU s/1000\t%[2]s CPU s/1000\tratio\t%[1]s wall s\t%[2]s wall s\t\n", names[0], names[1])
	var first, second, ratios []float64
	var total [2]batch
	for i, r := range rounds {
		b, l := r[0].cpuPer1000(), r[1].cpuPer1000()
		first, second, ratios = append(first, b), append(second, l), append(ratios, l/b)
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t\n", i+1, b, l, l/b, r[0].wall.Seconds(), r[1].wall.Seconds())
		for k := range total {
			total[k].allocs += r[k].allocs
			total[k].bytes += r[k].bytes
			total[k].n += r[k].n
		}
	}
	fmt.Fprintf(tw, "median\t%.3f\t%.3f\t%.2f\t\t\t\n", stats.Median(first), stats.Median(second), stats.Median(ratios))
	tw.Flush()
	fmt.Fprintln(out)
	for k, name := range names {
		t := total[k]
		fmt.Fprintf(out, "%-8s %6.0f allocations, %6.1f KiB allocated per probe\n",
			name, float64(t.allocs)/float64(t.n), float64(t.bytes)/float64(t.n)/1024)
	}
	verdict := "MET"
	if stats.Median(ratios) > goal {
		verdict = "NOT MET"
	}
	fmt.Fprintf(out, "\nCPU per 1,000 probes (median of %d rounds of %d): %s %.3f s, %s %.3f s\n",
		len(rounds), n, names[0], stats.Median(first), names[1], stats.Median(second))
	fmt.Fprintf(out, "median ratio %s/%s: %.2f (rounds %.2f–%.2f; goal <= %g): %s\n",
		names[1], names[0], stats.Median(ratios), slices.Min(ratios), slices.Max(ratios), goal, verdict)
}

// profile runs one more batch of each side under the CPU profiler.
func profile(ctx context.Context, out io.Writer, sides [2]side, o options) error {
	for _, s := range sides {
		path := o.cpuProfile + "-" + s.name + ".pprof"
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpu profile: %w", err)
		}
		b, err := measure(ctx, s, o.profileProbes)
		pprof.StopCPUProfile()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("profiled batch %s: %w", s.name, err)
		}
		fmt.Fprintf(out, "profiled %d %s probes (%.3f CPU s/1000) into %s\n", o.profileProbes, s.name, b.cpuPer1000(), path)
	}
	return nil
}
