package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
)

// fakeNotifier answers attempts with errs in turn, then with nil (or
// always with errs' last one when sticky). When block is set it waits for
// ctx instead.
type fakeNotifier struct {
	errs   []error
	sticky bool
	block  bool
	before func(n *alerting.Notification) // called at each attempt

	mu    sync.Mutex
	calls []time.Time
	ids   []string
}

func (f *fakeNotifier) Notify(ctx context.Context, n *alerting.Notification) error {
	if f.before != nil {
		f.before(n)
	}
	f.mu.Lock()
	i := len(f.calls)
	f.calls = append(f.calls, time.Now())
	f.ids = append(f.ids, n.ID)
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return fmt.Errorf("fake: %w", ctx.Err())
	}
	switch {
	case i < len(f.errs):
		return f.errs[i]
	case f.sticky && len(f.errs) > 0:
		return f.errs[len(f.errs)-1]
	}
	return nil
}

func (f *fakeNotifier) attempts() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

func openDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	return db
}

func tempDB(t *testing.T) *bbolt.DB {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
	t.Cleanup(func() { db.Close() })
	return db
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func notification(id, receiver string) *alerting.Notification {
	return &alerting.Notification{
		ID: id, Receiver: receiver, GroupKey: "{}:{alertname=\"ProbeDown\"}", Status: alerting.StatusFiring,
		GroupLabels: model.LabelSet{"alertname": "ProbeDown"},
		Alerts: []alerting.Alert{{
			Labels:   model.LabelSet{"alertname": "ProbeDown", "probe": "shop"},
			StartsAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		}},
		CreatedAt: time.Date(2030, 1, 2, 3, 4, 6, 0, time.UTC),
	}
}

// stored returns the IDs in the outbox bucket.
func stored(t *testing.T, db *bbolt.DB) []string {
	t.Helper()
	var ids []string
	err := db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketName).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return ids
}

// running starts o.Run and returns a function that stops it and waits.
func running(t *testing.T, o *Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func count(o *Outbox, receiver, integration, result string) float64 {
	return testutil.ToFloat64(o.metrics.notifications.WithLabelValues(receiver, integration, result))
}

var errDown = errors.New("receiver down")

func TestOutboxDelivery(t *testing.T) {
	type gap struct{ min, max time.Duration }
	tests := []struct {
		name     string
		opts     OutboxOptions
		notifier *fakeNotifier
		// gaps between consecutive attempts
		wantGaps []gap
		want     map[string]float64 // results
	}{
		{
			name:     "delivered at the first attempt",
			notifier: &fakeNotifier{},
			want:     map[string]float64{resultSent: 1},
		},
		{
			name:     "retried with doubling backoff until delivered",
			notifier: &fakeNotifier{errs: []error{errDown, errDown, errDown}},
			wantGaps: []gap{{time.Second, 1200 * time.Millisecond}, {2 * time.Second, 2400 * time.Millisecond}, {4 * time.Second, 4800 * time.Millisecond}},
			want:     map[string]float64{resultRetried: 3, resultSent: 1},
		},
		{
			name:     "backoff stops growing at MaxBackoff",
			opts:     OutboxOptions{MinBackoff: time.Second, MaxBackoff: 3 * time.Second},
			notifier: &fakeNotifier{errs: []error{errDown, errDown, errDown, errDown}},
			wantGaps: []gap{{time.Second, 1200 * time.Millisecond}, {2 * time.Second, 2400 * time.Millisecond}, {3 * time.Second, 3 * time.Second}, {3 * time.Second, 3 * time.Second}},
			want:     map[string]float64{resultRetried: 4, resultSent: 1},
		},
		{
			name:     "permanent error given up at once",
			notifier: &fakeNotifier{errs: []error{Permanent(errDown)}},
			want:     map[string]float64{resultFailedPermanent: 1},
		},
		{
			name:     "retry-after honoured",
			notifier: &fakeNotifier{errs: []error{&RetryAfterError{After: 7 * time.Second, Err: errDown}}},
			wantGaps: []gap{{7 * time.Second, 7 * time.Second}},
			want:     map[string]float64{resultRetried: 1, resultSent: 1},
		},
		{
			name:     "retry-after of zero falls back to backoff",
			notifier: &fakeNotifier{errs: []error{&RetryAfterError{Err: errDown}}},
			wantGaps: []gap{{time.Second, 1200 * time.Millisecond}},
			want:     map[string]float64{resultRetried: 1, resultSent: 1},
		},
		{
			name:     "expired after MaxAge, retries cut short at expiry",
			opts:     OutboxOptions{MinBackoff: 2 * time.Second, MaxBackoff: 4 * time.Second, MaxAge: 9 * time.Second},
			notifier: &fakeNotifier{errs: []error{errDown}, sticky: true},
			// attempts at 0, ~2, ~6; the next would be after 9s
			wantGaps: []gap{{2 * time.Second, 2400 * time.Millisecond}, {4 * time.Second, 4 * time.Second}},
			want:     map[string]float64{resultRetried: 3, resultExpired: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := tempDB(t)
				o, err := NewOutbox(db, map[string]map[string]Notifier{"hook": {"webhook": tt.notifier}}, tt.opts, prometheus.NewRegistry(), quietLog())
				if err != nil {
					t.Fatal(err)
				}
				stop := running(t, o)
				defer stop()
				if err := o.Enqueue(notification("n1", "hook")); err != nil {
					t.Fatalf("Enqueue: %v", err)
				}
				time.Sleep(time.Hour)
				synctest.Wait()

				calls := tt.notifier.attempts()
				if len(calls) != len(tt.wantGaps)+1 {
					t.Fatalf("got %d attempts, want %d", len(calls), len(tt.wantGaps)+1)
				}
				for i, g := range tt.wantGaps {
					if d := calls[i+1].Sub(calls[i]); d < g.min || d > g.max {
						t.Errorf("gap %d = %v, want in [%v, %v]", i+1, d, g.min, g.max)
					}
				}
				for _, res := range results {
					if got := count(o, "hook", "webhook", res); got != tt.want[res] {
						t.Errorf("notifications{result=%q} = %v, want %v", res, got, tt.want[res])
					}
				}
				if got := testutil.ToFloat64(o.metrics.pending); got != 0 {
					t.Errorf("pending = %v, want 0", got)
				}
				if ids := stored(t, db); len(ids) != 0 {
					t.Errorf("outbox still holds %v", ids)
				}
			})
		})
	}
}

func TestOutboxMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		f := &fakeNotifier{errs: []error{&RetryAfterError{After: 2 * time.Second, Err: errDown}}}
		o, err := NewOutbox(tempDB(t), map[string]map[string]Notifier{"hook": {"webhook": f}}, OutboxOptions{}, reg, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Enqueue(notification("n1", "hook")); err != nil {
			t.Fatal(err)
		}
		want := `
# HELP lookout_outbox_pending Deliveries (one per notification and integration) in the outbox not yet sent, given up or expired.
# TYPE lookout_outbox_pending gauge
lookout_outbox_pending 1
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "lookout_outbox_pending"); err != nil {
			t.Error(err)
		}
		time.Sleep(3 * time.Second) // enqueued 3 s before delivery starts
		stop := running(t, o)
		time.Sleep(time.Minute)
		synctest.Wait()
		stop()
		want = `
# HELP lookout_notification_latency_seconds Time from a notification's enqueueing to its delivery.
# TYPE lookout_notification_latency_seconds histogram
` + latencyBuckets("hook", "webhook") + `
# HELP lookout_notifications_total Notification delivery attempts by receiver, integration and result (sent, retried, failed_permanent, expired).
# TYPE lookout_notifications_total counter
lookout_notifications_total{integration="webhook",receiver="hook",result="expired"} 0
lookout_notifications_total{integration="webhook",receiver="hook",result="failed_permanent"} 0
lookout_notifications_total{integration="webhook",receiver="hook",result="retried"} 1
lookout_notifications_total{integration="webhook",receiver="hook",result="sent"} 1
# HELP lookout_outbox_pending Deliveries (one per notification and integration) in the outbox not yet sent, given up or expired.
# TYPE lookout_outbox_pending gauge
lookout_outbox_pending 0
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
			t.Error(err)
		}
	})
}

// TestOutboxMetricsAtZero: before anything is sent, every receiver's
// integration has lookout_notifications_total at 0 for every result, so
// increase() counts the first of each.
func TestOutboxMetricsAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	receivers := map[string]map[string]Notifier{
		"oncall": {"webhook": &fakeNotifier{}, "log": &fakeNotifier{}},
		"team":   {"webhook": &fakeNotifier{}},
	}
	if _, err := NewOutbox(tempDB(t), receivers, OutboxOptions{}, reg, quietLog()); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString(`# HELP lookout_notifications_total Notification delivery attempts by receiver, integration and result (sent, retried, failed_permanent, expired).
# TYPE lookout_notifications_total counter
`)
	for receiver, integrations := range receivers {
		for integration := range integrations {
			for _, res := range results {
				fmt.Fprintf(&want, "lookout_notifications_total{integration=%q,receiver=%q,result=%q} 0\n", integration, receiver, res)
			}
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want.String()), "lookout_notifications_total"); err != nil {
		t.Error(err)
	}
}

// latencyBuckets is the histogram text for one observation of 5 s: 3 s
// waiting for Run plus 2 s of Retry-After.
func latencyBuckets(receiver, integration string) string {
	var b strings.Builder
	for _, le := range []string{"0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5"} {
		fmt.Fprintf(&b, "lookout_notification_latency_seconds_bucket{integration=%q,receiver=%q,le=%q} 0\n", integration, receiver, le)
	}
	for _, le := range []string{"5", "10", "30", "60", "300", "900", "3600", "14400", "86400", "+Inf"} {
		fmt.Fprintf(&b, "lookout_notification_latency_seconds_bucket{integration=%q,receiver=%q,le=%q} 1\n", integration, receiver, le)
	}
	fmt.Fprintf(&b, "lookout_notification_latency_seconds_sum{integration=%q,receiver=%q} 5\n", integration, receiver)
	fmt.Fprintf(&b, "lookout_notification_latency_seconds_count{integration=%q,receiver=%q} 1", integration, receiver)
	return b.String()
}
