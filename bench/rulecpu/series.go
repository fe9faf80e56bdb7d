package main

import (
	"fmt"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Per probe, ten series, named and labelled as Lookout exposes them
// (probes/metrics.go) plus a team label from the probe's own labels:
//
//	lookout_probe_state{probe,team}                     0 up, 1 degraded, 2 down
//	probe_success{probe,team}
//	probe_duration_seconds{probe,team}
//	probe_http_duration_seconds{probe,team,phase} × 4   connect, tls, processing, transfer
//	lookout_probe_runs_total{probe,team,result} × 3     up, degraded, down
const seriesPerProbe = 10

var phases = [...]string{"connect", "tls", "processing", "transfer"}

var results = [...]string{"up", "degraded", "down"}

// probeName is the name of probe i.
func probeName(i int) string { return fmt.Sprintf("p-%04d", i) }

// teamName is the team of probe i's team t.
func teamName(t int) string { return fmt.Sprintf("team-%02d", t) }

// fleet is the gathered families of every probe, built once; step
// updates the values in place, so building them is not measured.
type fleet struct {
	mfs   []*dto.MetricFamily
	teams int

	state, success, duration []*float64              // per probe
	phase                    [][len(phases)]*float64 // per probe
	runs                     [][len(results)]*float64
}

func newFleet(probes, teams int) *fleet {
	f := &fleet{teams: teams}
	state := family("lookout_probe_state", dto.MetricType_GAUGE)
	success := family("probe_success", dto.MetricType_GAUGE)
	duration := family("probe_duration_seconds", dto.MetricType_GAUGE)
	phase := family("probe_http_duration_seconds", dto.MetricType_GAUGE)
	runs := family("lookout_probe_runs_total", dto.MetricType_COUNTER)
	for i := range probes {
		lp := []*dto.LabelPair{label("probe", probeName(i)), label("team", teamName(i%teams))}
		f.state = append(f.state, gauge(state, lp))
		f.success = append(f.success, gauge(success, lp))
		f.duration = append(f.duration, gauge(duration, lp))
		var ph [len(phases)]*float64
		for k, name := range phases {
			ph[k] = gauge(phase, append(lp[:2:2], label("phase", name)))
		}
		f.phase = append(f.phase, ph)
		var rs [len(results)]*float64
		for k, name := range results {
			rs[k] = counter(runs, append(lp[:2:2], label("result", name)))
		}
		f.runs = append(f.runs, rs)
	}
	f.mfs = []*dto.MetricFamily{state, success, duration, phase, runs}
	return f
}

func family(name string, typ dto.MetricType) *dto.MetricFamily {
	return &dto.MetricFamily{Name: proto.String(name), Type: typ.Enum()}
}

func label(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)}
}

func gauge(mf *dto.MetricFamily, lp []*dto.LabelPair) *float64 {
	v := new(float64)
	mf.Metric = append(mf.Metric, &dto.Metric{Label: lp, Gauge: &dto.Gauge{Value: v}})
	return v
}

func counter(mf *dto.MetricFamily, lp []*dto.LabelPair) *float64 {
	v := new(float64)
	mf.Metric = append(mf.Metric, &dto.Metric{Label: lp, Counter: &dto.Counter{Value: v}})
	return v
}

// Probes run every 60 s and are gathered every 15 s, so values change at
// every 4th step. At any time about one probe in 50 is down and one in
// 50 degraded, each for 10 minutes at a time, so alerts go through
// pending, firing and resolved all along.
const (
	stepsPerRun = 4
	spellSteps  = 40 // a down or degraded spell: 10 minutes at 15 s
	spells      = 50
)

// stateAt is probe i's state at step: 0 up, 1 degraded, 2 down.
func stateAt(i, step int) int {
	switch (step/spellSteps + i) % spells {
	case 0:
		return 2
	case spells / 2:
		return 1
	}
	return 0
}

// step sets every value for the gather at step.
func (f *fleet) step(step int) {
	if step%stepsPerRun != 0 {
		return // no probe ran since the last gather
	}
	for i := range f.state {
		st := stateAt(i, step)
		*f.state[i] = float64(st)
		*f.success[i] = 0
		if st < 2 {
			*f.success[i] = 1
		}
		*f.runs[i][st]++
		// Durations: a deterministic jitter around 20/30/60/10 ms;
		// degraded probes are slow.
		j := float64((i*7919+step*104729)%1000) / 1000
		slow := 1.0
		if st == 1 {
			slow = 20
		}
		total := 0.0
		for k, base := range []float64{0.020, 0.030, 0.060, 0.010} {
			v := base * (0.8 + 0.4*j) * slow
			*f.phase[i][k] = v
			total += v
		}
		*f.duration[i] = total
	}
}
