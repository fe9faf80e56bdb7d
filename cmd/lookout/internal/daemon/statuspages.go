package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/incidents"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/statuspage"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/uptime"
)

// probeDownAlert is the alert whose firing opens an incident: the
// built-in rule, or the user's rule of the same name.
const probeDownAlert = "ProbeDown"

// storageIncidents is the incidents' component of
// lookout_storage_write_failures_total.
const storageIncidents = "incidents"

// maxIncidentBody bounds a POST to the incident API: a message is at
// most incidents.DefaultMaxMessage bytes, escaped JSON a few times that.
const maxIncidentBody = 32 << 10

// statusPages are the public status pages and the incidents they tell
// of.
type statusPages struct {
	incidents *incidents.Store
	server    *statuspage.Server
	// paths are the pages' paths as Lookout started with them: the
	// listeners' routes are fixed at start.
	paths []string

	mu sync.Mutex
	// listed are the probes some page lists: only they get automatic
	// incidents.
	listed map[string]bool
	// every is how often alerts are looked at: alerting.evaluation_interval.
	every time.Duration
	// lastErr is the last error Observe returned, logged once.
	lastErr string
}

// setupStatusPages opens the incidents (in alerting's database) and
// builds the status pages at start.
func (d *daemon) setupStatusPages(cfg *config.Config) error {
	failures := d.alerting.uptime.f.component(storageIncidents, "an incident or its update was not saved: the API answered 507, or an automatic incident opens or resolves at the next evaluation")
	var store *incidents.Store
	var err error
	if ca := d.alerting.cluster; ca != nil {
		store, err = incidents.OpenIn(ca.sequence("incidents"), incidents.Limits{}, failures, time.Now())
	} else {
		store, err = incidents.Open(d.alerting.db, incidents.Limits{}, failures, time.Now())
	}
	if err != nil {
		return err
	}
	p := &statusPages{incidents: store, paths: statuspage.Paths(cfg.StatusPages)}
	p.server = statuspage.New(pageSource{d}, cfg.StatusPages, trustedProxies(cfg), statuspage.Options{Log: d.log})
	p.configure(cfg)
	d.pages = p
	return nil
}

func (p *statusPages) configure(cfg *config.Config) {
	listed := map[string]bool{}
	for _, page := range cfg.StatusPages {
		for _, g := range page.Groups {
			for _, name := range g.Probes {
				listed[name] = true
			}
		}
	}
	p.mu.Lock()
	p.listed, p.every = listed, max(cfg.Alerting.EvaluationInterval.Std(), 50*time.Millisecond)
	p.mu.Unlock()
}

// applyStatusPages applies a reloaded config's status pages: their
// titles, groups and probes at once; a page at a path Lookout did not
// start with is served from the next start.
func (d *daemon) applyStatusPages(cfg *config.Config) {
	p := d.pages
	p.server.Configure(cfg.StatusPages, trustedProxies(cfg))
	p.configure(cfg)
	for _, page := range cfg.StatusPages {
		if !slices.Contains(p.paths, page.Path) {
			d.log.Warn("a status page's path changes at the next start; until then it is not served", "page", page.Name, "path", page.Path)
		}
	}
}

// runStatusPages opens and resolves automatic incidents after each
// evaluation of the alerting rules, until ctx ends.
func (d *daemon) runStatusPages(ctx context.Context) error {
	p := d.pages
	t := time.NewTimer(p.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			p.observe(d, now)
			t.Reset(p.interval())
		}
	}
}

func (p *statusPages) interval() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.every
}

// observe hands the incidents the probes whose down alert fires: those
// listed on a page and not under maintenance, and any that has an
// automatic incident open already (so that it resolves only when its
// alert stops).
func (p *statusPages) observe(d *daemon, now time.Time) {
	if ca := d.alerting.cluster; ca != nil {
		// In a cluster the leader alone opens and resolves them, from
		// every replica's alerts; the others read them (afterTick).
		if _, leading := ca.c.Leading(); !leading {
			return
		}
	}
	open := map[string]bool{}
	for _, inc := range p.incidents.List(now) {
		if inc.Open() && inc.Auto {
			open[inc.Probe] = true
		}
	}
	p.mu.Lock()
	listed := p.listed
	p.mu.Unlock()
	firing := map[string]time.Time{}
	for probe, since := range d.firingDown() {
		if open[probe] || listed[probe] && !d.probeUnderMaintenance(probe, now) {
			firing[probe] = since
		}
	}
	before := p.incidents.Version()
	err := p.incidents.Observe(firing, now)
	if p.incidents.Version() != before {
		p.server.Invalidate()
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	p.mu.Lock()
	changed := msg != p.lastErr
	p.lastErr = msg
	p.mu.Unlock()
	if err != nil && changed {
		d.log.Warn("automatic incidents: not every one opened or resolved; retrying at each evaluation", "err", err)
	}
}

// firingDown is, by probe, when its firing down alert became active: in a
// cluster, as the leader merged every replica's alerts.
func (d *daemon) firingDown() map[string]time.Time {
	if ca := d.alerting.cluster; ca != nil {
		return ca.firingDown()
	}
	out := map[string]time.Time{}
	for _, g := range d.alerting.rules.Groups() {
		for _, r := range g.Rules {
			ar, ok := r.(*rules.AlertingRule)
			if !ok || ar.Name() != probeDownAlert {
				continue
			}
			for _, a := range ar.Alerts() {
				probe := a.Labels.Get("probe")
				if a.State != rules.StateFiring || probe == "" {
					continue
				}
				if since, seen := out[probe]; !seen || a.ActiveAt.Before(since) {
					out[probe] = a.ActiveAt
				}
			}
		}
	}
	return out
}

func (d *daemon) probeUnderMaintenance(name string, now time.Time) bool {
	r := d.set.get(name)
	return r != nil && d.underMaintenance(name, r.Config().Labels, now)
}

// pageSource is what status pages show, read from the daemon: probe
// states, the uptime ledger, incidents and maintenance. It hands over no
// URL or label.
type pageSource struct{ d *daemon }

var _ statuspage.Source = pageSource{}

func (s pageSource) Probe(name string) (statuspage.ProbeStatus, bool) {
	r := s.d.set.get(name)
	if r == nil {
		return statuspage.ProbeStatus{}, false
	}
	maintenance := s.d.underMaintenance(name, r.Config().Labels, time.Now())
	if ca := s.d.alerting.cluster; ca != nil {
		// Run by another replica: as it published it.
		if ps, ok := ca.remoteState(name); ok {
			return statuspage.ProbeStatus{State: ps.State, Judged: ps.Judged, Reason: ps.Reason, Maintenance: maintenance}, true
		}
	}
	st, judged := r.Current()
	out := statuspage.ProbeStatus{State: st, Judged: judged, Maintenance: maintenance}
	if st != probes.Up {
		out.Reason = r.Status().Reason
	}
	return out, true
}

func (s pageSource) DailyUptime(probe string, from, to time.Time) ([]uptime.Period, error) {
	return s.d.uptime.Periods(probe, uptime.Day, from, to)
}

func (s pageSource) Incidents(since time.Time) []incidents.Incident {
	return s.d.pages.incidents.List(since)
}

// Maintenance is the window covering the probe now, if any, and those
// that start within horizon and would cover it.
func (s pageSource) Maintenance(probe string, now time.Time, horizon time.Duration) []statuspage.Window {
	r := s.d.set.get(probe)
	if r == nil {
		return nil
	}
	lset := probeLabels(probe, r.Config().Labels)
	var out []statuspage.Window
	if w, ok := s.d.alerting.maintenance.Covers(lset, now); ok {
		out = append(out, statuspage.Window{Message: w.Message, Start: w.Start, End: w.End})
	}
	for _, w := range s.d.alerting.maintenance.Upcoming(now, horizon) {
		if ms, err := dispatch.ParseMatchers(w.Matchers); err == nil && ms.Matches(lset) && w.Start.After(now) {
			out = append(out, statuspage.Window{Message: w.Message, Start: w.Start, End: w.End})
		}
	}
	return out
}

// statusRoutes are the status pages, their JSON and the badges, on the
// public listener: GET and HEAD only, each client IP rate-limited.
func (d *daemon) statusRoutes() []endpoint {
	if d.pages == nil || len(d.pages.paths) == 0 {
		return nil
	}
	var routes []endpoint
	for _, path := range d.pages.paths {
		routes = append(routes, endpoint{pattern: "GET " + path, handler: d.pages.server})
	}
	return append(routes, endpoint{pattern: "GET " + statuspage.BadgePrefix, handler: d.pages.server})
}

// incidentRoutes are the admin API's incident endpoints.
func (d *daemon) incidentRoutes() []endpoint {
	return []endpoint{
		{pattern: "GET /api/v1/incidents", handler: http.HandlerFunc(d.handleIncidents)},
		{pattern: "POST /api/v1/incidents", handler: http.HandlerFunc(d.handlePostIncident)},
		{pattern: "POST /api/v1/incidents/{id}/resolve", handler: http.HandlerFunc(d.handleResolveIncident)},
	}
}

// handleIncidents lists every kept incident, newest first, with who
// wrote each update.
func (d *daemon) handleIncidents(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, struct {
		Incidents []incidents.Incident `json:"incidents"`
	}{Incidents: d.pages.incidents.List(time.Time{})})
}

// incidentRequest is POST /api/v1/incidents: probe and title open an
// incident; id adds an update to one.
type incidentRequest struct {
	ID      string `json:"id"`
	Probe   string `json:"probe"`
	Title   string `json:"title"`
	Message string `json:"message"`
	Status  string `json:"status"`
	By      string `json:"by"`
}

// handlePostIncident opens an incident (201) or adds an update to one
// (200); an update without a status keeps the incident's.
func (d *daemon) handlePostIncident(w http.ResponseWriter, r *http.Request) {
	var req incidentRequest
	if err := decodeJSON(w, r, &req, maxIncidentBody); err != nil {
		incidentError(w, err)
		return
	}
	inc, err := d.postIncident(req)
	if err != nil {
		incidentError(w, err)
		return
	}
	if req.ID == "" {
		w.WriteHeader(http.StatusCreated)
	}
	writeJSON(w, inc)
}

// postIncident opens an incident, or with an id adds an update to one (an
// update without a status keeps the incident's), for the API and the UI.
func (d *daemon) postIncident(req incidentRequest) (incidents.Incident, error) {
	store := d.pages.incidents
	status, err := incidents.ParseStatus(req.Status)
	if err != nil {
		return incidents.Incident{}, err
	}
	var inc incidents.Incident
	switch {
	case req.ID == "" && d.set.get(req.Probe) == nil && req.Probe != "":
		err = &incidents.FieldError{Field: "probe", Msg: fmt.Sprintf("no probe named %q", req.Probe)}
	case req.ID == "":
		inc, err = store.Open(req.Probe, req.Title, req.Message, req.By, status)
	case req.Probe != "":
		err = &incidents.FieldError{Field: "probe", Msg: "an update (with id) cannot move an incident to another probe; leave probe out, or leave id out to open a new incident"}
	case req.Title != "":
		err = &incidents.FieldError{Field: "title", Msg: "an update (with id) keeps the incident's title; leave title out, or leave id out to open a new incident"}
	default:
		if req.Status == "" {
			cur, gerr := store.Get(req.ID)
			if gerr != nil {
				return incidents.Incident{}, gerr
			}
			status = cur.Status()
		}
		inc, err = store.Update(req.ID, req.Message, req.By, status)
	}
	if err != nil {
		return incidents.Incident{}, err
	}
	d.pages.server.Invalidate()
	return inc, nil
}

// errResolved is resolving an incident that is resolved already.
type errResolved struct{ inc incidents.Incident }

func (e errResolved) Error() string {
	return fmt.Sprintf("incident %s was resolved at %s already; to add a note, POST /api/v1/incidents with its id and status resolved", e.inc.ID, e.inc.Resolved.UTC().Format(time.RFC3339))
}

// handleResolveIncident resolves an open incident; the body, optional,
// is {message, by}.
func (d *daemon) handleResolveIncident(w http.ResponseWriter, r *http.Request) {
	req := struct {
		Message string `json:"message"`
		By      string `json:"by"`
	}{}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req, maxIncidentBody); err != nil {
			incidentError(w, err)
			return
		}
	}
	inc, err := d.resolveIncident(r.PathValue("id"), req.Message, req.By)
	if err != nil {
		incidentError(w, err)
		return
	}
	writeJSON(w, inc)
}

// resolveIncident resolves an open incident, with a default message.
func (d *daemon) resolveIncident(id, message, by string) (incidents.Incident, error) {
	store := d.pages.incidents
	cur, err := store.Get(id)
	if err != nil {
		return incidents.Incident{}, err
	}
	if !cur.Open() {
		return incidents.Incident{}, errResolved{cur}
	}
	inc, err := store.Resolve(cur.ID, cmp.Or(message, "This incident has been resolved."), by)
	if err != nil {
		return incidents.Incident{}, err
	}
	d.pages.server.Invalidate()
	return inc, nil
}

// incidentError answers a refused incident request with the status that
// says why.
func incidentError(w http.ResponseWriter, err error) {
	var (
		field    *incidents.FieldError
		limit    *incidents.LimitError
		storage  *incidents.StorageError
		tooLarge *http.MaxBytesError
	)
	code := http.StatusBadRequest
	switch {
	case errors.As(err, &field):
	case errors.Is(err, incidents.ErrNotFound):
		code = http.StatusNotFound
	case errors.As(err, &limit), errors.As(err, new(errResolved)):
		code = http.StatusConflict
	case errors.As(err, &storage):
		code = http.StatusInsufficientStorage
	case errors.As(err, &tooLarge):
		code = http.StatusRequestEntityTooLarge
	}
	http.Error(w, err.Error(), code)
}
