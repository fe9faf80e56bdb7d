// Package sentry is the Sentry receiver: each alert of a notification
// becomes one Sentry event, and all events of an alert share a
// fingerprint, so Sentry keeps one issue per alert that its resolve
// closes the story of.
//
// Events are sent synchronously, one at a time, so Notify knows whether
// Sentry took them: failures go back to the outbox to be retried. Event
// IDs are derived from the notification ID, the alert and its status, so
// the events a retry sends again are dropped by Sentry as duplicates.
package sentry

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	sentrygo "github.com/getsentry/sentry-go"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/config"
)

// DefaultTimeout bounds the sending of one event when Options sets none.
const DefaultTimeout = 10 * time.Second

// Options are what a Sentry receiver takes from the daemon rather than
// from its config.
type Options struct {
	// Release is sent as every event's release, Lookout's version; ""
	// sends "lookout" (rather than let sentry-go run git to guess).
	Release string
	// Timeout bounds the sending of one event; 0 means DefaultTimeout.
	Timeout time.Duration
	// Transport sends the HTTP requests; nil means http.DefaultTransport.
	// Redirects are not followed.
	Transport http.RoundTripper
	// Trace returns the trace and span ID (hex) of the failing run of the
	// probe behind an alert, "" when there is none: a firing alert's event
	// carries it as its trace context, which links it to the trace in
	// Sentry and in the tracing backend.
	Trace func(labels model.LabelSet) (traceID, spanID string)
	// Screenshot returns the screenshot of the failing run of the browser
	// probe behind an alert, with its file name, nil when there is none: a
	// firing alert's event carries it as an attachment.
	Screenshot func(labels model.LabelSet) (name string, png []byte)
}

// Notifier sends notifications to one Sentry project, through its own
// client and hub (never sentry-go's global hub).
type Notifier struct {
	hub      *sentrygo.Hub
	rec      *recorder
	timeout  time.Duration
	evidence Evidence
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns the notifier of cfg, which is as config.Load leaves it:
// checked.
func New(cfg config.Sentry, opts Options) (*Notifier, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("sentry: timeout must not be negative, got %v", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Release == "" {
		opts.Release = "lookout"
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	rec := &recorder{next: opts.Transport, pending: map[sentrygo.EventID]*send{}}
	transport := sentrygo.NewHTTPSyncTransport()
	transport.Timeout = opts.Timeout
	client, err := sentrygo.NewClient(sentrygo.ClientOptions{
		Dsn:         cfg.DSN,
		Environment: cfg.Environment,
		Release:     opts.Release,
		Transport:   transport,
		HTTPClient: &http.Client{
			Transport: rec,
			// Notify's context ends the send at opts.Timeout; this is a
			// backstop that should never fire first.
			Timeout:       opts.Timeout + time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		SampleRate:             1,
		DisableClientReports:   true,
		DisableTelemetryBuffer: true,
		Integrations:           withoutModules,
	})
	if err != nil {
		// config.Load has checked the DSN; whatever is left, do not
		// quote it.
		return nil, errors.New("sentry: new client: invalid options")
	}
	return &Notifier{hub: sentrygo.NewHub(client, sentrygo.NewScope()), rec: rec, timeout: opts.Timeout,
		evidence: Evidence{Trace: opts.Trace, Screenshot: opts.Screenshot}}, nil
}

// withoutModules drops the integration that sends the list of Go modules
// with every event: it says nothing about an alert.
func withoutModules(in []sentrygo.Integration) []sentrygo.Integration {
	out := in[:0:0]
	for _, i := range in {
		if i.Name() != "Modules" {
			out = append(out, i)
		}
	}
	return out
}

// Notify sends one event per alert of n, in order, and stops at the first
// that fails: its error says whether and when to retry (see
// recorder.result). A retry sends the same events with the same IDs, and
// Sentry drops those it already has.
func (s *Notifier) Notify(ctx context.Context, n *alerting.Notification) error {
	for _, ev := range EventsWith(n, s.evidence) {
		if err := s.send(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// send sends one event, within the timeout.
func (s *Notifier) send(ctx context.Context, ev *sentrygo.Event) error {
	now := time.Now()
	if d := s.rec.rateLimited(now); d > 0 {
		return &notify.RetryAfterError{After: d, Err: errors.New("sentry: send: rate limited")}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.rec.expect(ctx, ev.EventID); err != nil {
		return fmt.Errorf("sentry: send: %w", err)
	}
	captured := s.hubFor(ev).CaptureEvent(ev)
	sent := s.rec.finish(ev.EventID)
	if captured == nil {
		return notify.Permanent(errors.New("sentry: send: event dropped by the client"))
	}
	return s.rec.result(sent, time.Now())
}

// hubFor is the hub that sends ev: one whose scope holds ev's trace
// context, when it has one, as sentry-go replaces an event's trace context
// with its scope's.
func (s *Notifier) hubFor(ev *sentrygo.Event) *sentrygo.Hub {
	tc := ev.Contexts["trace"]
	traceID, _ := tc["trace_id"].(string)
	spanID, _ := tc["span_id"].(string)
	var pc sentrygo.PropagationContext
	t, terr := hex.DecodeString(traceID)
	sp, serr := hex.DecodeString(spanID)
	if terr != nil || serr != nil || len(t) != len(pc.TraceID) || len(sp) != len(pc.SpanID) {
		return s.hub
	}
	copy(pc.TraceID[:], t)
	copy(pc.SpanID[:], sp)
	hub := s.hub.Clone()
	hub.Scope().SetPropagationContext(pc)
	return hub
}

// Close flushes what the client holds, waiting at most timeout. Events
// are sent synchronously, so there is nothing left unless a Notify is
// still running.
func (s *Notifier) Close(timeout time.Duration) error {
	client := s.hub.Client()
	ok := client.Flush(timeout)
	client.Close()
	if !ok {
		return errors.New("sentry: close: flush timed out")
	}
	return nil
}
