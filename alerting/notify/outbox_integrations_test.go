package notify

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lookout-dev/lookout/alerting"
)

// TestIntegrationsDeliverIndependently: one notification to a receiver
// with two integrations is delivered to each on its own: the log at once
// and once, the webhook after two retries.
func TestIntegrationsDeliverIndependently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := tempDB(t)
		var mu sync.Mutex
		var seen []string // id/integration of every attempt
		record := func(n *alerting.Notification) {
			mu.Lock()
			seen = append(seen, n.ID+"/"+n.Integration)
			mu.Unlock()
		}
		hook := &fakeNotifier{errs: []error{errDown, errDown}, before: record}
		logger := &fakeNotifier{before: record}
		o, err := NewOutbox(db, map[string]map[string]Notifier{"team": {"webhook": hook, "log": logger}}, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, o)
		defer stop()
		if err := o.Enqueue(notification("n1", "team")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // both tried once; the webhook waits for its retry
		if got := len(logger.attempts()); got != 1 {
			t.Errorf("log: %d attempts at first, want 1", got)
		}
		if got := len(hook.attempts()); got != 1 {
			t.Errorf("webhook: %d attempts at first, want 1", got)
		}
		if ids := stored(t, db); !slices.Equal(ids, []string{"n1/webhook"}) {
			t.Errorf("while the webhook waits to retry, the outbox holds %v, want [n1/webhook]", ids)
		}
		if got := testutil.ToFloat64(o.metrics.pending); got != 1 {
			t.Errorf("pending while the webhook waits = %v, want 1", got)
		}

		time.Sleep(time.Hour)
		synctest.Wait()
		if got := len(logger.attempts()); got != 1 {
			t.Errorf("log: %d attempts in all, want 1", got)
		}
		if got := len(hook.attempts()); got != 3 {
			t.Errorf("webhook: %d attempts in all, want 3", got)
		}
		mu.Lock()
		slices.Sort(seen)
		mu.Unlock()
		if want := []string{"n1/log", "n1/webhook", "n1/webhook", "n1/webhook"}; !slices.Equal(seen, want) {
			t.Errorf("notifiers saw %v, want %v", seen, want)
		}
		want := map[string]map[string]float64{
			"log":     {resultSent: 1},
			"webhook": {resultRetried: 2, resultSent: 1},
		}
		for integration, w := range want {
			for _, res := range results {
				if got := count(o, "team", integration, res); got != w[res] {
					t.Errorf("notifications{integration=%q,result=%q} = %v, want %v", integration, res, got, w[res])
				}
			}
		}
		if ids := stored(t, db); len(ids) != 0 {
			t.Errorf("outbox still holds %v", ids)
		}
	})
}

func TestNewOutboxErrors(t *testing.T) {
	tests := []struct {
		name      string
		receivers map[string]map[string]Notifier
		want      string
	}{
		{
			name:      "receiver without integrations",
			receivers: map[string]map[string]Notifier{"team": {}},
			want:      `outbox: receiver "team" has no integrations`,
		},
		{
			name:      "integration without notifier",
			receivers: map[string]map[string]Notifier{"team": {"webhook": nil}},
			want:      `outbox: receiver "team": integration "webhook" has no notifier`,
		},
		{
			name:      "integration name with a slash",
			receivers: map[string]map[string]Notifier{"team": {"web/hook": &fakeNotifier{}}},
			want:      `outbox: receiver "team": integration name "web/hook" is empty or has a '/'`,
		},
		{
			name:      "empty integration name",
			receivers: map[string]map[string]Notifier{"team": {"": &fakeNotifier{}}},
			want:      `outbox: receiver "team": integration name "" is empty or has a '/'`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewOutbox(tempDB(t), tt.receivers, OutboxOptions{}, prometheus.NewRegistry(), quietLog())
			if err == nil || err.Error() != tt.want {
				t.Fatalf("NewOutbox = %v, want %q", err, tt.want)
			}
		})
	}
}
