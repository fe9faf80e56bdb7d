package heartbeat

import (
	"fmt"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// Kind is the heartbeat probe (probes[].heartbeat), whose check-ins store
// keeps.
func Kind(store *Store) *probes.Kind {
	return &probes.Kind{
		Name:     "heartbeat",
		New:      func(pc config.Probe) (probes.Prober, error) { return probes.Built(New(pc.Name, pc.Heartbeat, store)) },
		Families: families(),
		Pairs:    newSignalLabels,
		ReportTarget: func(r *probes.Report, pc config.Probe) {
			s := newSchedule(pc.Heartbeat)
			r.Line("schedule", "%s, time zone %s, grace %s", s.text, s.loc, short(s.grace))
		},
		ReportFacts: report,
	}
}

func facts(pf probes.Facts) *Facts {
	f, _ := pf.(*Facts)
	return f
}

// signalPairs are the kind label's pairs of
// lookout_heartbeat_last_ping_timestamp_seconds, by signal; every probe
// shares them (they are never changed).
var signalPairs = [3]*dto.LabelPair{
	success: {Name: proto.String("kind"), Value: proto.String("success")},
	start:   {Name: proto.String("kind"), Value: proto.String("start")},
	fail:    {Name: proto.String("kind"), Value: proto.String("fail")},
}

// signalLabels are one probe's label pairs for each signal.
type signalLabels [len(signalPairs)][]*dto.LabelPair

func newSignalLabels(base []*dto.LabelPair) any {
	var ls signalLabels
	for i, p := range signalPairs {
		ls[i] = probes.WithPair(base, p)
	}
	return &ls
}

func families() []probes.Family {
	return []probes.Family{
		{Name: "lookout_heartbeat_last_ping_timestamp_seconds", Help: "When the heartbeat's job last checked in, by kind of signal (success, start, fail), in Unix seconds; absent before the first of a kind.",
			PerProbe: len(signalPairs),
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				f := facts(pf)
				if f == nil {
					return
				}
				ps := lp.Kind.(*signalLabels)
				for i, t := range [...]time.Time{f.Success, f.Start, f.Fail} {
					if !t.IsZero() {
						add(ps[i], float64(t.UnixNano())/1e9)
					}
				}
			}},
		{Name: "lookout_heartbeat_last_duration_seconds", Help: "How long the run the heartbeat's last success ended took, from its start signal; absent when that run sent no start.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.RunDuration > 0 {
					add(lp.Base, f.RunDuration.Seconds())
				}
			}},
	}
}

// report writes the last signals and the run a success is expected for.
func report(r *probes.Report, pf probes.Facts) {
	f := facts(pf)
	if f == nil {
		return
	}
	at := func(t time.Time) string { return t.In(f.loc).Format("2006-01-02 15:04:05 MST") }
	when := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return at(t) + " (" + short(r.Now.Sub(t).Truncate(time.Second)) + " ago)"
	}
	success := when(f.Success)
	if f.RunDuration > 0 {
		success += ", the run took " + probes.Round(f.RunDuration).String()
	}
	r.Line("success", "%s", success)
	start := when(f.Start)
	if f.Running {
		start += ", running"
	}
	r.Line("start", "%s", start)
	failure := when(f.Fail)
	if !f.Fail.IsZero() && f.ExitCode > 0 {
		failure += fmt.Sprintf(", exit code %d", f.ExitCode)
	}
	r.Line("failure", "%s", failure)
	switch {
	case f.Due.IsZero():
		r.Line("expected", "no further run in the schedule")
	case r.Now.Before(f.LateAfter):
		r.Line("expected", "a success for the run due at %s, by %s", at(f.Due), at(f.LateAfter))
	default:
		r.Line("expected", "a success for the run due at %s, late since %s", at(f.Due), at(f.LateAfter))
	}
	if !f.Known {
		r.Raw("  (lookout probe sees no check-in: the running daemon keeps them; see GET /api/v1/probes/NAME)\n")
	}
}
