package ui

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
)

// probeData is a probe's page.
type probeData struct {
	Status   probes.Status
	State    string
	Uptime   [3]string
	Chart    template.HTML
	Config   string
	Evidence []browserprobe.ArtifactRun
	TraceURL string
	Alerts   []Alert
}

func (u *UI) probe(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, ok := u.src.Probe(name)
	if !ok {
		u.render(w, r, http.StatusNotFound, "notfound", page{Title: "Not found", Error: fmt.Sprintf("There is no probe named %q.", name)})
		return
	}
	d := probeData{Status: st, State: stateName(st.State, !st.Since.IsZero()), Chart: phaseChart(st.Results),
		Config: u.src.ProbeConfig(name), Evidence: u.src.Evidence(name), TraceURL: u.src.TraceURL(name)}
	now := u.now()
	for i, span := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour} {
		d.Uptime[i] = percent(u.src.Uptime(name, now.Add(-span)))
	}
	for _, a := range u.src.Alerts() {
		if a.Labels["probe"] == name {
			d.Alerts = append(d.Alerts, a)
		}
	}
	u.render(w, r, http.StatusOK, "probe", page{Title: name, Nav: "overview", Data: d})
}

// runNow runs the probe once, within its timeout, and goes back to its
// page, which shows the run first.
func (u *UI) runNow(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute) // the probe's own timeout is shorter
	defer cancel()
	res, ok := u.src.RunNow(ctx, name)
	if !ok {
		http.Error(w, fmt.Sprintf("no probe named %q", name), http.StatusNotFound)
		return
	}
	msg := fmt.Sprintf("Ran %s: %s in %s", name, res.State, res.Duration.Round(time.Millisecond))
	if res.Reason != "" {
		msg += ": " + res.Reason
	}
	back(w, r, "/probes/"+url.PathEscape(name), "flash", msg)
}

// alertsPerPage bounds the Alerts page.
const alertsPerPage = 100

// alertsData is a page of the alerts.
type alertsData struct {
	Alerts           []Alert
	Total            int
	Page, Pages      int
	PrevURL, NextURL string
}

func (u *UI) alerts(w http.ResponseWriter, r *http.Request) {
	all := u.src.Alerts()
	d := alertsData{Total: len(all), Pages: max(1, (len(all)+alertsPerPage-1)/alertsPerPage)}
	d.Page = min(max(1, atoi(r.URL.Query().Get("page"))), d.Pages)
	d.Alerts = all[(d.Page-1)*alertsPerPage : min(d.Page*alertsPerPage, len(all))]
	if d.Page > 1 {
		d.PrevURL = fmt.Sprintf("/alerts?page=%d", d.Page-1)
	}
	if d.Page < d.Pages {
		d.NextURL = fmt.Sprintf("/alerts?page=%d", d.Page+1)
	}
	u.render(w, r, http.StatusOK, "alerts", page{Title: "Alerts", Nav: "alerts", Data: d, alerts: all})
}

func (u *UI) rules(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "rules", page{Title: "Rules", Nav: "rules", Data: u.src.Rules()})
}

func (u *UI) mongodb(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "mongodb", page{Title: "MongoDB", Nav: "mongodb", Data: u.src.MongoDB()})
}

func (u *UI) webvitals(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusOK, "webvitals", page{Title: "Web Vitals", Nav: "webvitals", Data: u.src.WebVitals()})
}

// silencesData is the silences' page: the form (as filled, when it was
// refused or previewed), its preview, and the silences.
type silencesData struct {
	Form     silenceForm
	Preview  []Alert
	Previewd bool
	Active   []Silence
	Expired  []Silence
}

// silenceForm is the new silence's fields as typed.
type silenceForm struct {
	Matchers  []string
	Duration  string
	CreatedBy string
	Comment   string
}

// formOf reads the form.
func formOf(v url.Values) silenceForm {
	return silenceForm{Matchers: matcherFields(v), Duration: cmp.Or(v.Get("duration"), "2h"), CreatedBy: v.Get("createdBy"), Comment: v.Get("comment")}
}

// matcherFields are a form's matchers, one per field, empty ones dropped.
func matcherFields(v url.Values) []string {
	var out []string
	for _, m := range v["matcher"] {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

func (u *UI) silences(w http.ResponseWriter, r *http.Request) {
	d := silencesData{Form: formOf(r.URL.Query())}
	status := http.StatusOK
	var errText string
	if len(d.Form.Matchers) > 0 {
		var err error
		if d.Preview, err = u.src.Preview(d.Form.Matchers); err != nil {
			errText, status = err.Error(), http.StatusBadRequest
		}
		d.Previewd = err == nil
	}
	u.fillSilences(&d)
	u.render(w, r, status, "silences", page{Title: "Silences", Nav: "silences", Error: errText, Data: d})
}

func (u *UI) fillSilences(d *silencesData) {
	for _, s := range u.src.Silences() {
		if s.State == "expired" {
			d.Expired = append(d.Expired, s)
		} else {
			d.Active = append(d.Active, s)
		}
	}
	if len(d.Expired) > 20 {
		d.Expired = d.Expired[:20]
	}
}

// preview is the form's preview alone, for the script that refreshes it
// as matchers are typed.
func (u *UI) preview(w http.ResponseWriter, r *http.Request) {
	f := formOf(r.URL.Query())
	d := silencesData{Form: f, Previewd: true}
	status := http.StatusOK
	var errText string
	if len(f.Matchers) > 0 {
		var err error
		if d.Preview, err = u.src.Preview(f.Matchers); err != nil {
			errText, status, d.Previewd = err.Error(), http.StatusBadRequest, false
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := u.pages["silences"].ExecuteTemplate(w, "preview", page{Error: errText, Data: d}); err != nil {
		u.log.Error("ui: render the preview", "err", err)
	}
}

func (u *UI) addSilence(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	f := formOf(r.PostForm)
	d := silencesData{Form: f}
	fail := func(msg string) {
		u.fillSilences(&d)
		u.render(w, r, http.StatusBadRequest, "silences", page{Title: "Silences", Nav: "silences", Error: msg, Data: d})
	}
	dur, err := time.ParseDuration(f.Duration)
	switch {
	case len(f.Matchers) == 0:
		fail("Matchers: give at least one, like alertname=\"ProbeDown\".")
		return
	case err != nil || dur <= 0:
		fail(fmt.Sprintf("Duration: %q is not a duration; want one like 2h or 30m.", f.Duration))
		return
	case strings.TrimSpace(f.CreatedBy) == "":
		fail("Author: say who creates the silence.")
		return
	}
	s, err := u.src.AddSilence(NewSilence{Matchers: f.Matchers, Duration: dur, CreatedBy: f.CreatedBy, Comment: f.Comment})
	if err != nil {
		fail(err.Error())
		return
	}
	back(w, r, "/silences", "flash", fmt.Sprintf("Silence %s created, until %s.", s.ID, s.EndsAt.UTC().Format("2006-01-02 15:04 MST")))
}

func (u *UI) expireSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := u.src.ExpireSilence(id); err != nil {
		back(w, r, "/silences", "error", err.Error())
		return
	}
	back(w, r, "/silences", "flash", "Silence "+id+" expired.")
}

func (u *UI) extendSilence(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	id := r.PathValue("id")
	dur, err := time.ParseDuration(r.PostFormValue("by"))
	if err != nil || dur <= 0 {
		back(w, r, "/silences", "error", fmt.Sprintf("Extend: %q is not a duration; want one like 1h.", r.PostFormValue("by")))
		return
	}
	s, err := u.src.ExtendSilence(id, dur)
	if err != nil {
		back(w, r, "/silences", "error", err.Error())
		return
	}
	back(w, r, "/silences", "flash", fmt.Sprintf("Silence %s now ends %s.", s.ID, s.EndsAt.UTC().Format("2006-01-02 15:04 MST")))
}

// sortedKeys are a map's keys in order, for templates.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
