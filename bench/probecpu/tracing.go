package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lookout-dev/lookout/bench/internal/target"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/tracing"
)

// tracingGoal is the most CPU a traced probe run may spend relative to
// the same run untraced (issue 13: sample ratio 1, exporting to a local
// receiver).
const tracingGoal = 1.15

// tracingSides are -tracing's two sides: the same probe built twice, "off"
// without a tracer (as the daemon runs it without telemetry.tracing) and
// "on" with one that samples every run and exports its spans.
type tracingSides struct {
	sides [2]side
	what  string
	tp    *tracing.Provider
	runs  int      // runs of the "on" side, warm-up and profile included
	run   []string // the names of the spans one run makes
}

func newTracingSides(ctx context.Context, kind, addr string) (*tracingSides, error) {
	log := benchLog()
	off, what, err := newRunner(kind, addr, log)
	if err != nil {
		return nil, err
	}
	on, _, err := newRunner(kind, addr, log)
	if err != nil {
		return nil, err
	}
	run, err := spansOfRun(ctx, kind, addr, log)
	if err != nil {
		return nil, err
	}
	tp, err := newProvider(ctx, addr)
	if err != nil {
		return nil, err
	}
	on.Trace(tp.Tracer())
	t := &tracingSides{what: what, tp: tp, run: run}
	traced := runnerSide("on", on)
	probe := traced.probe
	traced.probe = func(ctx context.Context) error {
		t.runs++
		return probe(ctx)
	}
	// Each batch ends with the export of what it traced, so the "on" side
	// pays for all of it and the next batch, of either side, for none.
	traced.flush = tp.ForceFlush
	t.sides = [2]side{runnerSide("off", off), traced}
	return t, nil
}

// newProvider builds the daemon's tracer provider for
//
//	telemetry: {tracing: {endpoint: http://ADDR, sample_ratio: 1}}
func newProvider(ctx context.Context, addr string) (*tracing.Provider, error) {
	one := 1.0
	cfg := &config.Tracing{Endpoint: "http://" + addr, EndpointURL: &url.URL{Scheme: config.TracingHTTP, Host: addr}, SampleRatio: &one}
	return tracing.New(ctx, cfg, "bench")
}

// spansOfRun runs a third probe like the two sides' once, traced into
// memory, and returns the names of the spans the run made: what the
// receiver should get of each run.
func spansOfRun(ctx context.Context, kind, addr string, log *slog.Logger) ([]string, error) {
	r, _, err := newRunner(kind, addr, log)
	if err != nil {
		return nil, err
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
	r.Trace(tp.Tracer("github.com/lookout-dev/lookout/probes"))
	if res := r.Probe(ctx); res.State != probes.Up {
		return nil, fmt.Errorf("traced run: probe %s: %s", res.State, res.Reason)
	}
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	return names, nil
}

// check flushes what is left to export and prints how many spans the
// target's receiver got against what the runs made.
func (t *tracingSides) check(ctx context.Context, out io.Writer, addr string) error {
	if err := t.tp.ForceFlush(ctx); err != nil {
		return fmt.Errorf("tracing: flush: %w", err)
	}
	got, err := target.OTLPReceived(ctx, addr)
	if err != nil {
		return err
	}
	want := make(map[string]int)
	for _, name := range t.run {
		want[name] += t.runs
	}
	fmt.Fprintf(out, "\nspans: a run makes %d (%s); %d traced runs (warm-up and profile included)\n",
		len(t.run), strings.Join(t.run, ", "), t.runs)
	fmt.Fprintf(out, "receiver: %d of %d spans expected, in %d exports (%d refused)\n",
		got.Total(), t.runs*len(t.run), got.Requests, got.Rejected)
	for _, name := range slices.Sorted(maps.Keys(mergeKeys(want, got.Spans))) {
		if want[name] != got.Spans[name] {
			fmt.Fprintf(out, "  %q: %d received, %d expected\n", name, got.Spans[name], want[name])
		}
	}
	return nil
}

// mergeKeys is a set of the keys of a and b.
func mergeKeys(a, b map[string]int) map[string]struct{} {
	keys := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		keys[k] = struct{}{}
	}
	for k := range b {
		keys[k] = struct{}{}
	}
	return keys
}

// shutdown stops the exporter, within 5 seconds.
func (t *tracingSides) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}
