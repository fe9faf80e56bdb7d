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

// AttemptSpan is the span of a probe's attempt, which is one request:
// the HTTP client span the OpenTelemetry conventions describe. The Runner
// starts it; the request adds its response and phases to it.
func (p *Prober) AttemptSpan() (string, []trace.SpanStartOption) {
	p.spanOnce.Do(p.buildSpanStart)
	return p.cfg.Method, p.spanStart
}

var _ probes.AttemptSpanner = (*Prober)(nil)

// requestSpan is the request's client span, nil when the run is not
// traced (tracing off, or not sampled), which costs no allocation. An
// attempt's request is the attempt's span (AttemptSpan), which the Runner
// ends; a flow step's request starts its own under the step's, and own
// says the request ends it.
func (p *Prober) requestSpan(ctx context.Context, step bool) (_ context.Context, span trace.Span, own bool) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil, false
	}
	if !step {
		return ctx, parent, false
	}
	name, opts := p.AttemptSpan()
	ctx, span = parent.TracerProvider().Tracer(tracerName).Start(ctx, name, opts...)
	return ctx, span, true
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

// endSpan gives the request's span the response's status and version,
// and each phase of the run as an event at its end, laid end to end from
// start (summed over redirects, as the phases are): events, not child
// spans, as a span costs the exporter about as much as a run's whole CPU
// budget for tracing. It ends the span when the request owns it.
func endSpan(span trace.Span, own bool, start time.Time, res probes.Result, f *Facts) {
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
	if !own {
		return // the Runner ends it with the state and reason
	}
	// The reason stays on the flow step's span, where the flow's secrets
	// are hidden: the request's may show them.
	span.SetAttributes(attribute.String("lookout.probe.state", res.State.String()))
	if res.State == probes.Down {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}
