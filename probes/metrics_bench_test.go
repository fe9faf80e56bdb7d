package probes_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// fixedProber returns the same result every run.
type fixedProber probes.Result

func (p fixedProber) Probe(context.Context) probes.Result { return probes.Result(p) }

// BenchmarkGather10k measures one scrape of 10,000 HTTP probes that have
// each run once: what a scrape allocates in all (B/op). At most one
// family of it is alive at a time.
func BenchmarkGather10k(b *testing.B) {
	kind := httpprobe.Kind(httpprobe.NewTransports())
	res := fixedProber{Start: time.Now(), State: probes.Up, Facts: &httpprobe.Facts{
		Phases: httpprobe.Phases{Connect: time.Millisecond, Processing: time.Millisecond, Transfer: time.Microsecond},
		HTTP:   &httpprobe.Response{StatusCode: 200, Version: 1.1, ContentLength: 15, BodyBytes: 15},
	}}
	runners := make([]*probes.Runner, 10000)
	for i := range runners {
		cfg := config.Probe{Name: fmt.Sprintf("probe-%05d", i), Labels: map[string]string{"team": "api", "env": "prod"},
			Timeout: config.Duration(time.Second), FailureThreshold: config.FailureThreshold{Failures: 1, Of: 1}}
		r := probes.NewRunner(cfg, kind, res, slog.New(slog.DiscardHandler))
		r.Probe(b.Context())
		runners[i] = r
	}
	c := probes.NewCollector(func() []*probes.Runner { return runners }, probes.Kinds{kind})
	b.ReportAllocs()
	for b.Loop() {
		// As /metrics does: one family at a time, dropped once written.
		if err := c.EachFamily(func(*dto.MetricFamily) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
