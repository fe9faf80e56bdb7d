package notify

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of delivery attempts, the values of the result label.
const (
	resultSuccess = "success" // delivered
	resultRetry   = "retry"   // failed, will be tried again
	resultFailed  = "failed"  // failed permanently, given up
	resultExpired = "expired" // not delivered within MaxAge, dropped
)

type metrics struct {
	notifications *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	pending       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, receivers []string) (*metrics, error) {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_notifications_total",
			Help: "Notification delivery attempts by receiver and result (success, retry, failed, expired).",
		}, []string{"receiver", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lookout_notification_latency_seconds",
			Help:    "Time from a notification's enqueueing to its delivery.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
		}, []string{"receiver"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lookout_outbox_pending",
			Help: "Notifications in the outbox not yet delivered, given up or expired.",
		}),
	}
	for _, r := range receivers {
		for _, res := range []string{resultSuccess, resultRetry, resultFailed, resultExpired} {
			m.notifications.WithLabelValues(r, res)
		}
		m.latency.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.notifications, m.latency, m.pending} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("outbox: register metrics: %w", err)
		}
	}
	return m, nil
}
