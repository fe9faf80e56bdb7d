package daemon

import (
	"testing"
	"time"

	"github.com/lookout-dev/lookout/config"
)

// TestRestartGrace: restored alerts wait for the slowest probe's first
// run to end, every attempt timing out, plus two evaluations; never less
// than minRestartGrace.
func TestRestartGrace(t *testing.T) {
	probe := func(interval, timeout time.Duration, retries int) config.Probe {
		return config.Probe{Interval: config.Duration(interval), Timeout: config.Duration(timeout), Retries: retries}
	}
	tests := []struct {
		name   string
		probes []config.Probe
		eval   time.Duration
		want   time.Duration
	}{
		{"slowest probe with its timeouts", []config.Probe{probe(30*time.Second, 10*time.Second, 1), probe(time.Minute, 5*time.Second, 0)}, 15 * time.Second, 65*time.Second + 30*time.Second},
		{"short intervals get the floor", []config.Probe{probe(200*time.Millisecond, 150*time.Millisecond, 0)}, 200 * time.Millisecond, minRestartGrace},
		{"no probes", nil, 15 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Probes: tt.probes}
			cfg.Alerting.EvaluationInterval = config.Duration(tt.eval)
			if got := restartGrace(cfg); got != tt.want {
				t.Errorf("restartGrace = %s, want %s", got, tt.want)
			}
		})
	}
}
