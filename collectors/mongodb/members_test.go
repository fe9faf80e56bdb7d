package mongodb

import (
	"os"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestDataMembers: $indexStats is read on the hosts and passives of a
// replica set (not its arbiters), and on no extra member of a standalone.
func TestDataMembers(t *testing.T) {
	b, err := os.ReadFile("testdata/hello-mongodb-7.0-secondary.json")
	if err != nil {
		t.Fatal(err)
	}
	var rs hello
	if err := bson.UnmarshalExtJSON(b, false, &rs); err != nil {
		t.Fatal(err)
	}
	want := []string{"mongo-0.example.net:27017", "mongo-1.example.net:27017", "mongo-2.example.net:27017"}
	if got := rs.dataMembers(); !slices.Equal(got, want) {
		t.Errorf("replica set members = %v, want %v", got, want)
	}
	if got := (hello{Hosts: []string{"a:27017"}}).dataMembers(); got != nil {
		t.Errorf("standalone members = %v, want none", got)
	}
}

// TestMemberOptions: a member's connection is direct to that host, with
// the target's credentials, TLS and timeouts, and one connection.
func TestMemberOptions(t *testing.T) {
	c, err := New(testTarget("rs", "mongodb://lookout:pw@mongo-0.example.net:27017,mongo-1.example.net:27017/?replicaSet=rs0&tls=true&authSource=admin",
		time.Minute, 7*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := c.members.memberOptions("mongo-2.example.net:27017")
	if err := o.Validate(); err != nil {
		t.Fatalf("member options do not validate: %v", err)
	}
	switch {
	case !slices.Equal(o.Hosts, []string{"mongo-2.example.net:27017"}):
		t.Errorf("hosts = %v", o.Hosts)
	case o.Direct == nil || !*o.Direct:
		t.Error("not a direct connection")
	case o.Auth == nil || o.Auth.Username != "lookout" || o.Auth.AuthSource != "admin":
		t.Errorf("credentials not carried over: %+v", o.Auth)
	case o.TLSConfig == nil:
		t.Error("TLS not carried over")
	case o.ConnectTimeout == nil || *o.ConnectTimeout != 7*time.Second:
		t.Errorf("connect timeout = %v, want the target's 7s", o.ConnectTimeout)
	case o.MaxPoolSize == nil || *o.MaxPoolSize != memberPoolSize:
		t.Errorf("pool size = %v, want %d", o.MaxPoolSize, memberPoolSize)
	}
}
