package mongodb

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
	"github.com/lookout-dev/lookout/config"
)

// TestPoolsOnFerretDB pings a real FerretDB through the collector's client
// and checks that the pool metrics count what happened and agree with each
// other.
func TestPoolsOnFerretDB(t *testing.T) {
	srv := ferretdbtest.Start(t)
	c := newTestCollector(t, srv.URI, &syncBuffer{})
	client := connect(t, c)
	const pings = 20
	for range pings {
		if err := client.Database("admin").RunCommand(t.Context(), bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c.collectOnce(t.Context(), client)

	got := map[string]*dto.Metric{}
	for _, mf := range gather(t, c) {
		got[mf.GetName()] = mf.GetMetric()[0]
	}
	value := func(name string) float64 {
		m, ok := got[name]
		if !ok {
			t.Fatalf("%s missing", name)
		}
		if m.Gauge != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	open, checkouts := value("mongodb_pool_open_connections"), value("mongodb_pool_checkouts_total")
	h := got["mongodb_pool_checkout_wait_seconds"].GetHistogram()
	checks := []struct {
		name string
		ok   bool
	}{
		{"at least one connection open", open >= 1},
		{"no more open than the pool allows", open <= config.MongoMaxPoolSize},
		{"nothing checked out between passes", value("mongodb_pool_checked_out_connections") == 0},
		{"every ping checked a connection out", checkouts >= pings},
		{"no checkout failed", value("mongodb_pool_checkout_failures_total") == 0},
		{"pool never cleared", value("mongodb_pool_cleared_total") == 0},
		{"one wait observed per checkout", float64(h.GetSampleCount()) == checkouts},
		{"waits add up to a positive time", h.GetSampleSum() > 0},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if !ck.ok {
				t.Errorf("open %v, checkouts %v, histogram %v", open, checkouts, h)
			}
		})
	}
	if n := testutil.CollectAndCount(c, "mongodb_pool_checkout_wait_seconds"); n != 1 {
		t.Errorf("mongodb_pool_checkout_wait_seconds: %d series, want 1 (target only)", n)
	}
}

func gather(t *testing.T, c *Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// TestPoolStats feeds driver events to the counters and checks the metrics,
// the histogram's buckets included.
func TestPoolStats(t *testing.T) {
	s := newPoolStats()
	for _, e := range []event.PoolEvent{
		{Type: event.ConnectionPoolCreated},
		{Type: event.ConnectionCreated}, {Type: event.ConnectionCreated}, {Type: event.ConnectionCreated},
		{Type: event.ConnectionClosed, Reason: event.ReasonStale},
		{Type: event.ConnectionCheckOutStarted},
		{Type: event.ConnectionCheckedOut, Duration: 50 * time.Microsecond},
		{Type: event.ConnectionCheckedOut, Duration: 3 * time.Millisecond},
		{Type: event.ConnectionCheckedOut, Duration: 30 * time.Second}, // above the last bound
		{Type: event.ConnectionCheckedIn},
		{Type: event.ConnectionCheckOutFailed, Reason: event.ReasonTimedOut},
		{Type: event.ConnectionPoolCleared},
	} {
		s.event(&e)
	}
	p := &pass{target: "t", descs: newDescs(), features: map[string]bool{}}
	if err := s.collect(t.Context(), nil, p); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP mongodb_pool_checked_out_connections Connections of Lookout's driver pool in use (checked out minus checked in).
# TYPE mongodb_pool_checked_out_connections gauge
mongodb_pool_checked_out_connections{target="t"} 2
# HELP mongodb_pool_checkout_failures_total Connection checkouts from Lookout's driver pool that failed.
# TYPE mongodb_pool_checkout_failures_total counter
mongodb_pool_checkout_failures_total{target="t"} 1
# HELP mongodb_pool_checkout_wait_seconds Time from the start of a successful checkout to the connection being handed out.
# TYPE mongodb_pool_checkout_wait_seconds histogram
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="0.0001"} 1
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="0.0005"} 1
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="0.001"} 1
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="0.005"} 2
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="0.01"} 2
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="0.05"} 2
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="0.1"} 2
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="0.5"} 2
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="1"} 2
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="5"} 2
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="20"} 2
mongodb_pool_checkout_wait_seconds_bucket{target="t",le="+Inf"} 3
mongodb_pool_checkout_wait_seconds_sum{target="t"} 30.00305
mongodb_pool_checkout_wait_seconds_count{target="t"} 3
# HELP mongodb_pool_checkouts_total Successful connection checkouts from Lookout's driver pool.
# TYPE mongodb_pool_checkouts_total counter
mongodb_pool_checkouts_total{target="t"} 3
# HELP mongodb_pool_cleared_total Times the driver cleared Lookout's pool (the server was marked unknown).
# TYPE mongodb_pool_cleared_total counter
mongodb_pool_cleared_total{target="t"} 1
# HELP mongodb_pool_open_connections Connections open in Lookout's driver pool (created minus closed).
# TYPE mongodb_pool_open_connections gauge
mongodb_pool_open_connections{target="t"} 2
`
	if err := testutil.CollectAndCompare(passCollector{p}, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
