package probes

import (
	"cmp"
	"context"
	"slices"
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
	// The run span's name and attributes, and the first attempt's, built
	// once: every run would build them again. attemptName and attempt are
	// an AttemptSpanner's; without one, an attempt's span is "attempt N".
	runName, attemptName, firstName string
	runStart, attempt, firstTry     []trace.SpanStartOption
	// Guarded by the Runner's mu.
	exemplars  exemplars
	lastFailed trace.SpanContext // of the last failed run's span
}

// exemplars are the latest traced observation of each classic bucket of
// the duration histogram (durationHistogram.classic; the last is +Inf).
type exemplars [13]exemplar

type exemplar struct {
	traceID trace.TraceID
	value   float64
	at      time.Time
}

// AttemptSpanner is a Prober whose attempt is one operation with a span
// of its own conventions: an HTTP probe's attempt is one request, whose
// span is an HTTP client span. The attempt's span is that operation's,
// started with the name and options AttemptSpan gives, so a run makes one
// span fewer; the prober adds to it (trace.SpanFromContext) and the Runner
// ends it. The Runner calls AttemptSpan once, when tracing is on.
type AttemptSpanner interface {
	AttemptSpan() (name string, opts []trace.SpanStartOption)
}

// Trace makes every run of r a trace of tracer: a span for the run, one
// for each attempt, and the kind's own under them (a flow's steps). Call
// it before the first run.
func (r *Runner) Trace(tracer trace.Tracer) {
	if tracer == nil {
		return
	}
	t := &runTracing{
		tracer:  tracer,
		runName: "probe " + r.cfg.Name,
		runStart: []trace.SpanStartOption{trace.WithAttributes(
			attribute.String("lookout.probe.name", r.cfg.Name),
			attribute.String("lookout.probe.kind", r.kind.Name))},
	}
	if s, ok := r.prober.(AttemptSpanner); ok {
		t.attemptName, t.attempt = s.AttemptSpan()
		t.attempt = slices.Clip(t.attempt)
	}
	t.firstName = cmp.Or(t.attemptName, "attempt 1")
	t.firstTry = append(t.attempt, trace.WithAttributes(attribute.Int("lookout.probe.attempt", 1)))
	r.tracing = t
}

// LastFailedTrace is the trace and span ID of the probe's last failed run
// that was traced (its run's span), as hex; "" when there is none. A
// notification links it.
func (r *Runner) LastFailedTrace() (traceID, spanID string) {
	if r.tracing == nil {
		return "", ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if sc := r.tracing.lastFailed; sc.IsValid() {
		return sc.TraceID().String(), sc.SpanID().String()
	}
	return "", ""
}

// startRun starts the run's span; nil without tracing.
func (r *Runner) startRun(ctx context.Context) (context.Context, trace.Span) {
	if r.tracing == nil {
		return ctx, nil
	}
	return r.tracing.tracer.Start(ctx, r.tracing.runName, r.tracing.runStart...)
}

// startAttempt starts an attempt's span under the run's.
func (r *Runner) startAttempt(ctx context.Context, run trace.Span, attempt int) (context.Context, trace.Span) {
	if run == nil {
		return ctx, nil
	}
	t := r.tracing
	if attempt == 1 {
		return t.tracer.Start(ctx, t.firstName, t.firstTry...)
	}
	name := t.attemptName
	if name == "" {
		name = "attempt " + strconv.Itoa(attempt)
	}
	return t.tracer.Start(ctx, name, append(t.attempt, trace.WithAttributes(attribute.Int("lookout.probe.attempt", attempt)))...)
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

// traced is the run's span context when its span is sampled.
func traced(span trace.Span) trace.SpanContext {
	if span == nil || !span.SpanContext().IsSampled() {
		return trace.SpanContext{}
	}
	return span.SpanContext()
}

// observe keeps the exemplar of a traced observation of v; r.mu is held.
func (t *runTracing) observe(v float64, sc trace.SpanContext, failed bool, at time.Time) {
	if !sc.IsValid() {
		return
	}
	t.exemplars[bucketOf(v)] = exemplar{traceID: sc.TraceID(), value: v, at: at}
	if failed {
		t.lastFailed = sc
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
