package daemon

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/alerting/notify"
	notifylog "github.com/lookout-dev/lookout/alerting/notify/log"
	sentrynotify "github.com/lookout-dev/lookout/alerting/notify/sentry"
	slacknotify "github.com/lookout-dev/lookout/alerting/notify/slack"
	"github.com/lookout-dev/lookout/alerting/notify/webhook"
	"github.com/lookout-dev/lookout/config"
)

// integrationDeps are what the integrations of every receiver share.
type integrationDeps struct {
	threads      slacknotify.Threads
	threadFaults notify.WriteFailures
	pacer        *slacknotify.Pacer
	externalURL  string
	reg          prometheus.Registerer
}

// integrations builds a receiver's integrations, by name (slack, sentry,
// webhook, log), and returns the Sentry ones apart, to be flushed at
// shutdown.
func (d *daemon) integrations(r config.Receiver, deps integrationDeps) (map[string]notify.Notifier, []*sentrynotify.Notifier, error) {
	out := map[string]notify.Notifier{}
	var sentries []*sentrynotify.Notifier
	if r.Slack != nil {
		s, err := slacknotify.New(slackConfig(r.Slack), slacknotify.Options{
			Threads: deps.threads, Reason: d.probeReason, ExternalURL: deps.externalURL, Logger: d.log, Registerer: deps.reg, Pacer: deps.pacer,
			WriteFailures: deps.threadFaults,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("receiver %s: slack: %w", r.Name, err)
		}
		out["slack"] = s
	}
	if r.Sentry != nil {
		s, err := sentrynotify.New(sentrynotify.Config{DSN: r.Sentry.DSN, Environment: r.Sentry.Environment}, sentrynotify.Options{Release: "lookout@" + d.opts.Version})
		if err != nil {
			return nil, nil, fmt.Errorf("receiver %s: sentry: %w", r.Name, err)
		}
		out["sentry"] = s
		sentries = append(sentries, s)
	}
	if r.Webhook != nil {
		w, err := webhook.New(webhook.Config{
			URL: r.Webhook.URL.String(), Timeout: r.Webhook.Timeout.Std(), MaxAlerts: r.Webhook.MaxAlerts, Headers: r.Webhook.Headers,
		}, webhook.Options{ExternalURL: deps.externalURL})
		if err != nil {
			return nil, nil, fmt.Errorf("receiver %s: %w", r.Name, err)
		}
		out["webhook"] = w
	}
	if r.Log != nil {
		out["log"] = notifylog.New(notifylog.Config{Level: slog.LevelWarn}, d.log)
	}
	return out, sentries, nil
}
