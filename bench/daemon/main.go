// Command daemon runs the whole Lookout daemon, the real `lookout run`
// binary, with many HTTP probes against a local target, scrapes its
// /metrics as Prometheus would, and reports its peak memory and CPU.
//
// bench/scale measures the probe subsystem inside its own process; this
// measures everything the daemon runs beside it: the rule store ingesting
// each tick, rule evaluation, the alert outbox, /metrics encoding.
//
// It first runs the same daemon with no probes for -baseline, so the
// figures come with the memory of an idle daemon measured in the same run.
//
//	go build -o /tmp/lookout ./cmd/lookout
//	go build -o /tmp/daemonbench ./bench/daemon
//	/tmp/daemonbench -lookout /tmp/lookout
//
// Goal (issue 2): 10,000 probes at 60s, peak RSS below 150 MB.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/target"
)

type options struct {
	lookout                              string
	probes                               int
	interval, duration, scrape, baseline time.Duration
	compareGOGC                          int
	protobuf                             bool
	keep                                 bool
}

func main() {
	serve := flag.Bool(target.Flag, false, "internal: serve as the target child process")
	var o options
	flag.StringVar(&o.lookout, "lookout", "", "the lookout binary to run (required; go build -o /tmp/lookout ./cmd/lookout)")
	flag.IntVar(&o.probes, "probes", 10000, "number of probes")
	flag.DurationVar(&o.interval, "interval", time.Minute, "interval of every probe")
	flag.DurationVar(&o.duration, "duration", 0, "how long to run the loaded daemon (0: two intervals plus 30s)")
	flag.DurationVar(&o.scrape, "scrape", 15*time.Second, "scrape /metrics this often, as Prometheus would")
	flag.DurationVar(&o.baseline, "baseline", 20*time.Second, "first run the daemon with no probes this long (0: skip)")
	flag.IntVar(&o.compareGOGC, "compare-gogc", 0, "then run the loaded daemon again with runtime.gogc at this value (0: don't), to compare memory and CPU against the default")
	flag.BoolVar(&o.protobuf, "protobuf", false, "scrape the protobuf format (what Prometheus asks for when native histograms are on) instead of text")
	flag.BoolVar(&o.keep, "keep", false, "keep the directory with the config, data and the daemon's log")
	flag.Parse()
	if o.duration == 0 {
		o.duration = 2*o.interval + 30*time.Second
	}
	target.Main("daemon", *serve, func(ctx context.Context) error { return run(ctx, o, os.Stdout) })
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.lookout == "" {
		return fmt.Errorf("-lookout is required: build it with go build -o /tmp/lookout ./cmd/lookout")
	}
	if o.probes < 1 || o.interval <= 0 || o.scrape <= 0 {
		return fmt.Errorf("-probes, -interval and -scrape must be positive")
	}
	tgt, err := target.Start(ctx)
	if err != nil {
		return err
	}
	defer tgt.Stop()
	url := "http://" + tgt.Addr + "/health"
	fmt.Fprintf(out, "target %s (child process %d)\n", url, tgt.Pid())

	var idle *measured
	if o.baseline > 0 {
		fmt.Fprintf(out, "\nbaseline: the daemon with no probes, %s\n", o.baseline)
		if idle, err = measure(ctx, out, o, url, 0, o.baseline, 0); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	fmt.Fprintf(out, "\nloaded: %d probes every %s, %s, /metrics scraped every %s\n", o.probes, o.interval, o.duration, o.scrape)
	loaded, err := measure(ctx, out, o, url, o.probes, o.duration, 0)
	if err != nil {
		return err
	}
	var other *measured
	if o.compareGOGC > 0 {
		fmt.Fprintf(out, "\nthe same with runtime.gogc: %d\n", o.compareGOGC)
		if other, err = measure(ctx, out, o, url, o.probes, o.duration, o.compareGOGC); err != nil {
			return err
		}
	}
	report(out, o, idle, loaded, other)
	return nil
}
