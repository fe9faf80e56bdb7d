package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// The OpenTelemetry Collector of TestOtelcol: LOOKOUT_OTELCOL_BIN is the
// binary that cmd/lookout/internal/otelcoltest/build.sh prints, and
// LOOKOUT_OTELCOL_TESTS=1 (set by .ci/test) turns a missing binary into a
// failure instead of a skip.
const (
	otelcolBinEnv     = "LOOKOUT_OTELCOL_BIN"
	otelcolRequireEnv = "LOOKOUT_OTELCOL_TESTS"
)

// otlpJSONSpan is a span as the collector's file exporter writes it: OTLP
// JSON, with IDs in hex and the kind as a number.
type otlpJSONSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         int    `json:"kind"`
	Attributes   []struct {
		Key   string `json:"key"`
		Value struct {
			String string `json:"stringValue"`
			Int    string `json:"intValue"`
		} `json:"value"`
	} `json:"attributes"`
}

func (s otlpJSONSpan) attr(key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.String + kv.Value.Int
		}
	}
	return ""
}

// readOTLPFile decodes the file exporter's output, one export request per
// line; a line still being written is left for the next read.
func readOTLPFile(path string) ([]otlpJSONSpan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spans []otlpJSONSpan
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var req struct {
			ResourceSpans []struct {
				ScopeSpans []struct {
					Spans []otlpJSONSpan `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			break
		}
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
	}
	return spans, sc.Err()
}

// startOtelcol runs the collector with an OTLP/HTTP receiver on a free
// loopback port and a file exporter writing OTLP JSON to out, waits until
// it listens, and stops it at the end of the test. It returns the
// receiver's http:// URL.
func startOtelcol(t *testing.T, bin, out string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otelcol: free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(t.TempDir(), "otelcol.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http: {endpoint: %q}
exporters:
  file: {path: %q, format: json}
service:
  telemetry:
    metrics: {level: none}
    logs: {level: warn}
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
`, addr, out))

	cmd := exec.Command(bin, "--config=file:"+cfg)
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatalf("otelcol: start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return "http://" + addr
		}
		select {
		case <-done:
			t.Fatalf("otelcol: exited before listening on %s", addr)
		case <-ctx.Done():
			t.Fatalf("otelcol: not listening on %s after 20 s", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestOtelcol exports a probe run's trace to a real OpenTelemetry Collector
// (its otlp receiver over OTLP/HTTP, its file exporter) and reads back what
// the collector wrote: the run's root span, its attempt (the HTTP client
// span), and the target's traceparent naming that client span.
func TestOtelcol(t *testing.T) {
	bin := os.Getenv(otelcolBinEnv)
	if bin == "" {
		msg := otelcolBinEnv + " is unset: build the collector with cmd/lookout/internal/otelcoltest/build.sh"
		if os.Getenv(otelcolRequireEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (set " + otelcolRequireEnv + "=1 to make this a failure)")
	}
	out := filepath.Join(t.TempDir(), "traces.json")
	collector := startOtelcol(t, bin, out)

	target := newTracedTarget(t)

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`
storage: {path: %[3]s/lookout.db}
telemetry:
  tracing: {endpoint: %[1]s}
probes:
  - name: api
    interval: 1s
    http: {url: %[2]s/health}
`, collector, target.URL, dir))
	d := startDaemon(t, cfgFile)
	d.waitRuns(t, 1)
	d.stop(t) // exports the spans still buffered

	first := ""
	if parents := target.parents("/health"); len(parents) > 0 {
		first = parents[0]
	}
	m := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("the target got traceparent %q; want the W3C traceparent of a sampled span", first)
	}
	traceID, parentID := m[1], m[2]

	// The file exporter writes on its own schedule: wait, bounded, until the
	// request span and its ancestors are in the file.
	var (
		byID     map[string]otlpJSONSpan
		req      otlpJSONSpan
		run      otlpJSONSpan
		complete bool
	)
	deadline := time.Now().Add(20 * time.Second)
	for !complete {
		spans, err := readOTLPFile(out)
		if err != nil && !os.IsNotExist(err) {
			t.Fatalf("read the collector's file %s: %v", out, err)
		}
		byID = map[string]otlpJSONSpan{}
		for _, s := range spans {
			byID[s.SpanID] = s
		}
		var okReq, okRun bool
		req, okReq = byID[parentID]
		run, okRun = byID[req.ParentSpanID]
		complete = okReq && okRun
		if !complete && time.Now().After(deadline) {
			t.Fatalf("after 20 s the collector's file holds %d spans; want the traceparent's span %s (the attempt's) and its run's", len(spans), parentID)
		}
		if !complete {
			time.Sleep(100 * time.Millisecond)
		}
	}

	const spanKindClient = 3
	if req.TraceID != traceID || req.Name != "GET" || req.Kind != spanKindClient ||
		req.attr("http.request.method") != "GET" || req.attr("url.full") != target.URL+"/health" ||
		req.attr("http.response.status_code") != "200" || req.attr("lookout.probe.attempt") != "1" {
		t.Errorf("the traceparent's span is %+v; want the GET client span of trace %s, the first attempt's, with the HTTP conventions' attributes", req, traceID)
	}
	if run.Name != "probe api" || run.ParentSpanID != "" || run.TraceID != traceID ||
		run.attr("lookout.probe.name") != "api" || run.attr("lookout.probe.state") != "up" {
		t.Errorf("the attempt's parent is %+v; want the root span \"probe api\" of the run, state up", run)
	}
}
