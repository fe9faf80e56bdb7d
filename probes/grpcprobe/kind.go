package grpcprobe

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// Kind is the gRPC probe (probes[].grpc).
func Kind() *probes.Kind {
	return &probes.Kind{
		Name:     "grpc",
		New:      func(pc config.Probe) (probes.Prober, error) { return probes.Built(New(pc.GRPC)) },
		Families: families(),
		Pairs:    labelPairs,
		ReportTarget: func(r *probes.Report, pc config.Probe) {
			what := "grpc.health.v1 Check of "
			if pc.GRPC.Service == "" {
				what += "the server as a whole"
			} else {
				what += "service " + pc.GRPC.Service
			}
			what += " at " + pc.GRPC.Address
			if pc.GRPC.TLS.Enabled {
				what += " with TLS"
			}
			r.Line("target", "%s", what)
		},
		ReportFacts: report,
	}
}

func facts(pf probes.Facts) *Facts {
	f, _ := pf.(*Facts)
	return f
}

// phaseNames are the phases of probe_grpc_duration_seconds and
// servingStatuses the serving_status values of
// probe_grpc_healthcheck_response, as blackbox_exporter names them: a
// fixed set, so the labels are bounded whatever a server answers.
var (
	phaseNames      = [...]string{"resolve", "check"}
	servingStatuses = [...]string{"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"}
)

// pairs are one probe's label pairs of the phases and serving statuses,
// built once.
type pairs struct {
	phase  [len(phaseNames)][]*dto.LabelPair
	status [len(servingStatuses)][]*dto.LabelPair
}

func labelPairs(base []*dto.LabelPair) any {
	var ps pairs
	probes.WithEach(ps.phase[:], base, "phase", phaseNames[:])
	probes.WithEach(ps.status[:], base, "serving_status", servingStatuses[:])
	return &ps
}

// families are blackbox_exporter's gRPC families, then the TLS ones.
func families() []probes.Family {
	fs := []probes.Family{
		{Name: "probe_grpc_duration_seconds", Help: "Duration of each phase of the last gRPC health check: resolve (the address's host), check (connect, TLS handshake and the call).", PerProbe: len(phaseNames),
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				f := facts(pf)
				if f == nil {
					return
				}
				ps := lp.Kind.(*pairs)
				for i, v := range [...]float64{f.Resolve.Seconds(), f.Check.Seconds()} {
					add(ps.phase[i], v)
				}
			}},
		{Name: "probe_grpc_healthcheck_response", Help: "Serving status the last health check answered: 1 for it, 0 for the others; SERVICE_UNKNOWN for a service the server does not know (NotFound).", PerProbe: len(servingStatuses),
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				f := facts(pf)
				if f == nil {
					return
				}
				ps := lp.Kind.(*pairs)
				for i, s := range servingStatuses {
					v := 0.0
					if s == f.Status {
						v = 1
					}
					add(ps.status[i], v)
				}
			}},
		{Name: "probe_grpc_status_code", Help: "gRPC status code the last health check ended with (0 OK, 5 NotFound, 12 Unimplemented, 14 Unavailable, 4 DeadlineExceeded, …).",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.Called {
					add(lp.Base, float64(f.Code))
				}
			}},
		{Name: "probe_grpc_ssl", Help: "Whether the last connection to the gRPC server spoke TLS (1) or not (0).",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.Connected {
					v := 0.0
					if f.TLS != nil && f.TLS.Version != "" {
						v = 1
					}
					add(lp.Base, v)
				}
			}},
	}
	return append(fs, tlsinfo.Families()...)
}

// report writes the server, the timings, the answer and the TLS
// connection.
func report(r *probes.Report, pf probes.Facts) {
	f := facts(pf)
	if f == nil || f.Server == "" {
		return
	}
	r.Line("server", "%s", f.Server)
	r.Line("timing", "resolve %s, check %s", probes.Round(f.Resolve), probes.Round(f.Check))
	if f.TLS != nil {
		f.TLS.Report(r)
	}
	if !f.Called {
		return
	}
	st := f.Status
	if st == "" {
		st = "no serving status"
	}
	r.Line("status", "%s (gRPC code %s)", st, f.Code)
}
