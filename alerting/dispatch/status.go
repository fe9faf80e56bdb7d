package dispatch

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
)

// AlertState is what the dispatcher does with a firing alert.
type AlertState string

// Alert states, as Alertmanager names them.
const (
	StateActive     AlertState = "active"     // notified
	StateSuppressed AlertState = "suppressed" // silenced or inhibited
)

// GroupStatus is one aggregation group as the alerts API shows it.
type GroupStatus struct {
	Key      string         `json:"groupKey"`
	Receiver string         `json:"receiver"`
	Labels   model.LabelSet `json:"labels"`
	Alerts   []AlertStatus  `json:"alerts"`
}

// AlertStatus is one firing alert of a group and whether it is muted.
type AlertStatus struct {
	alerting.Alert
	Fingerprint string     `json:"fingerprint"`
	State       AlertState `json:"state"`
	SilencedBy  []string   `json:"silencedBy"`  // silence IDs
	InhibitedBy []string   `json:"inhibitedBy"` // fingerprints of inhibiting alerts
}

// Groups returns the groups with firing alerts, sorted by key, their
// alerts sorted by labels, with silences and inhibitions as of now.
// Resolved alerts waiting for their last flush are left out.
func (d *Dispatcher) Groups() []GroupStatus {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []GroupStatus
	for _, g := range d.groups {
		gs := GroupStatus{Key: g.key, Receiver: g.route.receiver, Labels: g.labels.Clone()}
		for fp, a := range g.alerts {
			if a.ResolvedAt(now) {
				continue
			}
			silencedBy, inhibitedBy := d.muting(a.Labels, now)
			st := AlertStatus{
				Alert:       *cloneAlert(a),
				Fingerprint: fp.String(),
				State:       StateActive,
				SilencedBy:  silencedBy,
				InhibitedBy: inhibitedBy,
			}
			if len(silencedBy) > 0 || len(inhibitedBy) > 0 {
				st.State = StateSuppressed
			}
			gs.Alerts = append(gs.Alerts, st)
		}
		if len(gs.Alerts) == 0 {
			continue
		}
		slices.SortFunc(gs.Alerts, func(a, b AlertStatus) int {
			return strings.Compare(a.Labels.String(), b.Labels.String())
		})
		out = append(out, gs)
	}
	slices.SortFunc(out, func(a, b GroupStatus) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// collector computes the dispatcher's gauges when scraped.
type collector struct {
	d      *Dispatcher
	groups *prometheus.Desc
	alerts *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(d *Dispatcher) *collector {
	return &collector{
		d: d,
		groups: prometheus.NewDesc("lookout_alert_groups",
			"Aggregation groups the dispatcher holds.", nil, nil),
		alerts: prometheus.NewDesc("lookout_alerts",
			"Firing alerts the dispatcher holds, by whether they are notified (active) or silenced or inhibited (suppressed).",
			[]string{"state"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.groups
	ch <- c.alerts
}

// Collect counts each firing alert once, however many groups hold it.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	now := time.Now()
	d.mu.Lock()
	groups := len(d.groups)
	seen := map[model.Fingerprint]bool{}
	var active, suppressed int
	for _, g := range d.groups {
		for fp, a := range g.alerts {
			if seen[fp] || a.ResolvedAt(now) {
				continue
			}
			seen[fp] = true
			if d.muted(a.Labels, now) {
				suppressed++
			} else {
				active++
			}
		}
	}
	d.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.groups, prometheus.GaugeValue, float64(groups))
	ch <- prometheus.MustNewConstMetric(c.alerts, prometheus.GaugeValue, float64(active), string(StateActive))
	ch <- prometheus.MustNewConstMetric(c.alerts, prometheus.GaugeValue, float64(suppressed), string(StateSuppressed))
}
