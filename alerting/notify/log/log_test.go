package log

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
)

func TestNotify(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	n := &alerting.Notification{
		ID: "n1", Receiver: "oncall", GroupKey: "k", Status: alerting.StatusFiring,
		GroupLabels: model.LabelSet{"alertname": "ProbeDown"},
		Alerts: []alerting.Alert{
			{Labels: model.LabelSet{"alertname": "ProbeDown", "probe": "shop"}, Annotations: model.LabelSet{"summary": "shop is down"}, StartsAt: at},
			{Labels: model.LabelSet{"alertname": "ProbeDown", "probe": "api"}, StartsAt: at, EndsAt: at.Add(time.Minute)},
		},
		CreatedAt: at.Add(2 * time.Minute),
	}
	tests := []struct {
		name  string
		level slog.Level
		want  string
	}{
		{
			name: "info by default",
			want: `{"level":"INFO","msg":"notification","receiver":"oncall","id":"n1","status":"firing",` +
				`"group_labels":{"alertname":"ProbeDown"},"alerts":[` +
				`{"status":"firing","labels":{"alertname":"ProbeDown","probe":"shop"},"summary":"shop is down"},` +
				`{"status":"resolved","labels":{"alertname":"ProbeDown","probe":"api"}}]}` + "\n",
		},
		{
			name:  "configured level",
			level: slog.LevelWarn,
			want: `{"level":"WARN","msg":"notification","receiver":"oncall","id":"n1","status":"firing",` +
				`"group_labels":{"alertname":"ProbeDown"},"alerts":[` +
				`{"status":"firing","labels":{"alertname":"ProbeDown","probe":"shop"},"summary":"shop is down"},` +
				`{"status":"resolved","labels":{"alertname":"ProbeDown","probe":"api"}}]}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}})
			if err := New(tt.level, slog.New(h)).Notify(t.Context(), n); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if buf.String() != tt.want {
				t.Errorf("line:\n got %s\nwant %s", buf.String(), tt.want)
			}
			if !json.Valid(buf.Bytes()) {
				t.Error("not one JSON line")
			}
		})
	}
}

func TestNotifyCancelled(t *testing.T) {
	var buf bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := New(slog.LevelInfo, slog.New(slog.NewJSONHandler(&buf, nil))).Notify(ctx, &alerting.Notification{ID: "n1"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Notify = %v, want context.Canceled", err)
	}
	if buf.Len() != 0 {
		t.Errorf("logged %q after cancel", buf.String())
	}
}
