package httpprobe

import (
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// Kind is the HTTP probe (probes[].http): its probes share transports.
func Kind(transports *Transports) *probes.Kind {
	return &probes.Kind{
		Name:     "http",
		New:      func(pc config.Probe) (probes.Prober, error) { return probes.Built(New(pc.HTTP, transports)) },
		Families: families(),
		Pairs:    phasePairs,
		ReportTarget: func(r *probes.Report, pc config.Probe) {
			r.Line("request", "%s %s", pc.HTTP.Method, pc.HTTP.URL.Redacted())
		},
		ReportFacts: report,
	}
}

// facts are the HTTP facts of a result, or nil.
func facts(f probes.Facts) *Facts {
	hf, _ := f.(*Facts)
	return hf
}

// phaseLabels are each phase's label pairs for one probe.
type phaseLabels [len(PhaseNames)][]*dto.LabelPair

func phasePairs(base []*dto.LabelPair) any {
	var ps phaseLabels
	probes.WithEach(ps[:], base, "phase", PhaseNames[:])
	return &ps
}

// families are blackbox_exporter's HTTP families, then the TLS ones.
func families() []probes.Family {
	response := func(name, help string, v func(*Response) float64) probes.Family {
		return probes.Family{Name: name, Help: help,
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.HTTP != nil {
					add(lp.Base, v(f.HTTP))
				}
			}}
	}
	fs := []probes.Family{
		response("probe_http_status_code", "HTTP status code of the last response.",
			func(h *Response) float64 { return float64(h.StatusCode) }),
		{Name: "probe_http_duration_seconds", Help: "Duration of each HTTP phase of the last run, summed over redirects.", PerProbe: len(PhaseNames),
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				f := facts(pf)
				if f == nil {
					return
				}
				ps := lp.Kind.(*phaseLabels)
				for i, d := range f.Phases.Each() {
					add(ps[i], d.Seconds())
				}
			}},
		response("probe_http_content_length", "Content-Length of the last response (-1 when unknown).",
			func(h *Response) float64 { return float64(h.ContentLength) }),
		response("probe_http_uncompressed_body_length", "Bytes of body read from the last response.",
			func(h *Response) float64 { return float64(h.BodyBytes) }),
		response("probe_http_redirects", "Redirects followed by the last run.",
			func(h *Response) float64 { return float64(h.Redirects) }),
		response("probe_http_version", "HTTP version of the last response.",
			func(h *Response) float64 { return h.Version }),
	}
	return append(fs, tlsinfo.Families()...)
}

// report writes the phases, the response and its TLS connection.
func report(r *probes.Report, pf probes.Facts) {
	f := facts(pf)
	if f == nil {
		return
	}
	phases := make([]string, len(PhaseNames))
	for i, d := range f.Phases.Each() {
		phases[i] = PhaseNames[i] + " " + probes.Round(d).String()
	}
	r.Line("phases", "%s", strings.Join(phases, ", "))
	if h := f.HTTP; h != nil {
		r.Line("response", "status %d, HTTP/%.1f, %d body bytes, %d redirect%s",
			h.StatusCode, h.Version, h.BodyBytes, h.Redirects, probes.Plural(h.Redirects))
	}
	if f.TLS != nil {
		f.TLS.Report(r)
	}
}
