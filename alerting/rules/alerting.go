package rules

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lookout-dev/lookout/alerting"
)

// ResolvedRetention is how long a resolved alert is kept (and handed to
// the dispatcher) after it resolved, as Prometheus does.
const ResolvedRetention = 15 * time.Minute

// State is an alert's state in its rule.
type State int

// States, as Prometheus names them.
const (
	StateInactive State = iota // resolved, kept for ResolvedRetention
	StatePending
	StateFiring
)

func (s State) String() string {
	switch s {
	case StatePending:
		return "pending"
	case StateFiring:
		return "firing"
	}
	return "inactive"
}

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name.
func (s *State) UnmarshalText(b []byte) error {
	for _, st := range []State{StateInactive, StatePending, StateFiring} {
		if string(b) == st.String() {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("unknown alert state %q; want inactive, pending or firing", b)
}

// Alert is one alert instance of an alerting rule.
type Alert struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           State         `json:"state"`
	Value           float64       `json:"value"`
	ActiveAt        time.Time     `json:"activeAt"`
	FiredAt         time.Time     `json:"firedAt,omitzero"`
	ResolvedAt      time.Time     `json:"resolvedAt,omitzero"`
	KeepFiringSince time.Time     `json:"keepFiringSince,omitzero"`
}

// AlertingRule turns the samples of an expression into alerts, with the
// state machine Prometheus uses: a new sample makes a pending alert; it
// fires once it has been pending for `for`; when its sample goes away a
// pending alert is dropped and a firing one resolves (after
// `keep_firing_for`, if set), and is kept ResolvedRetention longer.
type AlertingRule struct {
	name          string
	expr          parser.Expr
	holdDuration  time.Duration
	keepFiringFor time.Duration
	labels        labels.Labels
	annotations   labels.Labels
	file          string
	generatorURL  string

	mu     sync.Mutex
	active map[uint64]*Alert
	health ruleHealth
	// graceUntil: until then, restored alerts whose series are not back
	// yet (the store starts empty after a restart) keep their state
	// instead of being dropped or resolved.
	graceUntil time.Time
}

// NewAlertingRule builds an alerting rule.
func NewAlertingRule(name string, expr parser.Expr, hold, keepFiringFor time.Duration, lbls, anns labels.Labels, file string) *AlertingRule {
	return &AlertingRule{
		name: name, expr: expr, holdDuration: hold, keepFiringFor: keepFiringFor,
		labels: lbls, annotations: anns, file: file, active: map[uint64]*Alert{},
	}
}

// Name is the alert name.
func (r *AlertingRule) Name() string { return r.name }

// Query is the rule's expression.
func (r *AlertingRule) Query() string { return r.expr.String() }

// Eval evaluates the rule at ts and returns the ALERTS and
// ALERTS_FOR_STATE samples of its active alerts.
func (r *AlertingRule) Eval(ctx context.Context, ts time.Time, query QueryFunc, expand Expander) (promql.Vector, error) {
	res, err := query(ctx, r.expr.String(), ts)
	if err != nil {
		return nil, err
	}
	fresh := make(map[uint64]*Alert, len(res))
	for _, smpl := range res {
		a, err := r.newAlert(ctx, smpl, ts, expand)
		if err != nil {
			return nil, err
		}
		h := a.Labels.Hash()
		if _, dup := fresh[h]; dup {
			return nil, errors.New("vector contains metrics with the same labelset after applying alert labels")
		}
		fresh[h] = a
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for h, a := range fresh {
		if old, ok := r.active[h]; ok && old.State != StateInactive {
			old.Value, old.Annotations = a.Value, a.Annotations
			continue
		}
		r.active[h] = a
	}
	var vec promql.Vector
	for h, a := range r.active {
		if _, present := fresh[h]; !present && ts.Before(r.graceUntil) && a.State != StateInactive {
			vec = append(vec, alertSample(a, ts), forStateSample(a, ts))
			continue
		} else if !present {
			keepFiring := false
			if a.State == StateFiring && r.keepFiringFor > 0 {
				if a.KeepFiringSince.IsZero() {
					a.KeepFiringSince = ts
				}
				keepFiring = ts.Sub(a.KeepFiringSince) < r.keepFiringFor
			}
			if a.State == StatePending || (!a.ResolvedAt.IsZero() && ts.Sub(a.ResolvedAt) > ResolvedRetention) {
				delete(r.active, h)
			}
			if a.State != StateInactive && !keepFiring {
				a.State, a.ResolvedAt = StateInactive, ts
			}
			if !keepFiring {
				continue
			}
		} else {
			a.KeepFiringSince = time.Time{}
		}
		if a.State == StatePending && ts.Sub(a.ActiveAt) >= r.holdDuration {
			a.State, a.FiredAt = StateFiring, ts
		}
		vec = append(vec, alertSample(a, ts), forStateSample(a, ts))
	}
	return vec, nil
}

func (r *AlertingRule) newAlert(ctx context.Context, smpl promql.Sample, ts time.Time, expand Expander) (*Alert, error) {
	data := expand.data(smpl)
	lb := labels.NewBuilder(smpl.Metric).Del(labels.MetricName)
	var err error
	r.labels.Range(func(l labels.Label) {
		v, e := expand.text(ctx, r.name, l.Value, data, ts)
		err = errors.Join(err, e)
		lb.Set(l.Name, v)
	})
	lb.Set(labels.AlertName, r.name)
	ab := labels.NewScratchBuilder(r.annotations.Len())
	r.annotations.Range(func(l labels.Label) {
		v, e := expand.text(ctx, r.name, l.Value, data, ts)
		err = errors.Join(err, e)
		ab.Add(l.Name, v)
	})
	ab.Sort()
	if err != nil {
		return nil, fmt.Errorf("expand templates: %w", err)
	}
	return &Alert{Labels: lb.Labels(), Annotations: ab.Labels(), ActiveAt: ts, State: StatePending, Value: smpl.F}, nil
}

func alertSample(a *Alert, ts time.Time) promql.Sample {
	lb := labels.NewBuilder(a.Labels)
	lb.Set(labels.MetricName, "ALERTS")
	lb.Set("alertstate", a.State.String())
	return promql.Sample{Metric: lb.Labels(), T: ts.UnixMilli(), F: 1}
}

func forStateSample(a *Alert, ts time.Time) promql.Sample {
	lb := labels.NewBuilder(a.Labels)
	lb.Set(labels.MetricName, "ALERTS_FOR_STATE")
	return promql.Sample{Metric: lb.Labels(), T: ts.UnixMilli(), F: float64(a.ActiveAt.Unix())}
}

// Alerts returns copies of the rule's active and recently resolved alerts.
func (r *AlertingRule) Alerts() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Alert, 0, len(r.active))
	for _, a := range r.active {
		out = append(out, *a)
	}
	return out
}

// Restore puts back alerts saved before a restart, so pending alerts
// resume their `for` clock and firing ones do not start over. Until
// graceUntil, a restored alert whose series has not come back yet keeps
// its state: after a restart the store is empty until probes run again.
func (r *AlertingRule) Restore(alerts []Alert, graceUntil time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.graceUntil = graceUntil
	for i := range alerts {
		a := alerts[i]
		r.active[a.Labels.Hash()] = &a
	}
}

// Adopt takes over alerts another replica of a cluster had, for probes
// that moved here: each one not active here yet is added as it was, so a
// pending alert keeps its `for` clock and a firing one does not fire
// again. Until graceUntil, alerts whose series have not come back (the
// probe has not run here yet) keep their state, as after Restore.
// Resolved alerts are not adopted. An alert this rule resolved before the
// adopted one became active (an earlier incident, from when the probe
// last ran here) gives way to it; one resolved here since stays resolved.
// It returns how many it added.
func (r *AlertingRule) Adopt(alerts []Alert, graceUntil time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := range alerts {
		a := alerts[i]
		h := a.Labels.Hash()
		if a.State == StateInactive {
			continue
		}
		if old, ok := r.active[h]; ok && (old.State != StateInactive || !a.ActiveAt.After(old.ResolvedAt)) {
			continue
		}
		r.active[h] = &a
		n++
	}
	if n > 0 && graceUntil.After(r.graceUntil) {
		r.graceUntil = graceUntil
	}
	return n
}

// toSend converts the rule's firing and resolved alerts for the
// dispatcher. Pending alerts are not sent.
func (r *AlertingRule) toSend() []alerting.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []alerting.Alert
	for _, a := range r.active {
		if a.State == StatePending {
			continue
		}
		sa := alerting.Alert{
			Labels: labelSet(a.Labels), Annotations: labelSet(a.Annotations),
			StartsAt: a.ActiveAt, GeneratorURL: r.generatorURL,
		}
		if a.State == StateInactive {
			sa.EndsAt = a.ResolvedAt
		}
		out = append(out, sa)
	}
	return out
}

func labelSet(l labels.Labels) model.LabelSet {
	ls := make(model.LabelSet, l.Len())
	l.Range(func(lb labels.Label) { ls[model.LabelName(lb.Name)] = model.LabelValue(lb.Value) })
	return ls
}

// For is how long an alert stays pending before it fires.
func (r *AlertingRule) For() time.Duration { return r.holdDuration }

// KeepFiringFor is how long a firing alert outlasts its condition.
func (r *AlertingRule) KeepFiringFor() time.Duration { return r.keepFiringFor }

// Labels are the labels the rule adds to its alerts.
func (r *AlertingRule) Labels() labels.Labels { return r.labels }

// Annotations are the rule's annotation templates.
func (r *AlertingRule) Annotations() labels.Labels { return r.annotations }

// Fingerprint identifies the alert by its labels, as the dispatcher does.
func (a *Alert) Fingerprint() model.Fingerprint { return labelSet(a.Labels).Fingerprint() }
