package config

import (
	"net/url"
	"strings"
	"text/template"
)

// Tracing sends a trace of every probe run to an OpenTelemetry collector
// (telemetry.tracing).
type Tracing struct {
	// Endpoint is the collector: http:// or https:// for OTLP over HTTP
	// (protobuf; /v1/traces is added when the URL has no path), grpc://
	// for OTLP over gRPC in plain text, grpcs:// over TLS. It may hold
	// credentials, so it never appears in errors or logs.
	Endpoint string `yaml:"endpoint"`
	// Headers go with every export (an Authorization token); their values
	// are secrets.
	Headers map[string]string `yaml:"headers"`
	// SampleRatio is the share of runs traced, 0 to 1; default 1.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// TraceURL links a trace in notifications: a Go template given
	// .TraceID, like https://grafana.example.com/explore?traceId={{ .TraceID }}.
	TraceURL string `yaml:"trace_url"`
	// EndpointURL is Endpoint parsed, and TraceURLTemplate TraceURL.
	EndpointURL      *url.URL           `yaml:"-" json:"-"`
	TraceURLTemplate *template.Template `yaml:"-" json:"-"`
}

// Tracing's endpoint schemes.
const (
	TracingHTTP  = "http"
	TracingHTTPS = "https"
	TracingGRPC  = "grpc"
	TracingGRPCS = "grpcs"
)

func (t *Tracing) check(d *decoder, path string) {
	u, err := url.Parse(t.Endpoint)
	switch {
	case t.Endpoint == "":
		d.errorAt(path+".endpoint", "missing; want the collector's OTLP endpoint, like http://otel-collector:4318 or grpc://otel-collector:4317")
	case err != nil:
		d.errorAt(path+".endpoint", "is not a valid URL (the value is not shown: it may hold credentials); want http://HOST:4318 or grpc://HOST:4317")
	case u.Scheme != TracingHTTP && u.Scheme != TracingHTTPS && u.Scheme != TracingGRPC && u.Scheme != TracingGRPCS:
		d.errorAt(path+".endpoint", "has scheme %q; want http:// or https:// (OTLP over HTTP), grpc:// or grpcs:// (OTLP over gRPC, in plain text or TLS)", u.Scheme)
	case u.Hostname() == "":
		d.errorAt(path+".endpoint", "has no host; want the collector's address, like http://otel-collector:4318")
	default:
		t.EndpointURL = u
	}
	checkHeaders(d, path+".headers", t.Headers)
	one := 1.0
	switch {
	case t.SampleRatio == nil:
		t.SampleRatio = &one
	case *t.SampleRatio < 0 || *t.SampleRatio > 1:
		d.errorAt(path+".sample_ratio", "%g is not between 0 and 1; want the share of probe runs to trace, like 1 or 0.1", *t.SampleRatio)
	}
	if t.TraceURL != "" {
		tmpl, err := template.New("trace_url").Option("missingkey=error").Parse(t.TraceURL)
		switch {
		case err != nil:
			d.errorAt(path+".trace_url", "is not a valid template: %v; want a URL with {{ .TraceID }}", oneLine(err.Error()))
		case !strings.Contains(t.TraceURL, ".TraceID"):
			d.errorAt(path+".trace_url", "has no {{ .TraceID }}; want the URL of one trace, like https://grafana.example.com/explore?traceId={{ .TraceID }}")
		default:
			if err := tmpl.Execute(&strings.Builder{}, struct{ TraceID string }{"0af7651916cd43dd8448eb211c80319c"}); err != nil {
				d.errorAt(path+".trace_url", "cannot be filled: %v; want a URL with {{ .TraceID }}", oneLine(err.Error()))
			} else {
				t.TraceURLTemplate = tmpl
			}
		}
	}
}

// TraceLink is the trace_url of traceID, or "" when there is none.
func (t *Tracing) TraceLink(traceID string) string {
	if t == nil || t.TraceURLTemplate == nil || traceID == "" {
		return ""
	}
	var b strings.Builder
	if t.TraceURLTemplate.Execute(&b, struct{ TraceID string }{traceID}) != nil {
		return ""
	}
	return b.String()
}
