package store

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestDroppedSeriesAtZero: a new store's lookout_store_dropped_series_total
// is there at 0 before it refused anything, so increase() counts the first
// refusal.
func TestDroppedSeriesAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(Options{}))
	want := `
# HELP lookout_store_dropped_series_total New series the alerting store refused at its series limit.
# TYPE lookout_store_dropped_series_total counter
lookout_store_dropped_series_total 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "lookout_store_dropped_series_total"); err != nil {
		t.Error(err)
	}
}
