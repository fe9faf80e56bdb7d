package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting/maintenance"
	"github.com/lookout-dev/lookout/config"
)

// maintenanceBodyLimit bounds a request to create a one-off window: room
// for a message of config.MaxMaintenanceMessage characters however JSON
// spells them (up to 6 bytes each, \u0000), and for many matchers.
const maintenanceBodyLimit = 64 << 10

// setupMaintenance opens the maintenance windows' store in alerting's
// database with cfg's windows, and has the uptime sampler ask it whether a
// probe is under maintenance. Failed writes go to failures.
func (d *daemon) setupMaintenance(a *alertingParts, cfg *config.Config, failures storageComponent) error {
	var st *maintenance.Store
	var err error
	if a.cluster != nil {
		st, err = maintenance.OpenIn(a.cluster.bucket("maintenance"), failures)
	} else {
		st, err = maintenance.Open(a.db, failures)
	}
	if err != nil {
		return err
	}
	st.SetConfig(cfg.Maintenance)
	a.maintenance = st
	d.maintenance = func(probe string, labels map[string]string, t time.Time) bool {
		_, ok := st.Covers(probeLabels(probe, labels), t)
		return ok
	}
	return nil
}

// probeLabels is a probe's own label set, as maintenance windows select
// probes: probe=NAME and its labels.
func probeLabels(probe string, labels map[string]string) model.LabelSet {
	lset := make(model.LabelSet, len(labels)+1)
	for k, v := range labels {
		lset[model.LabelName(k)] = model.LabelValue(v)
	}
	lset["probe"] = model.LabelValue(probe)
	return lset
}

// applyMaintenance applies a reloaded config's maintenance windows; the
// one-offs stay.
func (d *daemon) applyMaintenance(cfg *config.Config) {
	d.alerting.maintenance.SetConfig(cfg.Maintenance)
}

// maintenanceRoutes are the admin API's maintenance endpoints.
func (d *daemon) maintenanceRoutes() []endpoint {
	return []endpoint{
		{pattern: "GET /api/v1/maintenance", handler: http.HandlerFunc(d.handleMaintenance)},
		{pattern: "POST /api/v1/maintenance", handler: http.HandlerFunc(d.handleAddMaintenance)},
		{pattern: "DELETE /api/v1/maintenance/{id}", handler: http.HandlerFunc(d.handleEndMaintenance)},
	}
}

// handleMaintenance lists the configured windows, each with its current
// and next window, and the one-offs, newest first.
func (d *daemon) handleMaintenance(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, d.alerting.maintenance.List(time.Now()))
}

// handleAddMaintenance creates a one-off window from one JSON object
// (maintenance.Request) and answers 201 with it. Refusals name the field:
// 400 for a body that is not one valid window, 413 for a body over
// maintenanceBodyLimit, 422 for one a bound refuses (matchers that all
// match the empty value, over 7 days, a message over 500 characters, too
// many one-offs), 507 when storage would not take it.
func (d *daemon) handleAddMaintenance(w http.ResponseWriter, r *http.Request) {
	var in maintenance.Request
	err := decodeJSON(w, r, &in, maintenanceBodyLimit)
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		http.Error(w, fmt.Sprintf("maintenance: request body over %d bytes; a window's message holds at most %d characters", maintenanceBodyLimit, config.MaxMaintenanceMessage), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "maintenance: invalid JSON body: "+err.Error(), http.StatusBadRequest)
		return
	}
	win, err := in.Window(time.Now())
	if err == nil {
		win, err = d.alerting.maintenance.Add(win)
	}
	if err != nil {
		http.Error(w, err.Error(), maintenanceStatus(err))
		return
	}
	d.log.Info("maintenance window created", "id", win.ID, "by", win.CreatedBy, "matchers", win.Matchers, "ends", win.End)
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, win)
}

// handleEndMaintenance ends a one-off window now: 404 for an unknown ID,
// 409 for a configured window (the config says when it ends), 507 when
// storage would not take the change.
func (d *daemon) handleEndMaintenance(w http.ResponseWriter, r *http.Request) {
	win, err := d.alerting.maintenance.End(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), maintenanceStatus(err))
		return
	}
	writeJSON(w, win)
}

// maintenanceStatus is the HTTP status of an error from the maintenance
// store.
func maintenanceStatus(err error) int {
	var refused *maintenance.RefusedError
	var storage *maintenance.StorageError
	switch {
	case errors.As(err, &refused) && refused.Why == maintenance.OverLimit:
		return http.StatusUnprocessableEntity
	case errors.As(err, &refused):
		return http.StatusBadRequest
	case errors.As(err, &storage):
		return http.StatusInsufficientStorage
	case errors.Is(err, maintenance.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, maintenance.ErrConfigured):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
