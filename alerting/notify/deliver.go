package notify

import (
	"context"
	"fmt"
	"time"
)

// deliver makes one attempt at e, which take removed from q, and records
// the outcome: deleted from the outbox when delivered, given up or
// expired; back in q otherwise.
func (o *Outbox) deliver(ctx context.Context, q *queue, e *entry) {
	if age := time.Since(e.enqueued); age >= o.opts.MaxAge {
		o.log.Warn("outbox: notification expired undelivered; dropping it",
			"receiver", q.receiver, "integration", q.integration, "id", e.n.ID, "attempts", e.attempts, "age", age.Round(time.Second))
		o.finish(q, e, resultExpired)
		return
	}
	if !e.memoryOnly && o.opts.MaySend != nil && !o.opts.MaySend() {
		// Another replica leads: it sends what the store holds.
		o.mu.Lock()
		delete(o.pending, e.key)
		o.mu.Unlock()
		o.metrics.pending.Dec()
		return
	}
	if c, ok := o.store.(Checker); ok && e.resumed {
		if has, err := c.Has(e.key); err == nil && !has {
			// Delivered by the process that stored it.
			o.mu.Lock()
			delete(o.pending, e.key)
			o.mu.Unlock()
			o.metrics.pending.Dec()
			return
		}
		e.resumed = false
	}
	sctx, cancel := context.WithTimeout(ctx, o.opts.SendTimeout)
	err := q.notifier.Notify(sctx, e.n)
	cancel()
	switch {
	case err == nil:
		// Record the delivery at once: until this commits, a crash
		// means the notification is sent again on the next start.
		o.finish(q, e, resultSent)
		o.metrics.latency.WithLabelValues(q.receiver, q.integration).Observe(time.Since(e.enqueued).Seconds())
	case ctx.Err() != nil:
		// Shutting down: the send was cancelled, it stays pending.
		q.push(e)
	case IsPermanent(err):
		o.log.Error("outbox: notification failed permanently; giving up",
			"receiver", q.receiver, "integration", q.integration, "id", e.n.ID, "attempts", e.attempts+1, "err", err)
		o.finish(q, e, resultFailedPermanent)
	default:
		e.attempts++
		wait := o.opts.retryWait(e.attempts, err)
		e.due = time.Now().Add(wait)
		if expiry := e.enqueued.Add(o.opts.MaxAge); e.due.After(expiry) {
			e.due = expiry
		}
		o.log.Warn("outbox: notification failed; will retry",
			"receiver", q.receiver, "integration", q.integration, "id", e.n.ID, "attempts", e.attempts, "retry_in", wait, "err", err)
		o.metrics.notifications.WithLabelValues(q.receiver, q.integration, resultRetried).Inc()
		q.push(e)
	}
}

// finish deletes e from the outbox and counts the result.
func (o *Outbox) finish(q *queue, e *entry, result string) {
	o.mu.Lock()
	o.finished[e.key] = time.Now()
	o.mu.Unlock()
	if !e.memoryOnly {
		if err := o.store.Delete(e.key); err != nil {
			// It stays in the file and comes back on the next start;
			// Resume, meanwhile, removes it instead of sending it.
			o.mu.Lock()
			o.undeleted[e.key] = true
			o.mu.Unlock()
			o.writeFailed(fmt.Errorf("outbox: remove %s notification %s (it may be sent again after a restart): %w", result, e.key, err))
		}
	}
	o.mu.Lock()
	delete(o.pending, e.key)
	o.mu.Unlock()
	o.metrics.pending.Dec()
	o.metrics.notifications.WithLabelValues(q.receiver, q.integration, result).Inc()
}
