package tlsprobe

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// Kind is the TLS probe (probes[].tls).
func Kind() *probes.Kind {
	return &probes.Kind{
		Name:     "tls",
		New:      func(pc config.Probe) (probes.Prober, error) { return probes.Built(New(pc.TLS)) },
		Families: families(),
		ReportTarget: func(r *probes.Report, pc config.Probe) {
			r.Line("target", "TLS handshake with %s", pc.TLS.Address)
		},
		ReportFacts: func(r *probes.Report, pf probes.Facts) {
			f := facts(pf)
			if f == nil {
				return
			}
			r.Line("handshake", "%s", probes.Round(f.Handshake))
			if f.Subject != "" {
				r.Line("certificate", "%s, issued by %s", f.Subject, f.Issuer)
			}
			if f.TLS != nil {
				f.TLS.Report(r)
			}
		},
	}
}

func facts(pf probes.Facts) *Facts {
	f, _ := pf.(*Facts)
	return f
}

func families() []probes.Family {
	fs := []probes.Family{
		{Name: "lookout_probe_tls_handshake_seconds", Help: "How long the connect and TLS handshake of the last run took.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.Handshake > 0 {
					add(lp.Base, f.Handshake.Seconds())
				}
			}},
	}
	return append(fs, tlsinfo.Families()...)
}
