package mongodb

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/config"
)

// Lines of mongod's log, one a string with its newline.
func recordedLog(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("testdata/slowlog-mongodb-7.0.log")
	if err != nil {
		t.Fatal(err)
	}
	return slices.Collect(strings.Lines(string(data)))
}

// MongoDB 8.0 "Slow query" lines: queryShapeHash and planCacheShapeHash,
// queryHash kept beside the latter, an EXPRESS plan.
const slowLog80 = `{"t":{"$date":"2025-01-10T09:30:00.500+00:00"},"s":"I",  "c":"COMMAND",  "id":51803,   "ctx":"conn12","msg":"Slow query","attr":{"type":"command","isFromUserConnection":true,"ns":"shop.orders","collectionType":"normal","appName":"checkout","queryShapeHash":"5A4B1F8C0D2E3F4A5B6C7D8E9F0A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F80","command":{"find":"orders","filter":{"_id":{"$oid":"678000aa1b2c3d4e5f607182"}},"limit":1,"$db":"shop"},"planSummary":"EXPRESS_IXSCAN { _id: 1 }","planningTimeMicros":12,"keysExamined":1,"docsExamined":1,"nBatches":1,"cursorExhausted":true,"numYields":0,"nreturned":1,"planCacheShapeHash":"9F8E7D6C","queryHash":"9F8E7D6C","planCacheKey":"1B2C3D4E","queryFramework":"classic","reslen":412,"locks":{"Global":{"acquireCount":{"r":1}}},"storage":{},"cpuNanos":91000,"remote":"10.0.3.21:51300","protocol":"op_msg","queues":{"execution":{"admissions":1}},"workingMillis":140,"durationMillis":141}}
{"t":{"$date":"2025-01-10T09:30:01.800+00:00"},"s":"I",  "c":"COMMAND",  "id":51803,   "ctx":"conn13","msg":"Slow query","attr":{"type":"command","isFromUserConnection":true,"ns":"shop.orders","collectionType":"normal","appName":"checkout","queryShapeHash":"5A4B1F8C0D2E3F4A5B6C7D8E9F0A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F80","command":{"find":"orders","filter":{"_id":{"$oid":"678000aa1b2c3d4e5f607199"}},"limit":1,"$db":"shop"},"planSummary":"EXPRESS_IXSCAN { _id: 1 }","planningTimeMicros":10,"keysExamined":1,"docsExamined":1,"nBatches":1,"cursorExhausted":true,"numYields":0,"nreturned":1,"planCacheShapeHash":"9F8E7D6C","queryHash":"9F8E7D6C","planCacheKey":"1B2C3D4E","queryFramework":"classic","reslen":412,"locks":{"Global":{"acquireCount":{"r":1}}},"storage":{},"cpuNanos":88000,"remote":"10.0.3.22:51301","protocol":"op_msg","queues":{"execution":{"admissions":1}},"workingMillis":258,"durationMillis":259}}
`

func appendFile(t *testing.T, path string, parts ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(parts, "")); err != nil {
		t.Fatal(err)
	}
}

func newLogSlowQueries(path string) *slowQueries {
	return newSlowQueries(config.MongoDB{Name: "main", SlowQueries: config.SlowQueries{
		Source: config.SlowSourceLog, Path: path, Threshold: config.Duration(100 * time.Millisecond)}}, nil)
}

// TestSlowQueriesLog follows a log file written in steps, as mongod and
// logrotate would, and checks what each pass has counted. Top is called
// from another goroutine all along, as the API would.
func TestSlowQueriesLog(t *testing.T) {
	lines := recordedLog(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "mongod.log")
	// The slow find of lines[2], cut in two: it is being written when
	// Lookout starts, so it is not counted.
	find1, find2 := lines[2][:700], lines[2][700:]
	del1, del2 := lines[9][:500], lines[9][500:]
	appendFile(t, path, lines[0], lines[1], lines[2], find1)
	s := newLogSlowQueries(path)

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				_ = s.Top(3)
			}
		}
	})
	defer func() { close(done); wg.Wait() }()

	const (
		orders   = `collection="orders",database="shop"`
		aggIX    = `mongodb_slow_queries_total{` + orders + `,op="aggregate",plan="IXSCAN",target="main"} 1`
		custUpd  = `mongodb_slow_queries_total{collection="customers",database="shop",op="update",plan="IXSCAN",target="main"} 1`
		cmdUpd   = `mongodb_slow_queries_total{collection="$cmd",database="shop",op="update",plan="none",target="main"} 1`
		sessions = `mongodb_slow_queries_total{collection="sessions",database="shop",op="delete",plan="COLLSCAN",target="main"} 1`
	)
	steps := []struct {
		name    string
		change  func(t *testing.T)
		wantErr string
		want    string
	}{
		{"first pass starts at the end", func(*testing.T) {}, "", `
lookout_mongodb_slow_query_bad_entries_total{source="log",target="main"} 0`},
		{"appended lines", func(t *testing.T) {
			appendFile(t, path, find2, lines[3], lines[4], lines[5], lines[6], lines[7])
		}, "", `
lookout_mongodb_slow_query_bad_entries_total{source="log",target="main"} 0
mongodb_slow_queries_total{` + orders + `,op="find",plan="COLLSCAN",target="main"} 1
` + aggIX + "\n" + custUpd + "\n" + cmdUpd},
		{"a partial line waits", func(t *testing.T) { appendFile(t, path, del1) }, "", `
lookout_mongodb_slow_query_bad_entries_total{source="log",target="main"} 0
mongodb_slow_queries_total{` + orders + `,op="find",plan="COLLSCAN",target="main"} 1
` + aggIX + "\n" + custUpd + "\n" + cmdUpd},
		{"the line completed, a garbage line, one below the threshold", func(t *testing.T) {
			appendFile(t, path, del2, "mongod: this is not JSON {\n", lines[8], lines[10])
		}, "", `
lookout_mongodb_slow_query_bad_entries_total{source="log",target="main"} 1
mongodb_slow_queries_total{` + orders + `,op="find",plan="COLLSCAN",target="main"} 1
` + aggIX + "\n" + custUpd + "\n" + cmdUpd + "\n" + sessions},
		{"rotation by copy and truncate", func(t *testing.T) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines[2])
		}, "", `
lookout_mongodb_slow_query_bad_entries_total{source="log",target="main"} 1
mongodb_slow_queries_total{` + orders + `,op="find",plan="COLLSCAN",target="main"} 2
` + aggIX + "\n" + custUpd + "\n" + cmdUpd + "\n" + sessions},
		{"rotation by rename, new file longer than the offset", func(t *testing.T) {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, slowLog80)
		}, "", `
lookout_mongodb_slow_query_bad_entries_total{source="log",target="main"} 1
mongodb_slow_queries_total{` + orders + `,op="find",plan="COLLSCAN",target="main"} 2
mongodb_slow_queries_total{` + orders + `,op="find",plan="EXPRESS_IXSCAN",target="main"} 2
` + aggIX + "\n" + custUpd + "\n" + cmdUpd + "\n" + sessions},
		{"missing file", func(t *testing.T) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, path, `
lookout_mongodb_slow_query_bad_entries_total{source="log",target="main"} 1
mongodb_slow_queries_total{` + orders + `,op="find",plan="COLLSCAN",target="main"} 2
mongodb_slow_queries_total{` + orders + `,op="find",plan="EXPRESS_IXSCAN",target="main"} 2
` + aggIX + "\n" + custUpd + "\n" + cmdUpd + "\n" + sessions},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.change(t)
			r := runSlowPass(t, s, nil)
			switch {
			case step.wantErr == "" && r.err != nil:
				t.Fatalf("collect: %v", r.err)
			case step.wantErr != "" && (r.err == nil || !strings.Contains(r.err.Error(), step.wantErr)):
				t.Fatalf("collect = %v, want an error naming %s", r.err, step.wantErr)
			}
			if len(r.features) != 0 {
				t.Errorf("the log source reported features %v; an unreadable file is an error, not a feature the server lacks", r.features)
			}
			compareLines(t, samples(t, r, "mongodb_slow_queries_total", "lookout_mongodb_slow_query_bad_entries_total"), step.want)
		})
	}

	t.Run("top shapes", func(t *testing.T) {
		top := s.Top(3)
		if len(top) != 3 {
			t.Fatalf("Top(3) gave %d shapes", len(top))
		}
		want := []struct {
			op, plan, kind, hash string
			count                int64
			total                float64
			example              string
		}{
			{"aggregate", "IXSCAN", shapeKeyQueryHash, "7E8F9A0B", 1, 1.874,
				`{"aggregate":"?","pipeline":[{"$match":{"status":"?","createdAt":{"$gte":"?"}}},{"$group":{"_id":"?","total":{"$sum":"?"}}},{"$sort":{"total":"?"}},{"$limit":"?"}],"cursor":{}}`},
			{"find", "COLLSCAN", shapeKeyQueryHash, "3C4D5E6F", 2, 0.388 + 0.412,
				`{"find":"?","filter":{"customer.email":"?","status":{"$in":["?"]},"total":{"$gt":"?"}},"sort":{"createdAt":"?"},"limit":"?"}`},
			{"find", "EXPRESS_IXSCAN", shapeKeyQueryShapeHash, "5A4B1F8C0D2E3F4A5B6C7D8E9F0A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F80", 2, 0.4,
				`{"find":"?","filter":{"_id":"?"},"limit":"?"}`},
		}
		for i, w := range want {
			got := top[i]
			if got.Op != w.op || got.Plan != w.plan || got.HashKind != w.kind || got.Hash != w.hash ||
				got.Count != w.count || !near(got.TotalSeconds, w.total) || got.Example != w.example {
				t.Errorf("top[%d] = %+v\nwant %+v", i, got, w)
			}
		}
		if f := top[1]; f.DocsExamined != 184220+184233 || f.DocsReturned != 3 || f.MaxSeconds != 0.412 ||
			!f.FirstSeen.Equal(time.Date(2024, 5, 1, 12, 0, 1, 250e6, time.UTC)) ||
			!f.LastSeen.Equal(time.Date(2024, 5, 1, 12, 0, 5, 377e6, time.UTC)) {
			t.Errorf("find shape: %+v", f)
		}
		for _, sh := range s.Top(0) {
			for _, secret := range []string{"jane", "example", "tok_", "663226f1", "2024-", "250.5"} {
				if strings.Contains(sh.Example, secret) {
					t.Errorf("example shows %q: %s", secret, sh.Example)
				}
			}
		}
	})
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestSlowQueriesLogCap reads a log with a small byte cap: the lines come
// over several passes, none twice, and a line longer than the cap is
// skipped and counted once.
func TestSlowQueriesLogCap(t *testing.T) {
	lines := recordedLog(t)
	path := filepath.Join(t.TempDir(), "mongod.log")
	appendFile(t, path)
	s := newLogSlowQueries(path)
	s.tail.maxBytes = 4000 // every recorded line is shorter, two are not
	if r := runSlowPass(t, s, nil); r.err != nil {
		t.Fatal(r.err)
	}
	long := `{"t":{"$date":"2024-05-01T12:00:09.000+00:00"},"s":"I","c":"COMMAND","id":51803,"msg":"Slow query","attr":{"pad":"` +
		strings.Repeat("x", 5000) + `","durationMillis":500}}` + "\n"
	// Six slow lines counted, one long line skipped.
	appendFile(t, path, lines[2], lines[4], long, lines[5], lines[7], lines[9], lines[2])

	var counts []string
	for range 10 {
		r := runSlowPass(t, s, nil)
		if r.err != nil {
			t.Fatal(r.err)
		}
		counts = append(counts, samples(t, r, "mongodb_slow_queries_total", "lookout_mongodb_slow_query_bad_entries_total"))
	}
	if counts[0] == counts[9] {
		t.Errorf("the first pass read everything despite the cap:\n%s", counts[0])
	}
	compareLines(t, counts[9], `
lookout_mongodb_slow_query_bad_entries_total{source="log",target="main"} 1
mongodb_slow_queries_total{collection="orders",database="shop",op="find",plan="COLLSCAN",target="main"} 3
mongodb_slow_queries_total{collection="orders",database="shop",op="aggregate",plan="IXSCAN",target="main"} 1
mongodb_slow_queries_total{collection="customers",database="shop",op="update",plan="IXSCAN",target="main"} 1
mongodb_slow_queries_total{collection="sessions",database="shop",op="delete",plan="COLLSCAN",target="main"} 1`)
}

// TestSlowLogLines checks lines one at a time: what is counted, what is
// skipped as unreadable, and what is ignored.
func TestSlowLogLines(t *testing.T) {
	tests := []struct {
		name       string
		line       string
		added, bad int
	}{
		{"slow query", `{"t":{"$date":"2024-05-01T12:00:00.000+00:00"},"id":51803,"msg":"Slow query","attr":{"ns":"a.b","type":"command","command":{"find":"b"},"durationMillis":150}}`, 1, 0},
		{"below the threshold", `{"id":51803,"msg":"Slow query","attr":{"ns":"a.b","durationMillis":99}}`, 0, 0},
		{"other message", `{"id":22943,"msg":"Connection accepted","attr":{}}`, 0, 0},
		{"blank", `   `, 0, 0},
		{"not JSON", `2024-05-01T12:00:00.000+0000 I COMMAND [conn1] command a.b ... 150ms`, 0, 1},
		{"slow query, not JSON", `{"msg":"Slow query", oops}`, 0, 1},
		{"duration is a string", `{"id":51803,"msg":"Slow query","attr":{"ns":"a.b","durationMillis":"150"}}`, 0, 1},
		{"no duration", `{"id":51803,"msg":"Slow query","attr":{"ns":"a.b"}}`, 0, 1},
		{"negative duration", `{"id":51803,"msg":"Slow query","attr":{"ns":"a.b","durationMillis":-5}}`, 0, 1},
		{"command is not an object", `{"id":51803,"msg":"Slow query","attr":{"ns":"a.b","command":"find","durationMillis":150}}`, 0, 1},
		{"docsExamined is an object", `{"id":51803,"msg":"Slow query","attr":{"ns":"a.b","docsExamined":{"n":1},"durationMillis":150}}`, 0, 1},
		{"namespace with invalid UTF-8", "{\"id\":51803,\"msg\":\"Slow query\",\"attr\":{\"ns\":\"a.b\xff\",\"durationMillis\":150}}", 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recordingSink{}
			newLogTail("", 100*time.Millisecond).parse([]byte(tc.line+"\n"), sink)
			if len(sink.ops) != tc.added || sink.bad != tc.bad {
				t.Errorf("added %d, skipped %d; want %d, %d", len(sink.ops), sink.bad, tc.added, tc.bad)
			}
		})
	}
}

// recordingSink keeps what a source hands over.
type recordingSink struct {
	ops []slowOp
	bad int
}

func (r *recordingSink) add(op slowOp) { r.ops = append(r.ops, op) }
func (r *recordingSink) skip()         { r.bad++ }
