package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

// clusterEnv is the environment of a replica: its host name and the state
// store's URI, with a password.
func clusterEnv(name string) (string, bool) {
	env := map[string]string{
		"HOSTNAME":          "lookout-0",
		"LOOKOUT_STATE_URI": "mongodb://lookout:st4te-pw@mongo-0.example.net:27017,mongo-1.example.net:27017/?replicaSet=rs0",
		"EMPTY":             "",
	}
	v, ok := env[name]
	return v, ok
}

// TestClusterLoads: the cluster section and each probe's replicas and
// quorum load as the README writes them.
func TestClusterLoads(t *testing.T) {
	const file = "testdata/cluster.yml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(file, data, clusterEnv)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if c == nil {
		t.Fatal("no cluster")
	}
	uri, _ := clusterEnv("LOOKOUT_STATE_URI")
	api, home := cfg.Probes[0], cfg.Probes[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"replica from ${HOSTNAME}", c.Replica, "lookout-0"},
		{"location", c.Location, "eu-west"},
		{"uri from ${LOOKOUT_STATE_URI}", c.MongoDB.URI, uri},
		{"database", c.MongoDB.Database, "lookout"},
		{"lease", c.Lease.Std(), 15 * time.Second},
		{"fail_open_after", c.FailOpenAfter.Std(), 2 * time.Minute},
		{"replicas: 1", api.Replicas, Replicas{N: 1}},
		{"quorum of one replica", api.Quorum, 1},
		{"replicas: all", home.Replicas, Replicas{All: true}},
		{"quorum", home.Quorum, 2},
		{"shown", strings.Contains(home.Shown(), "replicas: all"), true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// TestClusterDefaults: what is not written takes its default, and
// without a cluster section nothing changes.
func TestClusterDefaults(t *testing.T) {
	const probe = "probes:\n  - name: home\n    http: {url: https://www.example.com/}\n"
	tests := []struct {
		name string
		yml  string
		want Cluster
	}{
		{
			name: "replica and uri only",
			yml:  "cluster:\n  replica: ${HOSTNAME}\n  mongodb: {uri: \"${LOOKOUT_STATE_URI}\"}\n" + probe,
			want: Cluster{Replica: "lookout-0", Location: DefaultClusterLocation, Lease: DefaultClusterLease, FailOpenAfter: DefaultFailOpenAfter,
				MongoDB: ClusterStore{Database: DefaultClusterDatabase}},
		},
		{
			name: "a long lease makes fail_open_after twice as long",
			yml:  "cluster:\n  replica: lookout-1\n  mongodb: {uri: \"${LOOKOUT_STATE_URI}\"}\n  lease: 90s\n" + probe,
			want: Cluster{Replica: "lookout-1", Lease: Duration(90 * time.Second), FailOpenAfter: Duration(3 * time.Minute),
				MongoDB: ClusterStore{Database: DefaultClusterDatabase}},
		},
		{
			name: "an empty location is none",
			yml:  "cluster:\n  replica: lookout-2\n  location: ${EMPTY}\n  mongodb: {uri: \"${LOOKOUT_STATE_URI}\", database: lookout_state}\n" + probe,
			want: Cluster{Replica: "lookout-2", Lease: DefaultClusterLease, FailOpenAfter: DefaultFailOpenAfter,
				MongoDB: ClusterStore{Database: "lookout_state"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("lookout.yml", []byte(tt.yml), clusterEnv)
			if err != nil {
				t.Fatal(err)
			}
			got := *cfg.Cluster
			got.MongoDB.URI = ""
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if p := cfg.Probes[0]; p.Replicas != (Replicas{N: DefaultReplicas}) || p.Quorum != DefaultQuorum {
				t.Errorf("probe: replicas %v, quorum %d; want %d and %d", p.Replicas, p.Quorum, DefaultReplicas, DefaultQuorum)
			}
		})
	}
	t.Run("no cluster", func(t *testing.T) {
		cfg, err := Parse("lookout.yml", []byte(probe+"  - name: api\n    replicas: 3\n    quorum: 2\n    http: {url: https://api.example.com/}\n"), clusterEnv)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Cluster != nil {
			t.Errorf("cluster: got %+v, want none", cfg.Cluster)
		}
		if p := cfg.Probes[1]; p.Replicas != (Replicas{N: 3}) || p.Quorum != 2 {
			t.Errorf("replicas and quorum without a cluster: got %v and %d, want 3 and 2", p.Replicas, p.Quorum)
		}
	})
}

// TestClusterErrors: each mistake is told at its field, with what would
// be valid (the cases testdata/invalid-cluster.yml cannot hold together).
func TestClusterErrors(t *testing.T) {
	const uri = "  mongodb: {uri: \"${LOOKOUT_STATE_URI}\"}\n"
	tests := []struct {
		name, yml string
		want      string // the one error, past file:line:col
	}{
		{"replica missing", "cluster:\n" + uri,
			`cluster.replica: missing; want this replica's unique name, like ${HOSTNAME}`},
		{"replica empty once expanded", "cluster:\n  replica: ${EMPTY}\n" + uri,
			`cluster.replica: is empty once ${EMPTY} is expanded; want this replica's unique name, like ${HOSTNAME}`},
		{"replica too long", "cluster:\n  replica: " + strings.Repeat("r", 64) + "\n" + uri,
			`cluster.replica: "` + strings.Repeat("r", 64) + `" is 64 characters long; want at most 63 (it is a label value and a document id)`},
		{"location not ASCII", "cluster:\n  replica: a\n  location: zürich\n" + uri,
			`cluster.location: "zürich" holds 'ü'; want letters, digits, '-', '_' and '.' only (it is a label value and a document id)`},
		{"uri missing", "cluster:\n  replica: a\n  mongodb: {database: lookout}\n",
			`cluster.mongodb.uri: missing; want the state store's mongodb:// or mongodb+srv:// URI, like ${LOOKOUT_STATE_URI}`},
		{"uri option the driver refuses", "cluster:\n  replica: a\n  mongodb: {uri: \"mongodb://lookout:pw@db/?connectTimeoutMS=abc\"}\n",
			`cluster.mongodb.uri: error parsing uri: invalid value for "connectTimeoutMS" (the value is not shown: it may hold a password)`},
		{"database empty", "cluster:\n  replica: a\n  mongodb: {uri: \"${LOOKOUT_STATE_URI}\", database: \"\"}\n",
			`cluster.mongodb.database: is empty; want a database of Lookout's own, like lookout`},
		{"database of MongoDB's own", "cluster:\n  replica: a\n  mongodb: {uri: \"${LOOKOUT_STATE_URI}\", database: Local}\n",
			`cluster.mongodb.database: "Local" is MongoDB's own database (local is not even replicated); want a database of Lookout's own, like lookout`},
		{"database too long", "cluster:\n  replica: a\n  mongodb: {uri: \"${LOOKOUT_STATE_URI}\", database: " + strings.Repeat("d", 64) + "}\n",
			`cluster.mongodb.database: "` + strings.Repeat("d", 64) + `" is 64 bytes long; MongoDB takes fewer than 64; want a database of Lookout's own, like lookout`},
		{"lease too long", "cluster:\n  replica: a\n" + uri + "  lease: 10m\n",
			`cluster.lease: 10m0s is not between 2s and 5m0s; want how long membership and leadership hold without renewal, like 15s`},
		{"fail_open_after under twice the lease", "cluster:\n  replica: a\n" + uri + "  lease: 1m\n  fail_open_after: 90s\n",
			`cluster.fail_open_after: 1m30s is less than twice the lease (1m0s); want at least 2m0s, so that a renewal missed once does not make every replica page on its own`},
		{"quorum with replicas: 1", "probes:\n  - name: a\n    replicas: 1\n    quorum: 1\n    tcp: {address: db:5432}\n",
			`probes[0].quorum: is set, but the probe runs on one replica (replicas: 1); want replicas: all or a count above 1 beside a quorum, or no quorum`},
		{"quorum negative", "probes:\n  - name: a\n    replicas: all\n    quorum: -1\n    tcp: {address: db:5432}\n",
			`probes[0].quorum: -1 is below 1; want how many of the replicas running the probe must see it down for it to be down`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("lookout.yml", []byte(tt.yml), clusterEnv)
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			errs, ok := err.(Errors)
			if !ok || len(errs) != 1 {
				t.Fatalf("want one error, got:\n%v", err)
			}
			if got := errs[0].Path + ": " + errs[0].Msg; got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestClusterURIPasswordNeverShown: whatever is wrong with the state
// store's URI, or beside it, no error shows its password, whether written
// in the file or given by ${VAR}.
func TestClusterURIPasswordNeverShown(t *testing.T) {
	const pw = "hunter2"
	env := func(name string) (string, bool) {
		if name == "STATE_PASSWORD" {
			return pw, true
		}
		return clusterEnv(name)
	}
	for _, uri := range []string{
		"postgres://lookout:hunter2@db/lookout",
		"mongodb://lookout:${STATE_PASSWORD}@/lookout",
		"mongodb://lookout:hunter2@db/?connectTimeoutMS=hunter2",
		"mongodb://lookout:hunter2@db/?tls=hunter2",
		"mongodb+srv://lookout:${STATE_PASSWORD}@cluster0.example.net:27017/",
		"mongodb+srv://lookout:hunter2@cluster0.example.net/?tlsCertificateKeyFilePassword=hunter2&tlsCAFile=/nonexistent/hunter2.pem",
		"mongodb://lookout:hunter2@db:port/",
		"mongodb://lookout:hunter2@[::1/",
	} {
		t.Run(uri, func(t *testing.T) {
			yml := "cluster:\n  replica: \"bad name\"\n  mongodb: {uri: \"" + uri + "\", database: admin}\n  lease: 1h\n"
			_, err := Parse("lookout.yml", []byte(yml), env)
			if err == nil {
				t.Fatal("loaded; want errors")
			}
			if !strings.Contains(err.Error(), "cluster.mongodb.uri:") {
				t.Errorf("no error at cluster.mongodb.uri:\n%v", err)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("an error shows the password:\n%v", err)
			}
		})
	}
}

// TestReplicasChangeFingerprint: a reload restarts a probe whose replicas
// or quorum changed.
func TestReplicasChangeFingerprint(t *testing.T) {
	load := func(extra string) Probe {
		t.Helper()
		cfg, err := Parse("lookout.yml", []byte("probes:\n  - name: home\n"+extra+"    http: {url: https://www.example.com/}\n"), clusterEnv)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Probes[0]
	}
	one, all, quorum := load(""), load("    replicas: all\n"), load("    replicas: all\n    quorum: 2\n")
	if one.Fingerprint() == all.Fingerprint() || all.Fingerprint() == quorum.Fingerprint() {
		t.Error("replicas or quorum changed and the fingerprint did not")
	}
}

// TestClusterLocationLabel: with cluster.location every probe carries it
// as its location label, and a probe's own location label is refused,
// named where it is written.
func TestClusterLocationLabel(t *testing.T) {
	const head = "cluster: {replica: a, location: eu-west, mongodb: {uri: \"mongodb://db.example.net/\"}}\nprobes:\n"
	cfg, err := Parse("lookout.yml", []byte(head+"  - {name: api, labels: {team: shop}, http: {url: \"https://api.example.com/\"}}\n  - {name: home, http: {url: \"https://www.example.com/\"}}\n"), clusterEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Probes {
		if p.Labels[LocationLabel] != "eu-west" {
			t.Errorf("%s's labels %v; want location eu-west", p.Name, p.Labels)
		}
	}
	if cfg.Probes[0].Labels["team"] != "shop" {
		t.Errorf("api lost its own label: %v", cfg.Probes[0].Labels)
	}
	_, err = Parse("lookout.yml", []byte(head+"  - {name: api, labels: {location: paris}, http: {url: \"https://api.example.com/\"}}\n"), clusterEnv)
	if err == nil || !strings.Contains(err.Error(), `probes[0].labels.location: "location" is set by cluster.location`) {
		t.Errorf("a probe's own location label beside cluster.location: %v", err)
	}
	noLoc, err := Parse("lookout.yml", []byte("probes:\n  - {name: api, labels: {location: paris}, http: {url: \"https://api.example.com/\"}}\n"), clusterEnv)
	if err != nil || noLoc.Probes[0].Labels[LocationLabel] != "paris" {
		t.Errorf("without a cluster a location label is the probe's own: %v %v", err, noLoc)
	}
}
