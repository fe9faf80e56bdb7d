package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/silences"
)

func (d *daemon) alertRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/alerts", d.handleAlerts)
	mux.HandleFunc("GET /api/v1/rules", d.handleRules)
	mux.HandleFunc("GET /api/v1/silences", d.handleSilences)
	mux.HandleFunc("POST /api/v1/silences", d.handleAddSilence)
	mux.HandleFunc("DELETE /api/v1/silences/{id}", d.handleExpireSilence)
}

// apiAlert is an alert as GET /api/v1/alerts shows it.
type apiAlert struct {
	rules.Alert
	Rule        string   `json:"rule"`
	Suppressed  bool     `json:"suppressed,omitempty"`
	SilencedBy  []string `json:"silencedBy,omitempty"`
	InhibitedBy []string `json:"inhibitedBy,omitempty"`
}

func (d *daemon) handleAlerts(w http.ResponseWriter, _ *http.Request) {
	muted := map[string]dispatch.AlertStatus{}
	for _, g := range d.alerting.dispatcher.Groups() {
		for _, a := range g.Alerts {
			muted[a.Fingerprint] = a
		}
	}
	out := struct {
		Alerts []apiAlert `json:"alerts"`
	}{Alerts: []apiAlert{}}
	for _, g := range d.alerting.rules.Groups() {
		for _, r := range g.Rules {
			ar, ok := r.(*rules.AlertingRule)
			if !ok {
				continue
			}
			for _, a := range ar.Alerts() {
				api := apiAlert{Alert: a, Rule: ar.Name()}
				if st, ok := muted[fingerprint(a)]; ok {
					api.Suppressed = st.State == dispatch.StateSuppressed
					api.SilencedBy, api.InhibitedBy = st.SilencedBy, st.InhibitedBy
				}
				out.Alerts = append(out.Alerts, api)
			}
		}
	}
	slices.SortFunc(out.Alerts, func(a, b apiAlert) int { return strings.Compare(a.Labels.String(), b.Labels.String()) })
	writeJSON(w, out)
}

func fingerprint(a rules.Alert) string { return a.Fingerprint().String() }

type apiRule struct {
	Name           string        `json:"name"`
	Type           string        `json:"type"`
	Query          string        `json:"query"`
	For            string        `json:"for,omitempty"`
	KeepFiringFor  string        `json:"keepFiringFor,omitempty"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	EvaluationTime float64       `json:"evaluationTime"`
	State          string        `json:"state,omitempty"`
	Alerts         []rules.Alert `json:"alerts,omitempty"`
}

func (d *daemon) handleRules(w http.ResponseWriter, _ *http.Request) {
	type apiGroup struct {
		Name     string    `json:"name"`
		File     string    `json:"file"`
		Interval float64   `json:"interval"`
		Rules    []apiRule `json:"rules"`
	}
	out := struct {
		Groups []apiGroup `json:"groups"`
	}{Groups: []apiGroup{}}
	for _, g := range d.alerting.rules.Groups() {
		ag := apiGroup{Name: g.Name, File: g.File, Interval: g.Interval.Seconds(), Rules: []apiRule{}}
		for _, r := range g.Rules {
			ag.Rules = append(ag.Rules, describeRule(r))
		}
		out.Groups = append(out.Groups, ag)
	}
	writeJSON(w, out)
}

func describeRule(r rules.Rule) apiRule {
	h := rules.HealthOf(r)
	ar := apiRule{Name: r.Name(), Type: "recording", Query: r.Query(), Health: "ok", LastError: h.LastError,
		LastEvaluation: h.LastEvaluation, EvaluationTime: h.EvaluationTime.Seconds()}
	switch {
	case h.LastEvaluation.IsZero():
		ar.Health = "unknown"
	case h.LastError != "":
		ar.Health = "err"
	}
	if a, ok := r.(*rules.AlertingRule); ok {
		ar.Type, ar.For, ar.Alerts = "alerting", a.For().String(), a.Alerts()
		if a.KeepFiringFor() > 0 {
			ar.KeepFiringFor = a.KeepFiringFor().String()
		}
		ar.State = "inactive"
		for _, al := range ar.Alerts {
			if al.State > rulesState(ar.State) {
				ar.State = al.State.String()
			}
		}
	}
	return ar
}

func rulesState(s string) rules.State {
	switch s {
	case "firing":
		return rules.StateFiring
	case "pending":
		return rules.StatePending
	}
	return rules.StateInactive
}

// apiSilence is a silence as the API reads and writes it.
type apiSilence struct {
	ID        string    `json:"id,omitempty"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"startsAt,omitzero"`
	EndsAt    time.Time `json:"endsAt,omitzero"`
	Duration  string    `json:"duration,omitempty"` // instead of endsAt, from startsAt
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
	State     string    `json:"state,omitempty"`
}

func toAPISilence(s dispatch.Silence, now time.Time) apiSilence {
	out := apiSilence{ID: s.ID, StartsAt: s.StartsAt, EndsAt: s.EndsAt, CreatedBy: s.CreatedBy, Comment: s.Comment, State: silences.State(s, now)}
	for _, m := range s.Matchers {
		out.Matchers = append(out.Matchers, m.String())
	}
	return out
}

func (d *daemon) handleSilences(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	out := struct {
		Silences []apiSilence `json:"silences"`
	}{Silences: []apiSilence{}}
	for _, s := range d.alerting.silences.List() {
		out.Silences = append(out.Silences, toAPISilence(s, now))
	}
	writeJSON(w, out)
}

func (d *daemon) handleAddSilence(w http.ResponseWriter, r *http.Request) {
	var in apiSilence
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		http.Error(w, "silence: invalid JSON body: "+err.Error(), http.StatusBadRequest)
		return
	}
	ms, err := dispatch.ParseMatchers(in.Matchers)
	if err != nil {
		http.Error(w, "silence: matchers: "+err.Error(), http.StatusBadRequest)
		return
	}
	sil := dispatch.Silence{Matchers: ms, StartsAt: in.StartsAt, EndsAt: in.EndsAt, CreatedBy: in.CreatedBy, Comment: in.Comment}
	if in.Duration != "" {
		dur, err := time.ParseDuration(in.Duration)
		if err != nil || dur <= 0 {
			http.Error(w, fmt.Sprintf("silence: duration %q: want a positive duration like 1h or 30m", in.Duration), http.StatusBadRequest)
			return
		}
		start := in.StartsAt
		if start.IsZero() {
			start = time.Now()
		}
		sil.StartsAt, sil.EndsAt = start, start.Add(dur)
	}
	added, err := d.alerting.silences.Add(sil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, toAPISilence(added, time.Now()))
}

func (d *daemon) handleExpireSilence(w http.ResponseWriter, r *http.Request) {
	s, err := d.alerting.silences.Expire(r.PathValue("id"))
	switch {
	case errors.Is(err, silences.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, toAPISilence(s, time.Now()))
}
