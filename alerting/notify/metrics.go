package notify

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of delivery attempts, the values of the result label.
const (
	resultSent            = "sent"             // delivered
	resultRetried         = "retried"          // failed, will be tried again
	resultFailedPermanent = "failed_permanent" // failed permanently, given up
	resultExpired         = "expired"          // not delivered within MaxAge, dropped
)

var results = []string{resultSent, resultRetried, resultFailedPermanent, resultExpired}

type metrics struct {
	notifications *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	pending       prometheus.Gauge
}

// newMetrics registers the outbox's metrics, with every series of the
// given queues at zero: each receiver's integration has its counter for
// every result from the start, so increase() counts the first of each.
// Receivers change only at a restart, so no series is ever deleted.
func newMetrics(reg prometheus.Registerer, queues []*queue) (*metrics, error) {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_notifications_total",
			Help: "Notification delivery attempts by receiver, integration and result (sent, retried, failed_permanent, expired).",
		}, []string{"receiver", "integration", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lookout_notification_latency_seconds",
			Help:    "Time from a notification's enqueueing to its delivery.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
		}, []string{"receiver", "integration"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lookout_outbox_pending",
			Help: "Deliveries (one per notification and integration) in the outbox not yet sent, given up or expired.",
		}),
	}
	for _, q := range queues {
		for _, res := range results {
			m.notifications.WithLabelValues(q.receiver, q.integration, res)
		}
		m.latency.WithLabelValues(q.receiver, q.integration)
	}
	for _, c := range []prometheus.Collector{m.notifications, m.latency, m.pending} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("outbox: register metrics: %w", err)
		}
	}
	return m, nil
}
