package probes_test

import (
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lookout-dev/lookout/probes"
)

// TestLastFailedTrace: a traced probe remembers its last failed run's
// trace and span (what a notification links), not a later good run's; an
// untraced one has none.
func TestLastFailedTrace(t *testing.T) {
	srv := httptest.NewServer(&scripted{script: []int{500}})
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	r := newRunner(t, srv.URL, "")
	r.Trace(tp.Tracer("test"))
	if res := r.Probe(t.Context()); res.State != probes.Down {
		t.Fatalf("first run %s, want down", res.State)
	}
	if res := r.Probe(t.Context()); res.State != probes.Up {
		t.Fatalf("second run %s, want up", res.State)
	}
	var failed, good string
	for _, s := range rec.Ended() {
		if s.Name() == "probe flappy" {
			if s.Status().Code.String() == "Error" {
				failed = s.SpanContext().TraceID().String() + "/" + s.SpanContext().SpanID().String()
			} else {
				good = s.SpanContext().TraceID().String()
			}
		}
	}
	traceID, spanID := r.LastFailedTrace()
	if failed == "" || traceID+"/"+spanID != failed || traceID == good {
		t.Errorf("LastFailedTrace %s/%s; want the failed run's span %s (the good run's trace is %s)", traceID, spanID, failed, good)
	}

	untraced := newRunner(t, srv.URL, "")
	untraced.Probe(t.Context())
	if id, _ := untraced.LastFailedTrace(); id != "" {
		t.Errorf("an untraced probe has trace %q", id)
	}
}
