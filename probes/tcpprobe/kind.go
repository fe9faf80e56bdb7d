package tcpprobe

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// Kind is the TCP probe (probes[].tcp).
func Kind() *probes.Kind {
	return &probes.Kind{
		Name:     "tcp",
		New:      func(pc config.Probe) (probes.Prober, error) { return probes.Built(New(pc.TCP)) },
		Families: families(),
		ReportTarget: func(r *probes.Report, pc config.Probe) {
			what := "connect to " + pc.TCP.Address
			if pc.TCP.TLS.Enabled {
				what += " with TLS"
			}
			r.Line("target", "%s", what)
		},
		ReportFacts: func(r *probes.Report, pf probes.Facts) {
			f := facts(pf)
			if f == nil {
				return
			}
			r.Line("connect", "%s", probes.Round(f.Connect))
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
		FailedRegexFamily(),
		{Name: "lookout_probe_tcp_connect_seconds", Help: "How long the TCP connect of the last run took.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.Connect > 0 {
					add(lp.Base, f.Connect.Seconds())
				}
			}},
	}
	return append(fs, tlsinfo.Families()...)
}

// RegexVerdict is a kind's Facts that tell whether expect matched what a
// run read (tcp, websocket).
type RegexVerdict interface {
	FailedDueToRegex() *bool // nil without expect
}

// FailedRegexFamily is probe_failed_due_to_regex, for a kind whose Facts
// are a RegexVerdict. The kinds' samples are one family on /metrics,
// which takes the help of the kind listed first: each kind takes the
// family, help and all, from here.
func FailedRegexFamily() probes.Family {
	return probes.Family{Name: "probe_failed_due_to_regex", Help: "Whether the first bytes read did not match expect (1) or did (0); absent without expect.",
		Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
			rv, ok := pf.(RegexVerdict)
			if !ok || rv.FailedDueToRegex() == nil {
				return
			}
			v := 0.0
			if *rv.FailedDueToRegex() {
				v = 1
			}
			add(lp.Base, v)
		}}
}
