// Package alerting holds what the parts of Lookout's alerting share: the
// alert as rules produce it and the notification receivers are sent.
//
// The parts: store (Lookout's own series, queryable by PromQL), rules
// (rule files evaluated into alerts), dispatch (routing, grouping,
// inhibition, silences) and notify (the outbox and the receivers).
package alerting

import (
	"time"

	"github.com/prometheus/common/model"
)

// Alert is one alert as rules hand it to the dispatcher, in Alertmanager's
// terms: it fires from StartsAt and is resolved once EndsAt is set and
// not after now.
type Alert struct {
	Labels       model.LabelSet `json:"labels"` // includes alertname
	Annotations  model.LabelSet `json:"annotations"`
	StartsAt     time.Time      `json:"startsAt"`
	EndsAt       time.Time      `json:"endsAt"`
	GeneratorURL string         `json:"generatorURL"`
}

// Bucket is where small records are kept by key: a bbolt bucket of
// lookout.db, or in a cluster a collection of the shared database.
// Silences and maintenance windows are kept in one.
type Bucket interface {
	// Load returns every record, by key.
	Load() (map[string][]byte, error)
	// Write deletes the keys in del and stores put, in one write where
	// the store can.
	Write(put map[string][]byte, del []string) error
}

// Fingerprint identifies the alert by its labels.
func (a *Alert) Fingerprint() model.Fingerprint { return a.Labels.Fingerprint() }

// Name is the alert's alertname label.
func (a *Alert) Name() string { return string(a.Labels[model.AlertNameLabel]) }

// ResolvedAt reports whether the alert is resolved at t.
func (a *Alert) ResolvedAt(t time.Time) bool { return !a.EndsAt.IsZero() && !a.EndsAt.After(t) }

// Status is "firing" or "resolved".
type Status string

// Statuses of alerts and notifications.
const (
	StatusFiring   Status = "firing"
	StatusResolved Status = "resolved"
)

// Notification is one message for one receiver about one group of
// alerts. It is written to the outbox before it is sent.
type Notification struct {
	// ID is unique and stable across retries, so a receiver can
	// deduplicate. It is the same for every integration of the receiver:
	// each integration is its own destination, so ID is unique within it.
	ID       string `json:"id"`
	Receiver string `json:"receiver"`
	// Integration is which of the receiver's integrations ("slack",
	// "sentry", "webhook", "log") the notification is for. The outbox
	// sets it on the copy it hands each integration's Notifier.
	Integration string         `json:"integration,omitempty"`
	GroupKey    string         `json:"groupKey"`
	GroupLabels model.LabelSet `json:"groupLabels"`
	Status      Status         `json:"status"`
	Alerts      []Alert        `json:"alerts"`
	CreatedAt   time.Time      `json:"createdAt"`
}
