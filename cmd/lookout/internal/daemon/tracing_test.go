package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/alerting/notify/sentry/sentrytest"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes each export
// (protobuf, as the collector's otlp receiver does) and keeps its spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	auth  []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want protobuf at /v1/traces", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.auth = append(o.auth, r.Header.Get("Authorization"))
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func hexID(b []byte) string { return fmt.Sprintf("%x", b) }

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key != key {
			continue
		}
		if v, ok := kv.Value.Value.(*commonpb.AnyValue_IntValue); ok {
			return fmt.Sprint(v.IntValue)
		}
		return kv.Value.GetStringValue()
	}
	return ""
}

// TestTracing: with telemetry.tracing, every probe run is a trace exported
// over OTLP: a span for the run and one per attempt, which for an HTTP
// probe is its request's client span, with the HTTP conventions'
// attributes and an event per phase. The target receives the request
// span's traceparent (unless the probe turns it off), the duration
// histogram's exemplar in /metrics carries a run's trace ID, and a down
// run's span has an error status, each of its retries a span.
func TestTracing(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	target := newTracedTarget(t)

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`
storage: {path: %[3]s/lookout.db}
telemetry:
  tracing:
    endpoint: %[1]s
    headers: {Authorization: Bearer otlp-test-token}
    trace_url: https://grafana.example.com/explore?traceId={{ .TraceID }}
probes:
  - name: api
    interval: 1s
    http: {url: %[2]s/health}
  - name: quiet
    interval: 1s
    http: {url: %[2]s/quiet, propagate_trace: false}
  - name: broken
    interval: 1s
    retries: 1
    http: {url: %[2]s/broken}
  - name: journey
    interval: 1s
    flow:
      steps:
        - {name: first, http: {url: '%[2]s/flow'}, extract: {s: {cel: 'body.status'}}}
        - {name: second, http: {url: '%[2]s/flow?s={{ vars.s }}'}}
`, collector.URL, target.URL, dir))
	d := startDaemon(t, cfgFile)
	d.waitRuns(t, 2)
	_, metrics := d.get(t, "/metrics", "Accept", "application/openmetrics-text; version=1.0.0")
	d.stop(t) // exports the spans still buffered

	apiParents, quietParents := target.parents("/health"), target.parents("/quiet")
	for _, p := range quietParents {
		if p != "" {
			t.Errorf("propagate_trace: false, yet the target got traceparent %q", p)
		}
	}
	tp := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`)
	if len(apiParents) == 0 || !tp.MatchString(apiParents[0]) {
		t.Fatalf("the target got traceparents %q; want W3C traceparents of sampled spans", apiParents)
	}
	m := tp.FindStringSubmatch(apiParents[0])
	traceID, parentID := m[1], m[2]

	recv.mu.Lock()
	spans := append([]*tracepb.Span(nil), recv.spans...)
	auth := append([]string(nil), recv.auth...)
	recv.mu.Unlock()
	if len(auth) == 0 || auth[0] != "Bearer otlp-test-token" {
		t.Errorf("exports' Authorization %q; want the configured header", auth)
	}
	byID := map[string]*tracepb.Span{}
	var inTrace []*tracepb.Span
	for _, s := range spans {
		byID[hexID(s.SpanId)] = s
		if hexID(s.TraceId) == traceID {
			inTrace = append(inTrace, s)
		}
	}
	req := byID[parentID]
	if req == nil || hexID(req.TraceId) != traceID {
		t.Fatalf("no exported span is the traceparent's parent %s (%d spans in its trace)", parentID, len(inTrace))
	}
	if req.Name != "GET" || req.Kind != tracepb.Span_SPAN_KIND_CLIENT ||
		attr(req, "http.request.method") != "GET" || attr(req, "url.full") != target.URL+"/health" ||
		attr(req, "lookout.probe.attempt") != "1" || attr(req, "lookout.probe.state") != "up" ||
		attr(req, "server.address") != "127.0.0.1" || attr(req, "http.response.status_code") != "200" {
		t.Errorf("request span %s kind %s attributes %v; want GET, client, the HTTP client conventions' attributes, attempt 1, up", req.Name, req.Kind, req.Attributes)
	}
	run := byID[hexID(req.ParentSpanId)]
	if run == nil || run.Name != "probe api" || len(run.ParentSpanId) != 0 ||
		attr(run, "lookout.probe.name") != "api" || attr(run, "lookout.probe.kind") != "http" || attr(run, "lookout.probe.state") != "up" {
		t.Fatalf("the attempt's parent is %v; want the run's root span with the probe's name, kind and state", run)
	}
	phases := map[string]bool{}
	for _, e := range req.Events {
		phases[e.Name] = true
	}
	if !phases["connect"] || !phases["processing"] { // no resolve for an IP, no TLS over http://
		t.Errorf("the request span's events %v; want one per phase that took time (connect, processing, …)", phases)
	}

	var brokenRun *tracepb.Span
	for _, s := range spans {
		if s.Name == "probe broken" {
			brokenRun = s
		}
	}
	if brokenRun == nil || brokenRun.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || !strings.Contains(brokenRun.Status.GetMessage(), "503") {
		t.Fatalf("the down probe's run span %v; want an error status with the reason", brokenRun)
	}
	var tries []string
	for _, s := range spans {
		if bytes.Equal(s.ParentSpanId, brokenRun.SpanId) {
			tries = append(tries, s.Name+" "+attr(s, "lookout.probe.attempt")+" "+attr(s, "http.response.status_code")+" "+s.Status.GetCode().String())
		}
	}
	slices.Sort(tries)
	if want := []string{"GET 1 503 STATUS_CODE_ERROR", "GET 2 503 STATUS_CODE_ERROR"}; !slices.Equal(tries, want) {
		t.Errorf("the spans under the down run's (retries: 1) are %q; want %q", tries, want)
	}

	// A flow's steps are spans between the attempt and their requests.
	var second *tracepb.Span
	for _, s := range spans {
		if s.Name == "step second" {
			second = s
		}
	}
	if second == nil || attr(second, "lookout.flow.step") != "second" {
		t.Fatalf("no span of the flow's step second (%v)", second)
	}
	if a := byID[hexID(second.ParentSpanId)]; a == nil || a.Name != "attempt 1" || byID[hexID(a.ParentSpanId)].GetName() != "probe journey" {
		t.Errorf("step second's parent %v; want the attempt of probe journey's run", a)
	}
	stepReq := false
	for _, s := range spans {
		stepReq = stepReq || (hexID(s.ParentSpanId) == hexID(second.SpanId) && s.Name == "GET")
	}
	if !stepReq {
		t.Error("step second has no GET span under it")
	}
	flowEx := regexp.MustCompile(`lookout_flow_step_duration_seconds_bucket\{[^}]*probe="journey"[^}]*step="second"[^}]*\} \d+ # \{trace_id="([0-9a-f]{32})"\}`).FindStringSubmatch(metrics)
	if flowEx == nil {
		t.Errorf("no trace_id exemplar on journey's step histogram in /metrics:\n%s", grepLines(metrics, "lookout_flow_step_duration_seconds_bucket"))
	} else {
		ok := false
		for _, s := range spans {
			ok = ok || (s.Name == "step second" && hexID(s.TraceId) == flowEx[1])
		}
		if !ok {
			t.Errorf("the step histogram's exemplar %s is no traced run of step second", flowEx[1])
		}
	}

	ex := regexp.MustCompile(`lookout_probe_duration_seconds_bucket\{[^}]*probe="api"[^}]*\} \d+ # \{trace_id="([0-9a-f]{32})"\}`).FindStringSubmatch(metrics)
	if ex == nil {
		t.Fatalf("no trace_id exemplar on api's duration buckets in /metrics:\n%s", grepLines(metrics, "lookout_probe_duration_seconds_bucket"))
	}
	found := false
	for _, s := range spans {
		found = found || (s.Name == "probe api" && hexID(s.TraceId) == ex[1])
	}
	if !found {
		t.Errorf("the exemplar's trace %s is no exported run of api", ex[1])
	}
}

// tracedTarget is a probes' target that answers {"status":"UP"} (503 at
// /broken) and keeps the traceparent each request came with, by path.
type tracedTarget struct {
	*httptest.Server
	mu     sync.Mutex
	byPath map[string][]string
}

func newTracedTarget(t *testing.T) *tracedTarget {
	tt := &tracedTarget{byPath: map[string][]string{}}
	tt.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tt.mu.Lock()
		tt.byPath[r.URL.Path] = append(tt.byPath[r.URL.Path], r.Header.Get("Traceparent"))
		tt.mu.Unlock()
		if r.URL.Path == "/broken" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"status":"UP"}`)
	}))
	t.Cleanup(tt.Close)
	return tt
}

// parents are the traceparents of the requests to path, in order.
func (tt *tracedTarget) parents(path string) []string {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return append([]string(nil), tt.byPath[path]...)
}

// TestPagesLinkTheTrace: a page about a down probe links the trace of its
// failing run: Slack's message has a Trace link made from trace_url, and
// Sentry's event carries the run's trace context, both the trace the
// collector received for that run.
func TestPagesLinkTheTrace(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	target := newTracedTarget(t)
	sink := newNotificationSink(t)
	sentry := newSentrySink(t)
	dsn := sentry.dsn()

	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: test
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
`)
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`
storage: {path: %[3]s/data}
telemetry:
  tracing:
    endpoint: %[1]s
    trace_url: https://grafana.example.com/explore?traceId={{ .TraceID }}
alerting:
  evaluation_interval: 100ms
  builtin_rules: false
  rule_files: [rules.yml]
  route: {receiver: oncall, group_by: [alertname, probe], group_wait: 0s, group_interval: 200ms, repeat_interval: 1h}
  receivers:
    - name: oncall
      slack: {token: xoxb-test, channel: "#pages", api_url: "%[4]s/slack/"}
      sentry: {dsn: %[5]q}
probes:
  - name: broken
    interval: 1s
    retries: 1
    http: {url: %[2]s/broken}
`, collector.URL, target.URL, dir, sink.srv.URL, dsn))
	d := startDaemon(t, cfgFile)
	slack := waitForPage(t, sink, sentry, 20*time.Second, d.logs.String, func(evs []sentryEvent, _ []sentrytest.Attachment) bool { return len(evs) > 0 })
	d.stop(t)

	link := regexp.MustCompile(`(?:<|\\u003c)https://grafana\.example\.com/explore\?traceId=([0-9a-f]{32})\|:link: Trace`).FindStringSubmatch(strings.Join(slack, "\n"))
	if link == nil {
		t.Fatalf("the Slack message has no Trace link:\n%s", strings.Join(slack, "\n"))
	}
	events, _ := sentry.got()
	tc := events[0].Contexts["trace"]
	if tc == nil || tc["trace_id"] != link[1] || tc["span_id"] == "" {
		t.Errorf("the Sentry event's trace context %v; want the trace %s Slack links, with its span", tc, link[1])
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, s := range recv.spans {
		if s.Name == "probe broken" && hexID(s.TraceId) == link[1] && hexID(s.SpanId) == tc["span_id"] &&
			s.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			return
		}
	}
	var got []string
	for _, s := range recv.spans {
		if s.Name == "probe broken" {
			got = append(got, hexID(s.TraceId)+"/"+hexID(s.SpanId)+" "+s.Status.GetCode().String())
		}
	}
	t.Errorf("the collector got no failed run of broken with trace %s and span %v; its runs: %v", link[1], tc["span_id"], got)
}
