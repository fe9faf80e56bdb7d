package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
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
// notification to bbolt, Run delivers. See the package documentation for
// the guarantees.
//
// Each receiver has one worker, so at most one notification per receiver
// is in flight; a notification waiting for its retry does not hold up the
// others. Order between notifications is not guaranteed.
type Outbox struct {
	db      *bbolt.DB
	opts    OutboxOptions
	log     *slog.Logger
	metrics *metrics
	queues  map[string]*queue // by receiver; fixed after NewOutbox
	seq     atomic.Uint64
	running atomic.Bool
}

// NewOutbox opens the outbox in db (creating its bucket, notify_outbox,
// so db can be shared with other parts) for the given receivers and loads
// every pending notification, to be delivered once Run starts. Pending
// notifications for receivers not in notifiers stay in the outbox,
// undelivered, until they expire on a later start. db must stay open
// until Run has returned.
func NewOutbox(db *bbolt.DB, notifiers map[string]Notifier, opts OutboxOptions, reg prometheus.Registerer, log *slog.Logger) (*Outbox, error) {
	opts.setDefaults()
	o := &Outbox{db: db, opts: opts, log: log, queues: make(map[string]*queue, len(notifiers))}
	names := make([]string, 0, len(notifiers))
	for name, n := range notifiers {
		if n == nil {
			return nil, fmt.Errorf("outbox: receiver %q has no notifier", name)
		}
		o.queues[name] = newQueue(name, n)
		names = append(names, name)
	}
	slices.Sort(names)
	m, err := newMetrics(reg, names)
	if err != nil {
		return nil, err
	}
	o.metrics = m
	if err := o.resume(); err != nil {
		return nil, err
	}
	return o, nil
}

// resume queues what the outbox holds, oldest first.
func (o *Outbox) resume() error {
	recs, bad, err := load(o.db)
	if err != nil {
		return err
	}
	for _, id := range bad {
		o.log.Error("outbox: dropping a notification that cannot be decoded", "id", id)
		if err := del(o.db, id); err != nil {
			return fmt.Errorf("outbox: drop undecodable %q: %w", id, err)
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].EnqueuedAt.Before(recs[j].EnqueuedAt) })
	now := time.Now()
	for _, rec := range recs {
		n := &rec.Notification
		q, ok := o.queues[n.Receiver]
		switch {
		case ok:
			o.metrics.pending.Inc()
			q.push(o.newEntry(rec, now))
		case now.Sub(rec.EnqueuedAt) >= o.opts.MaxAge:
			o.log.Warn("outbox: dropping an expired notification for a receiver no longer configured",
				"receiver", n.Receiver, "id", n.ID, "age", now.Sub(rec.EnqueuedAt).Round(time.Second))
			if err := del(o.db, n.ID); err != nil {
				return fmt.Errorf("outbox: drop expired %q: %w", n.ID, err)
			}
		default:
			o.metrics.pending.Inc()
			o.log.Warn("outbox: keeping a notification for a receiver no longer configured until it expires",
				"receiver", n.Receiver, "id", n.ID)
		}
	}
	return nil
}

func (o *Outbox) newEntry(rec *record, now time.Time) *entry {
	return &entry{n: &rec.Notification, enqueued: rec.EnqueuedAt, due: now, seq: o.seq.Add(1)}
}

// Enqueue commits n to the outbox; when it returns nil, n survives a
// crash and Run will deliver it. Enqueueing an ID that is already pending
// does nothing. Enqueue keeps its own copy of n.
func (o *Outbox) Enqueue(n *alerting.Notification) error {
	return o.EnqueueWith(n, nil)
}

// EnqueueWith is Enqueue that also runs also in the same bbolt
// transaction, so what the caller writes there (such as the state of the
// alert group that sent n) commits together with n or not at all. also
// runs even when n's ID is already pending; an error from it fails the
// whole enqueue.
func (o *Outbox) EnqueueWith(n *alerting.Notification, also func(tx *bbolt.Tx) error) error {
	if n.ID == "" {
		return errors.New("outbox: enqueue: notification has no id")
	}
	q, ok := o.queues[n.Receiver]
	if !ok {
		return fmt.Errorf("outbox: enqueue %s: no receiver named %q", n.ID, n.Receiver)
	}
	now := time.Now()
	data, err := json.Marshal(record{Notification: *n, EnqueuedAt: now})
	if err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", n.ID, err)
	}
	// What is sent is decoded from what was stored, so a send after a
	// restart is the same as one before.
	rec, err := decode(data)
	if err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", n.ID, err)
	}
	added, err := put(o.db, n.ID, data, also)
	if err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", n.ID, err)
	}
	if added {
		o.metrics.pending.Inc()
		q.push(o.newEntry(rec, now))
	}
	return nil
}

// Run delivers pending and newly enqueued notifications until ctx is
// done, and returns once every worker has ended. Sends in flight then are
// cancelled and their notifications stay pending in the outbox.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("outbox: already running")
	}
	defer o.running.Store(false)
	var wg sync.WaitGroup
	for _, q := range o.queues {
		wg.Go(func() { o.work(ctx, q) })
	}
	wg.Wait()
	return nil
}

// work delivers one receiver's notifications as they come due.
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
