// Package flowprobe checks a multi-step API flow (probes[].flow): HTTP
// steps in order, each a full HTTP check, passing on what earlier steps
// extracted (a login's token, an id) through {{ vars.NAME }} templates and
// CEL, and sharing a cookie jar per run. A run fails at its first failing
// step, naming it.
package flowprobe

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
)

// Prober runs one configured flow, one run at a time.
type Prober struct {
	name    string
	cfg     *config.Flow
	steps   []step
	metrics *metrics
	// secrets are the values ${VAR} put into the probe's config: shown as
	// *** wherever a run tells what it found.
	secrets []string
}

// step is one step: its HTTP check and the wording of its own checks.
type step struct {
	cfg        *config.FlowStep
	http       *httpprobe.Prober
	degradedIf []string // expected of each degraded_if
}

var _ probes.Prober = (*Prober)(nil)

// New builds the prober of the flow probe pc, its steps' HTTP checks on
// transports.
func New(pc config.Probe, transports *httpprobe.Transports) (*Prober, error) {
	return newProber(pc, transports, newMetrics())
}

func newProber(pc config.Probe, transports *httpprobe.Transports, m *metrics) (*Prober, error) {
	p := &Prober{name: pc.Name, cfg: pc.Flow, secrets: pc.Secrets, metrics: m}
	for i := range pc.Flow.Steps {
		sc := &pc.Flow.Steps[i]
		hp, err := httpprobe.New(sc.HTTP, transports)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("step %q: %w", sc.Name, err)
		}
		s := step{cfg: sc, http: hp}
		for _, x := range sc.DegradedIf {
			s.degradedIf = append(s.degradedIf, "not "+x.Source)
		}
		p.steps = append(p.steps, s)
	}
	return p, nil
}

// Close gives up the steps' shares of their transports, and the
// probe's step histograms.
func (p *Prober) Close() error {
	for _, s := range p.steps {
		s.http.Close()
	}
	p.metrics.forget(p.name)
	return nil
}

// Probe runs the steps in order until one fails.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	start := time.Now()
	f := &Facts{Steps: make([]StepFacts, 0, len(p.steps))}
	res := probes.Result{Start: start, State: probes.Up, Facts: f}
	r := &flowRun{vars: map[string]ref.Val{}, secrets: p.secrets}
	if p.cfg.Cookies {
		r.jar, _ = cookiejar.New(nil) // never fails without options
	}
	for i := range p.steps {
		s := &p.steps[i]
		sres, sf := p.runStep(ctx, s, r)
		f.Steps = append(f.Steps, sf)
		for _, c := range sres.Checks {
			c.Name = s.cfg.Name + ": " + c.Name
			res.Checks = append(res.Checks, c)
		}
		if sres.State == probes.Down {
			res.State, res.Reason = probes.Down, fmt.Sprintf("step %q: %s", s.cfg.Name, sres.Reason)
			break
		}
		if sres.State == probes.Degraded && res.State == probes.Up {
			res.State, res.Reason = probes.Degraded, fmt.Sprintf("step %q: %s", s.cfg.Name, sres.Reason)
		}
	}
	res.Duration = time.Since(start)
	r.redactResult(&res)
	return res
}

// flowRun is what one run's steps share.
type flowRun struct {
	vars    map[string]ref.Val
	jar     http.CookieJar
	secrets []string // the config's, then the values of secret variables
}

// runStep runs one step: its request with the templates expanded, within
// its own timeout (bounded by what is left of the flow's), then its
// extracts and its own checks.
func (p *Prober) runStep(ctx context.Context, s *step, r *flowRun) (res probes.Result, sf StepFacts) {
	start := time.Now()
	flowCtx := ctx
	if t := s.cfg.Timeout.Std(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var span trace.Span
	if parent := trace.SpanFromContext(ctx); parent.IsRecording() {
		ctx, span = parent.TracerProvider().Tracer(tracerName).Start(ctx, "step "+s.cfg.Name,
			trace.WithAttributes(attribute.String("lookout.flow.step", s.cfg.Name)))
		defer func() { probes.EndSpan(span, r.redacted(res)) }()
	}
	defer func() {
		var sc trace.SpanContext
		if span != nil {
			sc = span.SpanContext()
		}
		p.metrics.observe(p.name, s.cfg.Name, time.Since(start), sc)
	}()
	flowVars, _ := cel.NewActivation(map[string]any{"vars": r.vars})
	req := &httpprobe.Request{
		URL: r.expand(s.cfg.Templates.URL), Body: r.expand(s.cfg.Templates.Body),
		Username: r.expand(s.cfg.Templates.Username), Password: r.expand(s.cfg.Templates.Password),
		BearerToken: r.expand(s.cfg.Templates.BearerToken), Jar: r.jar, Vars: flowVars,
	}
	if len(s.cfg.Templates.Headers) > 0 {
		req.Headers = make(map[string]string, len(s.cfg.Templates.Headers))
		for k, t := range s.cfg.Templates.Headers {
			req.Headers[k] = r.expand(t)
		}
	}
	res, act := s.http.ProbeRequest(ctx, req)
	if t := s.cfg.Timeout.Std(); t > 0 && ctx.Err() != nil && flowCtx.Err() == nil {
		// The step's own timeout ran out, not the flow's.
		res.Reason = strings.Replace(res.Reason, "the probe's timeout", "the step's timeout of "+t.String(), 1)
	}
	sf = StepFacts{Name: s.cfg.Name, HTTP: httpprobe.FactsOf(res)}
	defer func() { sf.State, sf.Reason, sf.Duration = res.State, res.Reason, res.Duration }()
	if act == nil {
		return res, sf // no response: nothing to extract
	}
	// Extracts run even when the step's HTTP check failed, so that what
	// the failure tells of a secret value is hidden too.
	failed := res.State == probes.Down
	for _, name := range s.cfg.ExtractNames {
		x := s.cfg.Extract[name]
		v, _, err := x.CEL.Program.Eval(act)
		if err == nil && types.IsError(v) {
			err = fmt.Errorf("%v", v)
		}
		if err != nil {
			if failed {
				continue
			}
			res.Checks = append(res.Checks, probes.Check{Name: "extract " + name, Expected: "a value from " + x.CEL.Source, Actual: "error: " + err.Error()})
			res.State, res.Reason = probes.Verdict(res.Checks)
			return res, sf
		}
		r.vars[name] = v
		if x.Secret {
			if s := text(v); s != "" {
				r.secrets = append(r.secrets, s)
			}
		}
	}
	if failed {
		return res, sf
	}
	// The step's own checks see what it extracted.
	for i := range s.cfg.Assert {
		res.Checks = append(res.Checks, exprcheck.Assert(&s.cfg.Assert[i], act))
	}
	for i := range s.cfg.DegradedIf {
		res.Checks = append(res.Checks, exprcheck.DegradedIf(&s.cfg.DegradedIf[i], s.degradedIf[i], act))
	}
	res.State, res.Reason = probes.Verdict(res.Checks)
	return res, sf
}

// expand fills t's templates from the run's variables.
func (r *flowRun) expand(t config.Template) string {
	if t.IsLiteral() {
		return t.Source
	}
	return t.Expand(func(name string) string { return text(r.vars[name]) })
}

// text is a variable's value as a template writes it: a string as it is,
// anything else as CEL's string() would.
func text(v ref.Val) string {
	switch v := v.(type) {
	case nil:
		return ""
	case types.String:
		return string(v)
	}
	if s, ok := v.ConvertToType(types.StringType).(types.String); ok {
		return string(s)
	}
	return fmt.Sprint(v.Value())
}

// tracerName names the flow's step spans' instrumentation.
const tracerName = "github.com/lookout-dev/lookout/probes/flowprobe"

// redacted is res with its reason's secrets as ***, for a span.
func (r *flowRun) redacted(res probes.Result) probes.Result {
	res.Reason = r.redact(res.Reason)
	return res
}

// redactResult replaces every secret in what the run tells by ***.
func (r *flowRun) redactResult(res *probes.Result) {
	if len(r.secrets) == 0 {
		return
	}
	res.Reason = r.redact(res.Reason)
	for i := range res.Checks {
		c := &res.Checks[i]
		c.Expected, c.Actual = r.redact(c.Expected), r.redact(c.Actual)
	}
	f := res.Facts.(*Facts)
	for i := range f.Steps {
		f.Steps[i].Reason = r.redact(f.Steps[i].Reason)
	}
}

func (r *flowRun) redact(s string) string {
	for _, secret := range r.secrets {
		s = redactOne(s, secret)
		// As a check's wording quotes it (%q).
		if q := strconv.Quote(secret); q[1:len(q)-1] != secret {
			s = redactOne(s, q[1:len(q)-1])
		}
	}
	return s
}

// minCut is the shortest start of a secret that redactOne hides when a
// check's wording cut the value short.
const minCut = 4

// redactOne replaces secret in s by ***, and the start of it that a
// check's wording kept of a long value (cut short with …) too.
func redactOne(s, secret string) string {
	if secret == "" {
		return s
	}
	s = strings.ReplaceAll(s, secret, "***")
	const cut = "…"
	for from := 0; ; {
		i := strings.Index(s[from:], cut)
		if i < 0 {
			return s
		}
		i += from
		k := min(len(secret)-1, i, 256)
		for k >= minCut && s[i-k:i] != secret[:k] {
			k--
		}
		if k >= minCut {
			s = s[:i-k] + "***" + s[i+len(cut):]
			from = i - k + len("***")
		} else {
			from = i + len(cut)
		}
	}
}
