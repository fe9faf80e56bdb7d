package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/silences"
	"github.com/lookout-dev/lookout/config"
)

// alertRoutes are the API of alerts, rules and silences. Slack's button
// requests are public routes (see publicRoutes).
func (d *daemon) alertRoutes() []endpoint {
	return []endpoint{
		{pattern: "GET /api/v1/alerts", handler: http.HandlerFunc(d.handleAlerts)},
		{pattern: "GET /api/v1/rules", handler: http.HandlerFunc(d.handleRules)},
		{pattern: "GET /api/v1/silences", handler: http.HandlerFunc(d.handleSilences)},
		{pattern: "POST /api/v1/silences", handler: http.HandlerFunc(d.handleAddSilence)},
		{pattern: "DELETE /api/v1/silences/{id}", handler: http.HandlerFunc(d.handleExpireSilence)},
	}
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

// handleSilences streams the silences, newest first, one at a time: the
// JSON of 10,000 silences is never held whole.
func (d *daemon) handleSilences(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	list := d.alerting.silences.List()
	w.Header().Set("Content-Type", "application/json")
	sep := "\n    "
	if len(list) == 0 {
		sep = ""
	}
	if _, err := io.WriteString(w, "{\n  \"silences\": ["+sep); err != nil {
		return // the client went away
	}
	for i, s := range list {
		b, err := json.MarshalIndent(silences.ToJSON(s, now), "    ", "  ")
		if err != nil {
			d.log.Error("encode silence", "id", s.ID, "err", err)
			return
		}
		if i > 0 {
			b = append([]byte(",\n    "), b...)
		}
		if _, err := w.Write(b); err != nil {
			return
		}
	}
	if len(list) > 0 {
		sep = "\n  "
	}
	_, _ = io.WriteString(w, sep+"]\n}\n")
}

// handleAddSilence creates a silence from one JSON object. Refusals:
// 400 for a body that is not one valid silence, 413 for one over
// alerting.silences.max_size (or a body far over it), 422 for one the
// limits refuse (its matchers all match the empty value, longer than
// max_duration, alerting.silences.max reached), 507 when storage would
// not take it.
func (d *daemon) handleAddSilence(w http.ResponseWriter, r *http.Request) {
	limit := silenceBodyLimit(d.alerting.silences.Limits())
	var in silences.JSON
	err := decodeJSON(w, r, &in, limit)
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		http.Error(w, fmt.Sprintf("silence: request body over %d bytes; alerting.silences.max_size bounds a silence to %d", limit, d.alerting.silences.Limits().MaxSize), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "silence: invalid JSON body: "+err.Error(), http.StatusBadRequest)
		return
	}
	in.ID, in.State = "", ""
	sil, err := in.Silence(time.Now())
	if err == nil {
		sil, err = d.alerting.silences.Add(sil)
	}
	if err != nil {
		http.Error(w, err.Error(), silenceStatus(err))
		return
	}
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, silences.ToJSON(sil, time.Now()))
}

// silenceBodyLimit bounds a request to create a silence: JSON may spell a
// byte of the silence in up to six (\u0000), plus room for the rest.
func silenceBodyLimit(l config.Silences) int64 {
	if l.MaxSize <= 0 {
		return 64 << 10
	}
	return 6*int64(l.MaxSize) + 16<<10
}

// silenceStatus is the HTTP status of an error from the silence store.
func silenceStatus(err error) int {
	var refused *silences.RefusedError
	var storage *silences.StorageError
	switch {
	case errors.As(err, &refused) && refused.Why == silences.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &refused) && refused.Why == silences.OverLimit:
		return http.StatusUnprocessableEntity
	case errors.As(err, &refused):
		return http.StatusBadRequest
	case errors.As(err, &storage):
		return http.StatusInsufficientStorage
	case errors.Is(err, silences.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// handleExpireSilence ends a silence now: 404 for an unknown ID, 507 when
// storage would not take the change.
func (d *daemon) handleExpireSilence(w http.ResponseWriter, r *http.Request) {
	s, err := d.alerting.silences.Expire(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), silenceStatus(err))
		return
	}
	writeJSON(w, silences.ToJSON(s, time.Now()))
}
