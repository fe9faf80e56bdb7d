package webvitals

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Ratings, the values of the rating label. Lookout rates each value itself
// against the official boundaries rather than trusting the sender's rating
// (Next.js's pages router sends none); none is for Next.js's own metrics,
// which have no boundaries.
const (
	ratingGood = "good"
	ratingNI   = "needs-improvement"
	ratingPoor = "poor"
	ratingNone = "none"
)

// vital is one metric name Lookout accepts.
type vital struct {
	name       string
	good, poor float64                  // rating boundaries in the unit sent; 0 for none
	max        float64                  // the largest plausible value, in the unit sent
	scale      float64                  // from the unit sent to the histogram's
	hist       *prometheus.HistogramVec // nil: counted in reports_total only
}

func (v *vital) rating(x float64) string {
	switch {
	case v.poor == 0:
		return ratingNone
	case x <= v.good:
		return ratingGood
	case x <= v.poor:
		return ratingNI
	default:
		return ratingPoor
	}
}

const (
	tenMinutesMS = 10 * 60 * 1000
	msToSeconds  = 1.0 / 1000
)

// newVitals builds the accepted metrics and their histograms. Values arrive
// in milliseconds (CLS is unitless); histograms are in seconds. LCP and FCP
// have classic buckets down to 25 ms for soft navigations, which are
// measured from the click. FID (from web-vitals v3 and old Next.js) and
// Next.js's own metrics (Next.js-hydration, Next.js-route-change-to-render,
// Next.js-render) are counted in webvitals_reports_total under their own
// name with rating none or their rating, but get no histogram: FID is
// retired, and Next.js's metrics are framework timings, not Web Vitals.
func newVitals() []*vital {
	hist := func(name, help string, buckets ...float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            name,
			Help:                            help,
			Buckets:                         buckets,
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  100,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"route", "device", "navigation"})
	}
	return []*vital{
		{name: "LCP", good: 2500, poor: 4000, max: tenMinutesMS, scale: msToSeconds,
			hist: hist("webvitals_lcp_seconds", "Largest Contentful Paint of real page loads (good ≤ 2.5 s, poor > 4 s).",
				.025, .05, .1, .25, .5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15, 20, 30)},
		{name: "INP", good: 200, poor: 500, max: tenMinutesMS, scale: msToSeconds,
			hist: hist("webvitals_inp_seconds", "Interaction to Next Paint of real page loads (good ≤ 0.2 s, poor > 0.5 s).",
				.025, .05, .1, .15, .2, .25, .3, .4, .5, .75, 1, 2, 5)},
		{name: "CLS", good: 0.1, poor: 0.25, max: 100, scale: 1,
			hist: hist("webvitals_cls", "Cumulative Layout Shift of real page loads, unitless (good ≤ 0.1, poor > 0.25).",
				.01, .025, .05, .075, .1, .15, .2, .25, .3, .5, 1, 2)},
		{name: "FCP", good: 1800, poor: 3000, max: tenMinutesMS, scale: msToSeconds,
			hist: hist("webvitals_fcp_seconds", "First Contentful Paint of real page loads (good ≤ 1.8 s, poor > 3 s).",
				.025, .05, .1, .25, .5, 1, 1.5, 1.8, 2.5, 3, 4, 5, 7.5, 10, 20)},
		{name: "TTFB", good: 800, poor: 1800, max: tenMinutesMS, scale: msToSeconds,
			hist: hist("webvitals_ttfb_seconds", "Time to First Byte of real page loads (good ≤ 0.8 s, poor > 1.8 s).",
				.05, .1, .2, .4, .6, .8, 1, 1.4, 1.8, 2.5, 4, 8)},
		{name: "FID", good: 100, poor: 300, max: tenMinutesMS},
		{name: "Next.js-hydration", max: tenMinutesMS},
		{name: "Next.js-route-change-to-render", max: tenMinutesMS},
		{name: "Next.js-render", max: tenMinutesMS},
	}
}

// Reasons a beacon or one metric in it is refused, the values of the
// reason label of lookout_webvitals_rejected_total.
const (
	reasonOrigin        = "origin"
	reasonTooLarge      = "too_large"
	reasonMalformed     = "malformed"
	reasonUnknownMetric = "unknown_metric"
	reasonBadValue      = "bad_value"
	reasonRateLimited   = "rate_limited"
	reasonMethod        = "method"
	reasonDuplicate     = "duplicate"
	// reasonSoftNavigation: soft_navigations is drop.
	reasonSoftNavigation = "soft_navigation"
)

func allReasons() []string {
	return []string{reasonOrigin, reasonTooLarge, reasonMalformed, reasonUnknownMetric,
		reasonBadValue, reasonRateLimited, reasonMethod, reasonDuplicate, reasonSoftNavigation}
}

// Where a metric's page came from, the values of the source label of
// lookout_webvitals_route_source_total.
const (
	sourceNavigationURL = "navigation_url" // the metric's own navigationURL
	sourcePage          = "page"           // a page, url or pathname field the sender added
	sourceReferer       = "referer"        // the request's Referer
	sourceNone          = "none"           // nothing: route="unknown"
)

// metrics are the collector's Prometheus metrics.
type metrics struct {
	vitals      map[string]*vital
	reports     *prometheus.CounterVec
	rejected    map[string]prometheus.Counter // by reason, all present from the start
	routeSource map[string]prometheus.Counter // by source, all present from the start

	// reported holds the metric, route, device and navigation label sets
	// that have reports_total series: the first report of one creates the
	// series of every rating at 0, so that increase() counts the first
	// poor report too. Bounded by the route table.
	mu       sync.RWMutex
	reported map[reportKey]struct{}
}

type reportKey struct{ metric, route, device, navigation string }

// report counts one accepted report.
func (m *metrics) report(v *vital, route, device, nav, rating string) {
	key := reportKey{v.name, route, device, nav}
	m.mu.RLock()
	_, ok := m.reported[key]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		if _, ok = m.reported[key]; !ok {
			for _, r := range v.ratings() {
				m.reports.WithLabelValues(v.name, route, device, nav, r)
			}
			m.reported[key] = struct{}{}
		}
		m.mu.Unlock()
	}
	m.reports.WithLabelValues(v.name, route, device, nav, rating).Inc()
}

// ratings are the values v.rating gives.
func (v *vital) ratings() []string {
	if v.poor == 0 {
		return []string{ratingNone}
	}
	return []string{ratingGood, ratingNI, ratingPoor}
}

// resetRoutes drops every series labelled by route.
func (m *metrics) resetRoutes() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.reported)
	m.reports.Reset()
	for _, v := range m.vitals {
		if v.hist != nil {
			v.hist.Reset()
		}
	}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		vitals: map[string]*vital{},
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webvitals_reports_total",
			Help: "Web Vitals reports accepted, by metric, route, device, navigation and rating (duplicates excluded).",
		}, []string{"metric", "route", "device", "navigation", "rating"}),
		rejected:    map[string]prometheus.Counter{},
		routeSource: map[string]prometheus.Counter{},
		reported:    map[reportKey]struct{}{},
	}
	routeSource := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lookout_webvitals_route_source_total",
		Help: "Web Vitals reports accepted, by where their page came from: navigation_url, page, referer or none.",
	}, []string{"source"})
	for _, s := range []string{sourceNavigationURL, sourcePage, sourceReferer, sourceNone} {
		m.routeSource[s] = routeSource.WithLabelValues(s)
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lookout_webvitals_rejected_total",
		Help: "Web Vitals beacons, or metrics within one, refused, by reason.",
	}, []string{"reason"})
	for _, r := range allReasons() {
		m.rejected[r] = rejected.WithLabelValues(r)
	}
	cs := []prometheus.Collector{m.reports, rejected, routeSource}
	for _, v := range newVitals() {
		m.vitals[v.name] = v
		if v.hist != nil {
			cs = append(cs, v.hist)
		}
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("webvitals: register metrics: %w", err)
		}
	}
	return m, nil
}
