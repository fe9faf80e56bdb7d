package mongodb

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
)

// firstBatch returns the documents of a recorded cursor reply, in relaxed
// Extended JSON (as mongosh prints it).
func firstBatch(t *testing.T, path string) []bson.Raw {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Cursor struct {
			FirstBatch []bson.Raw `bson:"firstBatch"`
		} `bson:"cursor"`
	}
	if err := bson.UnmarshalExtJSON(b, false, &reply); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return reply.Cursor.FirstBatch
}

// recordedOrders is app.orders of a two-member replica set, as MongoDB 7.0
// answers listIndexes, $collStats and $indexStats on each member.
func recordedOrders(t *testing.T) collectionIndexes {
	t.Helper()
	specs, err := decodeIndexSpecs(firstBatch(t, "testdata/listindexes-mongodb-7.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := decodeIndexSizes(firstBatch(t, "testdata/collstats-mongodb-7.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	ci := collectionIndexes{ns: namespace{Database: "app", Collection: "orders"}, specs: specs, sizes: sizes, allMembers: true}
	for _, member := range []string{"mongo-0", "mongo-1"} {
		stats, err := decodeIndexStats(firstBatch(t, "testdata/indexstats-mongodb-7.0-"+member+".json"))
		if err != nil {
			t.Fatal(err)
		}
		ci.stats = append(ci.stats, stats...)
	}
	return ci
}

// TestIndexesFromRecordedReplies runs the recorded replies through the same
// decoding and judging as a pass, and compares the metrics with a golden
// file. At 2026-11-25 12:00 with unused_index_after 168h:
//   - status_1 and email_1 counted no access on either member for over a
//     month: unused (email_1 is also hidden);
//   - customerId_1 was used on the secondary only: not unused, but
//     redundant, a prefix of customerId_1_createdAt_-1;
//   - sku_1 counted nothing, but it is unique (checks on write are not
//     counted), and it was built two days ago: not unused;
//   - email_1 is a prefix of email_1_status_1, which is partial: not
//     redundant; the text index is neither.
func TestIndexesFromRecordedReplies(t *testing.T) {
	p := &pass{target: "t", descs: newDescs(), features: map[string]bool{}}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	addIndexes(p, recordedOrders(t), now, 168*time.Hour)
	want, err := os.Open("testdata/indexes-mongodb-7.0.metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if err := testutil.CollectAndCompare(passCollector{p}, want); err != nil {
		t.Error(err)
	}

	// With a member that did not answer, usage cannot be judged: no
	// mongodb_index_unused, the rest as before.
	partial := recordedOrders(t)
	partial.allMembers = false
	p = &pass{target: "t", descs: newDescs(), features: map[string]bool{}}
	addIndexes(p, partial, now, 168*time.Hour)
	if n := testutil.CollectAndCount(passCollector{p}, "mongodb_index_unused"); n != 0 {
		t.Errorf("%d mongodb_index_unused series with a member missing, want none", n)
	}
	if n := testutil.CollectAndCount(passCollector{p}, "mongodb_index_size_bytes"); n != 8 {
		t.Errorf("%d index sizes with a member missing, want all 8", n)
	}
}

func TestRedundantIndexes(t *testing.T) {
	spec := func(name string, key bson.D, opts ...func(*indexSpec)) indexSpec {
		s := indexSpec{Name: name, Key: key}
		for _, o := range opts {
			o(&s)
		}
		return s
	}
	unique := func(s *indexSpec) { s.Unique = true }
	ttl := func(s *indexSpec) { s.TTL = true }
	hidden := func(s *indexSpec) { s.Hidden = true }
	sparse := func(s *indexSpec) { s.variant = "sparse" }
	a, ab, aDesc := bson.D{{Key: "a", Value: int32(1)}}, bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: int32(1)}}, bson.D{{Key: "a", Value: int32(-1)}}
	tests := []struct {
		name  string
		specs []indexSpec
		want  map[string]string
	}{
		{"prefix of a compound index", []indexSpec{spec("a_1", a), spec("a_1_b_1", ab)}, map[string]string{"a_1": "a_1_b_1"}},
		{"int64 and double key values compare as numbers", []indexSpec{spec("a_1", bson.D{{Key: "a", Value: int64(1)}}), spec("a_1_b_1", bson.D{{Key: "a", Value: 1.0}, {Key: "b", Value: 1.0}})}, map[string]string{"a_1": "a_1_b_1"}},
		{"other direction is not a prefix", []indexSpec{spec("a_-1", aDesc), spec("a_1_b_1", ab)}, map[string]string{}},
		{"a unique index enforces something", []indexSpec{spec("a_1", a, unique), spec("a_1_b_1", ab)}, map[string]string{}},
		{"a TTL index expires documents", []indexSpec{spec("a_1", a, ttl), spec("a_1_b_1", ab)}, map[string]string{}},
		{"a hidden index covers nothing", []indexSpec{spec("a_1", a), spec("a_1_b_1", ab, hidden)}, map[string]string{}},
		{"a hidden prefix is redundant too", []indexSpec{spec("a_1", a, hidden), spec("a_1_b_1", ab)}, map[string]string{"a_1": "a_1_b_1"}},
		{"sparse and not sparse hold other documents", []indexSpec{spec("a_1", a), spec("a_1_b_1", ab, sparse)}, map[string]string{}},
		{"of two copies the later one goes", []indexSpec{spec("first", a), spec("second", a)}, map[string]string{"second": "first"}},
		{"_id is never redundant", []indexSpec{spec("_id_", bson.D{{Key: "_id", Value: int32(1)}}), spec("_id_1_a_1", bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: int32(1)}})}, map[string]string{}},
		{"hashed keys are not compared", []indexSpec{spec("a_hashed", bson.D{{Key: "a", Value: "hashed"}}), spec("a_1_b_1", ab)}, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := redundantIndexes(tc.specs)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("redundantIndexes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnusedIndexes(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	long, short := now.Add(-30*24*time.Hour), now.Add(-time.Hour)
	specs := []indexSpec{{Name: "_id_"}, {Name: "a_1"}}
	st := func(name, host string, ops int64, since time.Time) indexStat {
		return indexStat{Name: name, Host: host, Ops: ops, Since: since}
	}
	tests := []struct {
		name  string
		stats []indexStat
		want  bool // a_1 unused
	}{
		{"no access on both members for long", []indexStat{st("a_1", "m0", 0, long), st("a_1", "m1", 0, long), st("_id_", "m0", 0, long), st("_id_", "m1", 0, long)}, true},
		{"used on one member", []indexStat{st("a_1", "m0", 0, long), st("a_1", "m1", 3, long)}, false},
		{"a member restarted an hour ago", []indexStat{st("a_1", "m0", 0, long), st("a_1", "m1", 0, short)}, false},
		{"a member did not report the index", []indexStat{st("a_1", "m0", 0, long), st("_id_", "m1", 9, long)}, false},
		{"no since", []indexStat{st("a_1", "m0", 0, time.Time{})}, false},
	}
	t.Run("unique and TTL indexes work unread", func(t *testing.T) {
		specs := []indexSpec{{Name: "email_1", Unique: true}, {Name: "expiresAt_1", TTL: true}}
		stats := []indexStat{st("email_1", "m0", 0, long), st("expiresAt_1", "m0", 0, long)}
		if got := unusedIndexes(specs, stats, now, 168*time.Hour); got["email_1"] || got["expiresAt_1"] {
			t.Errorf("unusedIndexes = %v, want neither unused", got)
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := unusedIndexes(specs, tc.stats, now, 168*time.Hour)
			if got["a_1"] != tc.want {
				t.Errorf("a_1 unused = %v, want %v", got["a_1"], tc.want)
			}
			if got["_id_"] {
				t.Error("_id_ reported unused; it can never be dropped")
			}
		})
	}
}

// TestDecodeIndexSpecsTTL: expireAfterSeconds marks a TTL index, whatever
// number type the server wrote it in.
func TestDecodeIndexSpecsTTL(t *testing.T) {
	for _, v := range []any{int32(3600), int64(0), 86400.0} {
		raw := mustMarshal(t, bson.D{{Key: "name", Value: "expiresAt_1"}, {Key: "key", Value: bson.D{{Key: "expiresAt", Value: int32(1)}}}, {Key: "expireAfterSeconds", Value: v}})
		specs, err := decodeIndexSpecs([]bson.Raw{raw, mustMarshal(t, bson.D{{Key: "name", Value: "a_1"}})})
		if err != nil {
			t.Fatal(err)
		}
		if !specs[0].TTL || specs[1].TTL {
			t.Errorf("expireAfterSeconds %T: TTL flags %v, %v; want true, false", v, specs[0].TTL, specs[1].TTL)
		}
	}
}

func TestIndexesBadReplies(t *testing.T) {
	bad := mustMarshal(t, bson.D{{Key: "name", Value: "a_1"}, {Key: "accesses", Value: bson.D{{Key: "ops", Value: "many"}}}})
	if _, err := decodeIndexStats([]bson.Raw{bad}); err == nil || !strings.Contains(err.Error(), "index a_1: accesses.ops is string, want a number") {
		t.Errorf("decodeIndexStats of a string ops: %v", err)
	}
	bad = mustMarshal(t, bson.D{{Key: "storageStats", Value: bson.D{{Key: "indexSizes", Value: bson.D{{Key: "a_1", Value: "big"}}}}}})
	if _, err := decodeIndexSizes([]bson.Raw{bad}); err == nil || !strings.Contains(err.Error(), "indexSizes.a_1 is string, want a number") {
		t.Errorf("decodeIndexSizes of a string size: %v", err)
	}
}

// seedIndexes creates databases, collections and indexes on a real server.
func seedIndexes(t *testing.T, uri string, layout map[string]map[string][]bson.D) {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(t.Context())
	for db, colls := range layout {
		for coll, keys := range colls {
			c := client.Database(db).Collection(coll)
			if _, err := c.InsertOne(t.Context(), bson.D{{Key: "a", Value: 1}, {Key: "b", Value: "x"}}); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if _, err := c.Indexes().CreateOne(t.Context(), mongo.IndexModel{Keys: k}); err != nil {
					t.Fatalf("create index %v on %s.%s: %v", k, db, coll, err)
				}
			}
		}
	}
}

// TestIndexesOnFerretDB: against a real server, the pass reports the size
// of every index of the selected databases, flags prefixes as redundant,
// and reports $indexStats as unsupported rather than failing; with
// max_collections 2, the third collection is left out and counted.
func TestIndexesOnFerretDB(t *testing.T) {
	srv := ferretdbtest.Start(t)
	a, ab, b := bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}, bson.D{{Key: "b", Value: 1}}
	seedIndexes(t, srv.URI, map[string]map[string][]bson.D{
		"app1":  {"orders": {a, ab}, "users": {b}, "zlast": {b}},
		"other": {"logs": {a}},
	})
	cfg := testTarget("main", srv.URI, time.Hour, 10*time.Second)
	cfg.Databases.Include, cfg.MaxCollections = []string{"app*"}, 2
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := connect(t, c)
	p := &pass{target: "main", descs: c.descs, features: map[string]bool{}}
	step := &indexStep{cfg: c.cfg, members: c.members, now: time.Now}
	if err := step.collect(t.Context(), client, p); err != nil {
		t.Fatalf("collect: %v", err)
	}
	if supported, ok := p.features[featureIndexStats]; !ok || supported {
		t.Errorf("feature %s: %v (reported %v), want unsupported", featureIndexStats, supported, ok)
	}
	text := metricsText(t, passCollector{p})
	for _, want := range []string{
		`lookout_mongodb_collections_skipped{target="main"} 1`,
		`mongodb_index_redundant{collection="orders",database="app1",index="a_1",target="main"} 1`,
		`mongodb_index_redundant{collection="orders",database="app1",index="a_1_b_1",target="main"} 0`,
		`mongodb_index_redundant{collection="users",database="app1",index="b_1",target="main"} 0`,
		`mongodb_index_hidden{collection="users",database="app1",index="b_1",target="main"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	if n := strings.Count(text, "\nmongodb_index_size_bytes{"); n != 5 {
		t.Errorf("%d index sizes, want 5 (_id_, a_1, a_1_b_1 of orders; _id_, b_1 of users)\n%s", n, text)
	}
	for _, absent := range []string{`database="other"`, `collection="zlast"`, "mongodb_index_unused", "mongodb_index_accesses_total"} {
		if strings.Contains(text, absent) {
			t.Errorf("metrics have %s, which the pass should leave out", absent)
		}
	}
}
