package flowprobe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// metrics are the flows' step histograms,
// lookout_flow_step_duration_seconds{probe,step}: how long each step took
// over time, where probe_flow_step_duration_seconds tells the last run. A
// traced run's observation carries its step's trace_id as an exemplar.
// The daemon registers them (Kind.Collector).
type metrics struct {
	steps *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                            "lookout_flow_step_duration_seconds",
		Help:                            "How long each step of a flow took, its HTTP check and its extracts.",
		Buckets:                         []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, // lookout_probe_duration_seconds'
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"probe", "step"})}
}

// observe records one step's duration, with the trace of sc when sampled.
func (m *metrics) observe(probe, step string, d time.Duration, sc trace.SpanContext) {
	o := m.steps.WithLabelValues(probe, step)
	if sc.IsSampled() {
		o.(prometheus.ExemplarObserver).ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
		return
	}
	o.Observe(d.Seconds())
}

// forget drops the series of a flow probe that a reload removed or
// replaced.
func (m *metrics) forget(probe string) {
	m.steps.DeletePartialMatch(prometheus.Labels{"probe": probe})
}
