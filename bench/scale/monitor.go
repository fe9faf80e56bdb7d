package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/lookout-dev/lookout/bench/internal/usage"
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
		mem := usage.ReadMemory(0)
		fmt.Fprintf(m.out, "%6s  %7d runs, %d failed   RSS %s, peak %s%s\n",
			time.Since(m.start).Round(time.Second), m.runs.total(), m.runs.failures.Load(), mib(mem.RSS), mib(mem.HWM), scraped)
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

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
