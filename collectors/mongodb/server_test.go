package mongodb

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// passCollector serves the metrics of a pass, for testutil.
type passCollector struct{ p *pass }

func (c passCollector) Describe(ch chan<- *prometheus.Desc) { c.p.descs.describe(ch) }
func (c passCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.p.metrics {
		ch <- m
	}
}

// readExtJSON reads a recorded reply in MongoDB Extended JSON as BSON, the
// form the driver hands to the decoders.
func readExtJSON(t *testing.T, path string) bson.Raw {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc bson.D
	if err := bson.UnmarshalExtJSON(b, true, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestAddServerStatus(t *testing.T) {
	tests := []struct {
		name     string
		reply    bson.Raw
		features map[string]bool
		want     string
	}{
		{
			name:  "MongoDB 7.0 reply",
			reply: readExtJSON(t, "testdata/serverstatus-mongodb-7.0.json"),
			features: map[string]bool{
				featureUptime: true, featureConnections: true, featureOpcounters: true,
			},
			want: `
# HELP mongodb_connections Incoming connections by state (serverStatus connections).
# TYPE mongodb_connections gauge
mongodb_connections{state="active",target="t"} 7
mongodb_connections{state="available",target="t"} 838818
mongodb_connections{state="current",target="t"} 42
# HELP mongodb_connections_created_total Incoming connections accepted since the server started (serverStatus connections.totalCreated).
# TYPE mongodb_connections_created_total counter
mongodb_connections_created_total{target="t"} 1289
# HELP mongodb_op_counters_total Operations since the server started, by type (serverStatus opcounters).
# TYPE mongodb_op_counters_total counter
mongodb_op_counters_total{target="t",type="command"} 2.345678e+06
mongodb_op_counters_total{target="t",type="delete"} 1234
mongodb_op_counters_total{target="t",type="getmore"} 5678
mongodb_op_counters_total{target="t",type="insert"} 120345
mongodb_op_counters_total{target="t",type="query"} 9.876543e+06
mongodb_op_counters_total{target="t",type="update"} 45678
# HELP mongodb_uptime_seconds Seconds since the server started (serverStatus uptime).
# TYPE mongodb_uptime_seconds gauge
mongodb_uptime_seconds{target="t"} 864123
`,
		},
		{
			name:  "reply without the optional sections",
			reply: mustMarshal(t, bson.D{{Key: "host", Value: "h"}, {Key: "ok", Value: 1.0}}),
			features: map[string]bool{
				featureUptime: false, featureConnections: false, featureOpcounters: false,
			},
			want: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &pass{target: "t", descs: newDescs(), features: map[string]bool{}}
			if err := addServerStatus(tc.reply, p); err != nil {
				t.Fatal(err)
			}
			if err := testutil.CollectAndCompare(passCollector{p}, strings.NewReader(tc.want)); err != nil {
				t.Error(err)
			}
			for f, want := range tc.features {
				if got, ok := p.features[f]; !ok || got != want {
					t.Errorf("feature %s: got %v (reported %v), want %v", f, got, ok, want)
				}
			}
		})
	}
}

func mustMarshal(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	raw, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
