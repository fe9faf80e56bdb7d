package mongodb

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/lookout-dev/lookout/config"
)

// featureProfile is the feature the slow-query step reports: whether a
// selected database has a readable system.profile.
const featureProfile = "system.profile"

// slowQueries is the slow-query step of one target. Each pass reads the
// slow operations that appeared since the last pass, from the profiler or
// from mongod's log, and adds them to counters and histograms by
// namespace, operation and plan, and to a bounded table of query shapes.
//
// Counting starts when Lookout starts watching: the first pass only finds
// where the profile or the log ends, so the counters are zero after it and
// operations from before Lookout started are never counted.
//
// collect runs on the goroutine that runs passes; Top may run on any
// goroutine at the same time.
type slowQueries struct {
	cfg     config.MongoDB
	log     *slog.Logger
	descs   *slowDescs
	now     func() time.Time
	profile *profileReader // Source "profile"
	tail    *logTail       // Source "log"

	mu     sync.Mutex
	series *slowSeries
	shapes *slowShapes
	bad    float64 // entries and lines skipped because they could not be read
}

// newSlowQueries returns the step for cfg.SlowQueries; it does no I/O. log
// is expected to carry the target already.
func newSlowQueries(cfg config.MongoDB, log *slog.Logger) *slowQueries {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &slowQueries{
		cfg:     cfg,
		log:     log,
		descs:   newSlowDescs(),
		now:     time.Now,
		profile: newProfileReader(cfg.SlowQueries.Threshold.Std()),
		tail:    newLogTail(cfg.SlowQueries.Path, cfg.SlowQueries.Threshold.Std()),
		series:  newSlowSeries(),
		shapes:  newSlowShapes(),
	}
}

// collect reads the new slow operations of one pass and adds every slow
// query metric to p. It fails for a Source other than "profile" or "log":
// the caller adds the step only when slow queries are configured. The
// metrics are added even when reading failed: they hold what was counted.
func (s *slowQueries) collect(ctx context.Context, client *mongo.Client, p *pass) error {
	var err error
	switch s.cfg.SlowQueries.Source {
	case config.SlowSourceProfile:
		err = s.profile.read(ctx, client, s.cfg, p, s)
	case config.SlowSourceLog:
		err = s.tail.read(ctx, p, s)
	default:
		return fmt.Errorf("slow queries: unknown source %q (want %q or %q)",
			s.cfg.SlowQueries.Source, config.SlowSourceProfile, config.SlowSourceLog)
	}
	s.mu.Lock()
	s.series.addMetrics(p, s.descs)
	s.mu.Unlock()
	s.addBadEntries(p)
	return err
}

// addBadEntries adds lookout_mongodb_slow_query_bad_entries_total, at 0
// until an entry is skipped.
func (s *slowQueries) addBadEntries(p *pass) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.metrics = append(p.metrics, prometheus.MustNewConstMetric(s.descs.badEntries,
		prometheus.CounterValue, s.bad, p.target, s.cfg.SlowQueries.Source))
}

// add counts one slow operation: both sources call it.
func (s *slowQueries) add(op slowOp) {
	if op.at.IsZero() {
		op.at = s.now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.series.add(op) {
		s.log.Warn("mongodb: slow query series reached their bound; further collections are counted as _other",
			"bound", maxSlowSeries)
	}
	s.shapes.add(op)
}

// skip counts one profile entry or log line that could not be read.
func (s *slowQueries) skip() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad++
}

// slowSink receives what a source reads: slowQueries is the only one
// outside tests.
type slowSink interface {
	add(op slowOp)
	skip()
}

var _ slowSink = (*slowQueries)(nil)

// Top returns at most k query shapes, those with the most total time first;
// k <= 0 means all of them (at most maxSlowShapes).
func (s *slowQueries) Top(k int) []SlowQueryShape {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shapes.top(k)
}

// describe sends the step's descriptors.
func (s *slowQueries) describe(ch chan<- *prometheus.Desc) {
	s.descs.describe(ch)
}

// slowOp is one slow operation, from a profile entry or a log line: both
// sources fill it the same way and hand it to the same aggregation. Its
// strings are label-safe (valid UTF-8, bounded length) and op and plan come
// from fixed sets.
type slowOp struct {
	database, collection string
	op                   string // slowOpName
	plan                 string // slowPlan
	planSummary          string // as the server wrote it: index key patterns, no values
	seconds              float64
	docsExamined         float64
	docsReturned         float64
	hashKind, hash       string    // the server's shape hash, when it gave one
	shape                string    // the command with every value replaced; "" when unknown
	at                   time.Time // when the server recorded it; zero when unknown
}

// check refuses numbers that would break a counter or the histogram:
// negative, infinite or NaN.
func (op slowOp) check() error {
	for _, x := range []float64{op.seconds, op.docsExamined, op.docsReturned} {
		if !(x >= 0) || math.IsInf(x, 1) {
			return fmt.Errorf("duration or document count %v", x)
		}
	}
	return nil
}

// splitNamespace splits "db.coll" at the first dot: database names cannot
// hold one, collection names can.
func splitNamespace(ns string) (database, collection string) {
	database, collection, _ = strings.Cut(ns, ".")
	return labelValue(database), labelValue(collection)
}

// maxLabelBytes is MongoDB's limit on a namespace; longer values, which
// only a damaged log line could give, are cut.
const maxLabelBytes = 255

// labelValue makes a name read from the server or a log file safe as a
// label value: valid UTF-8 (the client library panics otherwise) and
// bounded.
func labelValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxLabelBytes {
		return s
	}
	cut := maxLabelBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// slowOpName names an operation for the op label, from the command's first
// field name (find, aggregate, ...) or else from the entry's type (the
// profiler's op, the log's attr.type): "query", "remove" and "getmore" are
// how both spell find, delete and getMore. Other commands are "command";
// anything else is "other".
func slowOpName(command, typ string) string {
	switch command {
	case "find", "aggregate", "update", "delete", "insert", "count", "distinct", "getMore", "findAndModify":
		return command
	case "findandmodify":
		return "findAndModify"
	}
	switch typ {
	case "query":
		return "find"
	case "getmore":
		return "getMore"
	case "remove":
		return "delete"
	case "update", "insert", "command":
		return typ
	}
	return "other"
}

// slowPlan names a plan for the plan label: the first word of planSummary
// ("IXSCAN { a: 1 }" is IXSCAN) when it is a stage MongoDB documents, "none"
// when there is no planSummary (inserts, most commands), else "other".
func slowPlan(summary string) string {
	summary = strings.TrimSpace(summary)
	if summary == "" {
		return "none"
	}
	word := summary
	if i := strings.IndexAny(summary, " ,{"); i >= 0 {
		word = summary[:i]
	}
	switch word {
	case "COLLSCAN", "IXSCAN", "IDHACK", "CLUSTERED_IXSCAN", "COUNT", "COUNT_SCAN", "DISTINCT_SCAN", "EOF",
		"EXPRESS_IXSCAN", "EXPRESS_CLUSTERED_IXSCAN", "EXPRESS_UPDATE", "EXPRESS_DELETE",
		"GEO_NEAR_2D", "GEO_NEAR_2DSPHERE", "TEXT_MATCH", "VIRTUAL_SCAN":
		return word
	}
	return "other"
}

// slowDescs are the slow-query step's descriptors. Every label is bounded:
// database and collection by maxSlowSeries (then "_other"), op and plan by
// slowOpName and slowPlan, source by the two sources.
//
// badEntries is the target's own: at 0 from when the target exists (see
// startingMetrics). The series of the other counters are not owned by the
// target but made by an operation's own values (its namespace, op and
// plan), so they cannot exist before the first such operation: they start
// at its count, and increase() misses that first one.
type slowDescs struct {
	queries      *prometheus.Desc
	duration     *prometheus.Desc
	docsExamined *prometheus.Desc
	docsReturned *prometheus.Desc
	collscans    *prometheus.Desc
	badEntries   *prometheus.Desc
}

func newSlowDescs() *slowDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"target"}, labels...), nil)
	}
	series := []string{"database", "collection", "op", "plan"}
	return &slowDescs{
		queries: d("mongodb_slow_queries_total",
			"Slow operations counted since Lookout started watching, by namespace, operation and plan (the first word of planSummary; none when there is none).", series...),
		duration: d("mongodb_slow_query_duration_seconds",
			"Duration of the slow operations (profiler millis, log durationMillis).", series...),
		docsExamined: d("mongodb_slow_query_docs_examined_total",
			"Documents examined by the slow operations (docsExamined).", series...),
		docsReturned: d("mongodb_slow_query_docs_returned_total",
			"Documents returned by the slow operations (nreturned).", series...),
		collscans: d("mongodb_collscan_queries_total",
			"Slow operations whose plan was a collection scan (planSummary COLLSCAN).", "database", "collection"),
		badEntries: d("lookout_mongodb_slow_query_bad_entries_total",
			"Profile entries or log lines that Lookout could not read (not JSON, fields of the wrong type) and skipped.", "source"),
	}
}

func (d *slowDescs) describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{d.queries, d.duration, d.docsExamined, d.docsReturned, d.collscans, d.badEntries} {
		ch <- x
	}
}
