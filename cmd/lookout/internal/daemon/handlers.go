package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/lookout-dev/lookout/probes"
)

func (d *daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", d.serveMetrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("POST /-/reload", d.handleReload)
	mux.HandleFunc("GET /api/v1/probes", d.handleProbes)
	mux.HandleFunc("GET /api/v1/probes/{name}", d.handleProbe)
	mux.HandleFunc("GET /api/v1/mongodb/slow-queries", d.handleSlowQueries)
	d.alertRoutes(mux)
	if d.vitals != nil {
		mux.Handle("/v1/vitals", d.vitals)
	}
	return mux
}

func (d *daemon) handleReload(w http.ResponseWriter, r *http.Request) {
	reply := make(chan error, 1)
	select {
	case d.reloads <- reply:
	case <-r.Context().Done():
		return
	}
	if err := <-reply; err != nil {
		http.Error(w, "reload failed; the running config is kept:\n"+err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintln(w, "reloaded")
}

func (d *daemon) handleProbes(w http.ResponseWriter, _ *http.Request) {
	runners := d.set.list()
	out := struct {
		Probes []probes.Status `json:"probes"`
	}{Probes: make([]probes.Status, len(runners))}
	for i, r := range runners {
		out.Probes[i] = r.Status()
	}
	writeJSON(w, out)
}

func (d *daemon) handleProbe(w http.ResponseWriter, r *http.Request) {
	run := d.set.get(r.PathValue("name"))
	if run == nil {
		http.Error(w, fmt.Sprintf("no probe named %q", r.PathValue("name")), http.StatusNotFound)
		return
	}
	writeJSON(w, run.Status())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a failed write means the client went away
}
