package probes

import (
	"context"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// runTracing is a Runner's tracing when telemetry.tracing is on: its
// tracer, and what its runs' traces leave behind (the exemplars of its
// duration histogram, the last failed run's trace). A Runner without
// tracing has none of it, and its runs allocate no span.
type runTracing struct {
	tracer trace.Tracer
	// Guarded by the Runner's mu.
	exemplars  exemplars
	lastFailed trace.TraceID
}

// exemplars are the latest traced observation of each classic bucket of
// the duration histogram (durationHistogram.classic; the last is +Inf).
type exemplars [13]exemplar

type exemplar struct {
	traceID trace.TraceID
	value   float64
	at      time.Time
}

// Trace makes every run of r a trace of tracer: a span for the run, one
// for each attempt, and the kind's own under them (an HTTP request, a
// flow's steps). Call it before the first run.
func (r *Runner) Trace(tracer trace.Tracer) {
	if tracer != nil {
		r.tracing = &runTracing{tracer: tracer}
	}
}

// LastFailedTrace is the trace ID of the probe's last failed run that was
// traced, as hex; "" when there is none.
func (r *Runner) LastFailedTrace() string {
	if r.tracing == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.tracing.lastFailed.IsValid() {
		return ""
	}
	return r.tracing.lastFailed.String()
}

// startRun starts the run's span; nil without tracing.
func (r *Runner) startRun(ctx context.Context) (context.Context, trace.Span) {
	if r.tracing == nil {
		return ctx, nil
	}
	return r.tracing.tracer.Start(ctx, "probe "+r.cfg.Name, trace.WithAttributes(
		attribute.String("lookout.probe.name", r.cfg.Name),
		attribute.String("lookout.probe.kind", r.kind.Name)))
}

// startAttempt starts an attempt's span under the run's.
func (r *Runner) startAttempt(ctx context.Context, run trace.Span, attempt int) (context.Context, trace.Span) {
	if run == nil {
		return ctx, nil
	}
	return r.tracing.tracer.Start(ctx, "attempt "+strconv.Itoa(attempt), trace.WithAttributes(attribute.Int("lookout.probe.attempt", attempt)))
}

// EndSpan ends span (nil: none) with res's state and reason: an error
// status when it is down. Kinds end their own spans with it.
func EndSpan(span trace.Span, res Result) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.String("lookout.probe.state", res.State.String()))
	if res.Reason != "" {
		span.SetAttributes(attribute.String("lookout.probe.reason", res.Reason))
	}
	if res.State == Down {
		span.SetStatus(codes.Error, res.Reason)
	}
	span.End()
}

// traced is the run's trace ID when its span is sampled.
func traced(span trace.Span) trace.TraceID {
	if span == nil || !span.SpanContext().IsSampled() {
		return trace.TraceID{}
	}
	return span.SpanContext().TraceID()
}

// observe keeps the exemplar of a traced observation of v; r.mu is held.
func (t *runTracing) observe(v float64, id trace.TraceID, failed bool, at time.Time) {
	if !id.IsValid() {
		return
	}
	i := bucketOf(v)
	t.exemplars[i] = exemplar{traceID: id, value: v, at: at}
	if failed {
		t.lastFailed = id
	}
}

// dto is the exemplar as Prometheus writes it: trace_id, the value, when.
func (e *exemplar) dto() *dto.Exemplar {
	if !e.traceID.IsValid() {
		return nil
	}
	name, id := "trace_id", e.traceID.String()
	value := e.value
	return &dto.Exemplar{
		Label:     []*dto.LabelPair{{Name: &name, Value: &id}},
		Value:     &value,
		Timestamp: timestamppb.New(e.at),
	}
}
