package notify

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/alerting"
)

// TestGroupOrder: a group's "resolved" waits for its "firing" that is
// still being retried, while another group's notification goes ahead.
func TestGroupOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var delivered []string
		n := &orderNotifier{failFiring: 2}
		o, err := NewOutbox(tempDB(t), map[string]map[string]Notifier{"team": {"webhook": n}}, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		n.before = func(x *alerting.Notification) {
			mu.Lock()
			delivered = append(delivered, x.ID)
			mu.Unlock()
		}
		stop := running(t, o)
		defer stop()
		firing := notification("firing", "team")
		resolved := notification("resolved", "team")
		resolved.Status = alerting.StatusResolved
		other := notification("other", "team")
		other.GroupKey = "{}:{alertname=\"Other\"}"
		for _, x := range []*alerting.Notification{firing, resolved, other} {
			if err := o.Enqueue(x); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		// firing fails twice; other goes ahead meanwhile; resolved goes
		// only after firing's retry succeeded.
		want := []string{"firing", "other", "firing", "firing", "resolved"}
		if !slices.Equal(delivered, want) {
			t.Errorf("attempts in order %v, want %v", delivered, want)
		}
	})
}

// orderNotifier fails the notification "firing" its first failFiring
// times and accepts everything else.
type orderNotifier struct {
	failFiring int
	before     func(*alerting.Notification)

	mu    sync.Mutex
	tries int
}

func (o *orderNotifier) Notify(_ context.Context, n *alerting.Notification) error {
	o.before(n)
	if n.ID != "firing" {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tries++
	if o.tries <= o.failFiring {
		return errDown
	}
	return nil
}
