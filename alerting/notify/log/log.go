// Package log is the log receiver: one structured log line per
// notification. Import it under another name, such as notifylog.
package log

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
)

// Logger writes notifications to a slog.Logger.
type Logger struct {
	level slog.Level
	log   *slog.Logger
}

var _ notify.Notifier = (*Logger)(nil)

// New returns the log receiver writing to log at level. The `log:`
// section of a receiver has no settings; the daemon picks the level.
func New(level slog.Level, log *slog.Logger) *Logger {
	return &Logger{level: level, log: log}
}

// alert is what a line says about one alert.
type alert struct {
	Status  string         `json:"status"`
	Labels  model.LabelSet `json:"labels"`
	Summary string         `json:"summary,omitempty"`
}

// Notify logs n; it fails only when ctx is done.
func (l *Logger) Notify(ctx context.Context, n *alerting.Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	at := n.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	alerts := make([]alert, len(n.Alerts))
	for i := range n.Alerts {
		a := &n.Alerts[i]
		alerts[i] = alert{Status: string(alerting.StatusFiring), Labels: a.Labels, Summary: string(a.Annotations["summary"])}
		if a.ResolvedAt(at) {
			alerts[i].Status = string(alerting.StatusResolved)
		}
	}
	l.log.LogAttrs(ctx, l.level, "notification",
		slog.String("receiver", n.Receiver),
		slog.String("id", n.ID),
		slog.String("status", string(n.Status)),
		slog.Any("group_labels", n.GroupLabels),
		slog.Any("alerts", alerts),
	)
	return nil
}
