package store

import "github.com/prometheus/client_golang/prometheus"

type descs struct {
	series, samples, bytes, dropped *prometheus.Desc
}

func newDescs() descs {
	return descs{
		series:  prometheus.NewDesc("lookout_store_series", "Series held by the alerting store.", nil, nil),
		samples: prometheus.NewDesc("lookout_store_samples", "Samples held by the alerting store.", nil, nil),
		bytes:   prometheus.NewDesc("lookout_store_bytes", "Bytes of sample data held by the alerting store (compressed chunks and native histograms).", nil, nil),
		dropped: prometheus.NewDesc("lookout_store_dropped_series_total", "New series the alerting store refused at its series limit.", nil, nil),
	}
}

var _ prometheus.Collector = (*Store)(nil)

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.descs.series
	ch <- s.descs.samples
	ch <- s.descs.bytes
	ch <- s.descs.dropped
}

// Collect implements prometheus.Collector. Every family is sent at each
// scrape, lookout_store_dropped_series_total at 0 before the store refused
// anything, so increase() counts the first refusal.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	ch <- prometheus.MustNewConstMetric(s.descs.series, prometheus.GaugeValue, float64(st.Series))
	ch <- prometheus.MustNewConstMetric(s.descs.samples, prometheus.GaugeValue, float64(st.Samples))
	ch <- prometheus.MustNewConstMetric(s.descs.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(s.descs.dropped, prometheus.CounterValue, float64(st.DroppedSeries))
}
