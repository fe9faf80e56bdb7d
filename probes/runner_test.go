package probes_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// scripted is a target that answers each request with the next status of
// its script, then 200 for ever.
type scripted struct {
	mu     sync.Mutex
	script []int
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	code := http.StatusOK
	if len(s.script) > 0 {
		code, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	w.WriteHeader(code)
}

func newRunner(t *testing.T, url, extra string) *probes.Runner {
	t.Helper()
	yml := fmt.Sprintf("probes:\n  - name: flappy\n    labels: {team: api}\n%s    http:\n      url: %s\n", extra, url)
	cfg, err := config.Parse("test.yml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	transports := httpprobe.NewTransports()
	t.Cleanup(transports.CloseIdle)
	r, err := probes.Kinds{httpprobe.Kind(transports)}.NewRunner(cfg.Probes[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFlapDamping: with failures: 3 of 5, a flapping target stays up until
// three of its last five runs failed, and recovers once fewer have.
func TestFlapDamping(t *testing.T) {
	target := &scripted{script: []int{500, 200, 500, 200, 500, 500, 200, 200, 200, 200}}
	srv := httptest.NewServer(target)
	defer srv.Close()
	r := newRunner(t, srv.URL, "    failure_threshold: {failures: 3, of: 5}\n")
	want := []probes.State{
		probes.Up,   // 500: 1 of 1 failed
		probes.Up,   // 200
		probes.Up,   // 500: 2 of 3
		probes.Up,   // 200
		probes.Down, // 500: 3 of 5
		probes.Down, // 500: 3 of 5 (window 200,500,200,500,500)
		probes.Down, // 200: 3 of 5 (500,200,500,500,200)
		probes.Up,   // 200: 2 of 5
		probes.Up,
		probes.Up,
	}
	for i, w := range want {
		raw := r.Probe(t.Context())
		st := r.Status()
		if st.State != w {
			t.Fatalf("run %d (raw %s): damped state %s, want %s (reason %q)", i+1, raw.State, st.State, w, st.Reason)
		}
		if raw.State == probes.Down && st.State == probes.Up && !strings.Contains(st.Reason, "of the last") {
			t.Errorf("run %d: a failure below the threshold should say so in the reason, got %q", i+1, st.Reason)
		}
	}
	if got := r.Status().Results; len(got) != len(want) || httpprobe.FactsOf(got[0]).HTTP.StatusCode != 200 || httpprobe.FactsOf(got[len(got)-1]).HTTP.StatusCode != 500 {
		t.Errorf("history should hold %d results newest first", len(want))
	}
}

func TestRetryBeforeFailureCounts(t *testing.T) {
	srv := httptest.NewServer(&scripted{script: []int{503, 503, 503}})
	defer srv.Close()
	r := newRunner(t, srv.URL, "    retries: 1\n")
	first := r.Probe(t.Context())  // 503 then 503
	second := r.Probe(t.Context()) // 503 then 200
	if first.State != probes.Down || first.Attempts != 2 {
		t.Errorf("first run: %s after %d attempts, want down after 2", first.State, first.Attempts)
	}
	if second.State != probes.Up || second.Attempts != 2 {
		t.Errorf("second run: %s after %d attempts, want up after 2", second.State, second.Attempts)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	r := newRunner(t, srv.URL, "")
	for range probes.HistoryLen + 5 {
		r.Probe(t.Context())
	}
	if got := len(r.Status().Results); got != probes.HistoryLen {
		t.Errorf("history holds %d results, want %d", got, probes.HistoryLen)
	}
}

// TestHistoryKeepsEachRun: the results in the history read back as they
// were recorded: start, duration, state, attempts, reason and the kind's
// facts, for a failed run with retries as for a clean one.
func TestHistoryKeepsEachRun(t *testing.T) {
	srv := httptest.NewServer(&scripted{script: []int{500, 503}})
	defer srv.Close()
	r := newRunner(t, srv.URL, "    retries: 1\n")
	var ran []probes.Result
	for range 3 {
		ran = append(ran, r.Probe(t.Context()))
	}
	if ran[0].State != probes.Down || ran[0].Attempts != 2 || ran[0].Reason == "" || ran[1].State != probes.Up {
		t.Fatalf("runs: %s after %d attempts (%q), then %s; want down after 2 attempts with a reason, then up",
			ran[0].State, ran[0].Attempts, ran[0].Reason, ran[1].State)
	}
	got := r.Status().Results // newest first
	if len(got) != 3 {
		t.Fatalf("history holds %d results, want 3", len(got))
	}
	for i, want := range ran {
		h := got[len(got)-1-i]
		if !h.Start.Equal(want.Start) || h.Duration != want.Duration || h.State != want.State ||
			h.Attempts != want.Attempts || h.Reason != want.Reason {
			t.Errorf("run %d in the history: %v %v %s %d %q; recorded %v %v %s %d %q", i+1,
				h.Start, h.Duration, h.State, h.Attempts, h.Reason, want.Start, want.Duration, want.State, want.Attempts, want.Reason)
		}
		wantFacts := want.Facts.Past() // what the history keeps; the latest run has all
		if i == len(ran)-1 {
			wantFacts = want.Facts
		}
		if h.Facts == nil || !reflect.DeepEqual(h.Facts, wantFacts) {
			t.Errorf("run %d's facts in the history: %+v, want %+v", i+1, h.Facts, wantFacts)
		}
	}
}

// TestCollectorLabels: every metric of a probe carries probe and the
// probe's own labels, and runs are counted by result.
func TestCollectorLabels(t *testing.T) {
	srv := httptest.NewServer(&scripted{script: []int{500}})
	defer srv.Close()
	r := newRunner(t, srv.URL, "")
	r.Probe(t.Context())
	r.Probe(t.Context())
	c := probes.NewCollector(func() []*probes.Runner { return []*probes.Runner{r} }, probes.Kinds{r.Kind()})
	want := `
# HELP lookout_probe_runs_total Probe runs by raw result (up, degraded, down).
# TYPE lookout_probe_runs_total counter
lookout_probe_runs_total{probe="flappy",result="degraded",team="api"} 0
lookout_probe_runs_total{probe="flappy",result="down",team="api"} 1
lookout_probe_runs_total{probe="flappy",result="up",team="api"} 1
# HELP lookout_probe_state Damped probe state: 0 up, 1 degraded, 2 down.
# TYPE lookout_probe_state gauge
lookout_probe_state{probe="flappy",team="api"} 0
# HELP probe_http_status_code HTTP status code of the last response.
# TYPE probe_http_status_code gauge
probe_http_status_code{probe="flappy",team="api"} 200
# HELP probe_success Whether the last run of the probe succeeded (degraded counts as success).
# TYPE probe_success gauge
probe_success{probe="flappy",team="api"} 1
`
	if err := testutil.GatherAndCompare(c, strings.NewReader(want),
		"lookout_probe_runs_total", "lookout_probe_state", "probe_http_status_code", "probe_success"); err != nil {
		t.Error(err)
	}
}

// TestRunsAtZeroBeforeFirstRun: a probe's lookout_probe_runs_total (for
// every result) and lookout_probe_skipped_total are there at 0 from when
// its runner exists, before it ran, so increase() counts the first run or
// skip; a probe no longer listed (removed at a reload) has none.
func TestRunsAtZeroBeforeFirstRun(t *testing.T) {
	r := newRunner(t, "http://127.0.0.1:1", "")
	runners := []*probes.Runner{r}
	c := probes.NewCollector(func() []*probes.Runner { return runners }, probes.Kinds{runners[0].Kind()})
	want := `
# HELP lookout_probe_runs_total Probe runs by raw result (up, degraded, down).
# TYPE lookout_probe_runs_total counter
lookout_probe_runs_total{probe="flappy",result="degraded",team="api"} 0
lookout_probe_runs_total{probe="flappy",result="down",team="api"} 0
lookout_probe_runs_total{probe="flappy",result="up",team="api"} 0
# HELP lookout_probe_skipped_total Planned runs skipped because the previous run of the probe was still going.
# TYPE lookout_probe_skipped_total counter
lookout_probe_skipped_total{probe="flappy",team="api"} %d
`
	names := []string{"lookout_probe_runs_total", "lookout_probe_skipped_total"}
	if err := testutil.GatherAndCompare(c, strings.NewReader(fmt.Sprintf(want, 0)), names...); err != nil {
		t.Error(err)
	}
	r.Skip() // as the scheduler does when a planned run finds the last one going
	r.Skip()
	if err := testutil.GatherAndCompare(c, strings.NewReader(fmt.Sprintf(want, 2)), names...); err != nil {
		t.Errorf("after two skips: %v", err)
	}
	runners = nil
	if err := testutil.GatherAndCompare(c, strings.NewReader(""), names...); err != nil {
		t.Errorf("after the probe was removed: %v", err)
	}
}

// TestConcurrentScrapes: scrapes running at once, as Prometheus and the
// rule store do, each stream the same families as a Gather, although
// every scrape reuses its messages from family to family.
func TestConcurrentScrapes(t *testing.T) {
	srv := httptest.NewServer(&scripted{script: []int{500, 200, 503}})
	defer srv.Close()
	var runners []*probes.Runner
	for i := range 5 {
		r := newRunner(t, srv.URL, "")
		for range i + 1 {
			r.Probe(t.Context())
		}
		runners = append(runners, r)
	}
	c := probes.NewCollector(func() []*probes.Runner { return runners }, probes.Kinds{runners[0].Kind()})
	text := func(each func(func(*dto.MetricFamily) error) error) string {
		var b strings.Builder
		enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
		if err := each(enc.Encode); err != nil {
			t.Error(err)
		}
		return b.String()
	}
	gathered := text(func(fn func(*dto.MetricFamily) error) error {
		mfs, err := c.Gather()
		for _, mf := range mfs {
			err = errors.Join(err, fn(mf))
		}
		return err
	})
	if !strings.Contains(gathered, "lookout_probe_duration_seconds_bucket") || !strings.Contains(gathered, `phase="connect"`) {
		t.Fatalf("gather lacks the histogram or the phases:\n%s", gathered)
	}
	var wg sync.WaitGroup
	streamed := make([]string, 4)
	for i := range streamed {
		wg.Go(func() {
			for range 20 {
				streamed[i] = text(c.EachFamily)
			}
		})
	}
	wg.Wait()
	for i, s := range streamed {
		// Sorted by family, as Gather sorts them.
		if got, want := sortedFamilies(s), sortedFamilies(gathered); got != want {
			t.Errorf("scrape %d streamed other samples than Gather:\n%s\nwant:\n%s", i, got, want)
		}
	}
}

// sortedFamilies sorts an exposition's lines, so families compare
// regardless of their order.
func sortedFamilies(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestEachFamilyOf: a reader that wants a few families (the rule store)
// gets those, whole, and no others.
func TestEachFamilyOf(t *testing.T) {
	srv := httptest.NewServer(&scripted{})
	defer srv.Close()
	runners := []*probes.Runner{newRunner(t, srv.URL, ""), newRunner(t, srv.URL, "")}
	for _, r := range runners {
		r.Probe(t.Context())
	}
	c := probes.NewCollector(func() []*probes.Runner { return runners }, probes.Kinds{runners[0].Kind()})
	want := map[string]int{"probe_success": 2, "lookout_probe_runs_total": 6, "probe_http_duration_seconds": 10}
	got := map[string]int{}
	err := c.EachFamilyOf(func(name string) bool { _, ok := want[name]; return ok }, func(mf *dto.MetricFamily) error {
		got[mf.GetName()] = len(mf.GetMetric())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("families and their samples = %v, want %v", got, want)
	}
}

// TestDampingMoves: a probe that moves to another replica keeps its
// failure window: two failures of three needed on the old replica and one
// on the new make it down, where starting over would take three; a
// probe that was up with no failure publishes nothing, and the zero
// Damping empties an old window.
func TestDampingMoves(t *testing.T) {
	target := &scripted{script: []int{500, 500, 500}}
	srv := httptest.NewServer(target)
	defer srv.Close()
	const threshold = "    failure_threshold: {failures: 3, of: 5}\n"
	old, moved := newRunner(t, srv.URL, threshold), newRunner(t, srv.URL, threshold)
	if _, ok := old.Damping(); ok {
		t.Error("a probe that never ran has a damping to hand over")
	}
	old.Probe(t.Context())
	old.Probe(t.Context())
	d, ok := old.Damping()
	if !ok || d.Failures != 2 || d.State != probes.Up {
		t.Fatalf("after two failures: %+v, %v; want 2 failures, up", d, ok)
	}
	// It travels as JSON, through the cluster's database.
	data, err := json.Marshal(d)
	var back probes.Damping
	if err != nil || json.Unmarshal(data, &back) != nil || !back.Since.Equal(d.Since) || back.Window != d.Window || back.State != d.State || back.Reason != d.Reason {
		t.Fatalf("damping %+v does not survive JSON (%s): %+v", d, data, back)
	}
	if !moved.TakeDamping(back) {
		t.Fatal("the new replica refused the damping")
	}
	moved.Probe(t.Context())
	if st := moved.Status().State; st != probes.Down {
		t.Errorf("after the third failure, on the new replica: %s, want down", st)
	}
	other := newRunner(t, srv.URL, "    failure_threshold: {failures: 3, of: 4}\n")
	if other.TakeDamping(d) {
		t.Error("a window of 4 took a window of 5")
	}
	if !moved.TakeDamping(probes.Damping{}) {
		t.Fatal("the zero Damping was refused")
	}
	if _, ok := moved.Damping(); ok {
		t.Error("after the zero Damping the window still has failures")
	}
}
