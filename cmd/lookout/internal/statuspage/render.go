package statuspage

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/alerting/incidents"
)

// The page's template and style sheet. The CSS is inlined in a <style>
// element (one request, no CDN) and allowed by its hash in the page's
// Content-Security-Policy, which allows nothing else: no script at all.
var (
	//go:embed page.html
	pageHTML string
	//go:embed style.css
	styleCSS string
)

// renderer turns a Page into HTML and JSON.
type renderer struct {
	tmpl *template.Template
	// csp is the pages' Content-Security-Policy.
	csp string
}

func newRenderer() *renderer {
	sum := sha256.Sum256([]byte(styleCSS))
	tmpl := template.Must(template.New("page").Funcs(template.FuncMap{
		"icon":   icon,
		"status": statusText,
		"when":   func(t time.Time) string { return t.UTC().Format("Jan 2, 2006 15:04") },
		"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"join":   func(s []string) string { return strings.Join(s, ", ") },
	}).Parse(pageHTML))
	return &renderer{
		tmpl: tmpl,
		csp:  "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; form-action 'none'",
	}
}

// view is what the template reads: the page, with each component's bars
// and the incidents split into open and resolved.
type view struct {
	Page
	Groups         []viewGroup
	Active, Recent []Incident
	JSONPath       string
	CSS            template.CSS
}

type viewGroup struct {
	Name       string
	Components []viewComponent
}

type viewComponent struct {
	Component
	Bars               []bar
	Uptime30, Uptime90 string
}

// bar is one daily bar: its class (colour and pattern) and the text that
// hovering or focusing it shows, which a screen reader reads.
type bar struct {
	Class, Label string
}

func (r *renderer) html(p Page, jsonPath string) ([]byte, error) {
	v := view{Page: p, JSONPath: jsonPath, CSS: template.CSS(styleCSS)}
	for _, inc := range p.Incidents {
		if inc.Resolved.IsZero() {
			v.Active = append(v.Active, inc)
		} else {
			v.Recent = append(v.Recent, inc)
		}
	}
	for _, g := range p.Groups {
		vg := viewGroup{Name: g.Name}
		for _, c := range g.Components {
			vc := viewComponent{Component: c, Bars: make([]bar, len(c.Days)), Uptime30: percentText(c.Uptime30d), Uptime90: percentText(c.Uptime90d)}
			for i, d := range c.Days {
				vc.Bars[i] = barOf(d)
			}
			vg.Components = append(vg.Components, vc)
		}
		v.Groups = append(v.Groups, vg)
	}
	var buf bytes.Buffer
	if err := r.tmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render status page %q: %w", p.Title, err)
	}
	return buf.Bytes(), nil
}

func (r *renderer) json(p Page) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("status page %q as JSON: %w", p.Title, err)
	}
	return append(b, '\n'), nil
}

// barOf is a day's bar. Its class tells the day apart by pattern as well
// as colour; its label says it in words.
func barOf(d Day) bar {
	date := d.Date
	if t, err := time.Parse(time.DateOnly, d.Date); err == nil {
		date = t.Format("Jan 2, 2006")
	}
	var b strings.Builder
	b.WriteString(date)
	b.WriteString(": ")
	class := "ok"
	switch {
	case d.Uptime == nil && d.MaintenanceSeconds > 0:
		class = "maint"
		b.WriteString("under maintenance " + downText(d.MaintenanceSeconds))
	case d.Uptime == nil:
		class = "none"
		b.WriteString("no data")
	default:
		b.WriteString(percentText(d.Uptime) + " up")
		if d.DownSeconds > 0 {
			class = "minor"
			if *d.Uptime < 99 {
				class = "major"
			}
			b.WriteString(", down " + downText(d.DownSeconds))
		} else {
			b.WriteString(", no downtime")
		}
		if d.MaintenanceSeconds > 0 {
			b.WriteString(", under maintenance " + downText(d.MaintenanceSeconds))
		}
	}
	b.WriteString(".")
	if len(d.Incidents) > 0 {
		b.WriteString(" Incident")
		if len(d.Incidents) > 1 {
			b.WriteString("s")
		}
		b.WriteString(": ")
		for i, inc := range d.Incidents {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(inc.Title)
		}
		b.WriteString(".")
	}
	return bar{Class: class, Label: b.String()}
}

// icon is a state's symbol beside its text (hidden from screen readers,
// which read the text).
func icon(s State) string {
	switch s {
	case Operational:
		return "✓"
	case Degraded:
		return "▲"
	case Down:
		return "✕"
	case UnderMaintenance:
		return "◷"
	}
	return "?"
}

func statusText(s incidents.Status) string {
	if s == "" {
		return ""
	}
	return strings.ToUpper(string(s[:1])) + string(s[1:])
}
