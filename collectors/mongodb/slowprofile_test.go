package mongodb

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
	"github.com/lookout-dev/lookout/config"
)

// profileBatches are the entries of testdata/profile-mongodb-7.0.json.
type profileBatches struct {
	BeforeWatching []bson.Raw `bson:"beforeWatching"`
	Batch1         []bson.Raw `bson:"batch1"`
	Batch2         []bson.Raw `bson:"batch2"`
}

func loadProfile(t *testing.T) profileBatches {
	t.Helper()
	data, err := os.ReadFile("testdata/profile-mongodb-7.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var b profileBatches
	if err := bson.UnmarshalExtJSON(data, false, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// insertProfile writes entries into db.system.profile, which FerretDB
// allows (on MongoDB only the profiler writes it). FerretDB refuses field
// names that start with '$' or hold a '.', which MongoDB's profiler writes
// in commands ($db, $match, "customer.email"): those are stored as '＄'
// and '․' (U+FF04, U+2024). Examples are therefore checked from the
// recorded entries themselves, in TestProfileOpRecorded.
func insertProfile(t *testing.T, client *mongo.Client, db string, entries ...bson.Raw) {
	t.Helper()
	if len(entries) == 0 {
		return
	}
	docs := make([]any, len(entries))
	for i, e := range entries {
		var d bson.D
		if err := bson.Unmarshal(e, &d); err != nil {
			t.Fatal(err)
		}
		docs[i] = ferretDBKeys(d)
	}
	if _, err := client.Database(db).Collection("system.profile").InsertMany(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
}

// ferretDBKeys renames the field names that FerretDB refuses.
func ferretDBKeys(v any) any {
	switch x := v.(type) {
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			k := e.Key
			if rest, ok := strings.CutPrefix(k, "$"); ok {
				k = "＄" + rest
			}
			out[i] = bson.E{Key: strings.ReplaceAll(k, ".", "․"), Value: ferretDBKeys(e.Value)}
		}
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = ferretDBKeys(e)
		}
		return out
	}
	return v
}

func newProfileSlowQueries() *slowQueries {
	return newSlowQueries(config.MongoDB{Name: "main", SlowQueries: config.SlowQueries{
		Source: config.SlowSourceProfile, Threshold: config.Duration(100 * time.Millisecond)}}, nil)
}

const (
	wantProfileBatch1 = `
lookout_mongodb_slow_query_bad_entries_total{source="profile",target="main"} 1
mongodb_slow_queries_total{collection="orders",database="shop",op="find",plan="COLLSCAN",target="main"} 2
mongodb_slow_queries_total{collection="orders",database="shop",op="aggregate",plan="IXSCAN",target="main"} 1
mongodb_slow_queries_total{collection="customers",database="shop",op="update",plan="IXSCAN",target="main"} 1
mongodb_slow_queries_total{collection="sessions",database="shop",op="delete",plan="COLLSCAN",target="main"} 1
mongodb_collscan_queries_total{collection="orders",database="shop",target="main"} 2
mongodb_collscan_queries_total{collection="sessions",database="shop",target="main"} 1
mongodb_slow_query_docs_examined_total{collection="orders",database="shop",op="find",plan="COLLSCAN",target="main"} 100010
mongodb_slow_query_docs_examined_total{collection="orders",database="shop",op="aggregate",plan="IXSCAN",target="main"} 90412
mongodb_slow_query_docs_examined_total{collection="customers",database="shop",op="update",plan="IXSCAN",target="main"} 1
mongodb_slow_query_docs_examined_total{collection="sessions",database="shop",op="delete",plan="COLLSCAN",target="main"} 52114
mongodb_slow_query_docs_returned_total{collection="orders",database="shop",op="find",plan="COLLSCAN",target="main"} 10
mongodb_slow_query_docs_returned_total{collection="orders",database="shop",op="aggregate",plan="IXSCAN",target="main"} 101
mongodb_slow_query_docs_returned_total{collection="customers",database="shop",op="update",plan="IXSCAN",target="main"} 0
mongodb_slow_query_docs_returned_total{collection="sessions",database="shop",op="delete",plan="COLLSCAN",target="main"} 0
`
	wantProfileBatch2 = `
lookout_mongodb_slow_query_bad_entries_total{source="profile",target="main"} 1
mongodb_slow_queries_total{collection="orders",database="shop",op="find",plan="COLLSCAN",target="main"} 2
mongodb_slow_queries_total{collection="orders",database="shop",op="aggregate",plan="IXSCAN",target="main"} 1
mongodb_slow_queries_total{collection="customers",database="shop",op="update",plan="IXSCAN",target="main"} 1
mongodb_slow_queries_total{collection="sessions",database="shop",op="delete",plan="COLLSCAN",target="main"} 1
mongodb_slow_queries_total{collection="orders",database="shop",op="getMore",plan="COLLSCAN",target="main"} 1
mongodb_slow_queries_total{collection="orders",database="shop",op="count",plan="COUNT_SCAN",target="main"} 1
mongodb_slow_queries_total{collection="audit",database="shop",op="insert",plan="none",target="main"} 1
mongodb_collscan_queries_total{collection="orders",database="shop",target="main"} 3
mongodb_collscan_queries_total{collection="sessions",database="shop",target="main"} 1
mongodb_slow_query_docs_examined_total{collection="orders",database="shop",op="find",plan="COLLSCAN",target="main"} 100010
mongodb_slow_query_docs_examined_total{collection="orders",database="shop",op="aggregate",plan="IXSCAN",target="main"} 90412
mongodb_slow_query_docs_examined_total{collection="customers",database="shop",op="update",plan="IXSCAN",target="main"} 1
mongodb_slow_query_docs_examined_total{collection="sessions",database="shop",op="delete",plan="COLLSCAN",target="main"} 52114
mongodb_slow_query_docs_examined_total{collection="orders",database="shop",op="getMore",plan="COLLSCAN",target="main"} 30000
mongodb_slow_query_docs_examined_total{collection="orders",database="shop",op="count",plan="COUNT_SCAN",target="main"} 0
mongodb_slow_query_docs_examined_total{collection="audit",database="shop",op="insert",plan="none",target="main"} 0
mongodb_slow_query_docs_returned_total{collection="orders",database="shop",op="find",plan="COLLSCAN",target="main"} 10
mongodb_slow_query_docs_returned_total{collection="orders",database="shop",op="aggregate",plan="IXSCAN",target="main"} 101
mongodb_slow_query_docs_returned_total{collection="customers",database="shop",op="update",plan="IXSCAN",target="main"} 0
mongodb_slow_query_docs_returned_total{collection="sessions",database="shop",op="delete",plan="COLLSCAN",target="main"} 0
mongodb_slow_query_docs_returned_total{collection="orders",database="shop",op="getMore",plan="COLLSCAN",target="main"} 1000
mongodb_slow_query_docs_returned_total{collection="orders",database="shop",op="count",plan="COUNT_SCAN",target="main"} 0
mongodb_slow_query_docs_returned_total{collection="audit",database="shop",op="insert",plan="none",target="main"} 0
`
)

// TestSlowQueriesProfileOnFerretDB seeds shop.system.profile of a real
// FerretDB with recorded-style MongoDB 7.0 entries, in batches between
// passes, several of them sharing one ts, and checks that each entry is
// counted once, from when Lookout started watching.
func TestSlowQueriesProfileOnFerretDB(t *testing.T) {
	srv := ferretdbtest.Start(t)
	client := connect(t, newTestCollector(t, srv.URI, &syncBuffer{}))
	data := loadProfile(t)
	insertProfile(t, client, "shop", data.BeforeWatching...)
	s := newProfileSlowQueries()

	steps := []struct {
		name   string
		insert []bson.Raw
		want   string
	}{
		{"first pass sets the mark", nil, `
lookout_mongodb_slow_query_bad_entries_total{source="profile",target="main"} 0`},
		// One entry at the mark's ts that is new, three sharing a ts, one
		// below the threshold, one with a string docsExamined.
		{"batch 1", data.Batch1, wantProfileBatch1},
		// One entry at the mark's ts again, two sharing a ts.
		{"batch 2", data.Batch2, wantProfileBatch2},
		{"nothing new", nil, wantProfileBatch2},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			insertProfile(t, client, "shop", step.insert...)
			r := runSlowPass(t, s, client)
			if r.err != nil {
				t.Fatalf("collect: %v", r.err)
			}
			if !r.features[featureProfile] {
				t.Errorf("feature %q = false, want true", featureProfile)
			}
			compareLines(t, samples(t, r, slowCounters...), step.want)
		})
	}

	t.Run("top shapes", func(t *testing.T) {
		top := s.Top(3)
		want := []SlowQueryShape{{
			Hash: "7E8F9A0B", HashKind: shapeKeyQueryHash, Database: "shop", Collection: "orders", Op: "aggregate",
			Plan: "IXSCAN", PlanSummary: "IXSCAN { status: 1 }", Count: 1, TotalSeconds: 2.6, MaxSeconds: 2.6,
			DocsExamined: 90412, DocsReturned: 101, ExaminedPerReturned: 90412.0 / 101,
			FirstSeen: profileTS(250), LastSeen: profileTS(250),
		}, {
			Hash: "811451DD", HashKind: shapeKeyQueryHash, Database: "shop", Collection: "orders", Op: "find",
			Plan: "COLLSCAN", PlanSummary: "COLLSCAN", Count: 2, TotalSeconds: 0.42, MaxSeconds: 0.3,
			DocsExamined: 100010, DocsReturned: 10, ExaminedPerReturned: 10001,
			FirstSeen: profileTS(100), LastSeen: profileTS(250),
		}, {
			HashKind: shapeKeyCommand, Database: "shop", Collection: "sessions", Op: "delete",
			Plan: "COLLSCAN", PlanSummary: "COLLSCAN", Count: 1, TotalSeconds: 0.35, MaxSeconds: 0.35,
			DocsExamined: 52114, DocsReturned: 0, ExaminedPerReturned: 52114,
			FirstSeen: profileTS(500), LastSeen: profileTS(500),
		}}
		if len(top) != len(want) {
			t.Fatalf("Top(3) gave %d shapes", len(top))
		}
		for i := range want {
			got := top[i]
			got.Example = "" // stored with renamed keys: see insertProfile
			if want[i].HashKind == shapeKeyCommand && len(got.Hash) == 16 {
				want[i].Hash = got.Hash // Lookout's own hash: checked for its length only
			}
			if math.Abs(got.TotalSeconds-want[i].TotalSeconds) < 1e-9 {
				got.TotalSeconds = want[i].TotalSeconds
			}
			if got != want[i] {
				t.Errorf("top[%d]\n got %+v\nwant %+v", i, got, want[i])
			}
		}
		for _, sh := range s.Top(0) {
			if sh.Example == "" {
				t.Errorf("%s shape has no example", sh.Op)
			}
			for _, secret := range []string{"example.", "tok_", "paid", "orders\"", "2024"} {
				if strings.Contains(sh.Example, secret) {
					t.Errorf("example of %s shows %q: %s", sh.Op, secret, sh.Example)
				}
			}
		}
	})
}

// profileTS is the ts of the test's profile entries: 2024-05-01T12:00:00
// and ms milliseconds.
func profileTS(ms int) time.Time {
	return time.Date(2024, 5, 1, 12, 0, 0, ms*1e6, time.UTC)
}

// profileEntry is a find on cap.items that the profiler would record.
func profileEntry(t *testing.T, ms, client int) bson.Raw {
	t.Helper()
	raw, err := bson.Marshal(bson.D{
		{Key: "op", Value: "query"}, {Key: "ns", Value: "cap.items"},
		{Key: "command", Value: bson.D{{Key: "find", Value: "items"}, {Key: "filter", Value: bson.D{{Key: "sku", Value: "A-1"}}}}},
		{Key: "docsExamined", Value: int32(1000)}, {Key: "nreturned", Value: int32(1)},
		{Key: "millis", Value: int32(200)}, {Key: "planSummary", Value: "COLLSCAN"},
		{Key: "ts", Value: bson.NewDateTimeFromTime(profileTS(ms))},
		{Key: "client", Value: "10.0.0." + string(rune('0'+client))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestSlowQueriesProfileCapOnFerretDB reads a profile two entries a pass:
// the cap falls between entries that share a ts, and every entry is still
// counted once. The database has no profile when Lookout starts watching,
// so its profile is read from its first entry.
func TestSlowQueriesProfileCapOnFerretDB(t *testing.T) {
	srv := ferretdbtest.Start(t)
	client := connect(t, newTestCollector(t, srv.URI, &syncBuffer{}))
	if _, err := client.Database("cap").Collection("items").InsertOne(t.Context(), bson.D{{Key: "sku", Value: "A-1"}}); err != nil {
		t.Fatal(err)
	}
	s := newProfileSlowQueries()
	s.profile.maxPerPass = 2

	r := runSlowPass(t, s, client)
	if r.err != nil {
		t.Fatalf("collect: %v", r.err)
	}
	if supported, ok := r.features[featureProfile]; !ok || supported {
		t.Errorf("feature %q = %v (reported %v), want false: no database has a profile", featureProfile, supported, ok)
	}

	insertProfile(t, client, "cap", profileEntry(t, 100, 1), profileEntry(t, 100, 2), profileEntry(t, 100, 3),
		profileEntry(t, 200, 4), profileEntry(t, 200, 5))
	const series = `mongodb_slow_queries_total{collection="items",database="cap",op="find",plan="COLLSCAN",target="main"}`
	for i, want := range []int{2, 4, 5, 5} {
		r := runSlowPass(t, s, client)
		if r.err != nil {
			t.Fatalf("pass %d: %v", i+2, r.err)
		}
		if got, want := samples(t, r, "mongodb_slow_queries_total"), fmt.Sprintf("%s %d", series, want); got != want {
			t.Errorf("pass %d: got %s, want %s", i+2, got, want)
		}
	}
}
