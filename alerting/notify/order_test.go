package notify

import (
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
		n := &fakeNotifier{errs: []error{errDown, errDown}}
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
		// The notifier fails the first two attempts, whichever they are:
		// firing fails, other goes ahead (fails, then succeeds), and
		// resolved goes only after firing's retry succeeded.
		want := []string{"firing", "other", "other", "firing", "resolved"}
		if !slices.Equal(delivered, want) {
			t.Errorf("attempts in order %v, want %v", delivered, want)
		}
	})
}
