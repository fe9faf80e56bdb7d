package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/usage"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
)

// soak runs o.probes Lookout browser probes of pageURL, each every
// o.interval with their starts spread over it, for o.soak, and reports
// memory and open browser contexts each minute, then start, peak and end.
//
// Lookout's Browser uses a Chromium this program starts with Lookout's
// flags and a DevTools port (browser.remote_url), so that a second
// connection can count the browser contexts open in it; the Chromium is
// still this process's child, so its tree's memory is read as it would be
// under Lookout.
func soak(ctx context.Context, o options, out io.Writer, exe, pageURL, dir string) error {
	profile := filepath.Join(dir, "soak-profile")
	monitor, err := newBare(exe, profile, "remote-debugging-port=0")
	if err != nil {
		return err
	}
	defer monitor.close()
	remote, err := devtoolsURL(ctx, profile)
	if err != nil {
		return err
	}
	b := browserprobe.NewBrowser(quietLog())
	runners, err := lookoutRunners(b, "", pageURL, dir, o.probes, o.interval, remote, o.waitUntil)
	if err != nil {
		b.Close()
		return err
	}
	fmt.Fprintf(out, "browsercpu -soak: %d browser probes of %s every %s for %s (Chromium %s at %s)\n\n",
		o.probes, pageURL, o.interval, o.soak, exe, remote)

	var runs, failed atomic.Int64
	soakCtx, stop := context.WithTimeout(ctx, o.soak)
	defer stop()
	var wg sync.WaitGroup
	for i, r := range runners {
		offset := o.interval * time.Duration(i) / time.Duration(len(runners))
		wg.Go(func() { every(soakCtx, r, offset, o.interval, &runs, &failed) })
	}

	type sample struct {
		at              time.Duration
		self, chromium  int64 // RSS; chromium's is its processes' PSS
		chromiumRSS     int64
		contexts, procs int
	}
	var samples []sample
	start := time.Now()
	take := func() {
		t := descendants()
		n, err := monitor.contexts()
		if err != nil {
			n = -1
			fmt.Fprintf(out, "count the browser contexts: %v\n", err)
		}
		s := sample{at: time.Since(start).Round(time.Second), self: usage.ReadMemory(0).RSS, chromium: t.pss, chromiumRSS: t.rss, contexts: n, procs: t.procs}
		samples = append(samples, s)
		fmt.Fprintf(out, "%8s  lookout RSS %5.1f MiB  chromium PSS %6.1f MiB (RSS summed %6.1f, %2d processes)  total %6.1f MiB  contexts open %d  runs %d (%d not up)\n",
			s.at, mib(s.self), mib(s.chromium), mib(s.chromiumRSS), s.procs, mib(s.self+s.chromium), s.contexts, runs.Load(), failed.Load())
	}
	take()
	tick := time.NewTicker(time.Minute)
	for soakCtx.Err() == nil {
		select {
		case <-soakCtx.Done():
		case <-tick.C:
			take()
		}
	}
	tick.Stop()
	wg.Wait()
	b.Close() // every run's context closed, as at Lookout's stop
	for _, r := range runners {
		r.Close()
	}
	take()

	peak := samples[0]
	for _, s := range samples {
		if s.self+s.chromium > peak.self+peak.chromium {
			peak = s
		}
	}
	first, last := samples[0], samples[len(samples)-1]
	fmt.Fprintf(out, "\nmemory, Lookout RSS + Chromium PSS: start %.1f MiB, peak %.1f MiB (at %s), end %.1f MiB\n",
		mib(first.self+first.chromium), mib(peak.self+peak.chromium), peak.at, mib(last.self+last.chromium))
	fmt.Fprintf(out, "browser contexts open at the end: %d; runs %d, not up %d\n", last.contexts, runs.Load(), failed.Load())
	return nil
}

// every runs r after offset, then every interval, until ctx ends; a run
// in flight finishes.
func every(ctx context.Context, r *probes.Runner, offset, interval time.Duration, runs, failed *atomic.Int64) {
	next := time.Now().Add(offset)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		res := r.Probe(context.WithoutCancel(ctx))
		runs.Add(1)
		if res.State != probes.Up {
			failed.Add(1)
		}
		next = next.Add(interval)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
