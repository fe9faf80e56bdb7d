package httpprobe

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/lookout-dev/lookout/probes"
)

// tracerName names Lookout's probe spans' instrumentation.
const tracerName = "github.com/lookout-dev/lookout/probes/httpprobe"

// startSpan starts the request's client span under the run's, as the
// OpenTelemetry HTTP client conventions have it; nil when the run is not
// traced (tracing off, or not sampled), which costs no allocation.
func (p *Prober) startSpan(ctx context.Context) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	p.spanOnce.Do(p.buildSpanStart)
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, p.cfg.Method, p.spanStart...)
}

// buildSpanStart builds the request span's kind and attributes once, at
// the first traced run: the URL without credentials or query, which may
// hold secrets.
func (p *Prober) buildSpanStart() {
	u := p.cfg.URL.URL
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = map[string]int{"http": 80, "https": 443}[u.Scheme]
	}
	p.spanStart = []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(p.cfg.Method),
			semconv.URLFull(u.Scheme+"://"+u.Host+u.EscapedPath()),
			semconv.ServerAddress(u.Hostname()),
			semconv.ServerPort(port),
		),
	}
}

// propagate sends the span's W3C traceparent and tracestate with req, so
// the API's own tracing continues the run's trace.
func (p *Prober) propagate(ctx context.Context, req *http.Request) {
	if !*p.cfg.PropagateTrace || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
}

// endSpan ends the request's span with the response's status and
// version, and each phase of the run as an event at its end, laid end to
// end from start (summed over redirects, as the phases are): events, not
// child spans, as a span costs the exporter about
// as much as a run's whole CPU budget for tracing.
func endSpan(span trace.Span, start time.Time, res probes.Result, f *Facts) {
	if span == nil {
		return
	}
	if f.HTTP != nil {
		span.SetAttributes(semconv.HTTPResponseStatusCode(f.HTTP.StatusCode),
			semconv.NetworkProtocolVersion(strconv.FormatFloat(f.HTTP.Version, 'f', -1, 64)))
	} else if res.State == probes.Down {
		span.SetAttributes(semconv.ErrorTypeKey.String("request"))
	}
	at := start
	for i, d := range f.Phases.Each() {
		if d <= 0 {
			continue
		}
		at = at.Add(d)
		span.AddEvent(PhaseNames[i], trace.WithTimestamp(at)) // it lasted since the event before (the first: since the span's start)
	}
	// The reason stays on the run's (and a flow step's) span, where a
	// flow's secrets are hidden: a step's may show them.
	span.SetAttributes(attribute.String("lookout.probe.state", res.State.String()))
	if res.State == probes.Down {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}
