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

// goldenFile reads what Lookout exposes for a recorded reply.
func goldenFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
			// What Lookout exposes for it; the daemon's Prometheus test
			// serves this file for the dashboards' queries too.
			want: goldenFile(t, "testdata/serverstatus-mongodb-7.0.metrics"),
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
