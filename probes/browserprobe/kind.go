package browserprobe

import (
	"fmt"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// Kind is the browser probe (probes[].browser): its runs share b, whose
// restart counter it exposes.
func Kind(b *Browser) *probes.Kind {
	k := &probes.Kind{
		Name:         "browser",
		New:          func(pc config.Probe) (probes.Prober, error) { return probes.Built(New(pc, b)) },
		Families:     families(),
		Pairs:        newStepPairs,
		ReportTarget: reportTarget,
		ReportFacts:  report,
	}
	if b != nil {
		k.Collector = b
	}
	return k
}

// stepPairs are one probe's label pairs with each of its steps' names,
// built at the first scrape that has the step and kept: a probe's steps
// are its config's, so there are as many as it has steps.
type stepPairs struct {
	base []*dto.LabelPair
	mu   sync.Mutex
	by   map[string][]*dto.LabelPair
}

func newStepPairs(base []*dto.LabelPair) any {
	return &stepPairs{base: base, by: map[string][]*dto.LabelPair{}}
}

func (sp *stepPairs) of(step string) []*dto.LabelPair {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	p, ok := sp.by[step]
	if !ok {
		p = probes.WithPair(sp.base, &dto.LabelPair{Name: proto.String("step"), Value: proto.String(step)})
		sp.by[step] = p
	}
	return p
}

// families are the lab metrics of the last run, each absent when the run
// did not measure it, and each step's duration.
func families() []probes.Family {
	vital := func(name, help string, v func(*Vitals) float64, has func(*Vitals) bool) probes.Family {
		return probes.Family{Name: name, Help: help,
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.Vitals != nil && (has == nil || has(f.Vitals)) {
					add(lp.Base, v(f.Vitals))
				}
			}}
	}
	seconds := func(name, help string, d func(*Vitals) time.Duration) probes.Family {
		return vital(name, help, func(v *Vitals) float64 { return d(v).Seconds() }, func(v *Vitals) bool { return d(v) >= 0 })
	}
	count := func(name, help string, n func(*Facts) float64) probes.Family {
		return probes.Family{Name: name, Help: help,
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil {
					add(lp.Base, n(f))
				}
			}}
	}
	return []probes.Family{
		seconds("probe_browser_lcp_seconds", "Largest Contentful Paint of the last run's page (the last candidate before the first input), as web-vitals measures it.",
			func(v *Vitals) time.Duration { return v.LCP }),
		seconds("probe_browser_fcp_seconds", "First Contentful Paint of the last run's page.",
			func(v *Vitals) time.Duration { return v.FCP }),
		seconds("probe_browser_ttfb_seconds", "Time to first byte of the last run's page (navigation responseStart).",
			func(v *Vitals) time.Duration { return v.TTFB }),
		seconds("probe_browser_tbt_seconds", "Total Blocking Time of the last run: the time beyond 50 ms of each long task after FCP, to the end of the run, as Lighthouse measures it.",
			func(v *Vitals) time.Duration { return v.TBT }),
		seconds("probe_browser_inp_seconds", "Interaction to Next Paint of the last run's steps: the longest interaction (0 without one).",
			func(v *Vitals) time.Duration { return v.INP }),
		vital("probe_browser_cls", "Cumulative Layout Shift of the last run: the largest session window of shifts not caused by input, as web-vitals measures it.",
			func(v *Vitals) float64 { return v.CLS }, nil),
		count("probe_browser_js_errors", "Uncaught JavaScript errors in the last run.",
			func(f *Facts) float64 { return float64(f.JSErrors) }),
		count("probe_browser_failed_requests", "Requests of the last run that failed: a status of 400 or more, or a network error.",
			func(f *Facts) float64 { return float64(f.FailedRequests) }),
		vital("probe_browser_csp_violations", "Content Security Policy violations in the last run.",
			func(v *Vitals) float64 { return float64(v.CSPViolations) }, nil),
		count("probe_browser_transfer_bytes", "Bytes the last run's requests transferred (encoded, headers included).",
			func(f *Facts) float64 { return float64(f.TransferBytes) }),
		count("probe_browser_requests", "Requests the last run made.",
			func(f *Facts) float64 { return float64(f.Requests) }),
		{Name: "probe_browser_step_duration_seconds", Help: "How long each step of the last run took, for the steps that ran.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				f := facts(pf)
				if f == nil {
					return
				}
				sp := lp.Kind.(*stepPairs)
				for _, s := range f.Steps {
					add(sp.of(s.Name), s.Duration.Seconds())
				}
			}},
	}
}

// reportTarget writes the page, the device and throttling, and the steps
// as configured (a secret value as ***).
func reportTarget(r *probes.Report, pc config.Probe) {
	b := pc.Browser
	target := b.URL.Redacted() + " (" + deviceOf(b).String()
	if t := b.Throttle; t != nil {
		if t.CPU > 1 {
			target += fmt.Sprintf(", CPU %gx slower", t.CPU)
		}
		if t.Network != "" {
			target += ", network " + t.Network
		}
	}
	r.Line("page", "%s)", target)
	red := newRedactor(pc.Secrets)
	for _, s := range b.Steps {
		r.Line("step "+s.Name, "%s", red.String(stepText(&s)))
	}
}

// stepText is what a step does, its value left out when it is secret.
func stepText(s *config.BrowserStep) string {
	switch {
	case s.WaitFor != nil && s.WaitFor.Selector != "":
		return fmt.Sprintf("wait for %q", s.WaitFor.Selector)
	case s.WaitFor != nil:
		return fmt.Sprintf("wait for the text %q", s.WaitFor.Text)
	case s.Click != nil:
		return fmt.Sprintf("click %q", s.Click.Selector)
	case s.Fill != nil && s.Fill.Secret:
		return fmt.Sprintf("fill %q with ***", s.Fill.Selector)
	case s.Fill != nil:
		return fmt.Sprintf("fill %q with %q", s.Fill.Selector, s.Fill.Value)
	case s.Press != nil:
		return "press " + s.Press.Key
	}
	return s.Kind
}

// report writes what the last run found: the page, its metrics, each
// step's duration, and the first errors.
func report(r *probes.Report, pf probes.Facts) {
	f := facts(pf)
	if f == nil {
		return
	}
	page := fmt.Sprintf("%d request%s, %s transferred", f.Requests, probes.Plural(f.Requests), bytesText(f.TransferBytes))
	if f.Status != 0 {
		page = fmt.Sprintf("status %d, %s", f.Status, page)
	}
	r.Line("loaded", "%s", page)
	if v := f.Vitals; v != nil {
		var parts []string
		for _, m := range []struct {
			name string
			d    time.Duration
		}{{"TTFB", v.TTFB}, {"FCP", v.FCP}, {"LCP", v.LCP}} {
			if m.d >= 0 {
				parts = append(parts, m.name+" "+probes.Round(m.d).String())
			}
		}
		parts = append(parts, fmt.Sprintf("CLS %.3f", v.CLS), "TBT "+probes.Round(v.TBT).String(), "INP "+probes.Round(v.INP).String())
		r.Line("vitals", "%s", strings.Join(parts, ", "))
	} else {
		r.Line("vitals", "not measured")
	}
	for _, s := range f.Steps {
		line := probes.Round(s.Duration).String()
		if s.Failed {
			line += " (failed)"
		}
		r.Line("step "+s.Name, "%s", line)
	}
	r.Line("errors", "%d uncaught, %d console.error, %d failed request%s%s",
		f.JSErrors, f.ConsoleErrors, f.FailedRequests, probes.Plural(f.FailedRequests), cspText(f.Vitals))
	for _, e := range f.Errors {
		r.Line("uncaught", "%s", e)
	}
	for _, c := range f.Console {
		r.Line("console", "%s", c)
	}
	for _, fr := range f.Failed {
		r.Line("failed", "%s", fr)
	}
	for _, c := range f.CSP {
		r.Line("csp", "%s", c)
	}
}

func cspText(v *Vitals) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf(", %d CSP violation%s", v.CSPViolations, probes.Plural(v.CSPViolations))
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
