// Package cluster lets several Lookout replicas share one MongoDB
// database (cluster:): each replica's membership, the leadership lease
// with its fencing epoch, and which live replicas run which probe.
//
// Time comes from the database server, never from the replicas' clocks:
// every heartbeat reads the server's clock (the localTime of its hello
// answer) and stores it as the member's seen; a member is live while the
// server's time is within a lease of its seen, and the leader's lease
// expires at the server time it stored. A replica
// measures its own lease with its monotonic clock from the moment it sent
// the renewal, so a replica paused past its lease (SIGSTOP, a long GC, a
// frozen VM) knows on waking that it no longer leads, before it asks the
// database: Leading says no until a renewal succeeds again.
//
// Each takeover increments the lease's epoch. A leader's writes carry its
// epoch and are refused once another replica holds a higher one (Fence).
//
// Probes are spread by rendezvous hashing (Assign): a probe runs on the
// replicas with the highest hash of (replica, probe), so when a replica
// joins or leaves, only the probes it gains or loses move.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collections of the state database.
const (
	membersCollection = "replicas"
	leasesCollection  = "leases"
	leaderID          = "leader"
)

// Member is a replica as the database last saw it.
type Member struct {
	Replica  string    `bson:"_id" json:"replica"`
	Location string    `bson:"location" json:"location,omitempty"`
	Seen     time.Time `bson:"seen" json:"last_seen"` // server time
	Started  time.Time `bson:"started" json:"started"`
	// Joined is when it last joined, after being gone (server time): it
	// takes probes from half a lease later, once every replica has read
	// it, so all of them move the probes at the same server time.
	Joined time.Time `bson:"joined,omitempty" json:"joined,omitzero"`
	// Leaving is when a stopping member hands its probes over (server
	// time): it runs them until then, the others from then on.
	Leaving time.Time `bson:"leaving,omitempty" json:"leaving,omitzero"`
}

// Lease is the leadership lease.
type Lease struct {
	Holder  string    `bson:"holder" json:"holder"`
	Epoch   int64     `bson:"epoch" json:"epoch"`
	Expires time.Time `bson:"expires" json:"expires"` // server time
}

// Options configure a replica's membership.
type Options struct {
	Replica, Location string
	// Lease is how long a heartbeat keeps a member live and a renewal
	// keeps the leader; replicas renew every third of it.
	Lease time.Duration
	Log   *slog.Logger
}

// Cluster is this replica's view of the cluster, refreshed by Run.
type Cluster struct {
	db   *mongo.Database
	opts Options

	mu sync.Mutex
	// members are the live members at the last refresh, by name.
	members []Member
	// lease is the lease as last read; held is the epoch this replica
	// holds it at, 0 when it holds none.
	lease Lease
	held  int64
	// serverNow is the server's time at the last heartbeat.
	serverNow time.Time
	// leading is until when (monotonic, local) this replica may act as
	// leader: the renewal's send time plus the lease; zero: not leader.
	leading time.Time
	// lastErr is the last refresh's error, nil when it worked.
	lastErr   error
	refreshed time.Time // local, monotonic
	// lastOK is the wall time of the last refresh that worked; changes
	// counts the times the lease's holder or epoch changed.
	lastOK  time.Time
	changes uint64
	// failingSince is when the refreshes started failing (local,
	// monotonic), zero while they work.
	failingSince time.Time
	// attempted is whether a refresh has been tried (it may have failed).
	attempted bool
	// keepUntil: until this server time, after an outage of the
	// database, members seen before it stay live although their
	// heartbeats are old (they could not beat either).
	keepUntil time.Time
}

// New returns the replica's membership in db; Run keeps it.
func New(db *mongo.Database, opts Options) *Cluster {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Cluster{db: db, opts: opts}
}

// Run refreshes membership and the lease every third of a lease until
// ctx ends; then it gives the lease up if it holds it, so another replica
// takes over at once rather than after the lease, and leaves: it names the
// server instant half a lease away at which the others take its probes,
// and returns then (at once when the database does not answer). Keep
// probing until Run returns, so no run falls between the two.
func (c *Cluster) Run(ctx context.Context) error {
	t := time.NewTicker(c.opts.Lease / 3)
	defer t.Stop()
	started := time.Now()
	for {
		rctx, cancel := context.WithTimeout(ctx, c.opts.Lease/3)
		err := c.Refresh(rctx, started)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.opts.Log.Warn("cluster: the state database did not answer; this replica keeps probing", "err", err)
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), c.opts.Lease/3)
			c.resign(rctx)
			wait := c.leave(rctx)
			cancel()
			time.Sleep(wait)
			return nil
		case <-t.C:
		}
	}
}

// Refresh beats this replica's heartbeat, reads the live members and
// renews or takes the lease: one round of Run.
func (c *Cluster) Refresh(ctx context.Context, started time.Time) error {
	sent := time.Now()
	now, err := c.heartbeat(ctx, started)
	if err == nil {
		var members []Member
		if members, err = c.live(ctx, now); err == nil {
			c.mu.Lock()
			if !c.failingSince.IsZero() {
				c.keepUntil = now.Add(c.opts.Lease)
			}
			if now.Before(c.keepUntil) {
				members = union(members, c.members)
			}
			c.members, c.serverNow = members, now
			c.mu.Unlock()
			err = c.elect(ctx, now, sent)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempted = true
	c.lastErr = err
	switch {
	case err == nil:
		c.refreshed, c.lastOK, c.failingSince = sent, time.Now(), time.Time{}
	case c.failingSince.IsZero():
		c.failingSince = sent
	}
	return err
}

// union adds to members those of before that it lacks, sorted by name.
func union(members, before []Member) []Member {
	out := slices.Clone(members)
	for _, m := range before {
		if !slices.ContainsFunc(out, func(x Member) bool { return x.Replica == m.Replica }) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return cmpString(a.Replica, b.Replica) })
	return out
}

// Attempted reports whether a refresh has been tried yet, whether or not
// it reached the database: until then a replica knows nothing of the
// others and runs no probe.
func (c *Cluster) Attempted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempted
}

// Unreachable is how long the state database has failed every refresh
// without a break, 0 while it answers. A replica paused for a while
// (SIGSTOP) counts only the refreshes it tried: it is not unreachable
// until the first one after it wakes fails.
func (c *Cluster) Unreachable() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failingSince.IsZero() {
		return 0
	}
	return time.Since(c.failingSince)
}

// ServerNow is the database server's time now, by its last heartbeat's
// answer and this replica's monotonic clock since; zero before the first.
func (c *Cluster) ServerNow() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.serverNow.IsZero() {
		return time.Time{}
	}
	return c.serverNow.Add(time.Since(c.refreshed))
}

// heartbeat reads the server's time and sets this member's seen to it;
// a member that was gone (or new) joins again, with joined set to it too.
func (c *Cluster) heartbeat(ctx context.Context, started time.Time) (time.Time, error) {
	now, err := ServerTime(ctx, c.db)
	if err == nil {
		coll := c.db.Collection(membersCollection)
		set := bson.D{{Key: "location", Value: c.opts.Location}, {Key: "started", Value: started.UTC()}, {Key: "seen", Value: now}}
		var res *mongo.UpdateResult
		res, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.opts.Replica}, {Key: "seen", Value: bson.D{{Key: "$gt", Value: now.Add(-c.opts.Lease)}}}},
			bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: bson.D{{Key: "leaving", Value: ""}}}})
		if err == nil && res.MatchedCount == 0 {
			c.mu.Lock()
			outage := !c.failingSince.IsZero()
			c.mu.Unlock()
			if !outage {
				// New, restarted, or back from a pause the others
				// counted it out for: it joins again.
				set = append(set, bson.E{Key: "joined", Value: now})
			} // after an outage of the database nobody counted anyone out
			_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.opts.Replica}},
				bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: bson.D{{Key: "leaving", Value: ""}}}}, options.UpdateOne().SetUpsert(true))
		}
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("cluster: heartbeat: %w", err)
	}
	return now, nil
}

// ServerTime is the database server's clock: the localTime of its hello
// answer, to the millisecond.
func ServerTime(ctx context.Context, db *mongo.Database) (time.Time, error) {
	var hello struct {
		LocalTime time.Time `bson:"localTime"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return time.Time{}, fmt.Errorf("hello: %w", err)
	}
	if hello.LocalTime.IsZero() {
		return time.Time{}, errors.New("hello: the server's answer has no localTime")
	}
	return hello.LocalTime.UTC(), nil
}

// live reads the members seen within a lease of now, sorted by name.
func (c *Cluster) live(ctx context.Context, now time.Time) ([]Member, error) {
	cur, err := c.db.Collection(membersCollection).Find(ctx, bson.D{{Key: "seen", Value: bson.D{{Key: "$gt", Value: now.Add(-c.opts.Lease)}}}})
	if err != nil {
		return nil, fmt.Errorf("cluster: read members: %w", err)
	}
	var out []Member
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("cluster: read members: %w", err)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmpString(a.Replica, b.Replica) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// elect renews this replica's lease, or takes it when it expired (by the
// server's time), or creates it when there is none. Each is a conditional
// update, then a read of what it left.
func (c *Cluster) elect(ctx context.Context, now, sent time.Time) error {
	coll := c.db.Collection(leasesCollection)
	id := bson.D{{Key: "_id", Value: leaderID}}
	expires := now.Add(c.opts.Lease)
	c.mu.Lock()
	held, seen := c.held, c.lease.Epoch != 0
	c.mu.Unlock()
	var res *mongo.UpdateResult
	var err error
	claimed := false
	if held != 0 { // renew
		res, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: leaderID}, {Key: "holder", Value: c.opts.Replica}, {Key: "epoch", Value: held}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "expires", Value: expires}}}})
		claimed = err == nil && res.MatchedCount == 1
	}
	if err == nil && !claimed { // take an expired lease over
		res, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: leaderID}, {Key: "expires", Value: bson.D{{Key: "$lt", Value: now}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "holder", Value: c.opts.Replica}, {Key: "expires", Value: expires}}}, {Key: "$inc", Value: bson.D{{Key: "epoch", Value: int64(1)}}}})
		claimed = err == nil && res.ModifiedCount == 1
	}
	if err == nil && !claimed && !seen { // the first lease of the database
		_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: leaderID}, {Key: "holder", Value: c.opts.Replica}, {Key: "epoch", Value: int64(1)}, {Key: "expires", Value: expires}})
		claimed = err == nil
		if mongo.IsDuplicateKeyError(err) {
			err = nil // another replica leads, or this one before a restart: it leads again only by a takeover, with a new epoch
		}
	}
	var got Lease
	if err == nil {
		err = coll.FindOne(ctx, id).Decode(&got)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(err, mongo.ErrNoDocuments) {
		c.lease = Lease{} // deleted: the next round creates it
	}
	if err != nil {
		return fmt.Errorf("cluster: lease: %w", err)
	}
	if claimed && held != got.Epoch && got.Holder == c.opts.Replica {
		c.opts.Log.Info("cluster: this replica leads now", "replica", c.opts.Replica, "epoch", got.Epoch)
	}
	if c.lease.Epoch != 0 && (got.Epoch != c.lease.Epoch || got.Holder != c.lease.Holder) {
		c.changes++
	}
	c.lease, c.held, c.leading = got, 0, time.Time{}
	if claimed && got.Holder == c.opts.Replica {
		c.held, c.leading = got.Epoch, sent.Add(c.opts.Lease)
	}
	return nil
}

// leave marks when this member hands its probes over, half a lease from
// now by the server's time (every replica reads it within a third of a
// lease), and returns how long until then; 0 when the database does not
// take it (the others count this member out a lease after its last
// heartbeat).
func (c *Cluster) leave(ctx context.Context) time.Duration {
	c.mu.Lock()
	now := c.serverNow.Add(time.Since(c.refreshed))
	reachable := c.failingSince.IsZero() && !c.serverNow.IsZero()
	c.mu.Unlock()
	if !reachable {
		return 0
	}
	at := now.Add(c.opts.Lease / 2)
	_, err := c.db.Collection(membersCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: c.opts.Replica}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "leaving", Value: at}}}})
	if err != nil {
		c.opts.Log.Warn("cluster: leave; the others take this replica's probes a lease after its last heartbeat", "err", err)
		return 0
	}
	c.mu.Lock()
	for i := range c.members {
		if c.members[i].Replica == c.opts.Replica {
			c.members[i].Leaving = at
		}
	}
	c.mu.Unlock()
	return c.opts.Lease / 2
}

// resign gives the lease up at once, if this replica holds it.
func (c *Cluster) resign(ctx context.Context) {
	c.mu.Lock()
	held := c.held
	c.held, c.leading = 0, time.Time{}
	c.mu.Unlock()
	if held == 0 {
		return
	}
	_, err := c.db.Collection(leasesCollection).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: leaderID}, {Key: "holder", Value: c.opts.Replica}, {Key: "epoch", Value: held}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "expires", Value: time.Unix(0, 0).UTC()}}}})
	if err != nil {
		c.opts.Log.Warn("cluster: give up the lease; another replica takes it when it expires", "err", err)
	}
}

// Leading reports whether this replica leads now, with its epoch: it
// holds the lease and its last renewal was sent less than a lease ago by
// its own monotonic clock.
func (c *Cluster) Leading() (epoch int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == 0 || !time.Now().Before(c.leading) {
		return 0, false
	}
	return c.held, true
}

// Fence refuses a leader's write of epoch once the lease has moved on:
// ErrDeposed when the stored lease has a higher epoch or another holder.
func (c *Cluster) Fence(ctx context.Context, epoch int64) error {
	var l Lease
	if err := c.db.Collection(leasesCollection).FindOne(ctx, bson.D{{Key: "_id", Value: leaderID}}).Decode(&l); err != nil {
		return fmt.Errorf("cluster: read the lease: %w", err)
	}
	if l.Epoch != epoch || l.Holder != c.opts.Replica {
		return ErrDeposed
	}
	return nil
}

// ErrDeposed is a write or send of a leader that no longer leads.
var ErrDeposed = errors.New("cluster: this replica no longer leads (its lease's epoch has moved on)")

// State is the cluster as this replica saw it at its last refresh.
type State struct {
	Replica   string    `json:"replica"`
	Members   []Member  `json:"replicas"`
	Leader    string    `json:"leader"`
	Epoch     int64     `json:"epoch"`
	Expires   time.Time `json:"lease_expires"`
	ServerNow time.Time `json:"server_time"`
	Error     string    `json:"error,omitempty"`
}

// State is what the last refresh found.
func (c *Cluster) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := State{Replica: c.opts.Replica, Members: slices.Clone(c.members), Leader: c.lease.Holder, Epoch: c.lease.Epoch,
		Expires: c.lease.Expires, ServerNow: c.serverNow}
	if c.lastErr != nil {
		s.Error = c.lastErr.Error()
	}
	return s
}

// Replicas are the names of the members that take probes now, by the
// server's time as this replica estimates it: those live (seen less than
// a lease ago) and joined at least half a lease ago, so every replica
// counts a member in or out at the same server time, one refresh of
// each apart at most. A replica that has never reached the database runs
// alone; one that cannot reach it now, or just could again, keeps the
// members it last saw (their heartbeats are as old as its own).
func (c *Cluster) Replicas() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.members) == 0 {
		return []string{c.opts.Replica}
	}
	now := c.serverNow.Add(time.Since(c.refreshed))
	frozen := !c.failingSince.IsZero() || now.Before(c.keepUntil)
	var names []string
	for _, m := range c.members {
		switch {
		case !frozen && !now.Before(m.Seen.Add(c.opts.Lease)): // gone
		case !m.Joined.IsZero() && now.Before(m.Joined.Add(c.opts.Lease/2)): // joining
		case !m.Leaving.IsZero() && !now.Before(m.Leaving): // left
		default:
			names = append(names, m.Replica)
		}
	}
	slices.Sort(names)
	return names
}

// Assign is the replicas that run a probe wanting n of them (n <= 0: all),
// by rendezvous hashing: those with the highest hash of replica and probe.
func Assign(probe string, replicas []string, n int) []string {
	if n <= 0 || n >= len(replicas) {
		return slices.Clone(replicas)
	}
	type scored struct {
		name  string
		score uint64
	}
	s := make([]scored, len(replicas))
	for i, r := range replicas {
		h := fnv.New64a()
		h.Write([]byte(r))
		h.Write([]byte{0})
		h.Write([]byte(probe))
		s[i] = scored{r, mix(h.Sum64())}
	}
	slices.SortFunc(s, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return cmpString(a.name, b.name)
	})
	out := make([]string, n)
	for i := range out {
		out[i] = s[i].name
	}
	return out
}

// mix spreads FNV's bits (splitmix64's finaliser), which keeps the
// rendezvous scores of similar names from ranking alike.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

var (
	replicasDesc   = prometheus.NewDesc("lookout_cluster_replicas", "Live replicas of the cluster, as this replica last read them from the state database.", nil, nil)
	leaderDesc     = prometheus.NewDesc("lookout_cluster_leader", "1 while this replica leads (holds the lease within its own lease time).", nil, nil)
	epochDesc      = prometheus.NewDesc("lookout_cluster_epoch", "The leadership lease's epoch as last read: it grows by one at each takeover.", nil, nil)
	storeUpDesc    = prometheus.NewDesc("lookout_cluster_store_up", "1 when this replica's last refresh of membership and lease reached the state database.", nil, nil)
	lastOKDesc     = prometheus.NewDesc("lookout_cluster_store_last_success_timestamp_seconds", "When a refresh last reached the state database (this replica's clock).", nil, nil)
	leaderMovesDsc = prometheus.NewDesc("lookout_cluster_leader_changes_total", "Times this replica saw the lease change holder or epoch.", nil, nil)
)

var _ prometheus.Collector = (*Cluster)(nil)

// Describe implements prometheus.Collector.
func (c *Cluster) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{replicasDesc, leaderDesc, epochDesc, storeUpDesc, lastOKDesc, leaderMovesDsc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the cluster as this replica
// saw it at its last refresh.
func (c *Cluster) Collect(ch chan<- prometheus.Metric) {
	_, leading := c.Leading()
	c.mu.Lock()
	defer c.mu.Unlock()
	up, last := 0.0, 0.0
	if c.lastErr == nil && !c.lastOK.IsZero() {
		up = 1
	}
	if !c.lastOK.IsZero() {
		last = float64(c.lastOK.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(replicasDesc, prometheus.GaugeValue, float64(max(len(c.members), 1)))
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, boolValue(leading))
	ch <- prometheus.MustNewConstMetric(epochDesc, prometheus.GaugeValue, float64(c.lease.Epoch))
	ch <- prometheus.MustNewConstMetric(storeUpDesc, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(lastOKDesc, prometheus.GaugeValue, last)
	ch <- prometheus.MustNewConstMetric(leaderMovesDsc, prometheus.CounterValue, float64(c.changes))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
