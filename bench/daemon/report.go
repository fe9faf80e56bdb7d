package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/stats"
)

// goalPeakRSS is issue 2's goal for 10,000 probes at 60s: below 150 MB.
const goalPeakRSS = 150e6

func report(out io.Writer, o options, idle, loaded, other *measured) {
	fmt.Fprintf(out, "\n%d probes every %s, the whole daemon (`lookout run`):\n", loaded.probes, o.interval)
	fmt.Fprintf(out, "  start-up (exec until /readyz):   %s\n", loaded.startup.Round(time.Millisecond))
	if o.protobuf {
		fmt.Fprintf(out, "  probes that had run: not counted with -protobuf\n")
	} else {
		fmt.Fprintf(out, "  probes that had run at the last scrape: %d of %d\n", loaded.ran, loaded.probes)
	}
	verdict := "MET"
	if loaded.mem.HWM >= goalPeakRSS {
		verdict = "NOT MET"
	}
	fmt.Fprintf(out, "  peak RSS (VmHWM):                %s = %.1f MB   goal < 150 MB: %s\n", mib(loaded.mem.HWM), float64(loaded.mem.HWM)/1e6, verdict)
	if len(loaded.rssSeries) > 0 {
		fmt.Fprintf(out, "  RSS, sampled every %s:          median %s, max %s, at the end %s\n", sampleEvery,
			mib(stats.Median(loaded.rssSeries)), mib(slices.Max(loaded.rssSeries)), mib(loaded.mem.RSS))
	}
	if idle != nil {
		fmt.Fprintf(out, "  idle daemon (no probes), same run: peak %s; loaded / idle = %.2f\n",
			mib(idle.mem.HWM), float64(loaded.mem.HWM)/float64(idle.mem.HWM))
	}
	fmt.Fprintf(out, "  CPU:                             %.1f %% of one core\n", 100*loaded.cpu.Seconds()/loaded.elapsed.Seconds())
	if len(loaded.scrapes) > 0 {
		fmt.Fprintf(out, "  /metrics (%d scrapes, %d kB uncompressed): p50 %s, max %s\n", len(loaded.scrapes), loaded.scrapeBytes/1000,
			stats.Quantile(loaded.scrapes, 0.5).Round(time.Millisecond), stats.Quantile(loaded.scrapes, 1).Round(time.Millisecond))
	}
	fmt.Fprintf(out, "  stop (SIGTERM until exit):       %s\n", loaded.stop.Round(time.Millisecond))
	if other != nil {
		fmt.Fprintf(out, "  with runtime.gogc %d instead:      peak RSS %s = %.1f MB, CPU %.1f %% of one core\n", other.gogc,
			mib(other.mem.HWM), float64(other.mem.HWM)/1e6, 100*other.cpu.Seconds()/other.elapsed.Seconds())
		fmt.Fprintf(out, "  default / gogc %d:                peak RSS %.2f, CPU %.2f\n", other.gogc,
			float64(loaded.mem.HWM)/float64(other.mem.HWM), (loaded.cpu.Seconds()/loaded.elapsed.Seconds())/(other.cpu.Seconds()/other.elapsed.Seconds()))
	}
}
