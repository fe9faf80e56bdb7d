package daemon

import (
	"errors"
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
// shutdown. Each takes its section of r as config.Load left it; on an
// error, it returns every integration's error and builds nothing.
func (d *daemon) integrations(r config.Receiver, deps integrationDeps) (map[string]notify.Notifier, []*sentrynotify.Notifier, error) {
	out := map[string]notify.Notifier{}
	var errs []error
	// add keeps an integration, or its error: add("slack")(slacknotify.New(…)).
	add := func(kind string) func(notify.Notifier, error) {
		return func(n notify.Notifier, err error) {
			if err != nil {
				errs = append(errs, fmt.Errorf("receiver %s: %w", r.Name, err))
				return
			}
			out[kind] = n
		}
	}
	slackOpts := slacknotify.Options{
		Threads: deps.threads, Reason: d.probeReason, TraceURL: d.probeTraceURL, ScreenshotURL: d.screenshotURL(deps.externalURL), ExternalURL: deps.externalURL, Logger: d.log, Registerer: deps.reg, Pacer: deps.pacer,
		WriteFailures: deps.threadFaults,
	}
	if r.Slack != nil {
		add("slack")(slacknotify.New(*r.Slack, slackOpts))
	}
	if r.Sentry != nil {
		add("sentry")(sentrynotify.New(*r.Sentry, sentrynotify.Options{Release: "lookout@" + d.opts.Version, Trace: d.probeTrace, Screenshot: d.probeScreenshot}))
	}
	if r.Webhook != nil {
		out["webhook"] = webhook.New(*r.Webhook, webhook.Options{ExternalURL: deps.externalURL})
	}
	if r.Log != nil {
		out["log"] = notifylog.New(slog.LevelWarn, d.log)
	}
	var sentries []*sentrynotify.Notifier
	if s, ok := out["sentry"].(*sentrynotify.Notifier); ok {
		sentries = append(sentries, s)
	}
	if err := errors.Join(errs...); err != nil {
		for _, s := range sentries {
			_ = s.Close(0)
		}
		return nil, nil, err
	}
	return out, sentries, nil
}
