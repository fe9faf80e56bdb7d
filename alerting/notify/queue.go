package notify

import (
	"container/heap"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/alerting"
)

// entry is a pending delivery in memory: a notification for one
// integration.
type entry struct {
	key      string // in the outbox bucket
	n        *alerting.Notification
	enqueued time.Time
	due      time.Time // next attempt
	seq      uint64    // enqueue order, breaks ties in due
	attempts int       // failed attempts so far, in this process
	// memoryOnly is an entry the database would not take: it is not in
	// the outbox bucket and is lost at a restart.
	memoryOnly bool
	// resumed is an entry loaded from a Store another process may also
	// have delivered: it is sent only if still stored (see Checker).
	resumed bool
}

// queue holds one integration's pending deliveries that are not being
// sent right now, earliest due first.
type queue struct {
	receiver    string
	integration string
	notifier    Notifier

	mu      sync.Mutex
	entries entryHeap
	wake    chan struct{} // has a value when entries changed
}

func newQueue(receiver, integration string, n Notifier) *queue {
	return &queue{receiver: receiver, integration: integration, notifier: n, wake: make(chan struct{}, 1)}
}

func (q *queue) push(e *entry) {
	q.mu.Lock()
	heap.Push(&q.entries, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns the entry to send next, if one is due at now;
// otherwise it returns how long until one is due (zero when the queue is
// empty). A group's notifications go out in the order they were
// enqueued: only the oldest pending one of each group may be sent, so a
// "resolved" never overtakes the "firing" of its group that is still
// waiting to be retried.
func (q *queue) take(now time.Time) (*entry, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.entries) == 0 {
		return nil, 0
	}
	oldest := make(map[string]*entry, len(q.entries))
	for _, e := range q.entries {
		if o, ok := oldest[e.n.GroupKey]; !ok || e.seq < o.seq {
			oldest[e.n.GroupKey] = e
		}
	}
	best := -1
	for i, e := range q.entries {
		if oldest[e.n.GroupKey] != e {
			continue
		}
		if best < 0 || q.entries.Less(i, best) {
			best = i
		}
	}
	if wait := q.entries[best].due.Sub(now); wait > 0 {
		return nil, wait
	}
	return heap.Remove(&q.entries, best).(*entry), 0
}

type entryHeap []*entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h entryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)   { *h = append(*h, x.(*entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
