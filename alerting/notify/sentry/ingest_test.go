package sentry

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
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
	answer   func(w http.ResponseWriter) bool // true: answered, do not record
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
	events, err := decodeEnvelope(body)
	if err != nil {
		s.t.Errorf("decode envelope: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, events...)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"ok"}`)
}

// got returns the events received so far and the number of requests.
func (s *ingest) got() ([]event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event(nil), s.events...), s.requests
}

// decodeEnvelope reads an envelope: a header line, then items, each an
// item header line and a payload of the header's length (or up to the
// next newline when the header has none). It returns the event items.
func decodeEnvelope(r io.Reader) ([]event, error) {
	br := bufio.NewReader(r)
	line, err := br.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return nil, fmt.Errorf("header: %w", err)
	}
	var header struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(line, &header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var events []event
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) == 0 {
			if err == io.EOF {
				return events, nil
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		var item struct {
			Type   string `json:"type"`
			Length *int   `json:"length"`
		}
		if err := json.Unmarshal(line, &item); err != nil {
			return nil, fmt.Errorf("item header %q: %w", line, err)
		}
		var payload []byte
		if item.Length != nil {
			payload = make([]byte, *item.Length)
			if _, err := io.ReadFull(br, payload); err != nil {
				return nil, fmt.Errorf("item payload: %w", err)
			}
		} else if payload, err = br.ReadBytes('\n'); err != nil && err != io.EOF {
			return nil, fmt.Errorf("item payload: %w", err)
		}
		if item.Type != "event" {
			continue
		}
		var ev event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("event: %w", err)
		}
		if ev.EventID != header.EventID {
			return nil, fmt.Errorf("event_id %s, envelope header says %s", ev.EventID, header.EventID)
		}
		events = append(events, ev)
	}
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
