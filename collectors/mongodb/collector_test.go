package mongodb

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
	"github.com/lookout-dev/lookout/config"
)

// syncBuffer is a log destination that the race detector accepts.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testTarget is a target's config as config.Parse fills it, except that
// no database is excluded and no slow queries are read unless the test
// sets them.
func testTarget(name, uri string, interval, timeout time.Duration) config.MongoDB {
	return config.MongoDB{
		Name: name, URI: uri, Interval: config.Duration(interval), Timeout: config.Duration(timeout),
		MaxCollections: config.DefaultMaxCollections, UnusedIndexAfter: config.DefaultUnusedIndexAfter,
		SlowQueries: config.SlowQueries{Threshold: config.DefaultSlowThreshold},
	}
}

func newTestCollector(t *testing.T, uri string, logs *syncBuffer) *Collector {
	t.Helper()
	c, err := New(testTarget("main", uri, time.Hour, 2*time.Second), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// metricsText returns the collector's metrics in the text format.
func metricsText(t testing.TB, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func connect(t testing.TB, c *Collector) *mongo.Client {
	t.Helper()
	client, err := c.connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.disconnect(context.Background(), client) })
	return client
}

const (
	wantDownOnly = `
# HELP mongodb_up 1 when the last pass reached the server and it answered ping.
# TYPE mongodb_up gauge
mongodb_up{target="main"} 0
`
	wantUp = `
# HELP lookout_mongodb_feature_supported 0 when the server lacks a command or field that a collector uses; its metrics are then left out.
# TYPE lookout_mongodb_feature_supported gauge
lookout_mongodb_feature_supported{feature="replSetGetStatus",target="main"} 0
lookout_mongodb_feature_supported{feature="serverStatus",target="main"} 1
lookout_mongodb_feature_supported{feature="serverStatus.connections",target="main"} 0
lookout_mongodb_feature_supported{feature="serverStatus.opcounters",target="main"} 0
lookout_mongodb_feature_supported{feature="serverStatus.uptime",target="main"} 1
# HELP mongodb_up 1 when the last pass reached the server and it answered ping.
# TYPE mongodb_up gauge
mongodb_up{target="main"} 1
# HELP mongodb_version_info The server's version from buildInfo; server is mongodb or ferretdb.
# TYPE mongodb_version_info gauge
mongodb_version_info{server="ferretdb",target="main",version="7.0.42"} 1
`
	wantErrors = `
# HELP lookout_collector_errors_total Passes in which the collector failed.
# TYPE lookout_collector_errors_total counter
lookout_collector_errors_total{collector="mongodb_indexes",target="main"} %[1]d
lookout_collector_errors_total{collector="mongodb_pools",target="main"} 0
lookout_collector_errors_total{collector="mongodb_replset",target="main"} %[1]d
lookout_collector_errors_total{collector="mongodb_server",target="main"} %[1]d
`
	// wantErrors has the server, replica-set and index sub-collectors
	// failing together: they need the server; the pools one does no I/O.
	//
	// wantDown keeps the features seen before: a server that is down says
	// nothing about what it supports.
	wantDown = `
# HELP lookout_mongodb_feature_supported 0 when the server lacks a command or field that a collector uses; its metrics are then left out.
# TYPE lookout_mongodb_feature_supported gauge
lookout_mongodb_feature_supported{feature="replSetGetStatus",target="main"} 0
lookout_mongodb_feature_supported{feature="serverStatus",target="main"} 1
lookout_mongodb_feature_supported{feature="serverStatus.connections",target="main"} 0
lookout_mongodb_feature_supported{feature="serverStatus.opcounters",target="main"} 0
lookout_mongodb_feature_supported{feature="serverStatus.uptime",target="main"} 1
# HELP mongodb_up 1 when the last pass reached the server and it answered ping.
# TYPE mongodb_up gauge
mongodb_up{target="main"} 0
`
)

// TestFerretDB runs passes against a real FerretDB that is up, then killed,
// then started again; each step's snapshot is what /metrics would serve.
func TestFerretDB(t *testing.T) {
	srv := ferretdbtest.Start(t)
	logs := &syncBuffer{}
	c := newTestCollector(t, srv.URI, logs)
	client := connect(t, c)

	steps := []struct {
		name   string
		before func()
		want   string
		errors int
	}{
		{"up", func() {}, wantUp, 0},
		{"up again", func() {}, wantUp, 0},
		{"killed", srv.Stop, wantDown, 1},
		{"restarted", srv.Restart, wantUp, 1},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.before()
			c.collectOnce(t.Context(), client)
			if err := testutil.CollectAndCompare(c, strings.NewReader(step.want),
				"mongodb_up", "mongodb_version_info", "lookout_mongodb_feature_supported"); err != nil {
				t.Error(err)
			}
			if err := testutil.CollectAndCompare(c, strings.NewReader(fmt.Sprintf(wantErrors, step.errors)),
				"lookout_collector_errors_total"); err != nil {
				t.Error(err)
			}
			if n := testutil.CollectAndCount(c, "lookout_collector_duration_seconds"); n != len(c.subs) {
				t.Errorf("lookout_collector_duration_seconds: %d series, want one per sub-collector", n)
			}
			if n := testutil.CollectAndCount(c, "lookout_collector_last_success_timestamp_seconds"); n != len(c.subs) {
				t.Errorf("lookout_collector_last_success_timestamp_seconds: %d series, want one per sub-collector", n)
			}
		})
	}

	// Each lacking feature, each failure and each recovery is logged once.
	for _, log := range []struct {
		msg  string
		want int
	}{
		{"feature=serverStatus.connections", 1},
		{"feature=serverStatus.opcounters", 1},
		{"feature=replSetGetStatus", 1},
		{`collector failed" target=main collector=mongodb_server`, 1},
		{`collector failed" target=main collector=mongodb_replset`, 1},
		{`collector recovered" target=main collector=mongodb_server`, 1},
		{`collector recovered" target=main collector=mongodb_replset`, 1},
		{"collector=mongodb_pools", 0},
	} {
		if n := strings.Count(logs.String(), log.msg); n != log.want {
			t.Errorf("log has %q %d times, want %d:\n%s", log.msg, n, log.want, logs)
		}
	}
}

// TestCountersAtZeroBeforeFirstPass: before a target's first pass, its
// own counters are there at 0 (errors for each step, the pool's, bad
// slow-query entries for its source), so increase() counts the first of
// each; nothing else is, mongodb_up included.
func TestCountersAtZeroBeforeFirstPass(t *testing.T) {
	const pools = `
# HELP mongodb_pool_checkout_failures_total Connection checkouts from Lookout's driver pool that failed.
# TYPE mongodb_pool_checkout_failures_total counter
mongodb_pool_checkout_failures_total{target="main"} 0
# HELP mongodb_pool_checkouts_total Successful connection checkouts from Lookout's driver pool.
# TYPE mongodb_pool_checkouts_total counter
mongodb_pool_checkouts_total{target="main"} 0
# HELP mongodb_pool_cleared_total Times the driver cleared Lookout's pool (the server was marked unknown).
# TYPE mongodb_pool_cleared_total counter
mongodb_pool_cleared_total{target="main"} 0
`
	errorsOf := func(steps ...string) string {
		var b strings.Builder
		b.WriteString("# HELP lookout_collector_errors_total Passes in which the collector failed.\n# TYPE lookout_collector_errors_total counter\n")
		for _, s := range steps {
			fmt.Fprintf(&b, "lookout_collector_errors_total{collector=%q,target=\"main\"} 0\n", s)
		}
		return b.String()
	}
	tests := []struct {
		name string
		slow config.SlowQueries
		want string
	}{
		{"without slow queries", config.SlowQueries{Threshold: config.DefaultSlowThreshold},
			errorsOf("mongodb_indexes", "mongodb_pools", "mongodb_replset", "mongodb_server") + pools},
		{"slow queries from the log", config.SlowQueries{Source: config.SlowSourceLog, Path: "/nonexistent/mongod.log", Threshold: config.DefaultSlowThreshold},
			errorsOf("mongodb_indexes", "mongodb_pools", "mongodb_replset", "mongodb_server", "mongodb_slow_queries") + pools + `
# HELP lookout_mongodb_slow_query_bad_entries_total Profile entries or log lines that Lookout could not read (not JSON, fields of the wrong type) and skipped.
# TYPE lookout_mongodb_slow_query_bad_entries_total counter
lookout_mongodb_slow_query_bad_entries_total{source="log",target="main"} 0
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testTarget("main", "mongodb://127.0.0.1:1", time.Hour, time.Second)
			cfg.SlowQueries = tc.slow
			c, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			var counters []string
			for _, mf := range gather(t, c) {
				if mf.GetType() == dto.MetricType_COUNTER {
					counters = append(counters, mf.GetName())
				}
			}
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want), counters...); err != nil {
				t.Error(err)
			}
			if n := testutil.CollectAndCount(c, "mongodb_up"); n != 0 {
				t.Errorf("mongodb_up has %d series before the first pass, want none", n)
			}
		})
	}
}

// TestUnsupportedCommand checks that FerretDB's answer to a command it lacks
// is read as "unsupported", not as a failure.
func TestUnsupportedCommand(t *testing.T) {
	srv := ferretdbtest.Start(t)
	c := newTestCollector(t, srv.URI, &syncBuffer{})
	client := connect(t, c)
	tests := []struct {
		name string
		cmd  bson.D
		want bool
	}{
		{"unknown command", bson.D{{Key: "lookoutNoSuchCommand", Value: 1}}, true},
		{"existing command", bson.D{{Key: "ping", Value: 1}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := client.Database("admin").RunCommand(t.Context(), tc.cmd).Err()
			if got := isUnsupported(err); got != tc.want {
				t.Errorf("isUnsupported(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}

// TestCredentialsNeverShown checks that a password in the URI appears in no
// error, log line or metric, whether the URI is invalid or the server is
// unreachable.
func TestCredentialsNeverShown(t *testing.T) {
	const password = "s3cret-pw"
	t.Run("invalid uri", func(t *testing.T) {
		_, err := New(testTarget("main", "mongodb://lookout:"+password+"@127.0.0.1:27017/?connectTimeoutMS=x", time.Minute, time.Second), nil)
		if err == nil {
			t.Fatal("New accepted an invalid URI")
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("error shows the password: %v", err)
		}
	})
	t.Run("unreachable server", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		logs := &syncBuffer{}
		c := newTestCollector(t, "mongodb://lookout:"+password+"@"+addr+"/?authSource=admin", logs)
		c.cfg.Timeout = config.Duration(300 * time.Millisecond)
		c.collectOnce(t.Context(), connect(t, c))
		if err := testutil.CollectAndCompare(c, strings.NewReader(wantDownOnly), "mongodb_up"); err != nil {
			t.Error(err)
		}
		text := metricsText(t, c) + logs.String()
		if !strings.Contains(logs.String(), "collector failed") {
			t.Errorf("no failure logged:\n%s", logs)
		}
		if strings.Contains(text, password) {
			t.Errorf("metrics or logs show the password:\n%s", text)
		}
	})
}

// TestRun checks that Run collects at once, keeps the snapshot and returns
// when its context ends.
func TestRun(t *testing.T) {
	srv := ferretdbtest.Start(t)
	c := newTestCollector(t, srv.URI, &syncBuffer{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	deadline := time.Now().Add(10 * time.Second)
	for testutil.CollectAndCount(c, "mongodb_up") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no pass completed in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return 10 s after its context ended")
	}
}
