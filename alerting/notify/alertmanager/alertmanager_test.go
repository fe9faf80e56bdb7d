package alertmanager

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/config"
)

// received is what an Alertmanager stand-in was sent.
type received struct {
	mu     sync.Mutex
	posts  [][]postable
	auth   []string
	status int
}

func (r *received) handler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/prefix/api/v2/alerts" || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s (%s), want POST /prefix/api/v2/alerts as JSON", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
		}
		var alerts []postable
		body, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(body, &alerts); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.posts = append(r.posts, alerts)
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		if r.status != 0 {
			http.Error(w, "refused", r.status)
		}
	})
}

func (r *received) take() ([][]postable, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, a := r.posts, r.auth
	r.posts, r.auth = nil, nil
	return p, a
}

func amURL(t *testing.T, base string) config.URL {
	t.Helper()
	u, err := url.Parse(base + "/prefix/")
	if err != nil {
		t.Fatal(err)
	}
	return config.URL{URL: u}
}

// waitPosts waits until the stand-ins got n POSTs in all.
func waitPosts(t *testing.T, n int, rs ...*received) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := 0
		for _, r := range rs {
			r.mu.Lock()
			got += len(r.posts)
			r.mu.Unlock()
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d POSTs after 5 s, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestForwardsToEveryAlertmanager: each Forward reaches every URL of the
// receiver with the bearer token; a firing alert is valid for ValidFor
// past the send, a resolved one keeps its end; a refusal is counted, and
// its error names neither the URL nor the token.
func TestForwardsToEveryAlertmanager(t *testing.T) {
	var one, two received
	s1 := httptest.NewServer(one.handler(t))
	defer s1.Close()
	s2 := httptest.NewServer(two.handler(t))
	defer s2.Close()
	reg := prometheus.NewRegistry()
	var logs lockedBuffer
	f, err := New([]config.Receiver{
		{Name: "slack", Slack: &config.Slack{}},
		{Name: "existing-am", Alertmanager: &config.AlertmanagerRcv{
			URLs: []config.URL{amURL(t, s1.URL), amURL(t, s2.URL)}, Timeout: config.Duration(time.Second), BearerToken: "s3cret-token",
		}},
	}, Options{ValidFor: 4 * time.Minute, Registerer: reg, Logger: newLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Receivers(); len(got) != 1 || !got["existing-am"] {
		t.Fatalf("Receivers() = %v, want only existing-am", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	started := time.Now().Add(-time.Minute).Truncate(time.Second)
	firing := alerting.Alert{Labels: model.LabelSet{"alertname": "ProbeDown", "probe": "api"}, Annotations: model.LabelSet{"summary": "api is down"},
		StartsAt: started, GeneratorURL: "http://lookout/rules"}
	ended := started.Add(30 * time.Second)
	resolved := alerting.Alert{Labels: model.LabelSet{"alertname": "ProbeDown", "probe": "home"}, StartsAt: started, EndsAt: ended}
	before := time.Now()
	f.Forward("existing-am", []alerting.Alert{firing, resolved})
	f.Forward("slack", []alerting.Alert{firing}) // not an Alertmanager receiver: nothing
	waitPosts(t, 2, &one, &two)
	for i, r := range []*received{&one, &two} {
		posts, auth := r.take()
		if len(posts) != 1 || len(posts[0]) != 2 {
			t.Fatalf("Alertmanager %d got %v, want one POST of two alerts", i, posts)
		}
		if auth[0] != "Bearer s3cret-token" {
			t.Errorf("Alertmanager %d: Authorization %q", i, auth[0])
		}
		for _, p := range posts[0] {
			switch p.Labels["probe"] {
			case "api":
				if !p.StartsAt.Equal(started) || p.EndsAt.Before(before.Add(4*time.Minute)) || p.EndsAt.After(time.Now().Add(4*time.Minute)) ||
					p.Annotations["summary"] != "api is down" || p.GeneratorURL != "http://lookout/rules" {
					t.Errorf("firing alert sent as %+v, want its start, annotations, and an end 4 min after the send", p)
				}
			case "home":
				if !p.EndsAt.Equal(ended) {
					t.Errorf("resolved alert sent with endsAt %s, want %s", p.EndsAt, ended)
				}
			default:
				t.Errorf("unexpected alert %v", p.Labels)
			}
		}
	}
	if got := testutil.ToFloat64(f.sent.WithLabelValues("existing-am", strings.TrimPrefix(s1.URL, "http://"))); got != 2 {
		t.Errorf("lookout_alertmanager_alerts_sent_total = %g, want 2", got)
	}

	two.mu.Lock()
	two.status = http.StatusBadRequest
	two.mu.Unlock()
	f.Forward("existing-am", []alerting.Alert{firing})
	waitPosts(t, 2, &one, &two)
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(f.failed.WithLabelValues("existing-am", strings.TrimPrefix(s2.URL, "http://"))) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a refused POST is not counted in lookout_alertmanager_errors_total")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, "400 Bad Request") || strings.Contains(l, s2.URL) || strings.Contains(l, "s3cret") {
		t.Errorf("the refusal's log should say why and show neither URL nor token:\n%s", l)
	}
}

// lockedBuffer is a log the forwarder's goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestSlowAlertmanagerKeepsTheNewest: while an Alertmanager does not
// answer, evaluations queue up to a bound, the oldest dropped and
// counted; once it answers, the newest state of each alert is sent.
func TestSlowAlertmanagerKeepsTheNewest(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got [][]postable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		<-release
		var alerts []postable
		_ = json.NewDecoder(req.Body).Decode(&alerts)
		mu.Lock()
		got = append(got, alerts)
		mu.Unlock()
	}))
	defer srv.Close()
	defer close(release)
	f, err := New([]config.Receiver{{Name: "am", Alertmanager: &config.AlertmanagerRcv{
		URLs: []config.URL{amURL(t, srv.URL)}, Timeout: config.Duration(30 * time.Second),
	}}}, Options{ValidFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	start := time.Now().Add(-time.Hour)
	alert := func(i int) alerting.Alert {
		return alerting.Alert{Labels: model.LabelSet{"alertname": "A"}, StartsAt: start, Annotations: model.LabelSet{"eval": model.LabelValue(strings.Repeat("x", i))}}
	}
	f.Forward("am", []alerting.Alert{alert(0)}) // taken by Run, held by the server
	time.Sleep(100 * time.Millisecond)
	const evals = 3 * queueBatches
	for i := 1; i <= evals; i++ {
		f.Forward("am", []alerting.Alert{alert(i)})
	}
	if d := testutil.ToFloat64(f.dropped.WithLabelValues("am")); d != evals-queueBatches {
		t.Errorf("dropped %g alerts, want the %d evaluations beyond the queue's %d", d, evals-queueBatches, queueBatches)
	}
	release <- struct{}{} // the held POST
	release <- struct{}{} // the queue's, merged into one
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d POSTs, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got[1]) != 1 || len(got[1][0].Annotations["eval"]) != evals {
		t.Errorf("after the queue drained, sent %v; want one alert, as of the last evaluation", got[1])
	}
}
