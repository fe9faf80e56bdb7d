package rules_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/rules/ruletest"
	"github.com/lookout-dev/lookout/alerting/store"
)

// recorder is the dispatcher's side: it keeps what each evaluation sent.
type recorder struct {
	mu     sync.Mutex
	alerts []alerting.Alert
}

func (r *recorder) Put(as ...alerting.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, as...)
}

func (r *recorder) take() []alerting.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.alerts
	r.alerts = nil
	return out
}

func writeRules(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type harness struct {
	file string
	st   *store.Store
	m    *rules.Manager
	sent *recorder
	t0   time.Time
}

func newHarness(t *testing.T, ruleYAML string) *harness {
	t.Helper()
	file := writeRules(t, ruleYAML)
	groups, err := rules.Load([]string{file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{file: file, st: store.New(store.Options{}), sent: &recorder{}, t0: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	h.m = rules.NewManager(rules.Options{Storage: h.st, Sender: h.sent, Interval: time.Minute}, prometheus.NewRegistry())
	h.m.Update(groups)
	return h
}

// at is the time of evaluation step i (one a minute).
func (h *harness) at(i int) time.Time { return h.t0.Add(time.Duration(i) * time.Minute) }

// step writes up{job="api"} = v at step i and evaluates every group.
func (h *harness) step(t *testing.T, i int, v float64) {
	t.Helper()
	if err := h.st.Append(h.at(i), labels.FromStrings("__name__", "up", "job", "api"), v); err != nil {
		t.Fatal(err)
	}
	for _, g := range h.m.Groups() {
		h.m.EvalGroup(context.Background(), g, h.at(i))
	}
}

// query runs an instant query at step i and renders the result.
func (h *harness) query(t *testing.T, q string, i int) string {
	t.Helper()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute})
	qry, err := eng.NewInstantQuery(context.Background(), h.st, nil, q, h.at(i))
	if err != nil {
		t.Fatal(err)
	}
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	vec := res.Value.(promql.Vector)
	var parts []string
	for _, s := range vec {
		parts = append(parts, s.Metric.String()+" "+strconv.FormatFloat(s.F, 'f', -1, 64))
	}
	return strings.Join(parts, "; ")
}

func (h *harness) state(t *testing.T) string {
	t.Helper()
	for _, g := range h.m.Groups() {
		for _, r := range g.Rules {
			if ar, ok := r.(*rules.AlertingRule); ok {
				as := ar.Alerts()
				if len(as) == 0 {
					return "none"
				}
				return as[0].State.String()
			}
		}
	}
	return "no rule"
}

// TestForAndKeepFiringFor pins the state machine to Prometheus's: pending
// until `for` has passed, firing, held by keep_firing_for, then resolved
// (inactive) and kept; a pending alert whose condition goes is dropped.
func TestForAndKeepFiringFor(t *testing.T) {
	const ruleFile = `groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 2m
        keep_firing_for: %s
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} is down ({{ $value }})"}
`
	tests := []struct {
		name       string
		keepFiring string
		ups        []float64 // up at each step
		want       []string  // alert state after each step
	}{
		{"pending then firing then resolved", "0s",
			[]float64{0, 0, 0, 0, 1, 1},
			[]string{"pending", "pending", "firing", "firing", "inactive", "inactive"}},
		{"pending dropped when the condition goes", "0s",
			[]float64{0, 1, 0, 0, 0},
			[]string{"pending", "none", "pending", "pending", "firing"}},
		{"keep_firing_for holds a firing alert", "2m",
			[]float64{0, 0, 0, 1, 1, 1, 1},
			[]string{"pending", "pending", "firing", "firing", "firing", "inactive", "inactive"}},
		{"keep_firing_for resets when the condition returns", "2m",
			[]float64{0, 0, 0, 1, 0, 1, 1, 1},
			[]string{"pending", "pending", "firing", "firing", "firing", "firing", "firing", "inactive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, fmt.Sprintf(ruleFile, tt.keepFiring))
			for i, v := range tt.ups {
				h.step(t, i, v)
				if got := h.state(t); got != tt.want[i] {
					t.Fatalf("step %d (up=%g): state %s, want %s", i, v, got, tt.want[i])
				}
			}
		})
	}
}

// TestAlertsSeries: ALERTS and ALERTS_FOR_STATE are written as Prometheus
// writes them, and go stale when the alert resolves.
func TestAlertsSeries(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 1m
        labels: {severity: page}
`)
	h.step(t, 0, 0)
	want := `{__name__="ALERTS", alertname="Down", alertstate="pending", job="api", severity="page"} 1`
	if got := h.query(t, "ALERTS", 0); got != want {
		t.Errorf("step 0 ALERTS:\n got %s\nwant %s", got, want)
	}
	h.step(t, 1, 0)
	want = `{__name__="ALERTS", alertname="Down", alertstate="firing", job="api", severity="page"} 1`
	if got := h.query(t, "ALERTS", 1); got != want {
		t.Errorf("step 1 ALERTS:\n got %s\nwant %s", got, want)
	}
	wantFor := fmt.Sprintf(`{__name__="ALERTS_FOR_STATE", alertname="Down", job="api", severity="page"} %d`, h.at(0).Unix())
	if got := h.query(t, "ALERTS_FOR_STATE", 1); got != wantFor {
		t.Errorf("ALERTS_FOR_STATE:\n got %s\nwant %s", got, wantFor)
	}
	h.step(t, 2, 1)
	if got := h.query(t, "ALERTS", 2); got != "" {
		t.Errorf("ALERTS after resolving: %s, want nothing (stale)", got)
	}
}

func TestSentAlertsAndTemplates(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        labels: {severity: page, service: "{{ $labels.job }}-svc"}
        annotations: {summary: "{{ $labels.job }} is down (up={{ $value }})"}
`)
	h.step(t, 0, 0)
	sent := h.sent.take()
	if len(sent) != 1 {
		t.Fatalf("sent %d alerts, want 1 firing", len(sent))
	}
	a := sent[0]
	if a.Labels["service"] != "api-svc" || a.Annotations["summary"] != "api is down (up=0)" || !a.EndsAt.IsZero() || !a.StartsAt.Equal(h.at(0)) {
		t.Errorf("firing alert: %+v", a)
	}
	h.step(t, 1, 1)
	sent = h.sent.take()
	if len(sent) != 1 || !sent[0].ResolvedAt(h.at(1)) {
		t.Fatalf("after recovery sent %+v, want the alert resolved at step 1", sent)
	}
}

func TestRecordingRule(t *testing.T) {
	h := newHarness(t, `groups:
  - name: rec
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: {source: lookout}
`)
	h.step(t, 0, 1)
	want := `{__name__="job:up:sum", job="api", source="lookout"} 1`
	if got := h.query(t, "job:up:sum", 0); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestRecordingRuleHistogram: a recording rule whose result is a native
// histogram records it, as Prometheus does, so later rules read it; the
// recorded series ends with a staleness marker when its input ends.
func TestRecordingRuleHistogram(t *testing.T) {
	h := newHarness(t, `groups:
  - name: rec
    rules:
      - record: job:request_duration_seconds:rate5m
        expr: sum by (job) (rate(request_duration_seconds[5m]))
      - record: job:request_duration_seconds:sum
        expr: sum by (job) (request_duration_seconds)
      - record: job:request_duration_seconds:p90
        expr: histogram_quantile(0.9, job:request_duration_seconds:rate5m)
`)
	reg := prometheus.NewRegistry()
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "request_duration_seconds", ConstLabels: prometheus.Labels{"job": "api"}, NativeHistogramBucketFactor: 1.1,
	})
	reg.MustRegister(hist)
	tick := func(i int) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		h.st.Ingest(h.at(i), mfs)
		for _, g := range h.m.Groups() {
			h.m.EvalGroup(context.Background(), g, h.at(i))
		}
	}
	for i := range 6 {
		for k := range 10 {
			hist.Observe(0.1 * float64(k+1))
		}
		tick(i)
	}
	tests := []struct {
		name, query, want string
	}{
		{"the rate is recorded as a histogram",
			`histogram_count(job:request_duration_seconds:rate5m) == histogram_count(sum by (job) (rate(request_duration_seconds[5m])))`,
			`{job="api"} 0.16666666666666666`},
		{"the sum is recorded as a histogram",
			`histogram_count(job:request_duration_seconds:sum)`, `{job="api"} 60`},
		{"a rule reads a recorded histogram",
			`job:request_duration_seconds:p90 == histogram_quantile(0.9, sum by (job) (rate(request_duration_seconds[5m])))`,
			`{__name__="job:request_duration_seconds:p90", job="api"} 0.9170040432046711`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.query(t, tt.query, 5); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
	reg.Unregister(hist)
	tick(6)
	if got := h.query(t, "job:request_duration_seconds:sum", 6); got != "" {
		t.Errorf("after its input ended, the recorded histogram is %s; want none", got)
	}
}

// TestReloadKeepsState: reloading the same rule keeps its pending clock.
func TestReloadKeepsState(t *testing.T) {
	const rule = `groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 2m
`
	h := newHarness(t, rule)
	h.step(t, 0, 0)
	h.step(t, 1, 0)
	groups, err := rules.Load([]string{h.file}, nil) // the same file, read again
	if err != nil {
		t.Fatal(err)
	}
	h.m.Update(groups)
	h.step(t, 2, 0)
	if got := h.state(t); got != "firing" {
		t.Errorf("after reload and one more step: %s, want firing (the for clock kept)", got)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := rules.Load([]string{"testdata/bad.yml", "testdata/nonexistent.yml"}, nil)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"testdata/bad.yml:5:15: group \"probes\", rule 1, \"ProbeDown\": could not parse expression",
		"testdata/bad.yml: group \"probes\", rule 2, \"Missing\": field 'expr' must be set in rule",
		`rule_files "testdata/nonexistent.yml": no such file`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

// TestRunTicks: the manager ingests and evaluates on its interval.
func TestRunTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := store.New(store.Options{})
		groups, err := rules.Load([]string{writeRules(t, "groups:\n  - name: g\n    rules:\n      - alert: Always\n        expr: vector(1)\n")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		ingests := 0
		sent := &recorder{}
		m := rules.NewManager(rules.Options{Storage: st, Sender: sent, Interval: 15 * time.Second,
			Ingest: func(time.Time) { mu.Lock(); ingests++; mu.Unlock() }}, prometheus.NewRegistry())
		m.Update(groups)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		time.Sleep(61 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if ingests != 4 {
			t.Errorf("%d ingests in 61s at 15s, want 4", ingests)
		}
		if n := len(sent.take()); n != 4 {
			t.Errorf("sent %d times, want 4 (once per evaluation)", n)
		}
	})
}

// TestBuiltinProbeDown: the built-in pack loads, can be turned off by
// name, and its ProbeDown fires from lookout_probe_state after its `for`.
func TestBuiltinProbeDown(t *testing.T) {
	all, err := rules.Builtin(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, g := range all {
		for _, r := range g.Rules {
			names[r.Name()] = true
		}
	}
	for _, want := range []string{"ProbeDown", "ProbeDegraded", "CertificateExpiresSoon", "WebVitalsP75Poor",
		"MongoDBDown", "ReplicationLagHigh", "OplogWindowShort", "UnusedIndex", "CollscanQueriesRising",
		"MongoDBBackupStale", "MongoDBBackupFailed", "MongoDBBackupStuck", "MongoDBBackupShrunk", "MongoDBPITRLagHigh",
		"MongoDBBackupCopyStale", "MongoDBBackupRetentionShort", "MongoDBRestoreTestStale"} {
		if !names[want] {
			t.Errorf("built-in pack lacks %s", want)
		}
	}
	without, err := rules.Builtin([]string{"ProbeDegraded"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range without {
		for _, r := range g.Rules {
			if r.Name() == "ProbeDegraded" {
				t.Error("ProbeDegraded is still there after disabling it")
			}
		}
	}

	st := store.New(store.Options{})
	sent := &recorder{}
	m := rules.NewManager(rules.Options{Storage: st, Sender: sent, Interval: 15 * time.Second}, prometheus.NewRegistry())
	m.Update(all)
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	series := labels.FromStrings("__name__", "lookout_probe_state", "probe", "api-health", "team", "api")
	for i := range 6 { // 75s of a down probe at 15s
		ts := t0.Add(time.Duration(i) * 15 * time.Second)
		if err := st.Append(ts, series, 2); err != nil {
			t.Fatal(err)
		}
		for _, g := range m.Groups() {
			m.EvalGroup(context.Background(), g, ts)
		}
	}
	var fired []alerting.Alert
	for _, a := range sent.take() {
		if a.Name() == "ProbeDown" {
			fired = append(fired, a)
		}
	}
	if len(fired) == 0 {
		t.Fatal("ProbeDown did not fire after 75s of lookout_probe_state == 2")
	}
	a := fired[len(fired)-1]
	if a.Labels["probe"] != "api-health" || a.Labels["severity"] != "page" || a.Annotations["summary"] != "Probe api-health is down" {
		t.Errorf("ProbeDown alert: %+v", a)
	}
}

// TestRestoredAlertsWaitForTheirSeries: after a restart the store is
// empty; restored alerts keep their state through the grace period and
// resolve only if their series still say so afterwards.
func TestRestoredAlertsWaitForTheirSeries(t *testing.T) {
	h := newHarness(t, `groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
`)
	h.step(t, 0, 0)
	var saved []rules.Alert
	for _, g := range h.m.Groups() {
		saved = g.Rules[0].(*rules.AlertingRule).Alerts()
	}
	// A "restarted" manager over an empty store, restoring the alert.
	h2 := newHarness(t, `groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
`)
	ar := h2.m.Groups()[0].Rules[0].(*rules.AlertingRule)
	ar.Restore(saved, h2.at(2))
	for _, g := range h2.m.Groups() {
		h2.m.EvalGroup(context.Background(), g, h2.at(1)) // no series yet
	}
	if got := h2.state(t); got != "firing" {
		t.Errorf("within the grace period with no series: %s, want firing kept", got)
	}
	for _, g := range h2.m.Groups() {
		h2.m.EvalGroup(context.Background(), g, h2.at(3)) // grace over, still no series
	}
	if got := h2.state(t); got != "inactive" {
		t.Errorf("after the grace period with no series: %s, want resolved", got)
	}
}

// TestAdoptOverAnEarlierIncident: a probe moves back to a replica that
// resolved its alert in an earlier incident while the replica it leaves
// has it firing again. The adopted alert replaces the old resolved one,
// so it keeps firing instead of resolving and paging again; adopting it
// once more after it resolved here does not bring it back.
func TestAdoptOverAnEarlierIncident(t *testing.T) {
	const rule = `groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
`
	elsewhere := newHarness(t, rule) // the replica the probe leaves
	elsewhere.step(t, 2, 0)
	var moved []rules.Alert
	for _, g := range elsewhere.m.Groups() {
		moved = g.Rules[0].(*rules.AlertingRule).Alerts()
	}
	if len(moved) != 1 || moved[0].State != rules.StateFiring {
		t.Fatalf("the other replica's alerts: %+v, want one firing", moved)
	}

	h := newHarness(t, rule)
	h.step(t, 0, 0) // the earlier incident here…
	h.step(t, 1, 1) // …resolved
	if got := h.state(t); got != "inactive" {
		t.Fatalf("after the earlier incident: %s, want inactive", got)
	}
	h.sent.take()
	ar := h.m.Groups()[0].Rules[0].(*rules.AlertingRule)
	if n := ar.Adopt(moved, h.at(4)); n != 1 {
		t.Fatalf("adopted %d alerts over the earlier resolved one, want 1", n)
	}
	for _, g := range h.m.Groups() {
		h.m.EvalGroup(context.Background(), g, h.at(3)) // the probe has not run here yet
	}
	if got := h.state(t); got != "firing" {
		t.Errorf("adopted over an earlier incident, before the probe runs here: %s, want firing", got)
	}
	for _, a := range h.sent.take() {
		if !a.EndsAt.IsZero() {
			t.Errorf("sent the alert resolved (ends %s) while the other replica had it firing", a.EndsAt)
		}
	}

	h.step(t, 5, 1) // up here: resolved here, after the adopted alert began
	if got := h.state(t); got != "inactive" {
		t.Fatalf("up on this replica: %s, want inactive", got)
	}
	if n := ar.Adopt(moved, h.at(8)); n != 0 {
		t.Errorf("adopted the other replica's stale firing alert again after it resolved here (%d)", n)
	}
	h.step(t, 6, 1)
	if got := h.state(t); got != "inactive" {
		t.Errorf("after adopting a stale alert again: %s, want inactive", got)
	}
}

// TestBuiltinWebVitalsRule runs the promtool-format unit test of the
// built-in WebVitalsP75Poor rule.
func TestBuiltinWebVitalsRule(t *testing.T) {
	var out strings.Builder
	if sum := ruletest.Run(context.Background(), &out, "testdata/webvitals_test.yml"); !sum.OK() || sum.Tests != 2 {
		t.Errorf("rule unit test failed:\n%s", out.String())
	}
}

// TestBuiltinProbeRules runs the promtool-format unit tests of the
// built-in probe rules.
func TestBuiltinProbeRules(t *testing.T) {
	var out strings.Builder
	if sum := ruletest.Run(context.Background(), &out, "testdata/probes_test.yml"); !sum.OK() || sum.Tests != 2 {
		t.Errorf("rule unit tests failed (%+v):\n%s", sum, out.String())
	}
}

// TestBuiltinMongoDBRules runs the promtool-format unit tests of the
// built-in MongoDB rules.
func TestBuiltinMongoDBRules(t *testing.T) {
	var out strings.Builder
	if sum := ruletest.Run(context.Background(), &out, "testdata/mongodb_test.yml"); !sum.OK() || sum.Tests != 4 {
		t.Errorf("rule unit tests failed (%+v):\n%s", sum, out.String())
	}
}

// TestMetricNames: the manager tells which metric names its rules read,
// or that it needs everything.
func TestMetricNames(t *testing.T) {
	tests := []struct {
		name    string
		exprs   []string
		want    []string
		wantAll bool
	}{
		{"named selectors", []string{"lookout_probe_state == 2", "histogram_quantile(0.75, rate(x_bucket[5m])) > 1"}, []string{"lookout_probe_state", "x_bucket"}, false},
		{"a selector without a name", []string{"up == 0", `{job="api"} == 0`}, nil, true},
		{"a name regexp", []string{`{__name__=~"probe_.*"} == 0`}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("groups:\n  - name: g\n    rules:\n")
			for i, e := range tt.exprs {
				fmt.Fprintf(&b, "      - alert: A%d\n        expr: '%s'\n", i, e)
			}
			h := newHarness(t, b.String())
			names, all := h.m.MetricNames()
			if all != tt.wantAll {
				t.Fatalf("all = %v, want %v", all, tt.wantAll)
			}
			for _, n := range tt.want {
				if !names[n] {
					t.Errorf("names %v lack %s", names, n)
				}
			}
		})
	}
}
