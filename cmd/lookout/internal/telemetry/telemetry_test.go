package telemetry

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/alerting/notify/sentry/sentrytest"
)

// event is the part of a Sentry event the tests look at, as it arrives.
type event struct {
	Message     string                    `json:"message"`
	Level       string                    `json:"level"`
	Tags        map[string]string         `json:"tags"`
	Environment string                    `json:"environment"`
	Release     string                    `json:"release"`
	Contexts    map[string]map[string]any `json:"contexts"`
	Exception   []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"exception"`
}

// ingest is a real local Sentry ingest endpoint keeping the event items
// of the envelopes sentry-go sends.
type ingest struct {
	*httptest.Server
	mu     sync.Mutex
	events []event
}

func newIngest(t *testing.T) *ingest {
	t.Helper()
	s := &ingest{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/1/envelope/" || !strings.Contains(r.Header.Get("X-Sentry-Auth"), "sentry_key=publickey") {
			t.Errorf("request %s without the DSN's key", r.URL.Path)
		}
		body := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("gzip: %v", err)
				return
			}
			body = zr
		}
		_, events, err := sentrytest.DecodeEvents[event](body)
		if err != nil {
			t.Errorf("decode envelope: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.events = append(s.events, events...)
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ingest) dsn() string {
	return strings.Replace(s.URL, "http://", "http://publickey@", 1) + "/1"
}

func (s *ingest) got() []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event(nil), s.events...)
}

func newTelemetry(t *testing.T, srv *ingest) *Telemetry {
	t.Helper()
	tel, err := NewSentry(srv.dsn(), "staging", "lookout@1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Close(time.Second) })
	return tel
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name     string
		nextAt   slog.Level
		log      func(*slog.Logger)
		want     []event
		wantText []string // what next wrote, one line each
	}{
		{
			name:   "errors are sent with their attributes, everything goes on to next",
			nextAt: slog.LevelInfo,
			log: func(l *slog.Logger) {
				l.Info("started", "port", 9090)
				l.With("component", "outbox").WithGroup("send").Error("delivery failed",
					"receiver", "oncall", "attempt", 3, "err", errors.New("connection refused"),
					slog.Group("http", "status", 503), "took", 1500*time.Millisecond)
			},
			want: []event{{
				Message: "delivery failed", Level: "error", Environment: "staging", Release: "lookout@1.2.3",
				Tags: map[string]string{
					"component": "outbox", "send.receiver": "oncall", "send.attempt": "3", "send.err": "connection refused",
					"send.http.status": "503", "send.took": "1.5s",
				},
				Contexts: map[string]map[string]any{"attributes": {
					"component": "outbox", "send.receiver": "oncall", "send.attempt": float64(3), "send.err": "connection refused",
					"send.http.status": float64(503), "send.took": "1.5s",
				}},
			}},
			wantText: []string{
				`level=INFO msg=started port=9090`,
				`level=ERROR msg="delivery failed" component=outbox send.receiver=oncall send.attempt=3 send.err="connection refused" send.http.status=503 send.took=1.5s`,
			},
		},
		{
			name:   "errors are sent even when next drops them",
			nextAt: slog.Level(100),
			log: func(l *slog.Logger) {
				l.Warn("slow")
				l.Error("store failed", "path", strings.Repeat("p", 300))
			},
			want: []event{{
				Message: "store failed", Level: "error", Environment: "staging", Release: "lookout@1.2.3",
				Tags:     map[string]string{}, // the path is too long for a tag
				Contexts: map[string]map[string]any{"attributes": {"path": strings.Repeat("p", 300)}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newIngest(t)
			tel := newTelemetry(t, srv)
			var text bytes.Buffer
			next := slog.NewTextHandler(&text, &slog.HandlerOptions{
				Level: tt.nextAt,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})
			tt.log(slog.New(tel.Handler(next)))
			if err := tel.Close(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			got := srv.got()
			if len(got) != len(tt.want) {
				t.Fatalf("server got %d events, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, ev := range got {
				for name := range ev.Contexts { // sentry-go's own: os, runtime, trace
					if name != "attributes" {
						delete(ev.Contexts, name)
					}
				}
				if ev.Tags == nil {
					ev.Tags = map[string]string{}
				}
				if !reflect.DeepEqual(ev, tt.want[i]) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, ev, tt.want[i])
				}
			}
			lines := strings.Split(strings.TrimSpace(text.String()), "\n")
			if len(tt.wantText) == 0 && text.Len() == 0 {
				lines = nil
			}
			if !reflect.DeepEqual(lines, tt.wantText) {
				t.Errorf("next wrote:\n%s\nwant:\n%s", text.String(), strings.Join(tt.wantText, "\n"))
			}
		})
	}
}

func TestRecover(t *testing.T) {
	tests := []struct {
		name      string
		value     any
		want      event
		wantPanic string
	}{
		{
			name: "string", value: "boom", wantPanic: "boom",
			want: event{Message: "boom", Level: "fatal"},
		},
		{
			name: "error", value: errors.New("index out of range"), wantPanic: "index out of range",
			want: event{Level: "fatal", Exception: []struct {
				Type  string `json:"type"`
				Value string `json:"value"`
			}{{Type: "*errors.errorString", Value: "index out of range"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newIngest(t)
			tel := newTelemetry(t, srv)
			var atRepanic []event
			repanicked := func() (v any) {
				defer func() {
					v = recover()
					atRepanic = srv.got() // before anything else flushes
				}()
				func() {
					defer tel.Recover()
					panic(tt.value)
				}()
				return nil
			}()
			if got := fmt.Sprint(repanicked); got != tt.wantPanic {
				t.Errorf("panicked again with %q, want %q", got, tt.wantPanic)
			}
			if len(atRepanic) != 1 {
				t.Fatalf("server had %d events when the panic went on, want 1", len(atRepanic))
			}
			got := atRepanic[0]
			tt.want.Environment, tt.want.Release = "staging", "lookout@1.2.3"
			got.Tags, got.Contexts = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("event:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNil(t *testing.T) {
	var tel *Telemetry
	next := slog.NewTextHandler(io.Discard, nil)
	if h := tel.Handler(next); h != next {
		t.Errorf("nil Handler wraps next")
	}
	if err := tel.Close(time.Second); err != nil {
		t.Errorf("nil Close: %v", err)
	}
	v := func() (v any) {
		defer func() { v = recover() }()
		defer tel.Recover()
		panic("through")
	}()
	if v != "through" {
		t.Errorf("nil Recover: panic %v, want through", v)
	}
}

func TestNewSentryErrors(t *testing.T) {
	tests := []struct {
		name, dsn, want string
	}{
		{"empty", "", "telemetry: sentry: dsn is required"},
		{"not a url", "http://s3cretkey@[::1", "telemetry: sentry: dsn is not a valid URL"},
		{"other scheme", "ftp://s3cretkey@host/1", "telemetry: sentry: dsn: invalid scheme"},
		{"no project", "https://s3cretkey@sentry.example/", "telemetry: sentry: dsn: empty project id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSentry(tt.dsn, "", "")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("NewSentry error = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cretkey") {
				t.Errorf("error %q shows the DSN's key", err)
			}
		})
	}
}
