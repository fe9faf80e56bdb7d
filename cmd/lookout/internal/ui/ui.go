// Package ui is the admin listener's web UI for the on-call: what is down,
// why and since when, what paged, and the means to silence it, in one
// place. Pages are rendered on the server (html/template) from the
// daemon's own state (Source), readable without JavaScript; a small
// script refreshes them and previews a silence as its matchers are
// typed. Assets are embedded in the binary, and charts are SVG. The
// overview filters and pages on the server, so ten thousand probes are
// fifty rows at a time.
//
// The UI takes the admin listener's credentials: reading needs the read
// role and every change (a silence, Run now) admin, as the API; the
// listener refuses a change a browser says comes from another site.
package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/probes"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// PageSize is how many probes the overview shows at a time.
const PageSize = 50

// Route is one of the UI's routes; Form marks those that take a form's
// body, which the admin listener lets through its cross-origin check as
// it does every change.
type Route struct {
	Pattern string
	Handler http.Handler
	Form    bool
}

// UI serves the pages.
type UI struct {
	src   Source
	log   *slog.Logger
	pages map[string]*template.Template
	now   func() time.Time
}

// New parses the templates.
func New(src Source, log *slog.Logger) (*UI, error) {
	u := &UI{src: src, log: log, pages: map[string]*template.Template{}, now: time.Now}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", name, err)
		}
		u.pages[base] = t
	}
	return u, nil
}

// Routes are the UI's pages, forms and assets on the admin listener.
func (u *UI) Routes() []Route {
	static, _ := fs.Sub(staticFS, "static")
	assets := http.StripPrefix("/static/", http.FileServerFS(static))
	return []Route{
		{"GET /{$}", http.HandlerFunc(u.overview), false},
		{"GET /probes/{name}", http.HandlerFunc(u.probe), false},
		{"POST /probes/{name}/run", http.HandlerFunc(u.runNow), true},
		{"GET /alerts", http.HandlerFunc(u.alerts), false},
		{"GET /silences", http.HandlerFunc(u.silences), false},
		{"GET /silences/preview", http.HandlerFunc(u.preview), false},
		{"POST /silences", http.HandlerFunc(u.addSilence), true},
		{"POST /silences/{id}/expire", http.HandlerFunc(u.expireSilence), true},
		{"POST /silences/{id}/extend", http.HandlerFunc(u.extendSilence), true},
		{"GET /incidents", http.HandlerFunc(u.incidents), false},
		{"POST /incidents", http.HandlerFunc(u.postIncident), true},
		{"POST /incidents/{id}/resolve", http.HandlerFunc(u.resolveIncident), true},
		{"GET /maintenance", http.HandlerFunc(u.maintenance), false},
		{"POST /maintenance", http.HandlerFunc(u.startMaintenance), true},
		{"POST /maintenance/{id}/end", http.HandlerFunc(u.endMaintenance), true},
		{"GET /rules", http.HandlerFunc(u.rules), false},
		{"GET /mongodb", http.HandlerFunc(u.mongodb), false},
		{"GET /webvitals", http.HandlerFunc(u.webvitals), false},
		{"GET /static/", cacheAssets(assets), false},
		{"GET /favicon.ico", http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently), false},
	}
}

// page is what every page's layout reads.
type page struct {
	Title  string
	Nav    string
	Now    time.Time
	Flash  string
	Error  string
	Firing int // alerts firing and not muted, for the navigation
	Data   any
	// alerts are the alerts when the page has read them already.
	alerts []Alert
}

// render writes a page; a template error is logged and answered 500
// before anything is written.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Now = u.now()
	p.Flash = r.URL.Query().Get("flash")
	if p.Error == "" {
		p.Error = r.URL.Query().Get("error")
	}
	if p.alerts == nil {
		p.alerts = u.src.Alerts()
	}
	for _, a := range p.alerts {
		if a.State == "firing" && len(a.SilencedBy) == 0 && len(a.InhibitedBy) == 0 {
			p.Firing++
		}
	}
	var buf bytes.Buffer
	if err := u.pages[name].Execute(&buf, p); err != nil {
		u.log.Error("ui: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered; see Lookout's log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// cacheAssets lets browsers keep the embedded assets for an hour.
func cacheAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// back redirects to a page of the UI after a form, with a message.
func back(w http.ResponseWriter, r *http.Request, path, key, msg string) {
	http.Redirect(w, r, path+"?"+url.Values{key: {msg}}.Encode(), http.StatusSeeOther)
}

// shownAlerts is how many alerts the overview lists on top; the Alerts
// page has them all.
const shownAlerts = 10

// overviewData is the overview's page.
type overviewData struct {
	Alerts     []Alert // the first shownAlerts
	MoreAlerts int     // and how many more there are
	Rows       []probeRow
	Filter     filter
	Kinds      []string
	Counts     map[string]int // by state, of the filtered probes
	Total      int            // probes matching the filter
	All        int            // probes in all
	Page       int
	Pages      int
	PrevURL    string
	NextURL    string
}

// filter is the overview's query: state, kind, label (name=value) and
// text in the name.
type filter struct {
	State, Kind, Label, Q string
}

func (f filter) match(p ProbeBrief) bool {
	if f.State != "" && stateName(p.State, p.Judged) != f.State {
		return false
	}
	if f.Kind != "" && p.Kind != f.Kind {
		return false
	}
	if f.Q != "" && !strings.Contains(strings.ToLower(p.Name), strings.ToLower(f.Q)) {
		return false
	}
	if f.Label != "" {
		k, v, _ := strings.Cut(f.Label, "=")
		if got, ok := p.Labels[strings.TrimSpace(k)]; !ok || (v != "" && got != strings.TrimSpace(v)) {
			return false
		}
	}
	return true
}

// query is the filter as URL parameters, with page.
func (f filter) query(page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"state": f.State, "kind": f.Kind, "label": f.Label, "q": f.Q} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// stateName is a probe's state as the UI words it; "pending" before its
// first run judged the target.
func stateName(s probes.State, judged bool) string {
	if !judged {
		return "pending"
	}
	return s.String()
}

// probeRow is one probe of the overview.
type probeRow struct {
	Status   probes.Status
	State    string
	Uptime   [3]string // 24 h, 7 d, 30 d
	Spark    template.HTML
	Strip    template.HTML
	LastTook time.Duration
}

func (u *UI) overview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := filter{State: q.Get("state"), Kind: q.Get("kind"), Label: q.Get("label"), Q: q.Get("q")}
	all := u.src.Probes()
	alerts := u.src.Alerts()
	d := overviewData{Filter: f, Counts: map[string]int{}, All: len(all), Alerts: alerts[:min(len(alerts), shownAlerts)], MoreAlerts: max(0, len(alerts)-shownAlerts)}
	kinds := map[string]bool{}
	var shown []ProbeBrief
	for _, p := range all {
		kinds[p.Kind] = true
		if f.match(p) {
			shown = append(shown, p)
			d.Counts[stateName(p.State, p.Judged)]++
		}
	}
	for k := range kinds {
		d.Kinds = append(d.Kinds, k)
	}
	slices.Sort(d.Kinds)
	// Down first, then degraded, pending and up; by name within each.
	order := map[string]int{"down": 0, "degraded": 1, "pending": 2, "up": 3}
	slices.SortStableFunc(shown, func(a, b ProbeBrief) int {
		return order[stateName(a.State, a.Judged)] - order[stateName(b.State, b.Judged)]
	})
	d.Total = len(shown)
	d.Pages = max(1, (len(shown)+PageSize-1)/PageSize)
	d.Page = min(max(1, atoi(q.Get("page"))), d.Pages)
	if d.Page > 1 {
		d.PrevURL = f.query(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.NextURL = f.query(d.Page + 1)
	}
	now := u.now()
	for _, p := range shown[min((d.Page-1)*PageSize, len(shown)):min(d.Page*PageSize, len(shown))] {
		st, ok := u.src.Probe(p.Name)
		if !ok {
			continue
		}
		row := probeRow{Status: st, State: stateName(st.State, !st.Since.IsZero()), Spark: sparkline(st.Results), Strip: strip(st.Results)}
		for i, span := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour} {
			row.Uptime[i] = percent(u.src.Uptime(p.Name, now.Add(-span)))
		}
		if len(st.Results) > 0 {
			row.LastTook = st.Results[0].Duration
		}
		d.Rows = append(d.Rows, row)
	}
	u.render(w, r, http.StatusOK, "overview", page{Title: "Probes", Nav: "overview", Data: d, alerts: alerts})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// percent words an uptime, or "no data".
func percent(v float64, ok bool) string {
	if !ok {
		return "no data"
	}
	return strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
}
