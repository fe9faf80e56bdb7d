package mongodb

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestCommandShape checks that a command's shape keeps field names and
// operators and shows none of its values, whether the command comes from
// the log (relaxed Extended JSON) or from the profiler (BSON, here parsed
// from the same text): both must give the same shape.
func TestCommandShape(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string // relaxed Extended JSON, as mongod logs it
		want    string
		wantOp  string
		secrets []string
	}{
		{
			name:    "find with personal data and tokens",
			cmd:     `{"find":"users","filter":{"email":"jane.doe@example.com","apiKey":"sk_live_51HxQz","age":{"$gt":42},"pin":{"$numberLong":"918273"}},"limit":10,"$db":"app"}`,
			want:    `{"find":"?","filter":{"email":"?","apiKey":"?","age":{"$gt":"?"},"pin":"?"},"limit":"?"}`,
			wantOp:  "find",
			secrets: []string{"users", "jane.doe", "example.com", "sk_live", "42", "918273", "10", "app"},
		},
		{
			name:    "arrays of values become one ?",
			cmd:     `{"find":"orders","filter":{"status":{"$in":["paid","shipped","refunded"]},"tags":{"$all":[1,2.5,true,null]}}}`,
			want:    `{"find":"?","filter":{"status":{"$in":["?"]},"tags":{"$all":["?"]}}}`,
			wantOp:  "find",
			secrets: []string{"paid", "shipped", "refunded", "2.5", "true", "null"},
		},
		{
			name:    "dates, ObjectIds, UUIDs, decimals",
			cmd:     `{"find":"events","filter":{"_id":{"$oid":"663226f1c1a2b3c4d5e6f708"},"at":{"$gte":{"$date":"2024-04-01T00:00:00Z"}},"session":{"$uuid":"fa658f9e-9cd6-42d4-b1c8-c9160fabf2a2"},"amount":{"$numberDecimal":"1234.56"}}}`,
			want:    `{"find":"?","filter":{"_id":"?","at":{"$gte":"?"},"session":"?","amount":"?"}}`,
			wantOp:  "find",
			secrets: []string{"663226f1", "2024", "fa658f9e", "1234"},
		},
		{
			name:    "documents in an array keep their distinct shapes",
			cmd:     `{"find":"c","filter":{"$or":[{"a":1},{"a":2},{"b":"x@y.z"},[3,4]]}}`,
			want:    `{"find":"?","filter":{"$or":[{"a":"?"},{"b":"?"},["?"]]}}`,
			wantOp:  "find",
			secrets: []string{"x@y.z", `"1"`, "3", "4"},
		},
		{
			name:    "aggregate: field paths and stages",
			cmd:     `{"aggregate":"orders","pipeline":[{"$match":{"customer":"acme-corp"}},{"$group":{"_id":"$region","total":{"$sum":"$amount"}}},{"$limit":5}],"cursor":{"batchSize":1000}}`,
			want:    `{"aggregate":"?","pipeline":[{"$match":{"customer":"?"}},{"$group":{"_id":"?","total":{"$sum":"?"}}},{"$limit":"?"}],"cursor":{"batchSize":"?"}}`,
			wantOp:  "aggregate",
			secrets: []string{"acme", "region", "amount", "1000"},
		},
		{
			name:    "update statement with booleans",
			cmd:     `{"q":{"email":"jane.doe@example.com"},"u":{"$set":{"apiToken":"tok_4f9b2c7e1a","admin":true,"deletedAt":null}},"multi":false,"upsert":true}`,
			want:    `{"q":{"email":"?"},"u":{"$set":{"apiToken":"?","admin":"?","deletedAt":"?"}},"multi":"?","upsert":"?"}`,
			wantOp:  "q",
			secrets: []string{"jane", "tok_", "true", "false", "null"},
		},
		{
			name:    "regular expressions",
			cmd:     `{"find":"users","filter":{"name":{"$regex":"^Jane Doe","$options":"i"},"email":{"$regularExpression":{"pattern":"@secret\\.org$","options":""}}}}`,
			want:    `{"find":"?","filter":{"name":{"$regex":"?","$options":"?"},"email":"?"}}`,
			wantOp:  "find",
			secrets: []string{"Jane", "secret"},
		},
		{
			name:    "how the command was sent is left out",
			cmd:     `{"find":"users","filter":{},"comment":"ticket 4711 for jane","lsid":{"id":{"$uuid":"0f0b4a1e-83c2-4d8b-b7a3-6a51f6c0e2d4"}},"$clusterTime":{"clusterTime":{"$timestamp":{"t":1714564800,"i":4}},"signature":{"hash":{"$binary":{"base64":"c2VjcmV0LXNpZ25hdHVyZQ==","subType":"0"}},"keyId":{"$numberLong":"7300000000000000001"}}},"readConcern":{"level":"majority"},"$db":"app"}`,
			want:    `{"find":"?","filter":{}}`,
			wantOp:  "find",
			secrets: []string{"4711", "jane", "lsid", "c2VjcmV0", "majority", "1714564800"},
		},
		{
			name:    "getMore",
			cmd:     `{"getMore":7299126532435312456,"collection":"orders","batchSize":1000}`,
			want:    `{"getMore":"?","collection":"?","batchSize":"?"}`,
			wantOp:  "getMore",
			secrets: []string{"7299126532435312456", "orders"},
		},
		{
			name:    "empty array and empty document",
			cmd:     `{"insert":"audit","documents":[{"who":"jane","tags":[],"meta":{}}]}`,
			want:    `{"insert":"?","documents":[{"who":"?","tags":[],"meta":{}}]}`,
			wantOp:  "insert",
			secrets: []string{"jane", "audit"},
		},
		{
			name:    "field names are kept, even odd ones",
			cmd:     `{"update":"c","updates":[{"q":{"a.b<c>":"v1"},"u":{"$inc":{"scores.2024":7}}}]}`,
			want:    `{"update":"?","updates":[{"q":{"a.b\u003cc\u003e":"?"},"u":{"$inc":{"scores.2024":"?"}}}]}`,
			wantOp:  "update",
			secrets: []string{"v1", ":7"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var raw bson.Raw
			if err := bson.UnmarshalExtJSON([]byte(tc.cmd), false, &raw); err != nil {
				t.Fatalf("test command: %v", err)
			}
			fromBSON, opBSON := bsonCommandShape(raw)
			fromJSON, opJSON, err := jsonCommandShape([]byte(tc.cmd))
			if err != nil {
				t.Fatalf("jsonCommandShape: %v", err)
			}
			for _, got := range []struct{ source, shape, op string }{
				{"bson", fromBSON, opBSON}, {"json", fromJSON, opJSON},
			} {
				if got.shape != tc.want {
					t.Errorf("%s shape\n got %s\nwant %s", got.source, got.shape, tc.want)
				}
				if got.op != tc.wantOp {
					t.Errorf("%s command name %q, want %q", got.source, got.op, tc.wantOp)
				}
				for _, s := range tc.secrets {
					if strings.Contains(got.shape, s) {
						t.Errorf("%s shape %s shows %q", got.source, got.shape, s)
					}
				}
			}
		})
	}
}

// TestCommandShapeDepth checks that a deeply nested command is cut at
// maxShapeDepth the same way from both sources, and shows no value.
func TestCommandShapeDepth(t *testing.T) {
	cmd := `{"find":"c","filter":` + strings.Repeat(`{"a":`, 60) + `"deep-secret"` + strings.Repeat("}", 60) + `}`
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON([]byte(cmd), false, &raw); err != nil {
		t.Fatal(err)
	}
	fromBSON, _ := bsonCommandShape(raw)
	fromJSON, _, err := jsonCommandShape([]byte(cmd))
	if err != nil {
		t.Fatal(err)
	}
	if fromBSON != fromJSON {
		t.Errorf("shapes differ:\nbson %s\njson %s", fromBSON, fromJSON)
	}
	if strings.Contains(fromJSON, "deep-secret") || strings.Count(fromJSON, `"a"`) > maxShapeDepth {
		t.Errorf("shape not cut: %s", fromJSON)
	}
}

func TestCommandShapeBadJSON(t *testing.T) {
	for _, cmd := range []string{`[1,2]`, `"find"`, `{"find":`, `{"find":"x"`, `not json`, ``, `null`} {
		t.Run(cmd, func(t *testing.T) {
			if shape, _, err := jsonCommandShape([]byte(cmd)); err == nil {
				t.Errorf("jsonCommandShape(%q) = %q, want an error", cmd, shape)
			}
		})
	}
}
