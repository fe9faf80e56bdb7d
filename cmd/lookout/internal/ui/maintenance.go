package ui

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"

	"github.com/lookout-dev/lookout/alerting/maintenance"
)

// maintenanceData is the maintenance page: the configured windows, the
// one-offs and the form of a new one (as typed, when it was refused).
type maintenanceData struct {
	Listing maintenance.Listing
	Form    maintenanceForm
}

// maintenanceForm is a new one-off window's fields as typed.
type maintenanceForm struct {
	Matchers  []string
	Duration  string
	Message   string
	CreatedBy string
}

func maintenanceFormOf(v url.Values) maintenanceForm {
	return maintenanceForm{Matchers: matcherFields(v), Duration: cmp.Or(v.Get("duration"), "1h"), Message: v.Get("message"), CreatedBy: v.Get("createdBy")}
}

func (u *UI) maintenance(w http.ResponseWriter, r *http.Request) {
	d := maintenanceData{Listing: u.src.Maintenance(), Form: maintenanceFormOf(r.URL.Query())}
	u.render(w, r, http.StatusOK, "maintenance", page{Title: "Maintenance", Nav: "maintenance", Data: d})
}

func (u *UI) startMaintenance(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	f := maintenanceFormOf(r.PostForm)
	win, err := u.src.StartMaintenance(maintenance.Request{Matchers: f.Matchers, Duration: f.Duration, Message: f.Message, CreatedBy: f.CreatedBy})
	if err != nil {
		d := maintenanceData{Listing: u.src.Maintenance(), Form: f}
		u.render(w, r, http.StatusBadRequest, "maintenance", page{Title: "Maintenance", Nav: "maintenance", Error: err.Error(), Data: d})
		return
	}
	back(w, r, "/maintenance", "flash", fmt.Sprintf("Maintenance %s started, until %s.", win.ID, win.End.UTC().Format("2006-01-02 15:04 MST")))
}

func (u *UI) endMaintenance(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := u.src.EndMaintenance(id); err != nil {
		back(w, r, "/maintenance", "error", err.Error())
		return
	}
	back(w, r, "/maintenance", "flash", "Maintenance "+id+" ended.")
}
