package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/config"
)

// receipt is one request the test server got.
type receipt struct {
	header http.Header
	body   []byte
}

// server is a real local webhook receiver answering with handle, or 200.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	receipts []receipt
}

func newServer(t *testing.T, handle http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.receipts = append(s.receipts, receipt{header: r.Header.Clone(), body: body})
		s.mu.Unlock()
		if handle != nil {
			handle(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) got() []receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receipt(nil), s.receipts...)
}

// hookConfig is a webhook's config for raw, as config.Load leaves it.
func hookConfig(t *testing.T, raw string) config.Webhook {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return config.Webhook{URL: config.URL{URL: u}, Timeout: config.DefaultWebhookTimeout}
}

var (
	start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	end   = time.Date(2030, 1, 2, 4, 0, 0, 0, time.UTC)
)

func twoAlerts() *alerting.Notification {
	return &alerting.Notification{
		ID: "0123-abcd", Receiver: "team", GroupKey: `{}:{alertname="ProbeDown"}`, Status: alerting.StatusFiring,
		GroupLabels: model.LabelSet{"alertname": "ProbeDown"},
		Alerts: []alerting.Alert{
			{
				Labels:       model.LabelSet{"alertname": "ProbeDown", "probe": "shop", "severity": "page"},
				Annotations:  model.LabelSet{"summary": "shop is down", "runbook": "https://runbooks/probe-down"},
				StartsAt:     start,
				GeneratorURL: "http://lookout:9090/alerts",
			},
			{
				Labels:      model.LabelSet{"alertname": "ProbeDown", "probe": "api", "severity": "page"},
				Annotations: model.LabelSet{"summary": "api is down", "runbook": "https://runbooks/probe-down"},
				StartsAt:    start,
				EndsAt:      end,
			},
		},
		CreatedAt: end.Add(time.Minute),
	}
}

func TestNotifyPayload(t *testing.T) {
	resolved := twoAlerts()
	resolved.Status = alerting.StatusResolved
	resolved.Alerts = resolved.Alerts[1:]
	bare := &alerting.Notification{ID: "x", Receiver: "team", Status: alerting.StatusFiring,
		Alerts: []alerting.Alert{{Labels: model.LabelSet{"alertname": "A"}, StartsAt: start}}, CreatedAt: start}
	shop := `{"status":"firing","labels":{"alertname":"ProbeDown","probe":"shop","severity":"page"},` +
		`"annotations":{"runbook":"https://runbooks/probe-down","summary":"shop is down"},` +
		`"startsAt":"2030-01-02T03:04:05Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://lookout:9090/alerts","fingerprint":"` + fp(twoAlerts().Alerts[0]) + `"}`
	api := `{"status":"resolved","labels":{"alertname":"ProbeDown","probe":"api","severity":"page"},` +
		`"annotations":{"runbook":"https://runbooks/probe-down","summary":"api is down"},` +
		`"startsAt":"2030-01-02T03:04:05Z","endsAt":"2030-01-02T04:00:00Z","generatorURL":"","fingerprint":"` + fp(twoAlerts().Alerts[1]) + `"}`
	tests := []struct {
		name      string
		n         *alerting.Notification
		maxAlerts int
		want      string
	}{
		{
			name: "two alerts, one resolved, common labels and annotations",
			n:    twoAlerts(),
			want: `{"version":"4","groupKey":"{}:{alertname=\"ProbeDown\"}","truncatedAlerts":0,"status":"firing","receiver":"team",` +
				`"groupLabels":{"alertname":"ProbeDown"},"commonLabels":{"alertname":"ProbeDown","severity":"page"},` +
				`"commonAnnotations":{"runbook":"https://runbooks/probe-down"},"externalURL":"http://lookout.example:9090",` +
				`"alerts":[` + shop + `,` + api + `]}`,
		},
		{
			name: "max_alerts truncates after the common labels are taken",
			n:    twoAlerts(), maxAlerts: 1,
			want: `{"version":"4","groupKey":"{}:{alertname=\"ProbeDown\"}","truncatedAlerts":1,"status":"firing","receiver":"team",` +
				`"groupLabels":{"alertname":"ProbeDown"},"commonLabels":{"alertname":"ProbeDown","severity":"page"},` +
				`"commonAnnotations":{"runbook":"https://runbooks/probe-down"},"externalURL":"http://lookout.example:9090",` +
				`"alerts":[` + shop + `]}`,
		},
		{
			name: "resolved",
			n:    resolved,
			want: `{"version":"4","groupKey":"{}:{alertname=\"ProbeDown\"}","truncatedAlerts":0,"status":"resolved","receiver":"team",` +
				`"groupLabels":{"alertname":"ProbeDown"},"commonLabels":{"alertname":"ProbeDown","probe":"api","severity":"page"},` +
				`"commonAnnotations":{"runbook":"https://runbooks/probe-down","summary":"api is down"},"externalURL":"http://lookout.example:9090",` +
				`"alerts":[` + api + `]}`,
		},
		{
			name: "empty sets are {} not null",
			n:    bare,
			want: `{"version":"4","groupKey":"","truncatedAlerts":0,"status":"firing","receiver":"team",` +
				`"groupLabels":{},"commonLabels":{"alertname":"A"},"commonAnnotations":{},"externalURL":"http://lookout.example:9090",` +
				`"alerts":[{"status":"firing","labels":{"alertname":"A"},"annotations":{},"startsAt":"2030-01-02T03:04:05Z",` +
				`"endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"` + fp(bare.Alerts[0]) + `"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, nil)
			cfg := hookConfig(t, srv.URL+"/hook")
			cfg.MaxAlerts, cfg.Headers = tt.maxAlerts, map[string]string{"Authorization": "Bearer s3cret"}
			w := New(cfg, Options{ExternalURL: "http://lookout.example:9090"})
			if err := w.Notify(t.Context(), tt.n); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := srv.got()
			if len(got) != 1 {
				t.Fatalf("got %d requests, want 1", len(got))
			}
			if string(got[0].body) != tt.want {
				t.Errorf("body:\n got %s\nwant %s", got[0].body, tt.want)
			}
			for name, want := range map[string]string{
				"Content-Type": "application/json", "Authorization": "Bearer s3cret",
				"Idempotency-Key": tt.n.ID, "User-Agent": "Lookout",
			} {
				if v := got[0].header.Get(name); v != want {
					t.Errorf("header %s = %q, want %q", name, v, want)
				}
			}
			var m Message // and it decodes as the documented type
			if err := json.NewDecoder(bytes.NewReader(got[0].body)).Decode(&m); err != nil {
				t.Errorf("decode: %v", err)
			}
		})
	}
}

func fp(a alerting.Alert) string { return a.Fingerprint().String() }

func TestNotifyStatus(t *testing.T) {
	tests := []struct {
		name          string
		code          int
		header        map[string]string
		wantErr       string // "" for none
		wantPermanent bool
		wantAfter     time.Duration // from a *RetryAfterError, -1 for none
	}{
		{name: "200 delivered", code: 200, wantAfter: -1},
		{name: "204 delivered", code: 204, wantAfter: -1},
		{name: "500 retried", code: 500, wantErr: "webhook: post: server answered 500 Internal Server Error", wantAfter: -1},
		{name: "503 retried", code: 503, wantErr: "webhook: post: server answered 503 Service Unavailable", wantAfter: -1},
		{name: "408 retried", code: 408, wantErr: "webhook: post: server answered 408 Request Timeout", wantAfter: -1},
		{name: "400 permanent", code: 400, wantErr: "webhook: post: server answered 400 Bad Request", wantPermanent: true, wantAfter: -1},
		{
			name: "302 permanent, not followed", code: 302, header: map[string]string{"Location": "/elsewhere"},
			wantErr: "webhook: post: server answered 302 Found", wantPermanent: true, wantAfter: -1,
		},
		{name: "404 permanent", code: 404, wantErr: "webhook: post: server answered 404 Not Found", wantPermanent: true, wantAfter: -1},
		{
			name: "429 with Retry-After seconds", code: 429, header: map[string]string{"Retry-After": "42"},
			wantErr: "webhook: post: server answered 429 Too Many Requests (retry after 42s)", wantAfter: 42 * time.Second,
		},
		{
			name: "429 without Retry-After uses the backoff", code: 429,
			wantErr: "webhook: post: server answered 429 Too Many Requests (retry after 0s)", wantAfter: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.code)
			})
			w := New(hookConfig(t, srv.URL), Options{})
			err := w.Notify(t.Context(), twoAlerts())
			if n := len(srv.got()); n != 1 {
				t.Errorf("server got %d requests, want 1", n)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Notify error = %v, want %q", err, tt.wantErr)
			}
			if got := notify.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v", got, tt.wantPermanent)
			}
			after := time.Duration(-1)
			if ra := (*notify.RetryAfterError)(nil); errors.As(err, &ra) {
				after = ra.After
			}
			if after != tt.wantAfter {
				t.Errorf("retry after = %v, want %v", after, tt.wantAfter)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name, value string
		want        time.Duration
	}{
		{"missing", "", 0},
		{"seconds", "120", 2 * time.Minute},
		{"negative", "-5", 0},
		{"huge is capped at a week", "99999999999999", 7 * 24 * time.Hour},
		{"http date", "Wed, 02 Jan 2030 03:05:05 GMT", time.Minute},
		{"date in the past", "Wed, 02 Jan 2030 03:00:00 GMT", 0},
		{"garbage", "soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.value, now); got != tt.want {
				t.Errorf("retryAfter(%q) = %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}

// secrets are in the URL of every case; no error may show them.
var secrets = []string{"s3cret", "TOKEN123", "KEY456"}

func TestNotifyErrorsHideURL(t *testing.T) {
	hung := newServer(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	failing := newServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	withSecrets := func(base string) string {
		return strings.Replace(base, "http://", "http://user:s3cret@", 1) + "/hooks/TOKEN123?key=KEY456"
	}
	tests := []struct {
		name      string
		url       string
		timeout   time.Duration
		wantIs    error
		wantSlow  bool
		wantError string
	}{
		{name: "connection refused", url: withSecrets(closed.URL)},
		{name: "timeout", url: withSecrets(hung.URL), timeout: 100 * time.Millisecond, wantIs: context.DeadlineExceeded},
		{name: "server error", url: withSecrets(failing.URL), wantError: "webhook: post: server answered 500 Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := hookConfig(t, tt.url)
			if tt.timeout != 0 {
				cfg.Timeout = config.Duration(tt.timeout)
			}
			w := New(cfg, Options{})
			began := time.Now()
			err := w.Notify(t.Context(), twoAlerts())
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("Notify took %v", took)
			}
			if notify.IsPermanent(err) {
				t.Errorf("error %v is permanent; want it retried", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if tt.wantError != "" && err.Error() != tt.wantError {
				t.Errorf("error = %q, want %q", err, tt.wantError)
			}
			if !strings.HasPrefix(err.Error(), "webhook: post: ") {
				t.Errorf("error %q lacks the operation", err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows %q from the URL", err, s)
				}
			}
		})
	}
}
