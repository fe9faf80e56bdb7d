package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/bench/internal/stats"
	"github.com/lookout-dev/lookout/bench/internal/usage"
)

// Goals of the benchmark.
const (
	goalGapP99 = 100 * time.Millisecond
	goalPeakRS = 150_000_000 // bytes (150 MB)
)

// results is what a run of the benchmark observed.
type results struct {
	setAt   time.Time // when the jobs were handed to the scheduler
	elapsed time.Duration
	cpu     time.Duration
	tasks   []*recordedTask
	runs    *runCounts
	reg     prometheus.Gatherer // the scheduler's families and the probes'
	mem     usage.Memory
	heap    runtime.MemStats // after a GC at the end
	scrapes scrapeStats
}

func report(out io.Writer, o options, r results) {
	var gaps, late []time.Duration
	var firstAll time.Duration
	never := 0
	for _, t := range r.tasks {
		if len(t.starts) == 0 {
			never++
			continue
		}
		firstAll = max(firstAll, t.starts[0].Sub(r.setAt))
		for i, s := range t.starts {
			// The planned time nearest s: the first one after s − interval/2.
			late = append(late, s.Sub(t.timing.Next(s.Add(-t.timing.Interval/2))))
			if i > 0 {
				gaps = append(gaps, (s.Sub(t.starts[i-1]) - t.timing.Interval).Abs())
			}
		}
	}
	lag := lagSummary(r.reg)

	fmt.Fprintln(out, "\nresults")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  runs\t%d (about %d planned in %s); %d failed, %d cancelled at shutdown, %d skipped (previous run still going)\n",
		r.runs.total(), int64(float64(len(r.tasks))*r.elapsed.Seconds()/o.interval.Seconds()), r.elapsed.Round(time.Second),
		r.runs.failures.Load(), r.runs.cancelled.Load(), lag.skipped)
	if never > 0 {
		fmt.Fprintf(tw, "  every probe ran once\tNO: %d of %d probes never ran: NOT MET\n", never, len(r.tasks))
	} else {
		fmt.Fprintf(tw, "  every probe ran once\tafter %s (goal: within the first interval, %s): %s\n",
			firstAll.Round(time.Microsecond), o.interval, verdict(firstAll < o.interval))
	}
	if len(gaps) > 0 {
		fmt.Fprintf(tw, "  |gap − interval|\tp50 %s, p99 %s, max %s over %d gaps (goal: p99 <= %s): %s\n",
			pct(gaps, .5), pct(gaps, .99), pct(gaps, 1), len(gaps), goalGapP99, verdict(pct(gaps, .99) <= goalGapP99))
	} else {
		fmt.Fprintf(tw, "  |gap − interval|\tno probe ran twice; run for more than one interval: NOT MET\n")
	}
	if len(late) > 0 {
		fmt.Fprintf(tw, "  start − planned\tp50 %s, p99 %s, max %s over %d runs\n", pct(late, .5), pct(late, .99), pct(late, 1), len(late))
	}
	fmt.Fprintf(tw, "  scheduler lag histogram\t%s\n", lag.text)
	fmt.Fprintf(tw, "  peak RSS (VmHWM)\t%s = %.1f MB (goal: < 150 MB): %s; RSS at the end %s\n",
		mib(r.mem.HWM), float64(r.mem.HWM)/1e6, verdict(r.mem.HWM > 0 && r.mem.HWM < goalPeakRS), mib(r.mem.RSS))
	fmt.Fprintf(tw, "  live heap after GC\t%s = %.1f KiB per probe; Go runtime holds %s from the OS (stacks %s)\n",
		mib(int64(r.heap.HeapAlloc)), float64(r.heap.HeapAlloc)/1024/float64(len(r.tasks)), mib(int64(r.heap.Sys)), mib(int64(r.heap.StackSys)))
	fmt.Fprintf(tw, "  CPU\t%.1f s user+sys in %s = %.1f%% of one core\n",
		r.cpu.Seconds(), r.elapsed.Round(time.Second), 100*r.cpu.Seconds()/r.elapsed.Seconds())
	if o.scrape > 0 {
		fmt.Fprintf(tw, "  scrapes\t%d (%d failed), longest %s, %d series\n",
			r.scrapes.count, r.scrapes.errors, r.scrapes.longest.Round(time.Millisecond), r.scrapes.samples)
	}
	tw.Flush()
	if len(r.runs.reasons) > 0 {
		fmt.Fprintln(out, "\nfailure reasons (first few distinct):")
		for reason, n := range r.runs.reasons {
			fmt.Fprintf(out, "  %6d  %s\n", n, reason)
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

// pct is the q-th quantile of ds (nearest rank), rounded for printing.
func pct(ds []time.Duration, q float64) time.Duration {
	return stats.Quantile(ds, q).Round(10 * time.Microsecond)
}

// lagFacts summarise the scheduler's own metrics.
type lagFacts struct {
	text    string
	skipped int64
}

// lagSummary reads lookout_scheduler_lag_seconds (actual minus planned
// start, as the scheduler sees it) and lookout_probe_skipped_total.
func lagSummary(reg prometheus.Gatherer) lagFacts {
	families, err := reg.Gather()
	if err != nil {
		return lagFacts{text: "gather: " + err.Error()}
	}
	f := lagFacts{text: "absent"}
	for _, mf := range families {
		switch mf.GetName() {
		case "lookout_probe_skipped_total":
			for _, m := range mf.GetMetric() {
				f.skipped += int64(m.GetCounter().GetValue())
			}
		case "lookout_scheduler_lag_seconds":
			if len(mf.GetMetric()) == 0 {
				continue
			}
			h := mf.GetMetric()[0].GetHistogram()
			n := h.GetSampleCount()
			if n == 0 {
				f.text = "no observations"
				continue
			}
			parts := []string{fmt.Sprintf("%d runs, mean %s", n,
				time.Duration(h.GetSampleSum()/float64(n)*1e9).Round(10*time.Microsecond))}
			for _, b := range h.GetBucket() {
				parts = append(parts, fmt.Sprintf("<=%gs %.2f%%", b.GetUpperBound(), 100*float64(b.GetCumulativeCount())/float64(n)))
			}
			f.text = strings.Join(parts, ", ")
		}
	}
	return f
}
