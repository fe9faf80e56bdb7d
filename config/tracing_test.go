package config

import (
	"strings"
	"testing"
)

// TestTracing: the telemetry.tracing loads, with its defaults, and
// each mistake is an error at its field that never shows the endpoint or
// a header's value.
func TestTracing(t *testing.T) {
	env := func(name string) (string, bool) {
		return map[string]string{"OTLP_TOKEN": "tok-secret-123"}[name], name == "OTLP_TOKEN"
	}
	cfg, err := Parse("t.yml", []byte(`
telemetry:
  tracing:
    endpoint: http://otel-collector:4318
    headers: {Authorization: "Bearer ${OTLP_TOKEN}"}
    sample_ratio: 1.0
    trace_url: https://grafana.example.com/explore?traceId={{ .TraceID }}
probes:
  - name: api
    http: {url: https://api.example.com/health}
  - name: quiet
    http: {url: https://api.example.com/health, propagate_trace: false}
`), env)
	if err != nil {
		t.Fatal(err)
	}
	tr := cfg.Telemetry.Tracing
	if tr.EndpointURL == nil || tr.EndpointURL.Host != "otel-collector:4318" || *tr.SampleRatio != 1 || tr.Headers["Authorization"] != "Bearer tok-secret-123" {
		t.Errorf("tracing %+v", tr)
	}
	if got := tr.TraceLink("4bf92f3577b34da6a3ce929d0e0e4736"); got != "https://grafana.example.com/explore?traceId=4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace link %q", got)
	}
	if !*cfg.Probes[0].HTTP.PropagateTrace || *cfg.Probes[1].HTTP.PropagateTrace {
		t.Errorf("propagate_trace: %v, %v; want the default true, then false", *cfg.Probes[0].HTTP.PropagateTrace, *cfg.Probes[1].HTTP.PropagateTrace)
	}

	bad := []struct{ yml, want string }{
		{"{endpoint: ''}", "telemetry.tracing.endpoint: missing"},
		{"{endpoint: 'ftp://user:pw@collector:21'}", `has scheme "ftp"`},
		{"{endpoint: 'http://user:pw@:4318'}", "has no host"},
		{"{endpoint: 'grpc://collector:4317', sample_ratio: 1.5}", "1.5 is not between 0 and 1"},
		{"{endpoint: 'grpcs://collector:4317', trace_url: 'https://g/{{ .TraceID'}", "is not a valid template"},
		{"{endpoint: 'grpcs://collector:4317', trace_url: 'https://g/explore'}", "has no {{ .TraceID }}"},
		{"{endpoint: 'http://collector:4318', headers: {'Bad Name': x}}", "is not a header name"},
	}
	for _, b := range bad {
		_, err := Parse("t.yml", []byte("telemetry:\n  tracing: "+b.yml+"\n"), env)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: error %v; want one containing %q", b.yml, err, b.want)
			continue
		}
		if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "tok-secret") {
			t.Errorf("%s: the error shows a secret: %v", b.yml, err)
		}
	}
}
