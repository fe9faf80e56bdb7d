package remotewrite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	bolt "go.etcd.io/bbolt"

	"github.com/lookout-dev/lookout/alerting/promtest"
	"github.com/lookout-dev/lookout/config"
)

const interval = 100 * time.Millisecond

// gateway stands between the writer and Prometheus's receiver: it checks
// each remote's credentials, can be down (503) for a while, and refuses
// every request to /refuse.
type gateway struct {
	*httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	seen map[string]int // requests by remote, as its credentials tell
}

func newGateway(t *testing.T, prom *promtest.Server) *gateway {
	target, _ := url.Parse(prom.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	g := &gateway{seen: map[string]int{}}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			http.Error(w, "out of bounds", http.StatusBadRequest)
			return
		}
		who := ""
		if user, pass, ok := r.BasicAuth(); ok && user == "lookout" && pass == "basic-secret" {
			who = "v1"
		}
		if r.Header.Get("Authorization") == "Bearer bearer-secret" && r.Header.Get("X-Scope-OrgID") == "team-a" {
			who = "v2"
		}
		if who == "" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		if g.down.Load() {
			http.Error(w, "receiver restarting", http.StatusServiceUnavailable)
			return
		}
		g.mu.Lock()
		g.seen[who]++
		g.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

// source is a registry in the shapes of Lookout's own families.
type source struct {
	reg      *prometheus.Registry
	runs     *prometheus.CounterVec
	duration prometheus.Histogram
	lag      prometheus.Summary
}

func newSource() *source {
	s := &source{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lookout_test_runs_total", Help: "Runs."},
			[]string{"probe"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lookout_test_duration_seconds", Help: "Durations.",
			Buckets: []float64{0.1, 0.5, 1}, NativeHistogramBucketFactor: 1.1}),
		lag: prometheus.NewSummary(prometheus.SummaryOpts{Name: "lookout_test_lag_seconds", Help: "Lag.",
			Objectives: map[float64]float64{0.5: 0.05}}),
	}
	s.reg.MustRegister(s.runs, s.duration, s.lag)
	return s
}

func (s *source) families(fn func(*dto.MetricFamily) error) error {
	mfs, err := s.reg.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if err := fn(mf); err != nil {
			return err
		}
	}
	return nil
}

func remoteConfig(t *testing.T, name, rawURL string) config.RemoteWrite {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return config.RemoteWrite{Name: name, URL: &config.URL{URL: u}, Timeout: config.Duration(5 * time.Second),
		Interval: config.Duration(interval), ProtobufMessage: config.RemoteWriteV1, Shards: 2,
		MaxSamplesPerSend: 3, MaxBuffer: 1 << 20, ExternalLabels: map[string]string{"remote": name}}
}

// TestRemoteWriteToPrometheus pushes counters, a native histogram (with
// its classic buckets) and a summary to a real Prometheus's remote-write
// receiver over both protocols, with basic auth, a bearer token and a
// header: Prometheus stores them as it would have scraped them, with job,
// instance and the external labels. While the receiver answers 503 the
// samples wait and arrive afterwards, with no gap; a series that goes away
// is marked stale; a remote that refuses counts its samples as failed and
// its URL's secrets appear in no log.
func TestRemoteWriteToPrometheus(t *testing.T) {
	prom := promtest.Prometheus(t, "global: {}\n", "--web.enable-remote-write-receiver",
		"--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest",
		"--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request")
	gw := newGateway(t, prom)
	src := newSource()
	src.runs.WithLabelValues("api").Add(3)
	src.runs.WithLabelValues("gone").Inc()
	for _, v := range []float64{0.05, 0.3, 0.3, 2} {
		src.duration.Observe(v)
		src.lag.Observe(v)
	}

	v1 := remoteConfig(t, "v1", gw.URL+"/api/v1/write")
	v1.BasicAuth = &config.BasicAuth{Username: "lookout", Password: "basic-secret"}
	v2 := remoteConfig(t, "v2", gw.URL+"/api/v1/write")
	v2.ProtobufMessage, v2.BearerToken, v2.Headers = config.RemoteWriteV2, "bearer-secret", map[string]string{"X-Scope-OrgID": "team-a"}
	refused := remoteConfig(t, "refused", strings.Replace(gw.URL, "http://", "http://probe:url-password@", 1)+"/refuse?token=query-secret")
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	w, err := New([]config.RemoteWrite{v1, v2, refused}, Options{Families: src.families, Instance: "replica-1",
		Registerer: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "lookout_remote_write_samples_sent_total"); n != 3 {
		t.Errorf("%d series of lookout_remote_write_samples_sent_total before anything was sent, want one per remote at 0", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	query := func(ctx context.Context, q string) (model.Vector, error) {
		v, err := prom.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		vec, _ := v.(model.Vector)
		return vec, nil
	}
	for _, remote := range []string{"v1", "v2"} {
		t.Run(remote, func(t *testing.T) {
			sel := fmt.Sprintf(`{job="lookout", instance="replica-1", remote=%q}`, remote)
			for q, want := range map[string]float64{
				`lookout_test_runs_total{probe="api"}`:            3,
				`lookout_test_duration_seconds_bucket{le="0.5"}`:  3,
				`lookout_test_duration_seconds_bucket{le="+Inf"}`: 4,
				`lookout_test_duration_seconds_count`:             4,
				`lookout_test_lag_seconds_count`:                  4,
				`lookout_test_lag_seconds{quantile="0.5"}`:        0.3,
			} {
				q = strings.Replace(q, "{", sel[:len(sel)-1]+", ", 1)
				if !strings.Contains(q, "{") {
					q += sel
				}
				promtest.Eventually(t, 15*time.Second, func(ctx context.Context) string {
					vec, err := query(ctx, q)
					if err != nil {
						return err.Error()
					}
					if len(vec) != 1 || float64(vec[0].Value) != want {
						return fmt.Sprintf("%s = %v, want %v", q, vec, want)
					}
					return ""
				})
			}
			promtest.Eventually(t, 15*time.Second, func(ctx context.Context) string {
				vec, err := query(ctx, "lookout_test_duration_seconds"+sel)
				if err != nil {
					return err.Error()
				}
				if len(vec) != 1 || vec[0].Histogram == nil || vec[0].Histogram.Count != 4 || len(vec[0].Histogram.Buckets) < 3 {
					return fmt.Sprintf("lookout_test_duration_seconds%s = %v, want the native histogram of 4 observations", sel, vec)
				}
				return ""
			})
		})
	}

	t.Run("the receiver away", func(t *testing.T) {
		retriesBefore := testutil.ToFloat64(w.remotes[0].m.retries.WithLabelValues("v1"))
		gw.down.Store(true)
		outage := time.Now()
		for range 15 {
			src.runs.WithLabelValues("api").Inc()
			time.Sleep(interval)
		}
		gw.down.Store(false)
		back := time.Now()
		if r := testutil.ToFloat64(w.remotes[0].m.retries.WithLabelValues("v1")); r <= retriesBefore {
			t.Errorf("retries %v, want more than %v while the receiver answered 503", r, retriesBefore)
		}
		promtest.Eventually(t, 20*time.Second, func(ctx context.Context) string {
			vec, err := query(ctx, `lookout_test_runs_total{probe="api", remote="v1"}`)
			if err != nil {
				return err.Error()
			}
			if len(vec) != 1 || vec[0].Value != 18 {
				return fmt.Sprintf("after the outage: %v, want 18", vec)
			}
			return ""
		})
		// Every gather of the outage arrived: the samples of the series
		// are never as far apart as the outage was long (a busy machine
		// may delay a gather by some intervals, never by 1.5 s of them).
		v, err := prom.Query(context.Background(), fmt.Sprintf(`lookout_test_runs_total{probe="api", remote="v1"}[%dms]`, time.Since(outage.Add(-time.Second)).Milliseconds()))
		if err != nil {
			t.Fatal(err)
		}
		m, _ := v.(model.Matrix)
		if len(m) != 1 {
			t.Fatalf("range query: %v", v)
		}
		var inOutage int
		for i, p := range m[0].Values {
			if p.Timestamp.Time().After(outage) && p.Timestamp.Time().Before(back) {
				inOutage++
			}
			if i > 0 {
				if gap := p.Timestamp.Sub(m[0].Values[i-1].Timestamp); gap > 10*interval {
					t.Errorf("a gap of %s in the samples at %s: gathers of the outage were lost", gap, p.Timestamp.Time().Format(time.StampMilli))
				}
			}
		}
		if inOutage < 5 {
			t.Errorf("%d samples from the %s outage arrived, want about one per %s", inOutage, back.Sub(outage).Round(time.Millisecond), interval)
		}
		if d := testutil.ToFloat64(w.remotes[0].m.dropped.WithLabelValues("v1")); d != 0 {
			t.Errorf("%v samples dropped, although the buffer had room", d)
		}
	})

	t.Run("a series that goes away is stale", func(t *testing.T) {
		if vec, err := query(context.Background(), `lookout_test_runs_total{probe="gone", remote="v2"}`); err != nil || len(vec) != 1 {
			t.Fatalf("before: %v %v", vec, err)
		}
		src.runs.DeleteLabelValues("gone")
		promtest.Eventually(t, 15*time.Second, func(ctx context.Context) string {
			vec, err := query(ctx, `lookout_test_runs_total{probe="gone"}`)
			if err != nil {
				return err.Error()
			}
			if len(vec) > 0 {
				return fmt.Sprintf("still there: %v", vec)
			}
			return ""
		})
	})

	t.Run("refused", func(t *testing.T) {
		promtest.Eventually(t, 10*time.Second, func(context.Context) string {
			if f := testutil.ToFloat64(w.remotes[2].m.failed.WithLabelValues("refused")); f == 0 {
				return "no sample of the refusing remote is counted failed"
			}
			return ""
		})
		if s := testutil.ToFloat64(w.remotes[2].m.sent.WithLabelValues("refused")); s != 0 {
			t.Errorf("%v samples counted sent to a remote that refuses them all", s)
		}
		text := logs.String()
		if !strings.Contains(text, "400 Bad Request") {
			t.Errorf("the log does not say why the receiver refused:\n%s", text)
		}
		for _, secret := range []string{"url-password", "query-secret", "basic-secret", "bearer-secret", "team-a"} {
			if strings.Contains(text, secret) {
				t.Errorf("the log holds the secret %q:\n%s", secret, text)
			}
		}
	})
}

// TestBufferSurvivesARestart: with lookout.db, requests that wait for a
// receiver that is away are still sent after Lookout restarts, before the
// new ones, and are forgotten once the receiver took them.
func TestBufferSurvivesARestart(t *testing.T) {
	prom := promtest.Prometheus(t, "global: {}\n", "--web.enable-remote-write-receiver")
	gw := newGateway(t, prom)
	db, err := bolt.Open(filepath.Join(t.TempDir(), "lookout.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := newSource()
	rc := remoteConfig(t, "v1", gw.URL+"/api/v1/write")
	rc.BasicAuth = &config.BasicAuth{Username: "lookout", Password: "basic-secret"}
	var failures writeFailures
	run := func(ctx context.Context) (*Writer, chan struct{}) {
		w, err := New([]config.RemoteWrite{rc}, Options{Families: src.families, Instance: "replica-1", DB: db, WriteFailures: &failures})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		return w, done
	}
	stored := func() int {
		n := 0
		db.View(func(tx *bolt.Tx) error {
			if b := tx.Bucket(bucketRemoteWrite); b != nil && b.Bucket([]byte("v1")) != nil {
				n = b.Bucket([]byte("v1")).Stats().KeyN
			}
			return nil
		})
		return n
	}

	gw.down.Store(true)
	ctx, stop := context.WithCancel(context.Background())
	_, done := run(ctx)
	away := time.Now()
	for range 10 {
		src.runs.WithLabelValues("api").Inc()
		time.Sleep(interval)
	}
	stop()
	<-done
	stopped := time.Now()
	kept := stored()
	if kept < 2 {
		t.Fatalf("%d requests kept in lookout.db after %s away; want one per gather and shard at least", kept, stopped.Sub(away).Round(time.Millisecond))
	}

	gw.down.Store(false)
	ctx, stop = context.WithCancel(context.Background())
	defer func() { stop(); <-done }()
	_, done = run(ctx)
	promtest.Eventually(t, 20*time.Second, func(ctx context.Context) string {
		v, err := prom.Query(ctx, fmt.Sprintf(`count_over_time(lookout_test_runs_total{probe="api"}[%dms] offset %dms)`,
			stopped.Sub(away).Milliseconds(), time.Since(stopped).Milliseconds()))
		if err != nil {
			return err.Error()
		}
		if vec, _ := v.(model.Vector); len(vec) != 1 || vec[0].Value < 3 {
			return fmt.Sprintf("samples of the time before the restart: %v, want about 10", v)
		}
		return ""
	})
	promtest.Eventually(t, 10*time.Second, func(context.Context) string {
		gw.mu.Lock()
		forwarded := gw.seen["v1"]
		gw.mu.Unlock()
		if n := stored(); n > 2 || forwarded < kept {
			return fmt.Sprintf("%d requests still kept, %d sent, after the receiver came back; want the %d kept before the restart sent and forgotten", n, forwarded, kept)
		}
		return ""
	})
	if n := failures.n.Load(); n != 0 {
		t.Errorf("%d writes to lookout.db failed", n)
	}
}

// writeFailures counts failed writes to lookout.db.
type writeFailures struct{ n atomic.Int64 }

func (w *writeFailures) WriteFailed(error) { w.n.Add(1) }

// TestBufferDropsOldest: a shard over its bound drops its oldest requests,
// never the newest, and counts their samples.
func TestBufferDropsOldest(t *testing.T) {
	s := &shard{max: 10, wake: make(chan struct{}, 1)}
	req := func(b byte, size, samples int, key uint64) request {
		return request{data: bytes.Repeat([]byte{b}, size), samples: samples, key: key}
	}
	if d, keys := s.push(req(1, 6, 3, 11)); d != 0 || len(keys) != 0 {
		t.Fatalf("dropped %d (%v) with room left", d, keys)
	}
	if d, keys := s.push(req(2, 6, 4, 12)); d != 3 || !slices.Equal(keys, []uint64{11}) {
		t.Errorf("dropped %d samples of %v, want the oldest request's 3, key 11", d, keys)
	}
	if d, keys := s.push(req(3, 20, 5, 13)); d != 4 || !slices.Equal(keys, []uint64{12}) {
		t.Errorf("dropped %d samples of %v, want 4 of key 12: a request larger than the bound is kept alone", d, keys)
	}
	got, ok := s.pop()
	if !ok || got.data[0] != 3 || got.samples != 5 || got.key != 13 {
		t.Errorf("left %v, want the newest request", got)
	}
	if _, ok := s.pop(); ok || s.bytes != 0 {
		t.Errorf("the buffer holds %d bytes after its last request", s.bytes)
	}
}

// syncBuffer is a log buffer the writer's goroutines share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)
