// Package telemetry sends Lookout's own errors and panics to Sentry, when
// telemetry.sentry.dsn is set: error-level log records through Handler,
// panics through Recover. It has its own Sentry client and hub, apart
// from the alert receivers' and from sentry-go's global hub.
package telemetry

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	sentrygo "github.com/getsentry/sentry-go"
)

// flushTimeout bounds how long Recover waits for the panic's event to be
// sent before panicking again.
const flushTimeout = 5 * time.Second

// Telemetry reports to one Sentry project. A nil *Telemetry reports
// nothing: Handler returns its argument and Recover lets panics through,
// so main can use it whether or not Sentry is configured.
type Telemetry struct {
	hub *sentrygo.Hub
	// panics sends synchronously, so a panic's event is at Sentry before
	// the panic goes on and ends the process.
	panics *sentrygo.Hub
}

// NewSentry returns a Telemetry sending to the project of dsn, with
// environment and release (Lookout's version; "" sends "lookout") on
// every event. Events are sent in the background; Close sends what is
// left. Errors never quote the DSN.
func NewSentry(dsn, environment, release string) (*Telemetry, error) {
	if err := checkDSN(dsn); err != nil {
		return nil, fmt.Errorf("telemetry: sentry: %w", err)
	}
	if release == "" {
		release = "lookout" // else sentry-go runs git to guess one
	}
	opts := sentrygo.ClientOptions{
		Dsn:              dsn,
		Environment:      environment,
		Release:          release,
		SampleRate:       1,
		AttachStacktrace: true,
	}
	client, err := sentrygo.NewClient(opts)
	if err != nil {
		return nil, errors.New("telemetry: sentry: new client: invalid options")
	}
	sync := sentrygo.NewHTTPSyncTransport()
	sync.Timeout = flushTimeout
	opts.Transport = sync
	panicClient, err := sentrygo.NewClient(opts)
	if err != nil {
		return nil, errors.New("telemetry: sentry: new client: invalid options")
	}
	return &Telemetry{hub: sentrygo.NewHub(client, sentrygo.NewScope()), panics: sentrygo.NewHub(panicClient, sentrygo.NewScope())}, nil
}

// checkDSN says what is wrong with dsn without quoting it.
func checkDSN(dsn string) error {
	if dsn == "" {
		// sentry-go would fall back to $SENTRY_DSN.
		return errors.New("dsn is required")
	}
	if _, err := url.Parse(dsn); err != nil {
		return errors.New("dsn is not a valid URL")
	}
	if _, err := sentrygo.NewDsn(dsn); err != nil {
		var pe *sentrygo.DsnParseError
		if errors.As(err, &pe) && !strings.HasPrefix(pe.Message, "invalid url") {
			return fmt.Errorf("dsn: %s", pe.Message)
		}
		return errors.New("dsn is not a valid Sentry DSN")
	}
	return nil
}

// Recover reports a panic to Sentry, waits up to 5s for it to be sent,
// and panics again with the same value. Defer it directly, first thing in
// main and in each goroutine: `defer tel.Recover()`.
func (t *Telemetry) Recover() {
	if t == nil {
		return // recover is not called: the panic goes on untouched
	}
	v := recover()
	if v == nil {
		return
	}
	t.hub.Flush(flushTimeout) // error logs that led up to it
	t.panics.Recover(v)
	panic(v)
}

// Close sends the events not sent yet, waiting at most timeout, and
// stops the client.
func (t *Telemetry) Close(timeout time.Duration) error {
	if t == nil {
		return nil
	}
	client := t.hub.Client()
	ok := client.Flush(timeout)
	client.Close()
	if !ok {
		return errors.New("telemetry: sentry: flush timed out, events lost")
	}
	return nil
}
