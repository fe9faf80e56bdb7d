package daemon

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lookout-dev/lookout/alerting/cluster"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// clusterParts are this replica's membership in the cluster (cluster:),
// nil for a single replica.
type clusterParts struct {
	client *mongo.Client
	c      *cluster.Cluster
	cfg    config.Cluster
}

// setupCluster joins the cluster the config names. The connection is
// made lazily: a state database that is down at the start does not stop
// Lookout, which probes every probe meanwhile (it sees itself alone).
func (d *daemon) setupCluster(cfg *config.Config) error {
	if cfg.Cluster == nil {
		return nil
	}
	cc := *cfg.Cluster
	timeout := cc.Lease.Std() / 3
	client, err := mongo.Connect(options.Client().ApplyURI(cc.MongoDB.URI).SetAppName("lookout").
		SetConnectTimeout(timeout).SetServerSelectionTimeout(timeout))
	if err != nil {
		// config checked the URI; the driver's words may quote it.
		return errors.New("cluster.mongodb.uri: the MongoDB driver refused it (its value is not shown)")
	}
	d.cluster = &clusterParts{client: client, cfg: cc,
		c: cluster.New(client.Database(cc.MongoDB.Database), cluster.Options{Replica: cc.Replica, Location: cc.Location, Lease: cc.Lease.Std(), Log: d.log})}
	return nil
}

// runCluster keeps this replica's membership and the lease until ctx
// ends, then hands the probes over and stops them.
func (d *daemon) runCluster(ctx context.Context) error {
	if d.cluster == nil {
		<-ctx.Done()
		return nil
	}
	err := d.cluster.c.Run(ctx) // returns once the probes are handed over
	d.stopProbes()
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.cluster.client.Disconnect(dctx)
	return err
}

// wanted is how many replicas run the probe: 0 for all.
func wanted(pc config.Probe) int {
	if pc.Replicas.All {
		return 0
	}
	return max(pc.Replicas.N, 1)
}

// runsHere reports whether this replica runs the probe now: always for a
// single replica; in a cluster, once it has tried to read the membership,
// when it is among the live replicas the probe is assigned to.
func (d *daemon) runsHere(pc config.Probe) bool {
	if d.cluster == nil {
		return true
	}
	if !d.cluster.c.Attempted() {
		return false // it would run every probe as if alone
	}
	return slices.Contains(cluster.Assign(pc.Name, d.cluster.c.Replicas(), wanted(pc)), d.cluster.cfg.Replica)
}

// runHere reports whether this replica runs the probe now; the first
// time it does after the probe moved here, the probe takes the damping
// its last replica published (clusterAlerts.gained).
func (d *daemon) runHere(r *probes.Runner) bool {
	if !d.runsHere(r.Config()) {
		return false
	}
	if a := d.alerting; a != nil && a.cluster != nil {
		a.cluster.gained(r)
	}
	return true
}

// clusterTask runs its probe only on the replicas it is assigned to; the
// scheduler keeps the probe's phase on every replica, so a probe that
// moves runs at the time it would have.
type clusterTask struct {
	*probes.Runner
	here func(*probes.Runner) bool
}

func (t clusterTask) Run(ctx context.Context) {
	if t.here(t.Runner) {
		t.Runner.Run(ctx)
	}
}

// clusterReplica is a replica as GET /api/v1/cluster shows it.
type clusterReplica struct {
	cluster.Member
	Probes []string `json:"probes"`
}

// handleCluster is GET /api/v1/cluster: the live replicas with their
// location, last seen (by the database server's clock) and the probes
// each runs, and the leader with its epoch, as this replica last saw them;
// {"single_replica": true} without a cluster section.
func (d *daemon) handleCluster(w http.ResponseWriter, _ *http.Request) {
	if d.cluster == nil {
		writeJSON(w, struct {
			Single bool `json:"single_replica"`
		}{true}) // no cluster section: this Lookout runs every probe
		return
	}
	st := d.cluster.c.State()
	names := d.cluster.c.Replicas()
	byName := map[string]*clusterReplica{}
	out := struct {
		cluster.State
		Replicas []*clusterReplica `json:"replicas"`
	}{State: st}
	for _, n := range names {
		r := &clusterReplica{Member: cluster.Member{Replica: n}, Probes: []string{}}
		if i := slices.IndexFunc(st.Members, func(m cluster.Member) bool { return m.Replica == n }); i >= 0 {
			r.Member = st.Members[i]
		}
		byName[n] = r
		out.Replicas = append(out.Replicas, r)
	}
	for _, run := range d.set.list() {
		pc := run.Config()
		for _, n := range cluster.Assign(pc.Name, names, wanted(pc)) {
			byName[n].Probes = append(byName[n].Probes, pc.Name)
		}
	}
	writeJSON(w, out)
}
