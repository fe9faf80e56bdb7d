package daemon

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/alerting/notify/sentry/sentrytest"
)

// sentryEvent is what the tests read of a Sentry event.
type sentryEvent struct {
	Contexts map[string]map[string]any `json:"contexts"`
}

// sentrySink is a Sentry DSN's ingest endpoint for the daemon's tests: it
// keeps the events and attachments of the envelopes that arrive.
type sentrySink struct {
	srv *httptest.Server

	mu          sync.Mutex
	events      []sentryEvent
	attachments []sentrytest.Attachment
}

func newSentrySink(t *testing.T) *sentrySink {
	t.Helper()
	s := &sentrySink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, evs, err := sentrytest.DecodeEvents[sentryEvent](bytes.NewReader(body))
		atts, aerr := sentrytest.DecodeAttachments(bytes.NewReader(body))
		s.mu.Lock()
		if err == nil {
			s.events = append(s.events, evs...)
		}
		if aerr == nil {
			s.attachments = append(s.attachments, atts...)
		}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// dsn points at the sink: public key "publickey", project 1.
func (s *sentrySink) dsn() string {
	return strings.Replace(s.srv.URL, "http://", "http://publickey@", 1) + "/1"
}

func (s *sentrySink) got() ([]sentryEvent, []sentrytest.Attachment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentryEvent(nil), s.events...), append([]sentrytest.Attachment(nil), s.attachments...)
}

// waitForPage waits until Slack's sink has a message and the Sentry sink
// has what arrived says is enough; it returns the Slack messages, or
// fails the test with the daemon's log after within.
func waitForPage(t *testing.T, slack *notificationSink, sentry *sentrySink, within time.Duration, logs func() string, enough func([]sentryEvent, []sentrytest.Attachment) bool) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, msgs := slack.got()
		evs, atts := sentry.got()
		if len(msgs) > 0 && enough(evs, atts) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page within %s: %d Slack messages, %d Sentry events, %d attachments\nlogs:\n%s", within, len(msgs), len(evs), len(atts), logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
