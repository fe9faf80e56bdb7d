package probes

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
)

// BenchmarkGather10k measures one scrape of 10,000 probes that have each
// run once: what a scrape allocates in all (B/op). At most one family of
// it is alive at a time.
func BenchmarkGather10k(b *testing.B) {
	runners := make([]*Runner, 10000)
	for i := range runners {
		cfg := config.Probe{Name: fmt.Sprintf("probe-%05d", i), Labels: map[string]string{"team": "api", "env": "prod"},
			FailureThreshold: config.FailureThreshold{Failures: 1, Of: 1}}
		r := NewRunner(cfg, nil, slog.New(slog.DiscardHandler))
		r.record(Result{Start: time.Now(), Duration: 3 * time.Millisecond, State: Up, Attempts: 1,
			Phases: Phases{Connect: time.Millisecond, Processing: time.Millisecond, Transfer: time.Microsecond},
			HTTP:   &HTTPFacts{StatusCode: 200, Version: 1.1, ContentLength: 15, BodyBytes: 15}})
		runners[i] = r
	}
	c := NewCollector(func() []*Runner { return runners })
	b.ReportAllocs()
	for b.Loop() {
		// As /metrics does: one family at a time, dropped once written.
		if err := c.EachFamily(func(*dto.MetricFamily) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
