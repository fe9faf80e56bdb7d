package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/bench/internal/lookoutproc"
	"github.com/lookout-dev/lookout/bench/internal/usage"
	"github.com/lookout-dev/lookout/bench/internal/workload"
)

// Accept headers of a Prometheus server: its default scrape protocols
// (text and OpenMetrics), and with native histograms on, protobuf first.
const (
	acceptText     = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"
	acceptProtobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5," + acceptText
)

// sampleEvery is how often the daemon's resident memory is read.
const sampleEvery = time.Second

// measured is what one run of the daemon showed.
type measured struct {
	probes      int
	gogc        int           // runtime.gogc set, or 0
	startup     time.Duration // from exec until /readyz answered
	mem         usage.Memory  // just before it was stopped
	rssSeries   []int64       // VmRSS every sampleEvery
	cpu         time.Duration
	elapsed     time.Duration
	scrapes     []time.Duration
	scrapeBytes int // uncompressed, of the last scrape
	ran         int // probes with a last-run timestamp in the last scrape
	stop        time.Duration
}

// measure starts `lookout run` with n probes in a fresh directory, samples
// its memory, scrapes it for d, then stops it with SIGTERM. A gogc above
// zero sets runtime.gogc; else the config leaves Lookout's default.
func measure(ctx context.Context, out io.Writer, o options, url string, n int, d time.Duration, gogc int) (*measured, error) {
	dir, err := os.MkdirTemp("", "lookout-daemonbench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(out, "  kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	cfg := "probes:\n" + workload.ProbesYAML(url, n, o.interval)
	if n == 0 {
		cfg += "  []\n"
	}
	if gogc > 0 {
		cfg = fmt.Sprintf("runtime:\n  gogc: %d\n", gogc) + cfg
	}
	started := time.Now()
	proc, err := lookoutproc.Start(ctx, o.lookout, dir, cfg)
	if err != nil {
		return nil, err
	}
	pid, base, exited := proc.Pid(), proc.Base, proc.Exited
	m := &measured{probes: n, gogc: gogc}
	m.startup = time.Since(started)
	fmt.Fprintf(out, "  ready in %s, RSS %s\n", m.startup.Round(time.Millisecond), mib(usage.ReadMemory(pid).RSS))

	runStart, cpuStart := time.Now(), usage.ProcessCPU(pid)
	sample := time.NewTicker(sampleEvery)
	defer sample.Stop()
	scrape := time.NewTicker(o.scrape)
	defer scrape.Stop()
	end := time.After(d)
	client := &http.Client{Timeout: 10 * time.Second}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-exited:
			return nil, fmt.Errorf("lookout exited early: %v (log: %s)", err, proc.LogTail())
		case <-end:
			break loop
		case <-sample.C:
			m.rssSeries = append(m.rssSeries, usage.ReadMemory(pid).RSS)
		case <-scrape.C:
			took, size, text, err := scrapeOnce(ctx, client, base, o.protobuf)
			if err != nil {
				fmt.Fprintf(out, "  scrape: %v\n", err)
				continue
			}
			m.scrapes = append(m.scrapes, took)
			m.scrapeBytes = size
			mem := usage.ReadMemory(pid)
			line := fmt.Sprintf("  %5s  RSS %s, peak %s   scrape %s, %d kB", time.Since(runStart).Round(time.Second),
				mib(mem.RSS), mib(mem.HWM), took.Round(time.Millisecond), size/1000)
			if !o.protobuf {
				e := readExposition(text)
				m.ran = e.ran
				line += fmt.Sprintf(", %d probes have run   heap in use %s, GC goal %s, released %s",
					e.ran, mib(int64(e.heapInuse)), mib(int64(e.nextGC)), mib(int64(e.heapRe)))
			}
			fmt.Fprintln(out, line)
		}
	}
	m.elapsed, m.cpu = time.Since(runStart), usage.ProcessCPU(pid)-cpuStart
	m.mem = usage.ReadMemory(pid)
	if m.stop, err = proc.Stop(); err != nil {
		return nil, err
	}
	return m, nil
}

// scrapeOnce fetches /metrics as Prometheus does (gzip, its Accept
// header) and counts the probes that have run.
func scrapeOnce(ctx context.Context, client *http.Client, base string, protobuf bool) (took time.Duration, size int, text []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, 0, nil, err
	}
	accept := acceptText
	if protobuf {
		accept = acceptProtobuf
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("Accept-Encoding", "gzip")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			return 0, 0, nil, err
		}
		body = gz
	}
	text, err = io.ReadAll(body)
	took = time.Since(start)
	if err != nil {
		return 0, 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, nil, fmt.Errorf("/metrics answered %s", resp.Status)
	}
	return took, len(text), text, nil
}

// exposed is what the bench reads from a text exposition: how many probes
// have run (lookout_probe_last_run_timestamp_seconds above zero) and the
// Go runtime's heap figures.
type exposed struct {
	ran                       int
	heapInuse, nextGC, heapRe float64
}

func readExposition(text []byte) exposed {
	var e exposed
	for line := range strings.Lines(string(text)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "lookout_probe_last_run_timestamp_seconds{"):
			if v > 0 {
				e.ran++
			}
		case name == "go_memstats_heap_inuse_bytes":
			e.heapInuse = v
		case name == "go_memstats_next_gc_bytes":
			e.nextGC = v
		case name == "go_memstats_heap_released_bytes":
			e.heapRe = v
		}
	}
	return e
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
