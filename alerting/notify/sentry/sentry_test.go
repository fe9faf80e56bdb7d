package sentry

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	sentrygo "github.com/getsentry/sentry-go"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/config"
)

var (
	start   = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	end     = time.Date(2030, 1, 2, 4, 0, 0, 0, time.UTC)
	groupBy = `{}:{alertname="ProbeDown"}`
)

func shopDown() alerting.Alert {
	return alerting.Alert{
		Labels:       model.LabelSet{"alertname": "ProbeDown", "probe": "shop", "severity": "page"},
		Annotations:  model.LabelSet{"summary": "shop is down", "runbook": "https://runbooks/probe-down"},
		StartsAt:     start,
		GeneratorURL: "http://lookout:9090/alerts",
	}
}

func apiResolved() alerting.Alert {
	return alerting.Alert{
		Labels:      model.LabelSet{"alertname": "ProbeDown", "probe": "api", "severity": "warning"},
		Annotations: model.LabelSet{"summary": "api is down"},
		StartsAt:    start,
		EndsAt:      end,
	}
}

func notification(id string, status alerting.Status, alerts ...alerting.Alert) *alerting.Notification {
	return &alerting.Notification{
		ID: id, Receiver: "errors", GroupKey: groupBy, Status: status,
		GroupLabels: model.LabelSet{"alertname": "ProbeDown"},
		Alerts:      alerts, CreatedAt: end.Add(time.Minute),
	}
}

func newNotifier(t *testing.T, dsn string, opts Options) *Notifier {
	t.Helper()
	if opts.Release == "" {
		opts.Release = "lookout@1.2.3"
	}
	s, err := New(config.Sentry{DSN: dsn, Environment: "production"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(time.Second); err != nil {
			t.Error(err)
		}
	})
	return s
}

// TestTraceContext: a firing alert's event carries the trace of its
// probe's failing run as Sentry's trace context; a resolved one does not,
// nor one whose probe has no trace.
func TestTraceContext(t *testing.T) {
	trace := func(ls model.LabelSet) (string, string) {
		if ls["probe"] == "shop" {
			return "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		}
		return "", ""
	}
	ev := EventsWith(notification("n", alerting.StatusFiring, shopDown()), Evidence{Trace: trace})[0]
	if got := ev.Contexts["trace"]; got["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || got["span_id"] != "00f067aa0ba902b7" {
		t.Errorf("firing event's trace context %v; want the run's trace and span", got)
	}
	if ev := EventsWith(notification("n", alerting.StatusResolved, apiResolved()), Evidence{Trace: trace})[0]; ev.Contexts["trace"] != nil {
		t.Errorf("resolved event has trace context %v", ev.Contexts["trace"])
	}
	other := shopDown()
	other.Labels = model.LabelSet{"alertname": "ProbeDown", "probe": "api"}
	if ev := EventsWith(notification("n", alerting.StatusFiring, other), Evidence{Trace: trace})[0]; ev.Contexts["trace"] != nil {
		t.Errorf("an alert without a trace has trace context %v", ev.Contexts["trace"])
	}
}

// TestScreenshotAttached: a firing alert's event carries the screenshot of
// its browser probe's failing run as an attachment Sentry receives with
// it; a resolved alert's event and an alert without a screenshot carry
// none.
func TestScreenshotAttached(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n not really the rest of a PNG")
	srv := newIngest(t)
	s := newNotifier(t, srv.dsn(), Options{Screenshot: func(ls model.LabelSet) (string, []byte) {
		if ls["probe"] == "shop" {
			return "shop-20300102T030405.000Z.png", png
		}
		return "", nil
	}})
	shop, resolvedShop := shopDown(), shopDown()
	resolvedShop.EndsAt = end
	other := shopDown()
	other.Labels = model.LabelSet{"alertname": "ProbeDown", "probe": "api"}
	for _, n := range []*alerting.Notification{
		notification("n1", alerting.StatusFiring, shop, other),
		notification("n2", alerting.StatusResolved, resolvedShop),
	} {
		if err := s.Notify(t.Context(), n); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	for _, c := range []struct {
		name   string
		id     sentrygo.EventID
		attach bool
	}{
		{"firing shop", EventID("n1", shop.Fingerprint(), alerting.StatusFiring), true},
		{"firing api, no screenshot", EventID("n1", other.Fingerprint(), alerting.StatusFiring), false},
		{"resolved shop", EventID("n2", resolvedShop.Fingerprint(), alerting.StatusResolved), false},
	} {
		got := srv.attachmentsOf(string(c.id))
		switch {
		case c.attach && (len(got) != 1 || got[0].Filename != "shop-20300102T030405.000Z.png" || got[0].ContentType != "image/png" || !bytes.Equal(got[0].Payload, png)):
			t.Errorf("%s: attachments %+v; want the screenshot, image/png, its bytes", c.name, got)
		case !c.attach && len(got) != 0:
			t.Errorf("%s: attachments %+v; want none", c.name, got)
		}
	}
	if evs, _ := srv.got(); len(evs) != 3 {
		t.Errorf("Sentry got %d events, want 3", len(evs))
	}
}

func TestNotifyEvents(t *testing.T) {
	shop, api := shopDown(), apiResolved()
	firingShop := event{
		EventID: string(EventID("n1", shop.Fingerprint(), alerting.StatusFiring)),
		Message: "shop is down", Level: "fatal", Logger: "lookout.alerting",
		Fingerprint: []string{"ProbeDown", groupBy},
		Tags:        map[string]string{"alertname": "ProbeDown", "probe": "shop", "severity": "page", "status": "firing"},
		Environment: "production", Release: "lookout@1.2.3",
		Contexts: map[string]map[string]any{
			"annotations": {"summary": "shop is down", "runbook": "https://runbooks/probe-down"},
			"labels":      {"alertname": "ProbeDown", "probe": "shop", "severity": "page"},
			"alert": {
				"fingerprint": shop.Fingerprint().String(), "group_key": groupBy, "receiver": "errors",
				"notification_id": "n1", "starts_at": "2030-01-02T03:04:05Z", "generator_url": "http://lookout:9090/alerts",
			},
		},
	}
	resolvedAPI := func(id string) event {
		return event{
			EventID: string(EventID(id, api.Fingerprint(), alerting.StatusResolved)),
			Message: "Resolved: api is down", Level: "info", Logger: "lookout.alerting",
			Fingerprint: []string{"ProbeDown", groupBy},
			Tags:        map[string]string{"alertname": "ProbeDown", "probe": "api", "severity": "warning", "status": "resolved"},
			Environment: "production", Release: "lookout@1.2.3",
			Contexts: map[string]map[string]any{
				"annotations": {"summary": "api is down"},
				"labels":      {"alertname": "ProbeDown", "probe": "api", "severity": "warning"},
				"alert": {
					"fingerprint": api.Fingerprint().String(), "group_key": groupBy, "receiver": "errors",
					"notification_id": id, "starts_at": "2030-01-02T03:04:05Z", "ends_at": "2030-01-02T04:00:00Z",
				},
			},
		}
	}
	tests := []struct {
		name string
		n    *alerting.Notification
		want []event
	}{
		{
			name: "one event per alert, each with its own status",
			n:    notification("n1", alerting.StatusFiring, shop, api),
			want: []event{firingShop, resolvedAPI("n1")},
		},
		{
			name: "resolve is info on the same fingerprint",
			n:    notification("n2", alerting.StatusResolved, api),
			want: []event{resolvedAPI("n2")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newIngest(t)
			s := newNotifier(t, srv.dsn(), Options{})
			if err := s.Notify(t.Context(), tt.n); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got, requests := srv.got()
			if requests != len(tt.want) {
				t.Errorf("server got %d requests, want %d", requests, len(tt.want))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("server got %d events, want %d", len(got), len(tt.want))
			}
			for i, ev := range got {
				if ev.Timestamp == "" {
					t.Errorf("event %d has no timestamp", i)
				}
				ev.Timestamp = ""
				// sentry-go adds its own contexts (os, runtime, trace).
				for name := range ev.Contexts {
					if _, ok := tt.want[i].Contexts[name]; !ok {
						delete(ev.Contexts, name)
					}
				}
				if !reflect.DeepEqual(ev, tt.want[i]) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, ev, tt.want[i])
				}
			}
		})
	}
}

func TestLevel(t *testing.T) {
	for severity, want := range map[string]string{
		"page": "fatal", "critical": "fatal", "CRITICAL": "fatal", "error": "error", "warning": "warning",
		"warn": "warning", "info": "info", "": "error", "whatever": "error",
	} {
		t.Run(severity, func(t *testing.T) {
			if got := Level(severity); string(got) != want {
				t.Errorf("Level(%q) = %q, want %q", severity, got, want)
			}
		})
	}
}

func TestEventsPure(t *testing.T) {
	long := strings.Repeat("x", 300)
	a := alerting.Alert{
		Labels: model.LabelSet{
			"alertname": "Disk", "status": "from-a-label", "multi": "two\nlines",
			"value": model.LabelValue(long), model.LabelName(strings.Repeat("k", 33)): "v",
		},
		StartsAt: start,
	}
	evs := Events(notification("n", alerting.StatusFiring, a))
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	tests := []struct {
		name, got, want string
	}{
		{"message falls back to alertname", ev.Message, "Disk"},
		{"status tag wins over a label", ev.Tags["status"], "firing"},
		{"label status kept in labels context", ev.Contexts["labels"]["status"].(string), "from-a-label"},
		{"tag values are one line", ev.Tags["multi"], "two lines"},
		{"tag values are cut at 200", ev.Tags["value"], strings.Repeat("x", 199) + "…"},
		{"long tag keys are left out", ev.Tags[strings.Repeat("k", 33)], ""},
		{"no severity is error", string(ev.Level), "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestEventIDsDeterministic(t *testing.T) {
	srv := newIngest(t)
	s := newNotifier(t, srv.dsn(), Options{})
	n := notification("n1", alerting.StatusFiring, shopDown(), apiResolved())
	for range 2 {
		if err := s.Notify(t.Context(), n); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	got, _ := srv.got()
	if len(got) != 4 {
		t.Fatalf("got %d events, want 4", len(got))
	}
	first := []string{got[0].EventID, got[1].EventID}
	again := []string{got[2].EventID, got[3].EventID}
	if !slices.Equal(first, again) {
		t.Errorf("a resent notification has event IDs %v, first sent with %v", again, first)
	}
	if first[0] == first[1] {
		t.Errorf("two alerts share event ID %s", first[0])
	}
	shopAlert := shopDown()
	shop := shopAlert.Fingerprint()
	for _, other := range []string{
		string(EventID("n2", shop, alerting.StatusFiring)),
		string(EventID("n1", shop, alerting.StatusResolved)),
	} {
		if other == first[0] {
			t.Errorf("another notification or status gives the same ID %s", other)
		}
	}
	if len(first[0]) != 32 || strings.Trim(first[0], "0123456789abcdef") != "" {
		t.Errorf("event ID %q is not 32 lower-case hex digits", first[0])
	}
}

func TestNotifyStatus(t *testing.T) {
	tests := []struct {
		name          string
		code          int
		header        []string
		wantErr       string // "" for none
		wantPermanent bool
		wantAfter     time.Duration // from a *RetryAfterError, -1 for none
	}{
		{name: "200 delivered", code: 200, wantAfter: -1},
		{name: "500 retried", code: 500, wantErr: "sentry: send: server answered 500 Internal Server Error", wantAfter: -1},
		{name: "503 retried", code: 503, wantErr: "sentry: send: server answered 503 Service Unavailable", wantAfter: -1},
		{name: "408 retried", code: 408, wantErr: "sentry: send: server answered 408 Request Timeout", wantAfter: -1},
		{name: "400 permanent", code: 400, wantErr: "sentry: send: server answered 400 Bad Request", wantPermanent: true, wantAfter: -1},
		{name: "401 permanent", code: 401, wantErr: "sentry: send: server answered 401 Unauthorized", wantPermanent: true, wantAfter: -1},
		{name: "413 permanent", code: 413, wantErr: "sentry: send: server answered 413 Request Entity Too Large", wantPermanent: true, wantAfter: -1},
		{
			name: "302 permanent, not followed", code: 302, header: []string{"Location", "/elsewhere"},
			wantErr: "sentry: send: server answered 302 Found", wantPermanent: true, wantAfter: -1,
		},
		{
			name: "429 with Retry-After", code: 429, header: []string{"Retry-After", "30"},
			wantErr: "sentry: send: server answered 429 Too Many Requests (retry after 30s)", wantAfter: 30 * time.Second,
		},
		{
			name: "429 with X-Sentry-Rate-Limits over Retry-After", code: 429,
			header:  []string{"Retry-After", "30", "X-Sentry-Rate-Limits", "120:error;transaction:organization, 500:transaction:key"},
			wantErr: "sentry: send: server answered 429 Too Many Requests (retry after 2m0s)", wantAfter: 2 * time.Minute,
		},
		{
			name: "429 without a hint waits sentry-go's minute", code: 429,
			wantErr: "sentry: send: server answered 429 Too Many Requests (retry after 1m0s)", wantAfter: time.Minute,
		},
		{
			name: "429 for other categories only uses the backoff", code: 429, header: []string{"X-Sentry-Rate-Limits", "60:transaction:key"},
			wantErr: "sentry: send: server answered 429 Too Many Requests (retry after 0s)", wantAfter: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newIngest(t)
			if tt.code != 200 {
				srv.setAnswer(status(tt.code, tt.header...))
			}
			s := newNotifier(t, srv.dsn(), Options{})
			err := s.Notify(t.Context(), notification("n1", alerting.StatusFiring, shopDown()))
			if _, requests := srv.got(); requests != 1 {
				t.Errorf("server got %d requests, want 1", requests)
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
			if after := retryAfter(err); after != tt.wantAfter {
				t.Errorf("retry after = %v, want %v", after, tt.wantAfter)
			}
		})
	}
}

// retryAfter is the After of err's *RetryAfterError, -1 if none.
func retryAfter(err error) time.Duration {
	if ra := (*notify.RetryAfterError)(nil); errors.As(err, &ra) {
		return ra.After
	}
	return -1
}

func TestRateLimitHoldsBackLaterEvents(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter) bool
	}{
		{name: "after a 429", answer: status(429, "Retry-After", "600")},
		{name: "after a 200 announcing a limit", answer: status(200, "X-Sentry-Rate-Limits", "600::organization")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newIngest(t)
			srv.setAnswer(tt.answer)
			s := newNotifier(t, srv.dsn(), Options{})
			_ = s.Notify(t.Context(), notification("n1", alerting.StatusFiring, shopDown()))
			srv.setAnswer(nil)
			err := s.Notify(t.Context(), notification("n2", alerting.StatusFiring, shopDown()))
			if after := retryAfter(err); after <= 9*time.Minute || after > 10*time.Minute {
				t.Errorf("second Notify = %v, want a RetryAfterError of about 10m", err)
			}
			if _, requests := srv.got(); requests != 1 {
				t.Errorf("server got %d requests, want 1 (none while rate-limited)", requests)
			}
		})
	}
}

func TestNotifyServerDownThenUp(t *testing.T) {
	n := notification("n1", alerting.StatusFiring, shopDown(), apiResolved())
	t.Run("503 while down", func(t *testing.T) {
		srv := newIngest(t)
		srv.setAnswer(status(503))
		s := newNotifier(t, srv.dsn(), Options{})
		for i := range 3 {
			err := s.Notify(t.Context(), n)
			if err == nil || notify.IsPermanent(err) || retryAfter(err) != -1 {
				t.Fatalf("try %d while down: Notify = %v, want a retryable error", i, err)
			}
		}
		srv.setAnswer(nil)
		if err := s.Notify(t.Context(), n); err != nil {
			t.Fatalf("Notify once up: %v", err)
		}
		got, requests := srv.got()
		if requests != 5 || len(got) != 2 {
			t.Errorf("server got %d requests and %d events, want 5 (3 failed, 2 sent) and 2", requests, len(got))
		}
	})
	t.Run("connection refused while down", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		s := newNotifier(t, "http://publickey@"+addr+"/1", Options{})
		err = s.Notify(t.Context(), n)
		if err == nil || notify.IsPermanent(err) || retryAfter(err) != -1 {
			t.Fatalf("Notify while down = %v, want a retryable error", err)
		}
		if !strings.Contains(err.Error(), "connection refused") || !strings.HasPrefix(err.Error(), "sentry: send: ") {
			t.Errorf("error %q does not say the connection was refused", err)
		}
		if l, err = net.Listen("tcp", addr); err != nil {
			t.Skipf("cannot listen on %s again: %v", addr, err)
		}
		srv := &ingest{t: t}
		srv.Server = &httptest.Server{Listener: l, Config: &http.Server{Handler: srv}}
		srv.Start()
		t.Cleanup(srv.Close)
		if err := s.Notify(t.Context(), n); err != nil {
			t.Fatalf("Notify once up: %v", err)
		}
		if got, _ := srv.got(); len(got) != 2 {
			t.Errorf("server got %d events, want 2", len(got))
		}
	})
}

func TestNotifyContext(t *testing.T) {
	hung := newIngest(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before hung.Close
	hung.setAnswer(func(http.ResponseWriter) bool { <-release; return true })
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		wantIs  error
	}{
		{
			name: "Options.Timeout", timeout: 100 * time.Millisecond,
			ctx: func() (context.Context, context.CancelFunc) { return context.WithCancel(t.Context()) }, wantIs: context.DeadlineExceeded,
		},
		{
			name: "caller's context", timeout: time.Minute,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(t.Context(), 100*time.Millisecond)
			}, wantIs: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newNotifier(t, hung.dsn(), Options{Timeout: tt.timeout})
			ctx, cancel := tt.ctx()
			defer cancel()
			began := time.Now()
			err := s.Notify(ctx, notification("n1", alerting.StatusFiring, shopDown()))
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("Notify took %v", took)
			}
			if !errors.Is(err, tt.wantIs) || notify.IsPermanent(err) {
				t.Errorf("Notify = %v, want a retryable %v", err, tt.wantIs)
			}
		})
	}
}

// TestNewErrorsHideDSN: config.Load checks DSNs (see
// config/testdata/invalid-integrations.yml); a DSN sentry-go still refuses
// is refused without being quoted.
func TestNewErrorsHideDSN(t *testing.T) {
	tests := []struct{ name, dsn string }{
		{name: "not a url", dsn: "http://s3cretkey@[::1"},
		{name: "other scheme", dsn: "ftp://s3cretkey@host/1"},
		{name: "no project", dsn: "https://s3cretkey@sentry.example/"},
	}
	const want = "sentry: new client: invalid options"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config.Sentry{DSN: tt.dsn}, Options{})
			if err == nil || err.Error() != want {
				t.Fatalf("New error = %v, want %q", err, want)
			}
			if strings.Contains(err.Error(), "s3cretkey") {
				t.Errorf("error %q shows the DSN's key", err)
			}
		})
	}
}

func TestErrorsHideDSN(t *testing.T) {
	srv := newIngest(t)
	srv.setAnswer(status(500))
	s := newNotifier(t, strings.Replace(srv.dsn(), "publickey@", "publickey:s3cret@", 1), Options{})
	err := s.Notify(t.Context(), notification("n1", alerting.StatusFiring, shopDown()))
	if err == nil {
		t.Fatal("Notify succeeded")
	}
	for _, secret := range []string{"publickey", "s3cret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows %q from the DSN", err, secret)
		}
	}
}
