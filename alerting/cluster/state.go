package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/probes/uptime"
)

// Collections of the shared alerting state.
const (
	alertsCollection = "alerts"         // each replica's alerts, as of its last evaluation
	outboxCollection = "outbox"         // the leader's pending deliveries
	groupsCollection = "dispatch_state" // what each alert group last notified
	// heartbeatsCollection has each replica's signals of each heartbeat.
	heartbeatsCollection = "heartbeats"
	// countersCollection has a Sequence's claimed IDs.
	countersCollection = "counters"
	// uptimeCollection has each replica's uptime periods.
	uptimeCollection = "uptime"
)

// Published is what one replica published of its alerts.
type Published struct {
	Replica string    `bson:"_id"`
	Seen    time.Time `bson:"seen"` // server time of the publication
	Data    []byte    `bson:"data"`
}

// Publish stores this replica's alerts (encoded by the caller) with the
// server's time, replacing what it published before.
func (c *Cluster) Publish(ctx context.Context, data []byte) error {
	seen := c.ServerNow()
	if seen.IsZero() {
		return errors.New("cluster: publish alerts: the state database has not answered yet")
	}
	_, err := c.db.Collection(alertsCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: c.opts.Replica}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "seen", Value: seen}, {Key: "data", Value: data}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("cluster: publish alerts: %w", err)
	}
	return nil
}

// AllPublished reads what every replica published, live or not.
func (c *Cluster) AllPublished(ctx context.Context) ([]Published, error) {
	out, err := findAll[Published](ctx, c.db.Collection(alertsCollection))
	if err != nil {
		return nil, fmt.Errorf("cluster: read alerts: %w", err)
	}
	return out, nil
}

// ForgetPublished deletes the publications of replicas last seen before
// t (server time): replicas gone long enough for their probes' new
// owners to have adopted their alerts.
func (c *Cluster) ForgetPublished(ctx context.Context, before time.Time) error {
	_, err := c.db.Collection(alertsCollection).DeleteMany(ctx, bson.D{{Key: "seen", Value: bson.D{{Key: "$lt", Value: before}}}})
	if err != nil {
		return fmt.Errorf("cluster: forget alerts of replicas gone: %w", err)
	}
	return nil
}

// Outbox is the notification outbox's Store in the shared database: the
// leader's pending deliveries and the alert groups' states, so a new
// leader carries on from them.
//
// Without multi-document transactions (FerretDB has none), each delivery
// carries the state of the group that sent it, and the group's own
// document is written after the deliveries; GroupStates takes the newer
// of the two, so the state and the deliveries agree even when a leader
// dies between the writes.
//
// Every write carries the leader's epoch and is fenced: a replica that
// does not hold the lease by its own clock, or whose epoch the stored
// lease has moved past, is refused with notify.ErrFenced. FailOpen tells
// when a replica that does not lead may write anyway (the state database
// has been unreachable for cluster.fail_open_after): the write then fails
// as the database does, and the outbox sends from memory.
type Outbox struct {
	c        *Cluster
	failOpen func() bool
}

var (
	_ notify.Store   = (*Outbox)(nil)
	_ notify.Checker = (*Outbox)(nil)
)

// Outbox returns the cluster's outbox store; failOpen may be nil.
func (c *Cluster) Outbox(failOpen func() bool) *Outbox {
	if failOpen == nil {
		failOpen = func() bool { return false }
	}
	return &Outbox{c: c, failOpen: failOpen}
}

// outboxDoc is one pending delivery.
type outboxDoc struct {
	Key   string    `bson:"_id"`
	Data  []byte    `bson:"data"`
	Epoch int64     `bson:"epoch"`
	At    time.Time `bson:"at"` // the leader's clock; compared within one epoch
	// The sending group's state, as of this delivery.
	StateKey   string `bson:"state_key,omitempty"`
	StateValue []byte `bson:"state_value,omitempty"`
}

// groupDoc is an alert group's state.
type groupDoc struct {
	Key   string    `bson:"_id"`
	Value []byte    `bson:"value"`
	Epoch int64     `bson:"epoch"`
	At    time.Time `bson:"at"`
}

func (o *Outbox) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), o.c.opts.Lease/3)
}

// fence returns the epoch this replica leads at, or notify.ErrFenced.
func (o *Outbox) fence(ctx context.Context) (int64, error) {
	epoch, ok := o.c.Leading()
	if !ok {
		if o.failOpen() {
			return 0, errors.New("cluster: the state database is unreachable; paging fails open")
		}
		return 0, notify.ErrFenced
	}
	if err := o.c.Fence(ctx, epoch); errors.Is(err, ErrDeposed) {
		return 0, notify.ErrFenced
	} else if err != nil {
		return 0, o.unavailable(err)
	}
	return epoch, nil
}

// unavailable is a write the database did not take: the outbox sends from
// memory only when failing open; before, the group tries again later.
func (o *Outbox) unavailable(err error) error {
	if o.failOpen() {
		return err
	}
	return fmt.Errorf("%w (%v)", notify.ErrUnavailable, err)
}

// Put implements notify.Store.
func (o *Outbox) Put(entries []notify.Entry, state *notify.GroupState) ([]bool, error) {
	ctx, cancel := o.ctx()
	defer cancel()
	epoch, err := o.fence(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	added := make([]bool, len(entries))
	for i, e := range entries {
		doc := outboxDoc{Key: e.Key, Data: e.Data, Epoch: epoch, At: now}
		if state != nil {
			doc.StateKey, doc.StateValue = state.Key, state.Value
		}
		_, err := o.c.db.Collection(outboxCollection).InsertOne(ctx, doc)
		switch {
		case mongo.IsDuplicateKeyError(err):
		case err != nil:
			return nil, o.unavailable(fmt.Errorf("cluster: store a notification: %w", err))
		default:
			added[i] = true
		}
	}
	if state == nil {
		return added, nil
	}
	coll := o.c.db.Collection(groupsCollection)
	id := bson.D{{Key: "_id", Value: state.Key}}
	if state.Value == nil {
		_, err = coll.DeleteOne(ctx, id)
	} else {
		_, err = coll.UpdateOne(ctx, id, bson.D{{Key: "$set", Value: groupDoc{Key: state.Key, Value: state.Value, Epoch: epoch, At: now}}},
			options.UpdateOne().SetUpsert(true))
	}
	if err != nil {
		// The deliveries carry the state: GroupStates reads it there.
		return added, fmt.Errorf("cluster: store the state of group %s: %w", state.Key, err)
	}
	return added, nil
}

// Delete implements notify.Store.
func (o *Outbox) Delete(key string) error {
	ctx, cancel := o.ctx()
	defer cancel()
	if _, err := o.c.db.Collection(outboxCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: key}}); err != nil {
		return fmt.Errorf("cluster: remove a notification: %w", err)
	}
	return nil
}

// Load implements notify.Store.
func (o *Outbox) Load() ([]notify.Entry, error) {
	ctx, cancel := o.ctx()
	defer cancel()
	docs, err := findAll[outboxDoc](ctx, o.c.db.Collection(outboxCollection))
	if err != nil {
		return nil, fmt.Errorf("cluster: read the outbox: %w", err)
	}
	out := make([]notify.Entry, len(docs))
	for i, d := range docs {
		out[i] = notify.Entry{Key: d.Key, Data: d.Data}
	}
	return out, nil
}

// GroupStates reads the alert groups' states, by group key: each group's
// document, or the state a pending delivery carries when it is newer.
// An empty state (a group with nothing firing) is left out.
func (o *Outbox) GroupStates(ctx context.Context) (map[string][]byte, error) {
	groups, err := findAll[groupDoc](ctx, o.c.db.Collection(groupsCollection))
	if err != nil {
		return nil, fmt.Errorf("cluster: read the alert groups: %w", err)
	}
	pending, err := findAll[outboxDoc](ctx, o.c.db.Collection(outboxCollection))
	if err != nil {
		return nil, fmt.Errorf("cluster: read the outbox: %w", err)
	}
	newest := map[string]groupDoc{}
	for _, g := range groups {
		newest[g.Key] = g
	}
	for _, p := range pending {
		if p.StateKey == "" {
			continue
		}
		if g, ok := newest[p.StateKey]; !ok || p.Epoch > g.Epoch || p.Epoch == g.Epoch && p.At.After(g.At) {
			newest[p.StateKey] = groupDoc{Key: p.StateKey, Value: p.StateValue, Epoch: p.Epoch, At: p.At}
		}
	}
	out := map[string][]byte{}
	for k, g := range newest {
		if len(g.Value) > 0 {
			out[k] = g.Value
		}
	}
	return out, nil
}

func findAll[T any](ctx context.Context, coll *mongo.Collection) ([]T, error) {
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var out []T
	err = cur.All(ctx, &out)
	return out, err
}

// Bucket is a collection of the shared database as an alerting.Bucket:
// the silences and maintenance windows every replica reads and writes.
// Its writes are not fenced: any replica may take an API call.
func (c *Cluster) Bucket(collection string) alerting.Bucket {
	return bucket{c: c, name: collection}
}

type bucket struct {
	c    *Cluster
	name string
}

// record is one record of a Bucket.
type record struct {
	Key   string `bson:"_id"`
	Value []byte `bson:"value"`
}

func (b bucket) Load() (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.c.opts.Lease/3)
	defer cancel()
	recs, err := findAll[record](ctx, b.c.db.Collection(b.name))
	if err != nil {
		return nil, fmt.Errorf("cluster: read %s: %w", b.name, err)
	}
	out := make(map[string][]byte, len(recs))
	for _, r := range recs {
		out[r.Key] = r.Value
	}
	return out, nil
}

// Write deletes, then stores, one document at a time: without
// transactions a failure part way leaves the earlier ones done, which
// the caller's retry repeats harmlessly.
func (b bucket) Write(put map[string][]byte, del []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), b.c.opts.Lease/3)
	defer cancel()
	coll := b.c.db.Collection(b.name)
	for _, k := range del {
		if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: k}}); err != nil {
			return fmt.Errorf("cluster: write %s: %w", b.name, err)
		}
	}
	for k, v := range put {
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: k}}, bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: v}}}},
			options.UpdateOne().SetUpsert(true))
		if err != nil {
			return fmt.Errorf("cluster: write %s: %w", b.name, err)
		}
	}
	return nil
}

// Records is a collection of the shared database read and written one
// record at a time: Slack's threads and acknowledgements.
func (c *Cluster) Records(collection string) Records {
	return Records{bucket{c: c, name: collection}}
}

// Records reads and writes single records of a collection.
type Records struct{ b bucket }

// Get reads the record under key; ok is false when there is none.
func (r Records) Get(key string) (v []byte, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.b.c.opts.Lease/3)
	defer cancel()
	var rec record
	err = r.b.c.db.Collection(r.b.name).FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&rec)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("cluster: read %s: %w", r.b.name, err)
	}
	return rec.Value, true, nil
}

// Put stores v under key.
func (r Records) Put(key string, v []byte) error { return r.b.Write(map[string][]byte{key: v}, nil) }

// Delete removes the record under key.
func (r Records) Delete(key string) error { return r.b.Write(nil, []string{key}) }

// Heartbeats is where each replica keeps the signals of the heartbeats'
// check-ins it took (heartbeat.Shared): one document per heartbeat and
// replica, merged by the reader.
func (c *Cluster) Heartbeats() Heartbeats { return Heartbeats{c} }

// Heartbeats are the replicas' heartbeat signals.
type Heartbeats struct{ c *Cluster }

type heartbeatDoc struct {
	ID      string `bson:"_id"` // replica, NUL, heartbeat
	Name    string `bson:"name"`
	Replica string `bson:"replica"`
	Value   []byte `bson:"value"`
}

// Save stores this replica's signals of the heartbeat name.
func (h Heartbeats) Save(name string, v []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.c.opts.Lease/3)
	defer cancel()
	doc := heartbeatDoc{ID: h.c.opts.Replica + "\x00" + name, Name: name, Replica: h.c.opts.Replica, Value: v}
	_, err := h.c.db.Collection(heartbeatsCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: doc.ID}},
		bson.D{{Key: "$set", Value: doc}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("cluster: save a check-in: %w", err)
	}
	return nil
}

// Load returns every replica's signals, by heartbeat.
func (h Heartbeats) Load() (map[string][][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.c.opts.Lease/3)
	defer cancel()
	docs, err := findAll[heartbeatDoc](ctx, h.c.db.Collection(heartbeatsCollection))
	if err != nil {
		return nil, fmt.Errorf("cluster: read check-ins: %w", err)
	}
	out := map[string][][]byte{}
	for _, d := range docs {
		out[d.Name] = append(out[d.Name], d.Value)
	}
	return out, nil
}

// Sequence is a bucket of the shared database with IDs: the incidents.
// An ID is claimed by inserting a document under it into the counters
// collection: the unique _id lets one replica have it, and the others
// take the next. (FerretDB's findAndModify is not atomic, so a counter
// incremented with it gave two replicas the same ID.)
func (c *Cluster) Sequence(collection string) Sequence {
	return Sequence{bucket{c: c, name: collection}}
}

// Sequence is a Bucket with IDs.
type Sequence struct{ bucket }

// claim is an ID taken.
type claim struct {
	ID  string `bson:"_id"` // sequence/n
	Seq string `bson:"seq"`
	N   int64  `bson:"n"`
}

// NextID returns an ID above every one claimed before.
func (s Sequence) NextID() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.c.opts.Lease/3)
	defer cancel()
	coll := s.c.db.Collection(countersCollection)
	for range 5 {
		var last claim
		err := coll.FindOne(ctx, bson.D{{Key: "seq", Value: s.name}}, options.FindOne().SetSort(bson.D{{Key: "n", Value: -1}})).Decode(&last)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return 0, fmt.Errorf("cluster: next ID of %s: %w", s.name, err)
		}
		for n := last.N + 1; n <= last.N+10; n++ {
			_, err := coll.InsertOne(ctx, claim{ID: fmt.Sprintf("%s/%d", s.name, n), Seq: s.name, N: n})
			switch {
			case err == nil:
				return uint64(n), nil
			case !mongo.IsDuplicateKeyError(err):
				return 0, fmt.Errorf("cluster: next ID of %s: %w", s.name, err)
			}
		}
	}
	return 0, fmt.Errorf("cluster: next ID of %s: other replicas took every one tried", s.name)
}

// Has reports whether the delivery is still stored (notify.Checker).
func (o *Outbox) Has(key string) (bool, error) {
	ctx, cancel := o.ctx()
	defer cancel()
	n, err := o.c.db.Collection(outboxCollection).CountDocuments(ctx, bson.D{{Key: "_id", Value: key}})
	if err != nil {
		return false, fmt.Errorf("cluster: read the outbox: %w", err)
	}
	return n > 0, nil
}

// Uptime is where each replica keeps the uptime periods it counted
// (uptime.Shared): one document per replica, probe, step and period
// start. Reads are cached for uptimeCacheFor per probe and step, so a
// status page rebuilt every few seconds reads the database about twice a
// minute per probe; a read that fails serves what was read before.
func (c *Cluster) Uptime() *Uptime {
	return &Uptime{c: c, cache: map[string]uptimeCached{}}
}

const uptimeCacheFor = 30 * time.Second

// Uptime are the replicas' uptime periods.
type Uptime struct {
	c *Cluster

	mu    sync.Mutex
	cache map[string]uptimeCached // by probe and step
}

type uptimeCached struct {
	at      time.Time
	periods []uptime.SharedPeriod
}

type uptimeDoc struct {
	ID          string    `bson:"_id"`
	Replica     string    `bson:"replica"`
	Probe       string    `bson:"probe"`
	Step        string    `bson:"step"`
	Start       time.Time `bson:"start"`
	Up          int64     `bson:"up_ms"`
	Degraded    int64     `bson:"degraded_ms"`
	Down        int64     `bson:"down_ms"`
	Maintenance int64     `bson:"maintenance_ms"`
}

// Save stores this replica's periods, in one bulk write.
func (u *Uptime) Save(periods []uptime.SharedPeriod) error {
	ctx, cancel := context.WithTimeout(context.Background(), u.c.opts.Lease)
	defer cancel()
	models := make([]mongo.WriteModel, 0, len(periods))
	for _, p := range periods {
		d := uptimeDoc{
			ID:      fmt.Sprintf("%s\x00%s\x00%c\x00%d", u.c.opts.Replica, p.Probe, p.Step, p.Start.Unix()),
			Replica: u.c.opts.Replica, Probe: p.Probe, Step: string(p.Step), Start: p.Start.UTC(),
			Up: int64(p.Millis.Up), Degraded: int64(p.Millis.Degraded), Down: int64(p.Millis.Down), Maintenance: int64(p.Millis.Maintenance),
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: d.ID}}).
			SetUpdate(bson.D{{Key: "$set", Value: d}}).SetUpsert(true))
	}
	if _, err := u.c.db.Collection(uptimeCollection).BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("cluster: save uptime: %w", err)
	}
	return nil
}

// Load returns the other replicas' periods of probe and step s that
// start in [from, to).
func (u *Uptime) Load(probe string, s uptime.Step, from, to time.Time) ([]uptime.SharedPeriod, error) {
	key := probe + "\x00" + string(s)
	u.mu.Lock()
	cached, ok := u.cache[key]
	u.mu.Unlock()
	if !ok || time.Since(cached.at) > uptimeCacheFor {
		periods, err := u.load(probe, s)
		if err != nil && !ok {
			return nil, err
		}
		if err == nil {
			cached = uptimeCached{at: time.Now(), periods: periods}
			u.mu.Lock()
			u.cache[key] = cached
			u.mu.Unlock()
		}
	}
	var out []uptime.SharedPeriod
	for _, p := range cached.periods {
		if !p.Start.Before(from) && p.Start.Before(to) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (u *Uptime) load(probe string, s uptime.Step) ([]uptime.SharedPeriod, error) {
	ctx, cancel := context.WithTimeout(context.Background(), u.c.opts.Lease/3)
	defer cancel()
	cur, err := u.c.db.Collection(uptimeCollection).Find(ctx, bson.D{
		{Key: "probe", Value: probe}, {Key: "step", Value: string(s)}, {Key: "replica", Value: bson.D{{Key: "$ne", Value: u.c.opts.Replica}}},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: read uptime: %w", err)
	}
	var docs []uptimeDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("cluster: read uptime: %w", err)
	}
	out := make([]uptime.SharedPeriod, len(docs))
	for i, d := range docs {
		out[i] = uptime.SharedPeriod{Probe: d.Probe, Step: s, Period: uptime.Period{Start: d.Start.UTC(), Millis: uptime.Millis{
			Up: uint32(d.Up), Degraded: uint32(d.Degraded), Down: uint32(d.Down), Maintenance: uint32(d.Maintenance)}}}
	}
	return out, nil
}

// Prune deletes every replica's periods of step s that start before
// before.
func (u *Uptime) Prune(s uptime.Step, before time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), u.c.opts.Lease)
	defer cancel()
	_, err := u.c.db.Collection(uptimeCollection).DeleteMany(ctx, bson.D{{Key: "step", Value: string(s)}, {Key: "start", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}})
	if err != nil {
		return fmt.Errorf("cluster: prune uptime: %w", err)
	}
	return nil
}
