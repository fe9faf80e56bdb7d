package notify_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/alerting/notify/webhook"
	"github.com/lookout-dev/lookout/config"
)

// hook is a real local webhook receiver. Each request is recorded, then
// answered by answer (given the request's index), or with 200.
type hook struct {
	*httptest.Server
	answer func(i int, w http.ResponseWriter, r *http.Request)

	mu       sync.Mutex
	receipts []receipt
}

type receipt struct {
	at   time.Time
	key  string // Idempotency-Key
	body string
}

func newHook(t *testing.T, answer func(i int, w http.ResponseWriter, r *http.Request)) *hook {
	t.Helper()
	h := &hook{answer: answer}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		i := len(h.receipts)
		h.receipts = append(h.receipts, receipt{at: time.Now(), key: r.Header.Get("Idempotency-Key"), body: string(body)})
		h.mu.Unlock()
		if h.answer != nil {
			h.answer(i, w, r)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) got() []receipt {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]receipt(nil), h.receipts...)
}

// codes answers the requests in turn with the given status codes, then 200.
func codes(cs ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(i int, w http.ResponseWriter, _ *http.Request) {
		if i < len(cs) {
			w.WriteHeader(cs[i])
		}
	}
}

func testNotification(id string) *alerting.Notification {
	return &alerting.Notification{
		ID: id, Receiver: "team", GroupKey: `{}:{alertname="ProbeDown"}`, Status: alerting.StatusFiring,
		GroupLabels: model.LabelSet{"alertname": "ProbeDown"},
		Alerts: []alerting.Alert{{
			Labels:   model.LabelSet{"alertname": "ProbeDown", "probe": "shop"},
			StartsAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		}},
		CreatedAt: time.Date(2030, 1, 2, 3, 4, 6, 0, time.UTC),
	}
}

// fast makes retries quick enough for tests on the real clock.
var fast = notify.OutboxOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}

func openDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	return db
}

// hookConfig is a webhook receiver's config for raw, as config.Load
// leaves it.
func hookConfig(t *testing.T, raw string) config.Webhook {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return config.Webhook{URL: config.URL{URL: u}, Timeout: config.DefaultWebhookTimeout}
}

func newOutbox(t *testing.T, db *bbolt.DB, url string, reg prometheus.Registerer) *notify.Outbox {
	t.Helper()
	w := webhook.New(hookConfig(t, url), webhook.Options{})
	o, err := notify.NewOutbox(db, map[string]map[string]notify.Notifier{"team": {"webhook": w}}, fast, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func running(t *testing.T, o *notify.Outbox) (stop func()) {
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

// pending is lookout_outbox_pending.
func pending(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "lookout_outbox_pending" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no lookout_outbox_pending")
	return 0
}

// settle waits until the outbox is empty.
func settle(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for pending(t, reg) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("outbox not empty after 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func counters(sent, retried, failed, expired int) string {
	return fmt.Sprintf(`
# HELP lookout_notifications_total Notification delivery attempts by receiver, integration and result (sent, retried, failed_permanent, expired).
# TYPE lookout_notifications_total counter
lookout_notifications_total{integration="webhook",receiver="team",result="expired"} %d
lookout_notifications_total{integration="webhook",receiver="team",result="failed_permanent"} %d
lookout_notifications_total{integration="webhook",receiver="team",result="retried"} %d
lookout_notifications_total{integration="webhook",receiver="team",result="sent"} %d
`, expired, failed, retried, sent)
}

func TestOutboxWebhook(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(int, http.ResponseWriter, *http.Request)
		receipts int
		minGap   time.Duration // between the first two receipts
		counters string
	}{
		{
			name:     "delivered at once",
			receipts: 1,
			counters: counters(1, 0, 0, 0),
		},
		{
			name:     "server errors retried, then delivered once",
			answer:   codes(500, 502, 503),
			receipts: 4,
			minGap:   fast.MinBackoff,
			counters: counters(1, 3, 0, 0),
		},
		{
			name:     "400 given up at once",
			answer:   codes(400),
			receipts: 1,
			counters: counters(0, 0, 1, 0),
		},
		{
			name: "429 Retry-After honoured",
			answer: func(i int, w http.ResponseWriter, _ *http.Request) {
				if i == 0 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
				}
			},
			receipts: 2,
			minGap:   time.Second,
			counters: counters(1, 1, 0, 0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook(t, tt.answer)
			db := openDB(t, filepath.Join(t.TempDir(), "lookout.db"))
			defer db.Close()
			reg := prometheus.NewRegistry()
			o := newOutbox(t, db, h.URL+"/hook", reg)
			stop := running(t, o)
			if err := o.Enqueue(testNotification("n1")); err != nil {
				t.Fatal(err)
			}
			settle(t, reg)
			time.Sleep(3 * fast.MaxBackoff) // nothing more may arrive
			stop()

			got := h.got()
			if len(got) != tt.receipts {
				t.Fatalf("webhook got %d requests, want %d", len(got), tt.receipts)
			}
			for i, r := range got {
				if r.key != "n1" || r.body != got[0].body {
					t.Errorf("request %d: key %q, body differs: %v; want the same notification each time", i, r.key, r.body != got[0].body)
				}
			}
			if tt.minGap > 0 {
				if gap := got[1].at.Sub(got[0].at); gap < tt.minGap {
					t.Errorf("second request %v after the first, want at least %v", gap, tt.minGap)
				}
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.counters), "lookout_notifications_total"); err != nil {
				t.Error(err)
			}
		})
	}
}
