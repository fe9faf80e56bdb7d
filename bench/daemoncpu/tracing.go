package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/lookoutproc"
	"github.com/lookout-dev/lookout/bench/internal/stats"
	"github.com/lookout-dev/lookout/bench/internal/target"
	"github.com/lookout-dev/lookout/bench/internal/usage"
	"github.com/lookout-dev/lookout/bench/internal/workload"
)

// tracingGoal is issue 13's goal: tracing on (sample ratio 1, exporting to
// a local receiver) at most 1.15 times the CPU of tracing off.
const tracingGoal = 1.15

// runTracing is -tracing: two daemons side by side, the same probes at the
// same rate against the same target, one without telemetry.tracing and
// one exporting every run's trace over OTLP/HTTP to the receiver in the
// target child (whose CPU is not counted). Each window compares their CPU
// per 1,000 planned runs.
func runTracing(ctx context.Context, o options, out io.Writer) error {
	tgt, err := target.Start(ctx)
	if err != nil {
		return err
	}
	defer tgt.Stop()
	url := "http://" + tgt.Addr + "/health"
	probesYAML := "probes:\n" + workload.ProbesYAML(url, o.probes, o.interval)
	var procs [2]*lookoutproc.Proc
	for i, cfg := range []string{probesYAML,
		"telemetry:\n  tracing: {endpoint: http://" + tgt.Addr + ", sample_ratio: 1}\n" + probesYAML} {
		var stop func()
		if procs[i], stop, err = startLookout(ctx, o, cfg, out); err != nil {
			return err
		}
		defer stop()
	}
	off, on := procs[0], procs[1]
	fmt.Fprintf(out, "target %s (child process %d); lookout run without tracing (process %d) and with it (process %d, OTLP/HTTP to the target's receiver): %d probes every %s each; warming up %s\n",
		url, tgt.Pid(), off.Pid(), on.Pid(), o.probes, o.interval, o.warmup)
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-off.Exited:
			return fmt.Errorf("lookout (off) exited: %v (log: %s)", err, off.LogTail())
		case err := <-on.Exited:
			return fmt.Errorf("lookout (on) exited: %v (log: %s)", err, on.LogTail())
		case <-time.After(d):
			return nil
		}
	}
	if err := wait(o.warmup); err != nil {
		return err
	}
	var runs0 [2]float64
	for i, p := range procs {
		if runs0[i], err = probeRuns(ctx, p.Base); err != nil {
			return err
		}
	}
	spans0, err := target.OTLPReceived(ctx, tgt.Addr)
	if err != nil {
		return err
	}
	planned := float64(o.probes) * o.window.Seconds() / o.interval.Seconds()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "window\toff CPU s/1000\ton CPU s/1000\tratio\t\n")
	var offs, ons, ratios []float64
	for w := range o.windows {
		a0, b0 := usage.ProcessCPU(off.Pid()), usage.ProcessCPU(on.Pid())
		if err := wait(o.window); err != nil {
			return err
		}
		a := (usage.ProcessCPU(off.Pid()) - a0).Seconds() / planned * 1000
		b := (usage.ProcessCPU(on.Pid()) - b0).Seconds() / planned * 1000
		offs, ons, ratios = append(offs, a), append(ons, b), append(ratios, b/a)
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%.2f\t\n", w+1, a, b, b/a)
	}
	fmt.Fprintf(tw, "median\t%.3f\t%.3f\t%.2f\t\n", stats.Median(offs), stats.Median(ons), stats.Median(ratios))
	tw.Flush()
	for i, name := range []string{"off", "on"} {
		runs, err := probeRuns(ctx, procs[i].Base)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "runs in the windows, %s: %.0f (planned %.0f)\n", name, runs-runs0[i], planned*float64(o.windows))
	}
	spans, err := target.OTLPReceived(ctx, tgt.Addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "spans the receiver got in the windows: %d\n", spans.Total()-spans0.Total())
	verdict := "met"
	if stats.Median(ratios) > tracingGoal {
		verdict = "NOT met"
	}
	fmt.Fprintf(out, "median ratio on/off: %.2f (goal <= %.2f): %s\n", stats.Median(ratios), tracingGoal, verdict)
	return nil
}
