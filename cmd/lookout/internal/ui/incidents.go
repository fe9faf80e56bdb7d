package ui

import (
	"fmt"
	"net/http"

	"github.com/lookout-dev/lookout/alerting/incidents"
)

// incidentsData is the incidents page: open ones first, then those
// resolved lately, each with its updates; and the probes one may be
// opened for.
type incidentsData struct {
	Open, Resolved []incidents.Incident
	Probes         []string
	Statuses       []incidents.Status
}

func (u *UI) incidents(w http.ResponseWriter, r *http.Request) {
	u.renderIncidents(w, r, http.StatusOK, "")
}

func (u *UI) renderIncidents(w http.ResponseWriter, r *http.Request, status int, errText string) {
	d := incidentsData{Statuses: []incidents.Status{incidents.Investigating, incidents.Identified, incidents.Monitoring, incidents.Resolved}}
	for _, inc := range u.src.Incidents() {
		if inc.Open() {
			d.Open = append(d.Open, inc)
		} else {
			d.Resolved = append(d.Resolved, inc)
		}
	}
	for _, p := range u.src.Probes() {
		d.Probes = append(d.Probes, p.Name)
	}
	u.render(w, r, status, "incidents", page{Title: "Incidents", Nav: "incidents", Error: errText, Data: d})
}

// postIncident opens an incident, or adds an update to the one named by
// the form's id.
func (u *UI) postIncident(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	f := r.PostForm
	inc, err := u.src.PostIncident(f.Get("id"), f.Get("probe"), f.Get("title"), f.Get("message"), f.Get("status"), f.Get("by"))
	if err != nil {
		u.renderIncidents(w, r, http.StatusBadRequest, err.Error())
		return
	}
	msg := fmt.Sprintf("Incident %s opened.", inc.ID)
	if f.Get("id") != "" {
		msg = fmt.Sprintf("Update added to incident %s.", inc.ID)
	}
	back(w, r, "/incidents", "flash", msg)
}

func (u *UI) resolveIncident(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	inc, err := u.src.ResolveIncident(r.PathValue("id"), r.PostFormValue("message"), r.PostFormValue("by"))
	if err != nil {
		back(w, r, "/incidents", "error", err.Error())
		return
	}
	back(w, r, "/incidents", "flash", fmt.Sprintf("Incident %s resolved.", inc.ID))
}
