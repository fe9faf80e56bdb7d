// Command probecpu measures the CPU time a Lookout probe kind spends per
// 1,000 runs against a bare Go loop doing the same, both against a local
// target in a child process: -kind http (the default) makes the same
// fresh-connection requests, tcp the same connect, dns the same UDP query,
// flow the same three requests in sequence (one run of a three-step flow).
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
	rounds, probes, warmup, profileProbes int
	cpuProfile                            string
}

func main() {
	serve := flag.Bool(target.Flag, false, "internal: serve as the target child process")
	var o options
	flag.StringVar(&o.kind, "kind", "http", "the probe kind measured: http, tcp, dns or flow")
	flag.IntVar(&o.rounds, "rounds", 7, "measured rounds; each runs one batch of each side")
	flag.IntVar(&o.probes, "probes", 1000, "sequential probes per batch")
	flag.IntVar(&o.warmup, "warmup", 200, "unmeasured probes of each side before the first round")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "after the rounds, profile one more batch of each side into `PREFIX`-bare.pprof and PREFIX-lookout.pprof")
	flag.IntVar(&o.profileProbes, "profile-probes", 5000, "probes in each profiled batch")
	flag.Parse()
	target.Main("probecpu", *serve, func(ctx context.Context) error { return run(ctx, o, os.Stdout) })
}

// side is one way of probing the target once.
type side struct {
	name  string
	probe func(context.Context) error
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
	sides, what, err := newSides(o.kind, child.Addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "probecpu: %d rounds of %d sequential %s probes per side against %s (target pid %d)\n",
		o.rounds, o.probes, o.kind, what, child.Pid())
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
	report(out, rounds, o.probes)
	if o.cpuProfile != "" {
		return profile(ctx, out, sides, o)
	}
	return nil
}

// newSides builds the bare loop and Lookout's probe of kind (a
// probes.Runner, as the scheduler runs it: timeout, result recording,
// metrics) against the target at addr, and says what they check.
func newSides(kind, addr string) ([2]side, string, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var (
		runner *probes.Runner
		b      side
		what   string
		err    error
	)
	switch kind {
	case "http":
		what = "http://" + addr + "/health"
		var cfg *config.Config
		if cfg, err = workload.Config(what, 1, time.Minute); err != nil {
			return [2]side{}, "", err
		}
		var runners []*probes.Runner
		if runners, err = workload.Runners(cfg, log); err != nil {
			return [2]side{}, "", err
		}
		runner = runners[0]
		p := bare.New(what)
		var last bare.Times // kept so that the timings are not optimised away
		b.probe = func(ctx context.Context) (err error) {
			last, err = p.Probe(ctx)
			_ = last
			return err
		}
	case "tcp":
		what = addr
		runner, err = kindRunner(tcpprobe.Kind(), "tcp: {address: "+addr+"}", log)
		p := bare.NewTCP(addr)
		b.probe = func(ctx context.Context) error { _, err := p.Probe(ctx); return err }
	case "dns":
		what = "A " + target.DNSName + " at " + addr + " over udp"
		runner, err = kindRunner(dnsprobe.Kind(), "dns: {name: "+target.DNSName+", server: '"+addr+"', transport: udp}", log)
		p := bare.NewDNS(addr, target.DNSName)
		b.probe = func(ctx context.Context) error { _, err := p.Probe(ctx); return err }
	case "flow":
		base := "http://" + addr + "/health"
		what = "GET " + base + ", then " + base + "?s=" + statusUP + " twice"
		runner, err = kindRunner(flowprobe.Kind(httpprobe.NewTransports()),
			strings.ReplaceAll(flowSection, "BASE", base), log)
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
	default:
		return [2]side{}, "", fmt.Errorf("-kind %q: want http, tcp, dns or flow", kind)
	}
	if err != nil {
		return [2]side{}, "", err
	}
	b.name = "bare"
	return [2]side{b, {"lookout", func(ctx context.Context) error {
		if res := runner.Probe(ctx); res.State != probes.Up {
			return fmt.Errorf("lookout: probe %s: %s", res.State, res.Reason)
		}
		return nil
	}}}, what, nil
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
	runtime.GC()
	wall := time.Since(start)
	cpu1 := usage.CPU()
	runtime.ReadMemStats(&m1)
	return batch{
		cpu: cpu1 - cpu0, wall: wall, n: n,
		allocs: m1.Mallocs - m0.Mallocs, bytes: m1.TotalAlloc - m0.TotalAlloc,
	}, nil
}

func report(out io.Writer, rounds [][2]batch, n int) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tbare CPU s/1000\tlookout CPU s/1000\tratio\tbare wall s\tlookout wall s\t")
	var bare, look, ratios []float64
	var total [2]batch
	for i, r := range rounds {
		b, l := r[0].cpuPer1000(), r[1].cpuPer1000()
		bare, look, ratios = append(bare, b), append(look, l), append(ratios, l/b)
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t\n", i+1, b, l, l/b, r[0].wall.Seconds(), r[1].wall.Seconds())
		for k := range total {
			total[k].allocs += r[k].allocs
			total[k].bytes += r[k].bytes
			total[k].n += r[k].n
		}
	}
	fmt.Fprintf(tw, "median\t%.3f\t%.3f\t%.2f\t\t\t\n", stats.Median(bare), stats.Median(look), stats.Median(ratios))
	tw.Flush()
	fmt.Fprintln(out)
	for k, name := range []string{"bare", "lookout"} {
		t := total[k]
		fmt.Fprintf(out, "%-8s %6.0f allocations, %6.1f KiB allocated per probe\n",
			name, float64(t.allocs)/float64(t.n), float64(t.bytes)/float64(t.n)/1024)
	}
	verdict := "MET"
	if stats.Median(ratios) > goalRatio {
		verdict = "NOT MET"
	}
	fmt.Fprintf(out, "\nCPU per 1,000 probes (median of %d rounds of %d): bare %.3f s, lookout %.3f s\n",
		len(rounds), n, stats.Median(bare), stats.Median(look))
	fmt.Fprintf(out, "median ratio lookout/bare: %.2f (goal <= %.1f): %s\n", stats.Median(ratios), goalRatio, verdict)
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
