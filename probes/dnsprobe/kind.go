package dnsprobe

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// Kind is the DNS probe (probes[].dns).
func Kind() *probes.Kind {
	return &probes.Kind{
		Name:     "dns",
		New:      func(pc config.Probe) (probes.Prober, error) { return probes.Built(New(pc.DNS)) },
		Families: families(),
		Pairs:    phasePairs,
		ReportTarget: func(r *probes.Report, pc config.Probe) {
			server := pc.DNS.Server
			if server == "" {
				server = "the system resolver (" + resolvConf + ")"
			}
			r.Line("query", "%s %s at %s over %s", pc.DNS.Type, pc.DNS.Name, server, pc.DNS.Transport)
		},
		ReportFacts: report,
	}
}

func facts(pf probes.Facts) *Facts {
	f, _ := pf.(*Facts)
	return f
}

// phaseNames are the phases of probe_dns_duration_seconds, as
// blackbox_exporter names them.
var phaseNames = [...]string{"resolve", "connect", "request"}

func (f *Facts) phases() [len(phaseNames)]float64 {
	return [...]float64{f.Lookup.Seconds(), f.Connect.Seconds(), f.Request.Seconds()}
}

type phaseLabels [len(phaseNames)][]*dto.LabelPair

func phasePairs(base []*dto.LabelPair) any {
	var ps phaseLabels
	probes.WithEach(ps[:], base, "phase", phaseNames[:])
	return &ps
}

// families are blackbox_exporter's DNS families, then the TLS ones (DNS
// over TLS).
func families() []probes.Family {
	// gauge samples every run, or with replied only a run that got a reply.
	gauge := func(name, help string, replied bool, v func(*Facts) float64) probes.Family {
		return probes.Family{Name: name, Help: help,
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && (f.Replied || !replied) {
					add(lp.Base, v(f))
				}
			}}
	}
	fs := []probes.Family{
		gauge("probe_dns_lookup_time_seconds", "How long resolving the DNS server's host name took in the last run (0 for an IP address).", false,
			func(f *Facts) float64 { return f.Lookup.Seconds() }),
		{Name: "probe_dns_duration_seconds", Help: "Duration of each phase of the last DNS query: resolve (the server's name), connect (and TLS handshake), request.", PerProbe: len(phaseNames),
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				f := facts(pf)
				if f == nil {
					return
				}
				ps := lp.Kind.(*phaseLabels)
				for i, v := range f.phases() {
					add(ps[i], v)
				}
			}},
		gauge("probe_dns_query_succeeded", "Whether the last DNS query got a reply (1), whatever its response code, or not (0).", false,
			func(f *Facts) float64 {
				if f.Replied {
					return 1
				}
				return 0
			}),
		gauge("probe_dns_answer_rrs", "Records in the answer section of the last reply.", true,
			func(f *Facts) float64 { return float64(f.AnswerRRs) }),
		gauge("probe_dns_authority_rrs", "Records in the authority section of the last reply.", true,
			func(f *Facts) float64 { return float64(f.AuthorityRRs) }),
		gauge("probe_dns_additional_rrs", "Records in the additional section of the last reply.", true,
			func(f *Facts) float64 { return float64(f.AdditionalRRs) }),
		{Name: "probe_dns_serial", Help: "Serial of the zone, from the SOA record of the last reply's answer.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.Serial != nil {
					add(lp.Base, float64(*f.Serial))
				}
			}},
	}
	return append(fs, tlsinfo.Families()...)
}

// maxReported bounds the records a report lists per section.
const maxReported = 10

// report writes the server, the timings, the reply and its records.
func report(r *probes.Report, pf probes.Facts) {
	f := facts(pf)
	if f == nil || f.Server == "" {
		return
	}
	how := f.Transport
	if f.Truncated {
		how += "; the UDP reply was truncated, asked again over TCP"
	}
	r.Line("server", "%s (%s)", f.Server, how)
	r.Line("timing", "resolve %s, connect %s, request %s", probes.Round(f.Lookup), probes.Round(f.Connect), probes.Round(f.Request))
	if f.TLS != nil {
		f.TLS.Report(r)
	}
	if !f.Replied {
		return
	}
	r.Line("reply", "%s, %d answer%s, %d authority, %d additional", f.RCode,
		f.AnswerRRs, probes.Plural(f.AnswerRRs), f.AuthorityRRs, f.AdditionalRRs)
	for _, s := range []struct {
		label   string
		records []string
	}{{"answer", f.Answers}, {"authority", f.Authority}, {"additional", f.Additional}} {
		for i, rr := range s.records {
			if i == maxReported {
				r.Line(s.label, "… and %d more", len(s.records)-i)
				break
			}
			r.Line(s.label, "%s", oneLine(rr))
		}
	}
	if f.Serial != nil {
		r.Line("serial", "%d", *f.Serial)
	}
}
