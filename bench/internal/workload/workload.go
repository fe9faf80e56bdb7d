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
	cfg, err := config.Parse("bench.yml", []byte("probes:\n"+ProbesYAML(url, n, interval)), noEnv)
	if err != nil {
		return nil, fmt.Errorf("workload: parse config: %w", err)
	}
	return cfg, nil
}

// ProbesYAML is the items of a config's probes list: n probes of url at
// interval, named probe-00000, probe-00001, ...
func ProbesYAML(url string, n int, interval time.Duration) string {
	item := strings.NewReplacer("${INTERVAL}", interval.String(), "${TARGET_URL}", url).Replace(probeYAML)
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, item, Name(i))
	}
	return b.String()
}

// Name is the name of the i-th probe.
func Name(i int) string { return fmt.Sprintf("probe-%05d", i) }

// Runners builds a runner for each probe of cfg, as the daemon does: on
// transports shared by probes of the same transport settings.
func Runners(cfg *config.Config, log *slog.Logger) ([]*probes.Runner, error) {
	kinds := probes.Kinds{httpprobe.Kind(httpprobe.NewTransports())}
	runners := make([]*probes.Runner, len(cfg.Probes))
	for i, pc := range cfg.Probes {
		r, err := kinds.NewRunner(pc, log)
		if err != nil {
			return nil, fmt.Errorf("workload: %w", err)
		}
		runners[i] = r
	}
	return runners, nil
}

// Timing is the schedule the daemon gives r: its interval at r's stable
// offset.
func Timing(r *probes.Runner) scheduler.Every {
	interval := r.Config().Interval.Std()
	return scheduler.Every{Interval: interval, Offset: r.Offset(interval)}
}

// noEnv is an environment with no variables: the workload sets none.
func noEnv(string) (string, bool) { return "", false }
