package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
)

// OutboxOptions tune delivery. Zero values take the defaults.
type OutboxOptions struct {
	// MinBackoff is the wait after the first failed attempt (default
	// 1s); it doubles with each further failure up to MaxBackoff
	// (default 5m), plus up to a fifth as jitter. A *RetryAfterError's
	// wait is taken as it is, even beyond MaxBackoff; no wait goes past
	// the notification's expiry.
	MinBackoff, MaxBackoff time.Duration
	// MaxAge is how long a notification may stay undelivered before it
	// is dropped (default 24h), counted from its enqueueing.
	MaxAge time.Duration
	// SendTimeout bounds one Notify call, in case a notifier ignores its
	// own timeout (default 2m).
	SendTimeout time.Duration
	// WriteFailures hears of every write to the database that failed
	// (nil: each is logged).
	WriteFailures WriteFailures
	// Store, when set, keeps the pending deliveries instead of the bbolt
	// file (which may then be nil): the cluster's shared database.
	Store Store
	// StateBucket is the bucket of the bbolt file where EnqueueWithState
	// keeps group states.
	StateBucket []byte
	// MaySend, when set, is asked before each send of a stored
	// notification. When it says no, the notification leaves this
	// process's queues but stays stored, for the process that may send
	// (the cluster's leader, which loads it with Resume). Notifications
	// the store would not take are sent regardless: paging fails open.
	MaySend func() bool
}

// WriteFailures hears of every write to the outbox's database that
// failed: a full, read-only or failing disk.
type WriteFailures interface {
	WriteFailed(err error)
}

func (o *OutboxOptions) setDefaults() {
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 2 * time.Minute
	}
}

// Outbox is the durable queue of notifications: Enqueue commits a
// notification to bbolt, once for each integration of its receiver, and
// Run delivers. See the package documentation for the guarantees.
//
// Each integration of each receiver (say the receiver oncall's slack) has
// its own worker and its own entry for every notification, so each
// delivers, retries, expires and resumes after a restart on its own: at
// most one notification per integration is in flight, and an integration
// that is down, or a notification waiting for its retry, holds up no
// other. Order between notifications is not guaranteed.
type Outbox struct {
	store   Store
	db      *bbolt.DB // nil with OutboxOptions.Store
	opts    OutboxOptions
	log     *slog.Logger
	metrics *metrics
	queues  map[string][]*queue // by receiver, one per integration, by name; fixed after NewOutbox
	seq     atomic.Uint64
	running atomic.Bool

	mu      sync.Mutex
	pending map[string]bool // keys of the entries in the queues or being sent
	// undeleted are the keys of entries delivered or dropped whose
	// removal from the store failed: Resume removes them rather than
	// send them again.
	undeleted map[string]bool
	// finished are the keys of entries delivered or dropped lately, with
	// when: a Resume whose read of the store came before their removal
	// does not queue them again.
	finished map[string]time.Time
}

// NewOutbox opens the outbox in db (creating its bucket, notify_outbox,
// so db can be shared with other parts) for the given receivers (by name,
// then by integration name: "slack", "sentry", "webhook", "log") and
// loads every pending notification, to be delivered once Run starts.
// Pending notifications for a receiver or an integration not in receivers
// stay in the outbox, undelivered, until they expire on a later start. db
// must stay open until Run has returned.
func NewOutbox(db *bbolt.DB, receivers map[string]map[string]Notifier, opts OutboxOptions, reg prometheus.Registerer, log *slog.Logger) (*Outbox, error) {
	opts.setDefaults()
	if opts.Store == nil {
		if db == nil {
			return nil, errors.New("outbox: no database and no store")
		}
		opts.Store = boltStore{db: db, stateBucket: opts.StateBucket}
	}
	o := &Outbox{store: opts.Store, db: db, opts: opts, log: log, queues: make(map[string][]*queue, len(receivers)), pending: map[string]bool{}, undeleted: map[string]bool{}, finished: map[string]time.Time{}}
	var all []*queue
	for _, name := range slices.Sorted(maps.Keys(receivers)) {
		integrations := receivers[name]
		if len(integrations) == 0 {
			return nil, fmt.Errorf("outbox: receiver %q has no integrations", name)
		}
		for _, in := range slices.Sorted(maps.Keys(integrations)) {
			switch n := integrations[in]; {
			case in == "" || strings.Contains(in, "/"):
				return nil, fmt.Errorf("outbox: receiver %q: integration name %q is empty or has a '/'", name, in)
			case n == nil:
				return nil, fmt.Errorf("outbox: receiver %q: integration %q has no notifier", name, in)
			default:
				q := newQueue(name, in, n)
				o.queues[name] = append(o.queues[name], q)
				all = append(all, q)
			}
		}
	}
	m, err := newMetrics(reg, all)
	if err != nil {
		return nil, err
	}
	o.metrics = m
	if err := o.resume(0); err != nil {
		return nil, err
	}
	return o, nil
}

// queue returns the queue of a receiver's integration, or nil.
func (o *Outbox) queue(receiver, integration string) *queue {
	for _, q := range o.queues[receiver] {
		if q.integration == integration {
			return q
		}
	}
	return nil
}

// Resume queues what the store holds and is not queued yet: in a
// cluster, what the leader could not send while the database was away.
func (o *Outbox) Resume() error { return o.resume(0) }

// ResumeAfter is Resume for a replica that has just taken its cluster's
// lead: what the previous leader left is sent after wait, and only if it
// is still stored then (when the store is a Checker). A leader cut off
// from the database keeps a delivery it made and could not remove, and
// removes it once it can (RetryRemovals); the wait gives it that time.
func (o *Outbox) ResumeAfter(wait time.Duration) error { return o.resume(wait) }

// RetryRemovals removes from the store the deliveries made whose removal
// failed, and reports how many are left.
func (o *Outbox) RetryRemovals() int {
	o.mu.Lock()
	keys := slices.Collect(maps.Keys(o.undeleted))
	o.mu.Unlock()
	left := 0
	for _, k := range keys {
		if err := o.store.Delete(k); err != nil {
			left++
			continue
		}
		o.mu.Lock()
		delete(o.undeleted, k)
		o.mu.Unlock()
	}
	return left
}

// resume queues what the outbox holds, oldest first, due after wait.
func (o *Outbox) resume(wait time.Duration) error {
	o.mu.Lock()
	for k, at := range o.finished {
		if time.Since(at) > time.Minute {
			delete(o.finished, k)
		}
	}
	o.mu.Unlock()
	entries, err := o.store.Load()
	if err != nil {
		return fmt.Errorf("outbox: load: %w", err)
	}
	recs, bad := decodeAll(entries)
	for _, key := range bad {
		o.log.Error("outbox: dropping an entry that cannot be decoded or is not under its key", "key", key)
		if err := o.store.Delete(key); err != nil {
			return fmt.Errorf("outbox: drop undecodable %q: %w", key, err)
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].EnqueuedAt.Before(recs[j].EnqueuedAt) })
	now := time.Now()
	for _, rec := range recs {
		n := &rec.Notification
		key := entryKey(n)
		o.mu.Lock()
		done := o.undeleted[key]
		_, finished := o.finished[key]
		o.mu.Unlock()
		if finished && !done {
			continue // delivered after the store was read
		}
		if done {
			if err := o.store.Delete(key); err == nil {
				o.mu.Lock()
				delete(o.undeleted, key)
				o.mu.Unlock()
			}
			continue
		}
		q := o.queue(n.Receiver, n.Integration)
		switch {
		case q != nil:
			e := o.newEntry(key, rec, now)
			e.due, e.resumed = now.Add(wait), wait > 0
			o.push(q, e)
		case now.Sub(rec.EnqueuedAt) >= o.opts.MaxAge:
			o.log.Warn("outbox: dropping an expired notification for a receiver or integration no longer configured",
				"receiver", n.Receiver, "integration", n.Integration, "id", n.ID, "age", now.Sub(rec.EnqueuedAt).Round(time.Second))
			if err := o.store.Delete(key); err != nil {
				return fmt.Errorf("outbox: drop expired %q: %w", key, err)
			}
		default:
			o.metrics.pending.Inc()
			o.log.Warn("outbox: keeping a notification for a receiver or integration no longer configured until it expires",
				"receiver", n.Receiver, "integration", n.Integration, "id", n.ID)
		}
	}
	return nil
}

func (o *Outbox) newEntry(key string, rec *record, now time.Time) *entry {
	return &entry{key: key, n: &rec.Notification, enqueued: rec.EnqueuedAt, due: now, seq: o.seq.Add(1)}
}

// push queues a new pending entry, unless one with its key is pending.
func (o *Outbox) push(q *queue, e *entry) {
	o.mu.Lock()
	dup := o.pending[e.key]
	o.pending[e.key] = true
	o.mu.Unlock()
	if !dup {
		o.metrics.pending.Inc()
		q.push(e)
	}
}

// writeFailed reports a write to the database that failed.
func (o *Outbox) writeFailed(err error) {
	if o.opts.WriteFailures != nil {
		o.opts.WriteFailures.WriteFailed(err)
		return
	}
	o.log.Error("outbox: write to storage failed", "err", err)
}

// Enqueue commits n to the outbox, once for each integration of
// n.Receiver, and Run will deliver it to every integration. Each
// integration's Notifier gets its own copy of n with Integration set
// (what the caller set there is ignored). An integration for which n's ID
// is already pending is left as it is. Enqueue keeps its own copies of n.
//
// When the database will not take n (a full, read-only or failing disk),
// paging fails open: n is delivered from memory all the same, with its
// retries, but is lost if the process ends before it is delivered. The
// failure goes to OutboxOptions.WriteFailures and Enqueue returns nil.
func (o *Outbox) Enqueue(n *alerting.Notification) error {
	return o.EnqueueWith(n, nil)
}

// EnqueueWithState is Enqueue that also stores the state of the group
// that sent n (under key, deleted when value is nil) in the same write:
// OutboxOptions.StateBucket of the bbolt file, or the Store's.
func (o *Outbox) EnqueueWithState(n *alerting.Notification, key string, value []byte) error {
	return o.enqueue(n, &GroupState{Key: key, Value: value}, nil)
}

// EnqueueWith is Enqueue that also runs also in the same bbolt
// transaction, so what the caller writes there (such as the state of the
// alert group that sent n) commits together with n's entries for every
// integration, or none of it does. also runs even when n's ID is already
// pending. When the transaction fails, whether the database or also
// failed it, n is delivered from memory as Enqueue says, and what also
// wrote is lost.
func (o *Outbox) EnqueueWith(n *alerting.Notification, also func(tx *bbolt.Tx) error) error {
	if o.db == nil && also != nil {
		return errors.New("outbox: EnqueueWith needs the bbolt file")
	}
	return o.enqueue(n, nil, also)
}

func (o *Outbox) enqueue(n *alerting.Notification, state *GroupState, also func(tx *bbolt.Tx) error) error {
	if n.ID == "" {
		return errors.New("outbox: enqueue: notification has no id")
	}
	qs, ok := o.queues[n.Receiver]
	if !ok {
		return fmt.Errorf("outbox: enqueue %s: no receiver named %q", n.ID, n.Receiver)
	}
	now := time.Now()
	items, recs, err := encode(n, qs, now)
	if err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", n.ID, err)
	}
	var added []bool
	if also != nil {
		added, err = put(o.db, items, also)
	} else {
		added, err = o.store.Put(items, state)
	}
	if errors.Is(err, ErrFenced) || errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("outbox: enqueue %s: %w", n.ID, err)
	}
	if err != nil {
		o.writeFailed(fmt.Errorf("outbox: enqueue %s: %w", n.ID, err))
		o.enqueueInMemory(qs, items, recs, now)
		return nil
	}
	for i, q := range qs {
		if added[i] {
			o.push(q, o.newEntry(items[i].Key, recs[i], now))
		}
	}
	return nil
}

// enqueueInMemory queues for delivery what the database would not take,
// for each integration whose entry is not already pending (see push).
func (o *Outbox) enqueueInMemory(qs []*queue, items []Entry, recs []*record, now time.Time) {
	for i, q := range qs {
		e := o.newEntry(items[i].Key, recs[i], now)
		e.memoryOnly = true
		o.push(q, e)
	}
}

// encode makes n's record for each of the queues' integrations, and
// decodes it again: what is sent is decoded from what was stored, so a
// send after a restart is the same as one before.
func encode(n *alerting.Notification, qs []*queue, now time.Time) ([]Entry, []*record, error) {
	items := make([]Entry, len(qs))
	recs := make([]*record, len(qs))
	for i, q := range qs {
		c := *n
		c.Integration = q.integration
		data, err := json.Marshal(record{Notification: c, EnqueuedAt: now})
		if err != nil {
			return nil, nil, err
		}
		if recs[i], err = decode(data); err != nil {
			return nil, nil, err
		}
		items[i] = Entry{Key: entryKey(&c), Data: data}
	}
	return items, recs, nil
}

// Run delivers pending and newly enqueued notifications, one worker per
// integration, until ctx is done, and returns once every worker has
// ended. Sends in flight then are
// cancelled and their notifications stay pending in the outbox.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("outbox: already running")
	}
	defer o.running.Store(false)
	var wg sync.WaitGroup
	for _, qs := range o.queues {
		for _, q := range qs {
			wg.Go(func() { o.work(ctx, q) })
		}
	}
	wg.Wait()
	return nil
}

// work delivers one integration's notifications as they come due.
func (o *Outbox) work(ctx context.Context, q *queue) {
	for ctx.Err() == nil {
		e, wait := q.take(time.Now())
		if e != nil {
			o.deliver(ctx, q, e)
			continue
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-q.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}
