package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/lookout-dev/lookout/probes"
)

// progressEvery is how often the monitor prints progress when it does not
// scrape.
const progressEvery = 15 * time.Second

// monitor prints progress and, like a Prometheus server, gathers every
// metric at each scrape interval.
type monitor struct {
	out    io.Writer
	reg    *prometheus.Registry
	runs   *runCounts
	start  time.Time
	scrape time.Duration
	probes *probes.Collector
	stats  scrapeStats // read once Run has returned
}

type scrapeStats struct {
	count, errors int
	longest       time.Duration
	samples       int // in the last scrape
}

// Run reports until ctx is done.
func (m *monitor) Run(ctx context.Context) error {
	every := m.scrape
	if every <= 0 {
		every = progressEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		scraped := ""
		if m.scrape > 0 {
			scraped = m.gather()
		}
		mem := memory()
		fmt.Fprintf(m.out, "%6s  %7d runs, %d failed   RSS %s, peak %s%s\n",
			time.Since(m.start).Round(time.Second), m.runs.total(), m.runs.failures.Load(), mib(mem.rss), mib(mem.hwm), scraped)
	}
}

// gather scrapes every metric once, as the daemon's /metrics does: the
// registry's families, then the probes' streamed one family at a time,
// encoded in the text format and discarded.
func (m *monitor) gather() string {
	start := time.Now()
	n := 0
	enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
	encode := func(mf *dto.MetricFamily) error {
		n += len(mf.GetMetric())
		return enc.Encode(mf)
	}
	families, err := m.reg.Gather()
	for _, mf := range families {
		if err == nil {
			err = encode(mf)
		}
	}
	if err == nil {
		err = m.probes.EachFamily(encode)
	}
	took := time.Since(start)
	m.stats.count++
	m.stats.longest = max(m.stats.longest, took)
	if err != nil {
		m.stats.errors++
		return fmt.Sprintf("   scrape error: %v", err)
	}
	m.stats.samples = n
	return fmt.Sprintf("   scrape: %d series in %s", n, took.Round(time.Millisecond))
}

// memoryStatus is this process's resident memory, now and at its peak.
type memoryStatus struct {
	rss, hwm int64 // bytes
}

// memory reads VmRSS and VmHWM from /proc/self/status; a field it cannot
// read is 0.
func memory() memoryStatus {
	var m memoryStatus
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			m.rss = kb * 1024
		case "VmHWM":
			m.hwm = kb * 1024
		}
	}
	return m
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
