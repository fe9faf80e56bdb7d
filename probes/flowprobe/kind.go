package flowprobe

import (
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// Kind is the flow probe (probes[].flow): its steps' HTTP checks share
// transports with the HTTP probes.
func Kind(transports *httpprobe.Transports) *probes.Kind {
	m := newMetrics()
	return &probes.Kind{
		Name:         "flow",
		New:          func(pc config.Probe) (probes.Prober, error) { return probes.Built(newProber(pc, transports, m)) },
		Families:     families(),
		ReportTarget: reportTarget,
		ReportFacts:  report,
		Collector:    m.steps,
	}
}

func facts(f probes.Facts) *Facts {
	ff, _ := f.(*Facts)
	return ff
}

// families are each step's outcome and HTTP facts, labelled step (the
// HTTP ones are HTTP's families: a flow's series have step beside phase),
// then the TLS families of the step whose certificate expires first.
// Only the steps that ran have samples. A scrape builds the step labels of
// the flows' samples (there are few flows).
func families() []probes.Family {
	each := func(name, help string, perProbe int, v func(lp probes.Labels, s *StepFacts, add func([]*dto.LabelPair, float64))) probes.Family {
		return probes.Family{Name: name, Help: help, PerProbe: perProbe,
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				f := facts(pf)
				if f == nil {
					return
				}
				for i := range f.Steps {
					v(lp, &f.Steps[i], add)
				}
			}}
	}
	return append([]probes.Family{
		each("probe_flow_step_success", "Whether the step succeeded in the flow's last run (degraded counts as success); steps after a failed one have none.", 1,
			func(lp probes.Labels, s *StepFacts, add func([]*dto.LabelPair, float64)) {
				add(lp.With("step", s.Name), boolFloat(s.State != probes.Down))
			}),
		each("probe_flow_step_duration_seconds", "How long the step took in the flow's last run.", 1,
			func(lp probes.Labels, s *StepFacts, add func([]*dto.LabelPair, float64)) {
				add(lp.With("step", s.Name), s.Duration.Seconds())
			}),
		each("probe_http_status_code", "HTTP status code of the last response.", 1,
			func(lp probes.Labels, s *StepFacts, add func([]*dto.LabelPair, float64)) {
				if s.HTTP != nil && s.HTTP.HTTP != nil {
					add(lp.With("step", s.Name), float64(s.HTTP.HTTP.StatusCode))
				}
			}),
		each("probe_http_duration_seconds", "Duration of each HTTP phase of the last run, summed over redirects.", len(httpprobe.PhaseNames),
			func(lp probes.Labels, s *StepFacts, add func([]*dto.LabelPair, float64)) {
				if s.HTTP == nil {
					return
				}
				withStep := lp.With("step", s.Name)
				for i, d := range s.HTTP.Phases.Each() {
					add(probes.WithPair(withStep, &dto.LabelPair{Name: &phaseLabel, Value: &httpprobe.PhaseNames[i]}), d.Seconds())
				}
			}),
	}, tlsinfo.Families()...)
}

var phaseLabel = "phase"

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// reportTarget writes each step's request as configured (its templates
// unexpanded, the config's secrets as ***).
func reportTarget(r *probes.Report, pc config.Probe) {
	for _, s := range pc.Flow.Steps {
		u := s.Templates.URL.Source
		for _, secret := range pc.Secrets {
			if secret != "" {
				u = strings.ReplaceAll(u, secret, "***")
			}
		}
		r.Line("step "+s.Name, "%s %s", s.HTTP.Method, u)
	}
}

// report writes each step that ran: its state, duration, status and
// phases, and why it failed.
func report(r *probes.Report, pf probes.Facts) {
	f := facts(pf)
	if f == nil {
		return
	}
	for _, s := range f.Steps {
		line := s.State.String() + " in " + probes.Round(s.Duration).String()
		if s.HTTP != nil {
			if s.HTTP.HTTP != nil {
				line += ", status " + strconv.Itoa(s.HTTP.HTTP.StatusCode)
			}
			phases := make([]string, len(httpprobe.PhaseNames))
			for i, d := range s.HTTP.Phases.Each() {
				phases[i] = httpprobe.PhaseNames[i] + " " + probes.Round(d).String()
			}
			line += " (" + strings.Join(phases, ", ") + ")"
		}
		if s.Reason != "" {
			line += ": " + s.Reason
		}
		r.Line("step "+s.Name, "%s", line)
	}
}
