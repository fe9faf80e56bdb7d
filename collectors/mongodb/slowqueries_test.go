package mongodb

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/lookout-dev/lookout/config"
)

// slowPassResult is what one pass of the slow-query step gave; it is a
// prometheus.Collector of the pass's metrics.
type slowPassResult struct {
	s        *slowQueries
	metrics  []prometheus.Metric
	features map[string]bool
	err      error
}

func (r *slowPassResult) Describe(ch chan<- *prometheus.Desc) { r.s.describe(ch) }

func (r *slowPassResult) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r.metrics {
		ch <- m
	}
}

func runSlowPass(t *testing.T, s *slowQueries, client *mongo.Client) *slowPassResult {
	t.Helper()
	p := &pass{target: "main", features: map[string]bool{}}
	err := s.collect(t.Context(), client, p)
	return &slowPassResult{s: s, metrics: p.metrics, features: p.features, err: err}
}

// samples returns the samples of the named metrics, one a line in the text
// format, without HELP and TYPE lines.
func samples(t *testing.T, c prometheus.Collector, names ...string) string {
	t.Helper()
	var out []string
	for line := range strings.Lines(metricsText(t, c)) {
		name, _, _ := strings.Cut(line, "{")
		if !strings.HasPrefix(line, "#") && slices.Contains(names, strings.TrimSpace(name)) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

// compareLines reports the lines that got and want do not share, in any
// order.
func compareLines(t *testing.T, got, want string) {
	t.Helper()
	lines := func(s string) []string {
		var out []string
		for l := range strings.Lines(s) {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(lines(got), lines(want)) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

var slowCounters = []string{
	"mongodb_slow_queries_total", "mongodb_collscan_queries_total",
	"mongodb_slow_query_docs_examined_total", "mongodb_slow_query_docs_returned_total",
	"lookout_mongodb_slow_query_bad_entries_total",
}

func TestSlowOpName(t *testing.T) {
	tests := []struct {
		command, typ, want string
	}{
		{"find", "command", "find"},
		{"aggregate", "command", "aggregate"},
		{"findandmodify", "command", "findAndModify"},
		{"getMore", "getmore", "getMore"},
		{"q", "update", "update"},
		{"q", "remove", "delete"},
		{"", "query", "find"},
		{"insert", "insert", "insert"},
		{"createIndexes", "command", "command"},
		{"", "", "other"},
		{"mapReduce", "", "other"},
	}
	for _, tc := range tests {
		t.Run(tc.command+"/"+tc.typ, func(t *testing.T) {
			if got := slowOpName(tc.command, tc.typ); got != tc.want {
				t.Errorf("slowOpName(%q, %q) = %q, want %q", tc.command, tc.typ, got, tc.want)
			}
		})
	}
}

func TestSlowPlan(t *testing.T) {
	tests := []struct {
		summary, want string
	}{
		{"COLLSCAN", "COLLSCAN"},
		{"IXSCAN { a: 1 }", "IXSCAN"},
		{"IXSCAN { a: 1 }, IXSCAN { b: 1 }", "IXSCAN"},
		{"IDHACK", "IDHACK"},
		{"EXPRESS_IXSCAN { customerId: 1 }", "EXPRESS_IXSCAN"},
		{"COUNT_SCAN { createdAt: 1 }", "COUNT_SCAN"},
		{"DISTINCT_SCAN { status: 1 }", "DISTINCT_SCAN"},
		{"EOF", "EOF"},
		{"CLUSTERED_IXSCAN", "CLUSTERED_IXSCAN"},
		{"", "none"},
		{"SOMETHING_NEW { a: 1 }", "other"},
		{"collscan", "other"},
	}
	for _, tc := range tests {
		t.Run(tc.summary, func(t *testing.T) {
			if got := slowPlan(tc.summary); got != tc.want {
				t.Errorf("slowPlan(%q) = %q, want %q", tc.summary, got, tc.want)
			}
		})
	}
}

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	tests := []struct {
		name, in string
		ok       func(string) bool
	}{
		{"plain", "orders", func(s string) bool { return s == "orders" }},
		{"invalid utf-8", "ord\xffers", func(s string) bool { return s == "ord\uFFFDers" }},
		{"too long, cut on a rune", long, func(s string) bool {
			return len(s) <= maxLabelBytes && strings.HasPrefix(long, s) && !strings.HasSuffix(s, "\xc3")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := labelValue(tc.in); !tc.ok(got) {
				t.Errorf("labelValue(%q) = %q", tc.in, got)
			}
		})
	}
}

// TestSlowSeriesBound fills the series up to their bound and checks that
// further namespaces fold into collection _other, then database _other,
// and that the fold is logged once.
func TestSlowSeriesBound(t *testing.T) {
	logs := &syncBuffer{}
	s := newSlowQueries(logTarget(),
		slog.New(slog.NewTextHandler(logs, nil)))
	s.series.max, s.series.maxFolded = 3, 1
	add := func(db, coll string) {
		s.add(slowOp{database: db, collection: coll, op: "find", plan: "COLLSCAN", seconds: 0.2, docsExamined: 10})
	}
	add("a", "c1")
	add("a", "c2")
	add("a", "c3") // the third and last series of its own
	add("a", "c4") // folds into a._other, the one folded series allowed
	add("a", "c5") // a._other again
	add("a", "c1") // still its own
	add("b", "c1") // b._other would be a second folded series: _other._other
	add("c", "c1") // _other._other

	r := &slowPassResult{s: s}
	p := &pass{target: "main", features: map[string]bool{}}
	s.mu.Lock()
	s.series.addMetrics(p, s.descs)
	s.mu.Unlock()
	r.metrics = p.metrics
	compareLines(t, samples(t, r, "mongodb_slow_queries_total", "mongodb_collscan_queries_total"), `
mongodb_collscan_queries_total{collection="_other",database="_other",target="main"} 2
mongodb_collscan_queries_total{collection="_other",database="a",target="main"} 2
mongodb_collscan_queries_total{collection="c1",database="a",target="main"} 2
mongodb_collscan_queries_total{collection="c2",database="a",target="main"} 1
mongodb_collscan_queries_total{collection="c3",database="a",target="main"} 1
mongodb_slow_queries_total{collection="_other",database="_other",op="find",plan="COLLSCAN",target="main"} 2
mongodb_slow_queries_total{collection="_other",database="a",op="find",plan="COLLSCAN",target="main"} 2
mongodb_slow_queries_total{collection="c1",database="a",op="find",plan="COLLSCAN",target="main"} 2
mongodb_slow_queries_total{collection="c2",database="a",op="find",plan="COLLSCAN",target="main"} 1
mongodb_slow_queries_total{collection="c3",database="a",op="find",plan="COLLSCAN",target="main"} 1
`)
	if n := strings.Count(logs.String(), "reached their bound"); n != 1 {
		t.Errorf("fold logged %d times, want once:\n%s", n, logs)
	}
}

// TestSlowDurationHistogram checks the buckets of one series.
func TestSlowDurationHistogram(t *testing.T) {
	s := newSlowQueries(logTarget(), nil)
	for _, sec := range []float64{0.25, 0.375, 0.375, 4, 120} {
		s.add(slowOp{database: "shop", collection: "orders", op: "find", plan: "IXSCAN", seconds: sec})
	}
	p := &pass{target: "main", features: map[string]bool{}}
	s.series.addMetrics(p, s.descs)
	const want = `
# HELP mongodb_slow_query_duration_seconds Duration of the slow operations (profiler millis, log durationMillis).
# TYPE mongodb_slow_query_duration_seconds histogram
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="0.1"} 0
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="0.25"} 1
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="0.5"} 3
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="1"} 3
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="2.5"} 3
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="5"} 4
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="10"} 4
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="30"} 4
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="60"} 4
mongodb_slow_query_duration_seconds_bucket{collection="orders",database="shop",op="find",plan="IXSCAN",target="main",le="+Inf"} 5
mongodb_slow_query_duration_seconds_sum{collection="orders",database="shop",op="find",plan="IXSCAN",target="main"} 125
mongodb_slow_query_duration_seconds_count{collection="orders",database="shop",op="find",plan="IXSCAN",target="main"} 5
`
	r := &slowPassResult{s: s, metrics: p.metrics}
	if err := testutil.CollectAndCompare(r, strings.NewReader(want), "mongodb_slow_query_duration_seconds"); err != nil {
		t.Error(err)
	}
}

// TestSlowShapesBound checks that a full shape table evicts the shape with
// the least total time, and how Top orders and cuts.
func TestSlowShapesBound(t *testing.T) {
	s := newSlowQueries(logTarget(), nil)
	s.shapes.max = 3
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	add := func(hash string, sec, examined, returned float64) {
		s.add(slowOp{database: "shop", collection: "orders", op: "find", plan: "COLLSCAN",
			hashKind: shapeKeyQueryHash, hash: hash, seconds: sec, docsExamined: examined, docsReturned: returned, at: at})
		at = at.Add(time.Second)
	}
	add("AAAA0001", 1, 100, 10)
	add("AAAA0002", 0.2, 10, 0)
	add("AAAA0003", 3, 1, 1)
	add("AAAA0001", 2, 300, 20) // AAAA0001: 3 s in all, ties with AAAA0003
	add("AAAA0004", 0.5, 0, 0)  // table full: AAAA0002 (0.2 s) goes

	var hashes []string
	for _, sh := range s.Top(0) {
		hashes = append(hashes, fmt.Sprintf("%s:%g", sh.Hash, sh.TotalSeconds))
	}
	if want := []string{"AAAA0001:3", "AAAA0003:3", "AAAA0004:0.5"}; !slices.Equal(hashes, want) {
		t.Errorf("Top(0) = %v, want %v", hashes, want)
	}
	top := s.Top(1)
	if len(top) != 1 {
		t.Fatalf("Top(1) gave %d shapes", len(top))
	}
	want := SlowQueryShape{
		Hash: "AAAA0001", HashKind: shapeKeyQueryHash, Database: "shop", Collection: "orders", Op: "find",
		Plan: "COLLSCAN", Count: 2, TotalSeconds: 3, MaxSeconds: 2, DocsExamined: 400, DocsReturned: 30,
		ExaminedPerReturned: 400.0 / 30,
		FirstSeen:           time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		LastSeen:            time.Date(2024, 5, 1, 12, 0, 3, 0, time.UTC),
	}
	if top[0] != want {
		t.Errorf("Top(1)[0] =\n%+v\nwant\n%+v", top[0], want)
	}
	if got := s.Top(10)[2]; got.ExaminedPerReturned != 0 || got.DocsReturned != 0 {
		t.Errorf("nothing examined or returned: ratio %v", got.ExaminedPerReturned)
	}
}

// logTarget is a target whose slow queries come from mongod's log, at the
// default threshold.
func logTarget() config.MongoDB {
	return config.MongoDB{Name: "main", SlowQueries: config.SlowQueries{Source: config.SlowSourceLog, Threshold: config.DefaultSlowThreshold}}
}

func TestSlowQueriesUnknownSource(t *testing.T) {
	s := newSlowQueries(config.MongoDB{Name: "main", SlowQueries: config.SlowQueries{Source: "syslog", Threshold: config.DefaultSlowThreshold}}, nil)
	r := runSlowPass(t, s, nil)
	if r.err == nil || !strings.Contains(r.err.Error(), `"syslog"`) {
		t.Errorf("collect = %v, want an error naming the source", r.err)
	}
}
