package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/config"
)

const token = "xoxb-test-S3CRETTOKEN"

var (
	start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	end   = time.Date(2030, 1, 2, 4, 0, 0, 0, time.UTC)
)

// probeDown is a group of one alert, firing, or resolved when resolved.
func probeDown(id string, resolved bool) *alerting.Notification {
	n := &alerting.Notification{
		ID: id, Receiver: "oncall", GroupKey: `{}:{alertname="ProbeDown"}`, Status: alerting.StatusFiring,
		GroupLabels: model.LabelSet{"alertname": "ProbeDown"},
		Alerts: []alerting.Alert{{
			Labels: model.LabelSet{"alertname": "ProbeDown", "probe": "shop", "severity": "page"},
			Annotations: model.LabelSet{
				"summary": "shop is down", "description": "https://shop.example answers 503",
				"runbook_url": "https://runbooks.example/probe-down", "dashboard_url": "https://grafana.example/d/shop",
			},
			StartsAt:     start,
			GeneratorURL: "http://lookout.example:9090/alerts?rule=ProbeDown",
		}},
		CreatedAt: start.Add(time.Minute),
	}
	if resolved {
		n.Status, n.Alerts[0].EndsAt, n.CreatedAt = alerting.StatusResolved, end, end.Add(time.Minute)
	}
	return n
}

func reason(ls model.LabelSet) string {
	if ls["probe"] == "shop" {
		return "HTTP 503 from https://shop.example"
	}
	return ""
}

// openDB opens a bbolt file under dir.
func openDB(t *testing.T, dir string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, "lookout.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

type env struct {
	fake    *fakeSlack
	n       *Notifier
	threads *BoltThreads
	reg     *prometheus.Registry
	logs    *bytes.Buffer
}

func newEnv(t *testing.T, cfg config.Slack, script func(string, int, http.ResponseWriter) bool) *env {
	t.Helper()
	e := &env{fake: newFakeSlack(t, script), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	var err error
	if e.threads, err = NewBoltThreads(db); err != nil {
		t.Fatal(err)
	}
	cfg.Token, cfg.APIURL = token, apiURL(t, e.fake.GetAPIURL())
	if cfg.Channel == "" {
		cfg.Channel = "#oncall"
	}
	e.n, err = New(cfg, Options{
		Threads: e.threads, Reason: reason, ExternalURL: "http://lookout.example:9090",
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Registerer: e.reg, Pacer: NewPacer(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// apiURL is raw as config.Load leaves an api_url.
func apiURL(t *testing.T, raw string) *config.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &config.URL{URL: u}
}

func (e *env) thread(t *testing.T, n *alerting.Notification) (Thread, bool) {
	t.Helper()
	th, ok, err := e.threads.Get(n.Receiver + "\x00#oncall\x00" + n.GroupKey)
	if err != nil {
		t.Fatal(err)
	}
	return th, ok
}

func TestThreadLifecycle(t *testing.T) {
	e := newEnv(t, config.Slack{Mention: []string{"@here", "<@U0LEAD>"}, SigningSecret: "shh"}, nil)
	steps := []struct {
		name  string
		n     *alerting.Notification
		calls []string // method and the thread_ts or ts it targets
		want  []string // in the last call's text
		not   []string
		kept  bool // a thread is kept afterwards
	}{
		{
			name: "first firing starts a thread", n: probeDown("n1", false),
			calls: []string{"chat.postMessage #oncall thread_ts="},
			want: []string{":rotating_light: FIRING · PAGE · ProbeDown", "shop is down", "https://shop.example answers 503",
				"*Reason:* HTTP 503 from https://shop.example", "`probe=\"shop\"`", "`severity=\"page\"`",
				"<https://runbooks.example/probe-down|:book: Runbook>", "<https://grafana.example/d/shop|:bar_chart: Dashboard>",
				"<http://lookout.example:9090/alerts?rule=ProbeDown|:mag: Source>", "<!here> <@U0LEAD>",
				"Silence 1h", "Acknowledge", "[FIRING:1] ProbeDown [page]: shop is down"},
			kept: true,
		},
		{
			name: "a repeat goes into the thread", n: probeDown("n2", false),
			calls: []string{"chat.postMessage C0ONCALL thread_ts=1700000000.000001"},
			want:  []string{"FIRING", "shop is down", "<!here>"},
			kept:  true,
		},
		{
			name: "resolve edits the first message and replies in the thread", n: probeDown("n3", true),
			calls: []string{"chat.update C0ONCALL ts=1700000000.000001", "chat.postMessage C0ONCALL thread_ts=1700000000.000001"},
			want:  []string{":white_check_mark: RESOLVED · PAGE · ProbeDown", "[RESOLVED:1]", ":large_green_circle:"},
			not:   []string{"<!here>", "Silence 1h", "Acknowledge"},
		},
		{
			name: "the next firing starts a new thread", n: probeDown("n4", false),
			calls: []string{"chat.postMessage #oncall thread_ts="},
			want:  []string{"FIRING", "<!here>"},
			kept:  true,
		},
	}
	seen := 0
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := e.n.Notify(t.Context(), st.n); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			calls := e.fake.got()[seen:]
			seen += len(calls)
			var got []string
			for _, c := range calls {
				if c.form.Get("token") != token {
					t.Errorf("%s: not sent with the token", c.method)
				}
				if c.method == "chat.update" {
					got = append(got, c.method+" "+c.form.Get("channel")+" ts="+c.form.Get("ts"))
					if !strings.Contains(c.text(), "RESOLVED") || strings.Contains(c.text(), "<!here>") {
						t.Errorf("the edit is not the resolved message:\n%s", c.text())
					}
					continue
				}
				got = append(got, c.method+" "+c.form.Get("channel")+" thread_ts="+c.form.Get("thread_ts"))
			}
			if strings.Join(got, "\n") != strings.Join(st.calls, "\n") {
				t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(st.calls, "\n"))
			}
			text := calls[len(calls)-1].text()
			for _, w := range st.want {
				if !strings.Contains(text, w) {
					t.Errorf("message lacks %q:\n%s", w, text)
				}
			}
			for _, w := range st.not {
				if strings.Contains(text, w) {
					t.Errorf("message has %q:\n%s", w, text)
				}
			}
			if _, ok := e.thread(t, st.n); ok != st.kept {
				t.Errorf("thread kept = %v, want %v", ok, st.kept)
			}
		})
	}
}

func TestResolveRetry(t *testing.T) {
	// The edit succeeds, the reply in the thread fails once with a 500.
	e := newEnv(t, config.Slack{}, func(method string, n int, w http.ResponseWriter) bool {
		if method == "chat.postMessage" && n == 2 {
			answer(w, 500, "<html>oops</html>")
			return true
		}
		return false
	})
	if err := e.n.Notify(t.Context(), probeDown("fire", false)); err != nil {
		t.Fatal(err)
	}
	resolved := probeDown("resolve", true)
	err := e.n.Notify(t.Context(), resolved)
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("Notify = %v, want a retryable error", err)
	}
	if th, ok := e.thread(t, resolved); !ok || th.ResolvedBy != "resolve" {
		t.Fatalf("thread = %+v, %v; want it kept, its edit recorded", th, ok)
	}
	if err := e.n.Notify(t.Context(), resolved); err != nil { // the outbox's retry
		t.Fatalf("retry: %v", err)
	}
	counts := map[string]int{}
	for _, c := range e.fake.got() {
		counts[c.method]++
	}
	if counts["chat.update"] != 1 || counts["chat.postMessage"] != 3 {
		t.Errorf("calls = %v, want 1 chat.update (not redone by the retry) and 3 chat.postMessage", counts)
	}
	if _, ok := e.thread(t, resolved); ok {
		t.Error("thread kept after the resolve")
	}
}

func TestResolvedWithoutThread(t *testing.T) {
	e := newEnv(t, config.Slack{}, nil)
	if err := e.n.Notify(t.Context(), probeDown("r", true)); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.got(); len(got) != 0 {
		t.Errorf("posted %d messages for a group never posted", len(got))
	}
}

func TestNotifyErrors(t *testing.T) {
	tests := []struct {
		name          string
		script        func(w http.ResponseWriter)
		wantErr       string
		wantPermanent bool
		wantAfter     time.Duration // from a *RetryAfterError, -1 for none
		wantLimited   int
	}{
		{
			name: "429 says when to retry",
			script: func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "7")
				answer(w, 429, `{"ok":false,"error":"ratelimited"}`)
			},
			wantErr: "slack: post message: rate limited (retry after 7s)", wantAfter: 7 * time.Second, wantLimited: 1,
		},
		{
			name: "500 is retried", script: func(w http.ResponseWriter) { answer(w, 500, "<html></html>") },
			wantErr: "slack: post message: server answered 500 Internal Server Error", wantAfter: -1,
		},
		{
			name: "503 is retried", script: func(w http.ResponseWriter) { answer(w, 503, "") },
			wantErr: "slack: post message: server answered 503 Service Unavailable", wantAfter: -1,
		},
		{
			name: "internal_error is retried", script: func(w http.ResponseWriter) { answer(w, 200, `{"ok":false,"error":"internal_error"}`) },
			wantErr: "slack: post message: internal_error", wantAfter: -1,
		},
		{
			name: "invalid_auth is permanent", script: func(w http.ResponseWriter) { answer(w, 200, `{"ok":false,"error":"invalid_auth"}`) },
			wantErr: "slack: post message: invalid_auth", wantPermanent: true, wantAfter: -1,
		},
		{
			name: "channel_not_found is permanent", script: func(w http.ResponseWriter) { answer(w, 200, `{"ok":false,"error":"channel_not_found"}`) },
			wantErr: "slack: post message: channel_not_found", wantPermanent: true, wantAfter: -1,
		},
		{
			name: "404 is permanent", script: func(w http.ResponseWriter) { answer(w, 404, "") },
			wantErr: "slack: post message: server answered 404 Not Found", wantPermanent: true, wantAfter: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, config.Slack{}, func(_ string, _ int, w http.ResponseWriter) bool { tt.script(w); return true })
			err := e.n.Notify(t.Context(), probeDown("x", false))
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
			want := "# HELP lookout_slack_rate_limited_total Answers from Slack to slow down (HTTP 429); each notification is retried after its Retry-After.\n" +
				"# TYPE lookout_slack_rate_limited_total counter\n" +
				"lookout_slack_rate_limited_total " + string(rune('0'+tt.wantLimited)) + "\n"
			if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
			if logged := strings.Contains(e.logs.String(), "giving up"); logged != tt.wantPermanent {
				t.Errorf("logged a give-up = %v, want %v; log:\n%s", logged, tt.wantPermanent, e.logs)
			}
			for _, s := range []string{err.Error(), e.logs.String()} {
				if strings.Contains(s, "S3CRETTOKEN") {
					t.Errorf("the token shows in %q", s)
				}
			}
			if _, ok := e.thread(t, probeDown("x", false)); ok {
				t.Error("a thread was kept for a message not posted")
			}
		})
	}
}

func TestNotifyServerDown(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	db := openDB(t, t.TempDir())
	defer db.Close()
	threads, err := NewBoltThreads(db)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(config.Slack{Token: token, Channel: "#oncall", APIURL: apiURL(t, closed.URL)}, Options{Threads: threads, Pacer: NewPacer(0)})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(t.Context(), probeDown("x", false))
	if err == nil || notify.IsPermanent(err) || !strings.HasPrefix(err.Error(), "slack: post message: ") {
		t.Fatalf("Notify = %v, want a retryable post error", err)
	}
	if strings.Contains(err.Error(), "S3CRETTOKEN") {
		t.Errorf("the token shows in %q", err)
	}
}

// TestAPIURLWithoutSlash: an api_url written without its trailing slash
// still reaches the Web API's methods.
func TestAPIURLWithoutSlash(t *testing.T) {
	fake := newFakeSlack(t, nil)
	db := openDB(t, t.TempDir())
	defer db.Close()
	threads, err := NewBoltThreads(db)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(fake.GetAPIURL(), "/")
	n, err := New(config.Slack{Token: token, Channel: "#oncall", APIURL: apiURL(t, base)}, Options{Threads: threads, Pacer: NewPacer(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(t.Context(), probeDown("x", false)); err != nil {
		t.Fatal(err)
	}
	if got := fake.got(); len(got) != 1 || got[0].method != "chat.postMessage" {
		t.Errorf("calls = %+v, want one chat.postMessage", got)
	}
}

func TestThreadsSurviveReopen(t *testing.T) {
	fake := newFakeSlack(t, nil)
	dir := t.TempDir()
	notifyOnce := func(id string) {
		db := openDB(t, dir)
		defer db.Close()
		threads, err := NewBoltThreads(db)
		if err != nil {
			t.Fatal(err)
		}
		n, err := New(config.Slack{Token: token, Channel: "#oncall", APIURL: apiURL(t, fake.GetAPIURL())}, Options{Threads: threads, Pacer: NewPacer(0)})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Notify(t.Context(), probeDown(id, false)); err != nil {
			t.Fatal(err)
		}
	}
	notifyOnce("before") // the daemon stops; the file is closed
	notifyOnce("after")
	got := fake.got()
	if len(got) != 2 {
		t.Fatalf("got %d calls, want 2", len(got))
	}
	if ts := got[1].form.Get("thread_ts"); ts != "1700000000.000001" {
		t.Errorf("after reopening, thread_ts = %q, want the first message's 1700000000.000001", ts)
	}
}

func TestWebhookMode(t *testing.T) {
	type receipt struct {
		path string
		body []byte
	}
	got := make(chan receipt, 10)
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		got <- receipt{r.URL.Path, b.Bytes()}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	n, err := New(config.Slack{WebhookURL: srv.URL + "/services/T0/B0/HOOKS3CRET", Mention: []string{"@channel"}},
		Options{Reason: reason, Pacer: NewPacer(0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		n    *alerting.Notification
		want []string
		not  []string
	}{
		{name: "firing", n: probeDown("f", false), want: []string{"FIRING · PAGE", "shop is down", "<!channel>", "HTTP 503"}, not: []string{"Silence 1h"}},
		{name: "resolved is a new message", n: probeDown("r", true), want: []string{"RESOLVED"}, not: []string{"<!channel>"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := n.Notify(t.Context(), tt.n); err != nil {
				t.Fatal(err)
			}
			r := <-got
			if r.path != "/services/T0/B0/HOOKS3CRET" {
				t.Errorf("posted to %s", r.path)
			}
			var m struct {
				Text   string          `json:"text"`
				Blocks json.RawMessage `json:"blocks"`
				TS     string          `json:"thread_ts"`
			}
			if err := json.Unmarshal(r.body, &m); err != nil {
				t.Fatal(err)
			}
			text := blockText(string(m.Blocks)) + "\n" + m.Text
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("message lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(text, w) {
					t.Errorf("message has %q:\n%s", w, text)
				}
			}
		})
	}
	t.Run("errors hide the URL", func(t *testing.T) {
		status = http.StatusNotFound
		err := n.Notify(t.Context(), probeDown("x", false))
		<-got
		if err == nil || !notify.IsPermanent(err) || strings.Contains(err.Error(), "HOOKS3CRET") {
			t.Errorf("Notify = %v, want a permanent error without the URL", err)
		}
		srv.Close()
		err = n.Notify(t.Context(), probeDown("x", false))
		if err == nil || notify.IsPermanent(err) || strings.Contains(err.Error(), "HOOKS3CRET") {
			t.Errorf("Notify = %v, want a retryable error without the URL", err)
		}
	})
}

// TestNewNeedsThreads: a token posts threads, so it needs a store for
// them. What the config may hold is checked by config.Load (see
// config/testdata/invalid-integrations.yml).
func TestNewNeedsThreads(t *testing.T) {
	if _, err := New(config.Slack{Token: token, Channel: "#c", APIURL: apiURL(t, "http://127.0.0.1:1/")}, Options{}); err == nil {
		t.Error("New without a threads store succeeded")
	}
}

// failures records what Options.WriteFailures hears.
type failures struct {
	mu   sync.Mutex
	errs []error
}

func (f *failures) WriteFailed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
}

func (f *failures) got() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errs)
}

// TestStorageFailureNeverHoldsAMessage: with its database gone (closed,
// as after a failed disk), every notification of a group is still
// posted, each one as a new message, and each thread that could not be
// kept is reported as a failed write.
func TestStorageFailureNeverHoldsAMessage(t *testing.T) {
	fake := newFakeSlack(t, nil)
	db := openDB(t, t.TempDir())
	threads, err := NewBoltThreads(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var fails failures
	var logs bytes.Buffer
	n, err := New(config.Slack{Token: token, Channel: "#oncall", APIURL: apiURL(t, fake.GetAPIURL())}, Options{
		Threads: threads, Pacer: NewPacer(0), WriteFailures: &fails, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2"} {
		if err := n.Notify(t.Context(), probeDown(id, false)); err != nil {
			t.Fatalf("Notify(%s) = %v, want it posted despite the storage", id, err)
		}
	}
	var got []string
	for _, c := range fake.got() {
		got = append(got, c.method+" thread_ts="+c.form.Get("thread_ts"))
	}
	if want := []string{"chat.postMessage thread_ts=", "chat.postMessage thread_ts="}; !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q (each a new message)", got, want)
	}
	errs := fails.got()
	if len(errs) != 2 {
		t.Fatalf("write failures reported = %v, want 2 (one thread not kept per message)", errs)
	}
	for _, err := range errs {
		if !errors.Is(err, bbolt.ErrDatabaseNotOpen) || !strings.Contains(err.Error(), "thread not kept") {
			t.Errorf("reported %q, want the cause and what it costs", err)
		}
	}
	if !strings.Contains(logs.String(), "cannot read the group's thread") {
		t.Errorf("the failed read is not logged:\n%s", logs.String())
	}
}
