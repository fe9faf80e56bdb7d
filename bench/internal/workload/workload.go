// Package workload is the probe both benchmarks run: a GET that expects
// status 200, a body matching a regular expression and one CEL assertion,
// on a fresh connection each run (Lookout's default). It is built the way
// the daemon builds probes: config.Parse, httpprobe.New, probes.NewRunner,
// and scheduler.Every at the runner's stable offset.
package workload

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
	"github.com/lookout-dev/lookout/probes/scheduler"
)

// probeYAML is one probe of the workload; %s is its name.
const probeYAML = `  - name: %s
    interval: ${INTERVAL}
    http:
      url: ${TARGET_URL}
      expect:
        status: [200]
        body_regex: '"status":\s*"UP"'
      assert:
        - 'body.status == "UP"'
`

// Config returns a parsed config of n probes of url at interval, named
// probe-00000, probe-00001, ...
func Config(url string, n int, interval time.Duration) (*config.Config, error) {
	var b strings.Builder
	b.WriteString("probes:\n")
	for i := range n {
		fmt.Fprintf(&b, probeYAML, Name(i))
	}
	env := map[string]string{"TARGET_URL": url, "INTERVAL": interval.String()}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Parse("bench.yml", []byte(b.String()), lookup)
	if err != nil {
		return nil, fmt.Errorf("workload: parse config: %w", err)
	}
	return cfg, nil
}

// Name is the name of the i-th probe.
func Name(i int) string { return fmt.Sprintf("probe-%05d", i) }

// Runners builds a runner for each probe of cfg, as the daemon does: on
// transports shared by probes of the same transport settings.
func Runners(cfg *config.Config, log *slog.Logger) ([]*probes.Runner, error) {
	transports := httpprobe.NewTransports()
	runners := make([]*probes.Runner, len(cfg.Probes))
	for i, pc := range cfg.Probes {
		p, err := httpprobe.New(pc.HTTP, transports)
		if err != nil {
			return nil, fmt.Errorf("workload: probe %s: %w", pc.Name, err)
		}
		runners[i] = probes.NewRunner(pc, p, log)
	}
	return runners, nil
}

// Timing is the schedule the daemon gives r: its interval at r's stable
// offset.
func Timing(r *probes.Runner) scheduler.Every {
	interval := r.Config().Interval.Std()
	return scheduler.Every{Interval: interval, Offset: r.Offset(interval)}
}
