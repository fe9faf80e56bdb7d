package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/pprof" // its init also registers on http.DefaultServeMux, which Lookout never serves
	"reflect"
	"slices"
	"strings"
	"time"

	slacknotify "github.com/lookout-dev/lookout/alerting/notify/slack"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/heartbeat"
)

// adminRoutes are the admin listener's endpoints. A route's access is by
// method unless it says otherwise: GET needs the read role, anything that
// changes state admin.
func (d *daemon) adminRoutes() []endpoint {
	routes := []endpoint{
		{pattern: "GET /metrics", handler: http.HandlerFunc(d.serveMetrics), access: accessMetrics},
		{pattern: "GET /healthz", handler: http.HandlerFunc(handleHealthz), access: accessOpen},
		{pattern: "GET /readyz", handler: http.HandlerFunc(d.handleReadyz), access: accessOpen},
		{pattern: "POST /-/reload", handler: http.HandlerFunc(d.handleReload)},
		{pattern: "GET /api/v1/probes", handler: http.HandlerFunc(d.handleProbes)},
		{pattern: "GET /api/v1/probes/{name}", handler: http.HandlerFunc(d.handleProbe)},
		// A browser run's evidence shows the page as the probe's login
		// saw it: admins only, as the pprof profiles.
		{pattern: "GET /api/v1/probes/{name}/artifacts", handler: http.HandlerFunc(d.handleArtifacts), access: accessAdmin},
		{pattern: "GET /api/v1/probes/{name}/artifacts/{run}/{file}", handler: http.HandlerFunc(d.handleArtifact), access: accessAdmin},
		{pattern: "GET /api/v1/probes/{name}/uptime", handler: http.HandlerFunc(d.handleUptime)},
		{pattern: "GET /api/v1/cluster", handler: http.HandlerFunc(d.handleCluster)},
		{pattern: "GET /api/v1/mongodb/slow-queries", handler: http.HandlerFunc(d.handleSlowQueries)},
		{pattern: "GET /api/v1/mongodb/backups", handler: http.HandlerFunc(d.handleBackups)},
	}
	routes = append(routes, d.alertRoutes()...)
	routes = append(routes, d.maintenanceRoutes()...)
	routes = append(routes, d.incidentRoutes()...)
	routes = append(routes, d.uiRoutes()...)
	return append(routes, pprofRoutes()...)
}

// publicRoutes are what the internet must reach, one line each: served on
// server.public's listener when it is set (and then nowhere else), beside
// the API otherwise. They take no credentials; each checks its callers
// itself (Web Vitals: allowed origins and a rate limit; Slack: the
// request's signature; heartbeats: each heartbeat's token). config's
// publicRoutes names the same.
func (d *daemon) publicRoutes() []endpoint {
	var routes []endpoint
	if d.vitals != nil {
		routes = append(routes, endpoint{pattern: "/v1/vitals", handler: d.vitals})
	}
	if d.heartbeats != nil {
		routes = append(routes, endpoint{pattern: heartbeat.RoutePrefix, handler: d.heartbeats})
	}
	routes = append(routes, d.statusRoutes()...)
	return append(routes, d.slackInteractionRoutes()...)
}

// slackInteractionRoutes are Slack's interactivity Request URLs, one per
// receiver with a signing secret:
// https://lookout.example.com/slack/RECEIVER/interactions
func (d *daemon) slackInteractionRoutes() []endpoint {
	var routes []endpoint
	for name, secret := range d.alerting.slackSecrets {
		h := slacknotify.NewInteractionHandler(secret, slackActions{d.alerting, d.log}, slacknotify.HandlerOptions{Logger: d.log})
		routes = append(routes, endpoint{pattern: "POST /slack/" + name + "/interactions", handler: h})
	}
	return routes
}

// pprofRoutes serve Go's profiles as Prometheus does, to admins only: a
// CPU profile or trace costs the daemon while it runs.
func pprofRoutes() []endpoint {
	return []endpoint{
		{pattern: "GET /debug/pprof/", handler: http.HandlerFunc(pprof.Index), access: accessAdmin},
		{pattern: "GET /debug/pprof/cmdline", handler: http.HandlerFunc(pprof.Cmdline), access: accessAdmin},
		{pattern: "GET /debug/pprof/profile", handler: http.HandlerFunc(pprof.Profile), access: accessAdmin},
		{pattern: "GET /debug/pprof/symbol", handler: http.HandlerFunc(pprof.Symbol), access: accessAdmin},
		{pattern: "GET /debug/pprof/trace", handler: http.HandlerFunc(pprof.Trace), access: accessAdmin},
	}
}

func handleHealthz(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintln(w, "ok")
}

func (d *daemon) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	if !d.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
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

// handleArtifacts lists the evidence kept of a probe's down browser
// runs, newest first: each run's time, reason, and files with their sizes.
func (d *daemon) handleArtifacts(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if d.set.get(name) == nil {
		http.Error(w, fmt.Sprintf("no probe named %q", name), http.StatusNotFound)
		return
	}
	out := struct {
		Runs []browserprobe.ArtifactRun `json:"runs"`
	}{Runs: []browserprobe.ArtifactRun{}}
	if b := d.opts.Browser; b != nil {
		runs, err := b.Artifacts().Runs(name)
		if err != nil {
			d.log.Warn("list browser evidence", "probe", name, "err", err)
			http.Error(w, "cannot list the evidence; see Lookout's log", http.StatusInternalServerError)
			return
		}
		if runs != nil {
			out.Runs = runs
		}
	}
	writeJSON(w, out)
}

// handleArtifact serves one file of a kept run: only the names the list
// shows, never a path.
func (d *daemon) handleArtifact(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	b := d.opts.Browser
	if b == nil || d.set.get(r.PathValue("name")) == nil {
		http.NotFound(w, r)
		return
	}
	f, info, err := b.Artifacts().Open(r.PathValue("name"), r.PathValue("run"), r.PathValue("file"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("serve browser evidence", "probe", r.PathValue("name"), "err", err)
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", info.ContentType)
	w.Header().Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, info.Name, time.Time{}, f)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a failed write means the client went away
}

// decodeJSON reads a request's body, one JSON object of at most limit
// bytes, into the struct v points to. Its errors name the field: one
// the struct does not have (with the ones it has), or one whose value does
// not fit, with what was wrong. A body over limit wraps
// *http.MaxBytesError, for a 413.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if err := dec.Decode(&fields); err != nil {
		return bodyError(err, limit)
	}
	if dec.More() {
		return errors.New("data after the JSON object; want one object")
	}
	rv := reflect.ValueOf(v).Elem()
	names := jsonFieldNames(rv.Type())
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		i := -1
		if key != "" {
			i = slices.Index(names, key)
		}
		if i < 0 && key != "" {
			i = slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, key) })
		}
		if i < 0 {
			return fmt.Errorf("unknown field %q; valid fields: %s", key, strings.Join(slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "" }), ", "))
		}
		if err := json.Unmarshal(fields[key], rv.Field(i).Addr().Interface()); err != nil {
			return fmt.Errorf("field %q: %s", names[i], valueError(err))
		}
	}
	return nil
}

// jsonFieldNames are the JSON names of t's fields by index, "" for a
// field that is not decoded.
func jsonFieldNames(t reflect.Type) []string {
	names := make([]string, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case name == "":
			names[i] = f.Name
		default:
			names[i] = name
		}
	}
	return names
}

func bodyError(err error, limit int64) error {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty body; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON object ends early")
	case errors.As(err, &tooLarge):
		return fmt.Errorf("body over %d bytes: %w", limit, err)
	case errors.As(err, &syntax):
		return fmt.Errorf("invalid JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("got a JSON %s; want an object", typ.Value)
	}
	return err
}

// valueError says what was wrong with one field's value.
func valueError(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("got a JSON %s, want %s", typ.Value, jsonKind(typ.Type))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}
