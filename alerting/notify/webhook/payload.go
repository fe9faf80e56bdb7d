package webhook

import (
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
)

// Message is the body POSTed: Alertmanager's webhook payload, version 4.
type Message struct {
	Version           string         `json:"version"`
	GroupKey          string         `json:"groupKey"`
	TruncatedAlerts   int            `json:"truncatedAlerts"`
	Status            string         `json:"status"`
	Receiver          string         `json:"receiver"`
	GroupLabels       model.LabelSet `json:"groupLabels"`
	CommonLabels      model.LabelSet `json:"commonLabels"`
	CommonAnnotations model.LabelSet `json:"commonAnnotations"`
	ExternalURL       string         `json:"externalURL"`
	Alerts            []Alert        `json:"alerts"`
}

// Alert is one alert in a Message.
type Alert struct {
	Status       string         `json:"status"`
	Labels       model.LabelSet `json:"labels"`
	Annotations  model.LabelSet `json:"annotations"`
	StartsAt     time.Time      `json:"startsAt"`
	EndsAt       time.Time      `json:"endsAt"`
	GeneratorURL string         `json:"generatorURL"`
	Fingerprint  string         `json:"fingerprint"`
}

// NewMessage builds the payload for n, as Alertmanager does: common
// labels and annotations over all of n's alerts, then at most maxAlerts
// of them (0 = all). Each alert's status is as of n.CreatedAt, so a retry
// sends the same body; EndsAt is set only on resolved alerts.
func NewMessage(n *alerting.Notification, externalURL string, maxAlerts int) *Message {
	at := n.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	m := &Message{
		Version:           "4",
		GroupKey:          n.GroupKey,
		Status:            string(n.Status),
		Receiver:          n.Receiver,
		GroupLabels:       orEmpty(n.GroupLabels),
		CommonLabels:      common(n.Alerts, func(a *alerting.Alert) model.LabelSet { return a.Labels }),
		CommonAnnotations: common(n.Alerts, func(a *alerting.Alert) model.LabelSet { return a.Annotations }),
		ExternalURL:       externalURL,
		Alerts:            make([]Alert, 0, len(n.Alerts)),
	}
	alerts := n.Alerts
	if maxAlerts > 0 && len(alerts) > maxAlerts {
		m.TruncatedAlerts = len(alerts) - maxAlerts
		alerts = alerts[:maxAlerts]
	}
	for i := range alerts {
		a := &alerts[i]
		out := Alert{
			Status:       string(alerting.StatusFiring),
			Labels:       orEmpty(a.Labels),
			Annotations:  orEmpty(a.Annotations),
			StartsAt:     a.StartsAt,
			GeneratorURL: a.GeneratorURL,
			Fingerprint:  a.Fingerprint().String(),
		}
		if a.ResolvedAt(at) {
			out.Status = string(alerting.StatusResolved)
			out.EndsAt = a.EndsAt
		}
		m.Alerts = append(m.Alerts, out)
	}
	return m
}

// common returns the label pairs every alert has, with the same value.
func common(alerts []alerting.Alert, set func(*alerting.Alert) model.LabelSet) model.LabelSet {
	out := model.LabelSet{}
	if len(alerts) == 0 {
		return out
	}
	for name, value := range set(&alerts[0]) {
		out[name] = value
	}
	for i := 1; i < len(alerts) && len(out) > 0; i++ {
		ls := set(&alerts[i])
		for name, value := range out {
			if v, ok := ls[name]; !ok || v != value {
				delete(out, name)
			}
		}
	}
	return out
}

// orEmpty makes a nil set encode as {} rather than null.
func orEmpty(ls model.LabelSet) model.LabelSet {
	if ls == nil {
		return model.LabelSet{}
	}
	return ls
}
