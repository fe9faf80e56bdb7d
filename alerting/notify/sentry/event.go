package sentry

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	sentrygo "github.com/getsentry/sentry-go"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
)

// Limits Sentry puts on tags; longer keys are left out of the tags (the
// "labels" context still has them), longer values are cut.
const (
	maxTagKey   = 32
	maxTagValue = 200
)

// Events returns the events for n, one per alert, each with its status as
// of n.CreatedAt, so a retry builds the same events with the same IDs.
func Events(n *alerting.Notification) []*sentrygo.Event {
	return EventsWith(n, Evidence{})
}

// Evidence is what an event of a firing alert carries of the failing run
// of the probe behind it.
type Evidence struct {
	// Trace returns the run's trace and span ID (hex), "" when there is
	// none: the event's trace context, which links it to the trace in
	// Sentry and in the tracing backend.
	Trace func(labels model.LabelSet) (traceID, spanID string)
	// Screenshot returns the run's screenshot, a PNG, with its file name;
	// nil when there is none: the event's attachment.
	Screenshot func(labels model.LabelSet) (name string, png []byte)
}

// EventsWith is Events, with each firing alert's evidence (a nil func:
// none of that).
func EventsWith(n *alerting.Notification, evidence Evidence) []*sentrygo.Event {
	at := n.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	events := make([]*sentrygo.Event, 0, len(n.Alerts))
	for i := range n.Alerts {
		a := &n.Alerts[i]
		ev := newEvent(n, a, at)
		if !a.ResolvedAt(at) {
			if evidence.Trace != nil {
				if traceID, spanID := evidence.Trace(a.Labels); traceID != "" {
					ev.Contexts["trace"] = sentrygo.Context{"trace_id": traceID, "span_id": spanID, "op": "probe.run"}
				}
			}
			if evidence.Screenshot != nil {
				if name, png := evidence.Screenshot(a.Labels); png != nil {
					ev.Attachments = []*sentrygo.Attachment{{Filename: name, ContentType: "image/png", Payload: png}}
				}
			}
		}
		events = append(events, ev)
	}
	return events
}

// newEvent builds the event for one alert of n.
//
// Every event of an alert has the fingerprint [alertname, group key], so
// Sentry keeps one issue for it across firing, repeats and resolve. A
// firing alert's level follows its severity label (see Level); a resolved
// alert's event is info, its message starts with "Resolved: ", and its
// status tag is "resolved". Labels become tags, with status set last (a
// label named status is in the "labels" context only); annotations are
// the "annotations" context.
func newEvent(n *alerting.Notification, a *alerting.Alert, at time.Time) *sentrygo.Event {
	status := alerting.StatusFiring
	if a.ResolvedAt(at) {
		status = alerting.StatusResolved
	}
	ev := sentrygo.NewEvent()
	ev.EventID = EventID(n.ID, a.Fingerprint(), status)
	ev.Timestamp = at
	ev.Logger = "lookout.alerting"
	ev.Fingerprint = []string{a.Name(), n.GroupKey}
	ev.Message = message(a)
	ev.Level = Level(string(a.Labels["severity"]))
	if status == alerting.StatusResolved {
		ev.Message = "Resolved: " + ev.Message
		ev.Level = sentrygo.LevelInfo
	}
	for name, value := range a.Labels {
		if len(name) <= maxTagKey {
			ev.Tags[string(name)] = tagValue(string(value))
		}
	}
	ev.Tags["status"] = string(status)
	ev.Contexts["labels"] = contextOf(a.Labels)
	ev.Contexts["annotations"] = contextOf(a.Annotations)
	alert := sentrygo.Context{
		"fingerprint":     a.Fingerprint().String(),
		"group_key":       n.GroupKey,
		"receiver":        n.Receiver,
		"notification_id": n.ID,
		"starts_at":       a.StartsAt.UTC().Format(time.RFC3339),
	}
	if status == alerting.StatusResolved {
		alert["ends_at"] = a.EndsAt.UTC().Format(time.RFC3339)
	}
	if a.GeneratorURL != "" {
		alert["generator_url"] = a.GeneratorURL
	}
	ev.Contexts["alert"] = alert
	return ev
}

// message is the alert's summary annotation, or its alertname.
func message(a *alerting.Alert) string {
	if s := strings.TrimSpace(string(a.Annotations["summary"])); s != "" {
		return s
	}
	if name := a.Name(); name != "" {
		return name
	}
	return "alert"
}

// Level maps a severity label to a Sentry level: page and critical (the
// alerts that wake someone) are fatal, so Sentry's alert rules and
// filters can single them out from the error default; error, warning and
// info are themselves; anything else, or none, is error.
func Level(severity string) sentrygo.Level {
	switch strings.ToLower(strings.TrimSpace(severity)) {
	case "page", "critical":
		return sentrygo.LevelFatal
	case "warning", "warn":
		return sentrygo.LevelWarning
	case "info":
		return sentrygo.LevelInfo
	default:
		return sentrygo.LevelError
	}
}

// EventID is the event ID of an alert's event in a notification: the
// same notification, alert and status give the same ID, so Sentry drops
// the duplicates a retried notification sends. It is 32 lower-case hex
// digits, as Sentry wants.
func EventID(notificationID string, alert model.Fingerprint, status alerting.Status) sentrygo.EventID {
	sum := sha256.Sum256([]byte(notificationID + "\x00" + alert.String() + "\x00" + string(status)))
	return sentrygo.EventID(hex.EncodeToString(sum[:16]))
}

// tagValue makes v fit a Sentry tag value: one line, at most 200
// characters.
func tagValue(v string) string {
	v = strings.Join(strings.Fields(v), " ")
	if r := []rune(v); len(r) > maxTagValue {
		v = string(r[:maxTagValue-1]) + "…"
	}
	return v
}

// contextOf returns ls as a Sentry context, {} when empty.
func contextOf(ls model.LabelSet) sentrygo.Context {
	c := make(sentrygo.Context, len(ls))
	for name, value := range ls {
		c[string(name)] = string(value)
	}
	return c
}
