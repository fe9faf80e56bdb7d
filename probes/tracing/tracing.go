// Package tracing sends the traces of probe runs to an OpenTelemetry
// collector over OTLP (telemetry.tracing): a TracerProvider with a batching
// exporter, over HTTP (protobuf) or gRPC as the endpoint's scheme says.
// The daemon builds it, and bench/probecpu -tracing measures what it costs.
package tracing

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/lookout-dev/lookout/config"
)

// Provider is the daemon's tracer provider.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// New starts exporting to cfg's endpoint. The exporter connects lazily:
// a collector that is down costs dropped spans, never a probe run.
func New(ctx context.Context, cfg *config.Tracing, version string) (*Provider, error) {
	exp, err := exporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("lookout"), semconv.ServiceVersion(version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(*cfg.SampleRatio))),
	)
	return &Provider{tp: tp}, nil
}

func exporter(ctx context.Context, cfg *config.Tracing) (*otlptrace.Exporter, error) {
	u := cfg.EndpointURL
	switch u.Scheme {
	case config.TracingGRPC, config.TracingGRPCS:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(u.Host), otlptracegrpc.WithHeaders(cfg.Headers)}
		if u.Scheme == config.TracingGRPC {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host), otlptracehttp.WithHeaders(cfg.Headers)}
	if u.Scheme == config.TracingHTTP {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if p := strings.TrimSuffix(u.Path, "/"); p != "" {
		opts = append(opts, otlptracehttp.WithURLPath(p))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry.tracing: %w", err)
	}
	return exp, nil
}

// Tracer is the tracer of the probe runs.
func (p *Provider) Tracer() trace.Tracer {
	return p.tp.Tracer("github.com/lookout-dev/lookout/probes")
}

// ForceFlush exports every span of the runs that have ended, within ctx.
func (p *Provider) ForceFlush(ctx context.Context) error {
	return p.tp.ForceFlush(ctx)
}

// Shutdown exports what is buffered and stops, within ctx.
func (p *Provider) Shutdown(ctx context.Context) error {
	return p.tp.Shutdown(ctx)
}
