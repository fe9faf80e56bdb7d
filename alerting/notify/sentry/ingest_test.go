package sentry

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lookout-dev/lookout/alerting/notify/sentry/sentrytest"
)

// event is the part of a Sentry event the tests look at, as it arrives.
type event struct {
	EventID     string                    `json:"event_id"`
	Message     string                    `json:"message"`
	Level       string                    `json:"level"`
	Logger      string                    `json:"logger"`
	Fingerprint []string                  `json:"fingerprint"`
	Tags        map[string]string         `json:"tags"`
	Environment string                    `json:"environment"`
	Release     string                    `json:"release"`
	Timestamp   string                    `json:"timestamp"`
	Contexts    map[string]map[string]any `json:"contexts"`
}

// ingest is a real local Sentry ingest endpoint: it decodes the envelopes
// sentry-go sends (gzipped or not) and keeps their event items. answer,
// if set, picks the response; nil answers 200.
type ingest struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	requests int
	events   []event
	// attachments are each event's attachments, by event ID.
	attachments map[string][]sentrytest.Attachment
	answer      func(w http.ResponseWriter) bool // true: answered, do not record
}

func newIngest(t *testing.T) *ingest {
	t.Helper()
	s := &ingest{t: t}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// dsn is the DSN pointing at s, with public key "publickey", project 1.
func (s *ingest) dsn() string {
	return strings.Replace(s.URL, "http://", "http://publickey@", 1) + "/1"
}

func (s *ingest) setAnswer(answer func(w http.ResponseWriter) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = answer
}

func (s *ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	answer := s.answer
	s.mu.Unlock()
	if answer != nil && answer(w) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/1/envelope/" {
		s.t.Errorf("request %s %s, want POST /api/1/envelope/", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if auth := r.Header.Get("X-Sentry-Auth"); !strings.Contains(auth, "sentry_key=publickey") {
		s.t.Errorf("X-Sentry-Auth = %q, want the DSN's public key", auth)
	}
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.t.Errorf("gzip: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	var events []event
	var attached []sentrytest.Attachment
	if err == nil {
		events, err = decodeEnvelope(bytes.NewReader(raw))
	}
	if err == nil {
		attached, err = sentrytest.DecodeAttachments(bytes.NewReader(raw))
	}
	if err != nil {
		s.t.Errorf("decode envelope: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, events...)
	if len(attached) > 0 && len(events) == 1 {
		if s.attachments == nil {
			s.attachments = map[string][]sentrytest.Attachment{}
		}
		s.attachments[events[0].EventID] = append(s.attachments[events[0].EventID], attached...)
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"ok"}`)
}

// attachmentsOf returns the attachments received with the event id.
func (s *ingest) attachmentsOf(id string) []sentrytest.Attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attachments[id]
}

// got returns the events received so far and the number of requests.
func (s *ingest) got() ([]event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event(nil), s.events...), s.requests
}

// decodeEnvelope decodes an envelope's events, each of which must carry
// the envelope header's event id.
func decodeEnvelope(r io.Reader) ([]event, error) {
	id, events, err := sentrytest.DecodeEvents[event](r)
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		if ev.EventID != id {
			return nil, fmt.Errorf("event_id %s, envelope header says %s", ev.EventID, id)
		}
	}
	return events, nil
}

// status answers code with the given headers.
func status(code int, header ...string) func(w http.ResponseWriter) bool {
	return func(w http.ResponseWriter) bool {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"detail":"`+strconv.Itoa(code)+`"}`)
		return true
	}
}
