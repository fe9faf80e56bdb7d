package mongodb

import (
	"fmt"
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestProfileOpRecorded reads every recorded MongoDB 7.0 profile entry as
// the profile source does, with its commands as MongoDB writes them.
func TestProfileOpRecorded(t *testing.T) {
	data := loadProfile(t)
	entries := append(append(data.BeforeWatching, data.Batch1...), data.Batch2...)
	type want struct {
		ns, op, plan       string
		seconds            float64
		examined, returned float64
		kind, hash         string
		example            string
	}
	wants := []*want{
		{"orders", "find", "COLLSCAN", 0.14, 120400, 12, shapeKeyQueryHash, "5B2C8E11", `{"find":"?","filter":{"status":"?"}}`},
		{"orders", "find", "COLLSCAN", 0.15, 120455, 1, shapeKeyQueryHash, "811451DD", `{"find":"?","filter":{"customer.email":"?"}}`},
		{"orders", "find", "COLLSCAN", 0.2, 120455, 2, shapeKeyQueryHash, "811451DD", `{"find":"?","filter":{"customer.email":"?"}}`},
		{"orders", "find", "COLLSCAN", 0.3, 50000, 10, shapeKeyQueryHash, "811451DD", `{"find":"?","filter":{"customer.email":"?"}}`},
		{"orders", "find", "COLLSCAN", 0.12, 50010, 0, shapeKeyQueryHash, "811451DD", `{"find":"?","filter":{"customer.email":"?"}}`},
		{"customers", "update", "IXSCAN", 0.18, 1, 0, shapeKeyQueryHash, "1A2B3C4D",
			`{"q":{"email":"?"},"u":{"$set":{"apiToken":"?","lastLogin":"?"}},"multi":"?","upsert":"?"}`},
		{"orders", "aggregate", "IXSCAN", 2.6, 90412, 101, shapeKeyQueryHash, "7E8F9A0B",
			`{"aggregate":"?","pipeline":[{"$match":{"status":"?","total":{"$gte":"?"}}},{"$group":{"_id":"?","n":{"$sum":"?"}}}],"cursor":{}}`},
		{"orders", "find", "IDHACK", 0.09, 1, 1, "", "", `{"find":"?","filter":{"_id":"?"}}`},
		nil, // docsExamined is a string
		{"sessions", "delete", "COLLSCAN", 0.35, 52114, 0, "", "", `{"q":{"expiresAt":{"$lt":"?"}},"limit":"?"}`},
		{"orders", "getMore", "COLLSCAN", 0.11, 30000, 1000, shapeKeyQueryHash, "5B2C8E11", `{"getMore":"?","collection":"?","batchSize":"?"}`},
		{"orders", "count", "COUNT_SCAN", 0.14, 0, 0, "", "", `{"count":"?","query":{"createdAt":{"$gte":"?"}}}`},
		{"audit", "insert", "none", 0.105, 0, 0, "", "", `{"insert":"?","documents":[{"_id":"?","who":"?","what":"?","at":"?"}],"ordered":"?"}`},
	}
	if len(entries) != len(wants) {
		t.Fatalf("%d recorded entries, %d expected", len(entries), len(wants))
	}
	for i, e := range entries {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			op, err := profileOp(e)
			w := wants[i]
			if w == nil {
				if err == nil {
					t.Errorf("profileOp read a bad entry: %+v", op)
				}
				return
			}
			if err != nil {
				t.Fatalf("profileOp: %v", err)
			}
			got := want{op.collection, op.op, op.plan, op.seconds, op.docsExamined, op.docsReturned, op.hashKind, op.hash, op.shape}
			if got != *w || op.database != "shop" || op.at.IsZero() {
				t.Errorf("profileOp\n got %+v (database %q, at %v)\nwant %+v", got, op.database, op.at, *w)
			}
		})
	}
}

// TestProfileOpBad checks that entries with fields of the wrong type, or
// that are not BSON, are refused without a panic.
func TestProfileOpBad(t *testing.T) {
	entry := func(fields ...bson.E) bson.Raw {
		d := bson.D{{Key: "op", Value: "query"}, {Key: "ns", Value: "a.b"}, {Key: "millis", Value: int32(150)}}
		for _, f := range fields {
			replaced := false
			for i := range d {
				if d[i].Key == f.Key {
					d[i], replaced = f, true
				}
			}
			if !replaced {
				d = append(d, f)
			}
		}
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tests := []struct {
		name string
		doc  bson.Raw
		ok   bool
	}{
		{"valid", entry(), true},
		{"valid, int64 and double numbers", entry(bson.E{Key: "millis", Value: int64(150)}, bson.E{Key: "nreturned", Value: 2.0}), true},
		{"ns is a number", entry(bson.E{Key: "ns", Value: 12}), false},
		{"no ns", entry(bson.E{Key: "ns", Value: ""}), false},
		{"millis is a string", entry(bson.E{Key: "millis", Value: "150"}), false},
		{"millis is negative", entry(bson.E{Key: "millis", Value: -1}), false},
		{"millis is NaN", entry(bson.E{Key: "millis", Value: math.NaN()}), false},
		{"docsExamined is infinite", entry(bson.E{Key: "docsExamined", Value: math.Inf(1)}), false},
		{"nreturned is a document", entry(bson.E{Key: "nreturned", Value: bson.D{}}), false},
		{"command is a string", entry(bson.E{Key: "command", Value: "find"}), false},
		{"planSummary is an array", entry(bson.E{Key: "planSummary", Value: bson.A{"COLLSCAN"}}), false},
		{"queryHash is a number", entry(bson.E{Key: "queryHash", Value: 811451}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := profileOp(tc.doc); (err == nil) != tc.ok {
				t.Errorf("profileOp: %v, want ok %v", err, tc.ok)
			}
		})
	}
	for _, bad := range []struct {
		name string
		doc  bson.Raw
	}{
		{"truncated", entry()[:10]},
		{"length larger than the bytes", append(bson.Raw{0xff, 0, 0, 0}, entry()[4:]...)},
		{"empty", bson.Raw{}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if op, err := profileOp(bad.doc); err == nil {
				t.Errorf("profileOp read %+v", op)
			}
		})
	}
}
