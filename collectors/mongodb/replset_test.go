package mongodb

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
)

func TestAddReplSetStatus(t *testing.T) {
	tests := []struct {
		name  string
		reply bson.Raw
		want  string
	}{
		{
			// Lag is left out for the down member (its optime is 1970) and
			// the arbiter (it has none).
			name:  "MongoDB 7.0 reply: primary, two secondaries, one down, an arbiter",
			reply: readExtJSON(t, "testdata/replsetgetstatus-mongodb-7.0.json"),
			want:  goldenFile(t, "testdata/replsetgetstatus-mongodb-7.0.metrics"),
		},
		{
			name: "no primary: no lag, and no term when the reply has none",
			reply: mustMarshal(t, bson.D{
				{Key: "set", Value: "rs0"}, {Key: "myState", Value: int32(2)},
				{Key: "members", Value: bson.A{bson.D{
					{Key: "_id", Value: int32(0)}, {Key: "name", Value: "a:27017"},
					{Key: "health", Value: 1.0}, {Key: "state", Value: int32(2)},
					{Key: "stateStr", Value: "SECONDARY"},
					{Key: "optimeDate", Value: bson.DateTime(1795608000000)},
				}}},
			}),
			want: `
# HELP mongodb_replset_member_health 1 when the member is up, 0 when down (replSetGetStatus members.health).
# TYPE mongodb_replset_member_health gauge
mongodb_replset_member_health{member="a:27017",target="t"} 1
# HELP mongodb_replset_member_state 1 for the member's state (replSetGetStatus members.state), 0 for the other states.
# TYPE mongodb_replset_member_state gauge
mongodb_replset_member_state{member="a:27017",state="ARBITER",target="t"} 0
mongodb_replset_member_state{member="a:27017",state="DOWN",target="t"} 0
mongodb_replset_member_state{member="a:27017",state="PRIMARY",target="t"} 0
mongodb_replset_member_state{member="a:27017",state="RECOVERING",target="t"} 0
mongodb_replset_member_state{member="a:27017",state="REMOVED",target="t"} 0
mongodb_replset_member_state{member="a:27017",state="ROLLBACK",target="t"} 0
mongodb_replset_member_state{member="a:27017",state="SECONDARY",target="t"} 1
mongodb_replset_member_state{member="a:27017",state="STARTUP",target="t"} 0
mongodb_replset_member_state{member="a:27017",state="STARTUP2",target="t"} 0
mongodb_replset_member_state{member="a:27017",state="UNKNOWN",target="t"} 0
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &pass{target: "t", descs: newDescs(), features: map[string]bool{}}
			if err := addReplSetStatus(tc.reply, p); err != nil {
				t.Fatal(err)
			}
			if err := testutil.CollectAndCompare(passCollector{p}, strings.NewReader(tc.want),
				"mongodb_replset_member_health", "mongodb_replset_member_replication_lag_seconds",
				"mongodb_replset_term", "mongodb_replset_member_state"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestReplSetMemberStates checks that each member has exactly one state set,
// the one its state number names.
func TestReplSetMemberStates(t *testing.T) {
	p := &pass{target: "t", descs: newDescs(), features: map[string]bool{}}
	if err := addReplSetStatus(readExtJSON(t, "testdata/replsetgetstatus-mongodb-7.0.json"), p); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(passCollector{p}, "mongodb_replset_member_state"); n != 5*10 {
		t.Errorf("mongodb_replset_member_state: %d series, want 5 members × 10 states", n)
	}
}

// TestAddOplogWindow: the window between the first and the last entry
// of a MongoDB 7.0 primary's local.oplog.rs, as find returns them with
// collectOplogWindow's projection.
func TestAddOplogWindow(t *testing.T) {
	var ends struct{ First, Last bson.Raw }
	if err := bson.Unmarshal(readExtJSON(t, "testdata/oplog-ends-mongodb-7.0.json"), &ends); err != nil {
		t.Fatal(err)
	}
	p := &pass{target: "t", descs: newDescs(), features: map[string]bool{}}
	if err := addOplogWindow(ends.First, ends.Last, p); err != nil {
		t.Fatal(err)
	}
	// The daemon's Prometheus test serves this file for the dashboards'
	// queries too.
	if err := testutil.CollectAndCompare(passCollector{p}, strings.NewReader(goldenFile(t, "testdata/oplog-mongodb-7.0.metrics"))); err != nil {
		t.Error(err)
	}
	if !p.features[featureOplog] {
		t.Error("the oplog feature is not reported present")
	}
	if err := addOplogWindow(ends.First, bson.Raw("bad"), p); err == nil {
		t.Error("an entry that is not BSON: no error")
	}
}

// TestReplSetOnFerretDB checks that FerretDB's lack of replSetGetStatus is
// reported as unsupported, not as a failure of the sub-collector.
func TestReplSetOnFerretDB(t *testing.T) {
	srv := ferretdbtest.Start(t)
	c := newTestCollector(t, srv.URI, &syncBuffer{})
	client := connect(t, c)
	p := &pass{target: "main", descs: c.descs, features: map[string]bool{}}
	if err := collectReplSet(t.Context(), client, p); err != nil {
		t.Fatalf("collectReplSet: %v", err)
	}
	if got, ok := p.features[featureReplSetGetStatus]; !ok || got {
		t.Errorf("feature %s: got %v (reported %v), want false", featureReplSetGetStatus, got, ok)
	}
	if len(p.metrics) != 0 {
		t.Errorf("got %d metrics, want none", len(p.metrics))
	}
}
