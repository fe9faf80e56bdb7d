package config

import (
	"fmt"
	"regexp"
	"strings"
)

// StatusPage is a public page showing whether the probes it names are up
// (status_pages[]). It is for outsiders: unless ShowReasons is true it
// shows only each probe's state, never a URL or why a run failed.
type StatusPage struct {
	// Name identifies the page; unique among status pages.
	Name string `yaml:"name"`
	// Path is where the page is served, like /status; Path + ".json"
	// serves the same as JSON (/status.json). Unique among status pages,
	// and none of Lookout's own routes.
	Path string `yaml:"path"`
	// Title heads the page; default: Name.
	Title string `yaml:"title"`
	// Description is an optional line under the title.
	Description string `yaml:"description"`
	// Groups are the page's sections, in order.
	Groups []StatusGroup `yaml:"groups"`
	// ShowReasons shows why a probe failed (its failure messages, which
	// may name internal URLs and addresses). Default false: state only.
	ShowReasons bool `yaml:"show_reasons"`
}

// StatusGroup is one section of a status page: a heading and the probes
// under it, by name, in order.
type StatusGroup struct {
	Name   string   `yaml:"name"`
	Probes []string `yaml:"probes"`
}

// StatusPageJSON is what Path is followed by for the page's JSON form.
const StatusPageJSON = ".json"

// reservedRoutes are Lookout's own routes, which no status page may take.
// The public listener serves /v1/vitals, /v1/heartbeat/, /slack/ and the
// status badges; without server.public those are served on the admin
// listener beside the API and the web UI, so a status page may take none
// of theirs either. A route ending in "/" stands for everything under it.
// The daemon's tests check every route it serves is here.
var reservedRoutes = []string{
	"/v1/vitals", "/v1/heartbeat/", "/slack/", "/badge/",
	"/metrics", "/healthz", "/readyz", "/-/", "/api/", "/debug/",
	"/probes/", "/alerts", "/silences/", "/incidents/", "/maintenance/", "/rules", "/mongodb", "/webvitals", "/static/", "/favicon.ico",
}

// ReservedRoute returns the route of Lookout's own that p is, or is
// under, which a status page may not take; false when there is none.
func ReservedRoute(p string) (string, bool) {
	for _, r := range reservedRoutes {
		under, subtree := strings.CutSuffix(r, "/")
		if p == r || subtree && (p == under || strings.HasPrefix(p, r)) {
			return r, true
		}
	}
	return "", false
}

// statusPath is a clean absolute URL path: segments of letters, digits
// and '-', '.', '_', '~' (the characters a URL path holds as they are).
var statusPath = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

func (c *Config) checkStatusPages(d *decoder) {
	probes := make(map[string]bool, len(c.Probes))
	var probeNames []string
	for _, p := range c.Probes {
		if p.Name != "" && !probes[p.Name] {
			probes[p.Name] = true
			probeNames = append(probeNames, p.Name)
		}
	}
	names := map[string]int{}
	routes := map[string]int{} // path and path.json, by the page serving them
	for i := range c.StatusPages {
		s := &c.StatusPages[i]
		at := fmt.Sprintf("status_pages[%d]", i)
		switch j, dup := names[s.Name]; {
		case s.Name == "":
			d.errorAt(at+".name", "missing; every status page needs a unique name")
		case dup:
			d.errorAt(at+".name", "duplicate status page name %q, first used by status_pages[%d]; names must be unique", s.Name, j)
		default:
			names[s.Name] = i
		}
		if s.Title == "" {
			s.Title = s.Name
		}
		s.checkPath(d, at+".path", routes, i)
		s.checkGroups(d, at, probes, probeNames)
	}
}

func (s *StatusPage) checkPath(d *decoder, at string, routes map[string]int, i int) {
	p := s.Path
	switch {
	case p == "":
		d.errorAt(at, "missing; want where the page is served, like /status")
		return
	case !strings.HasPrefix(p, "/"):
		d.errorAt(at, "%q does not start with /; want an absolute path, like /status", p)
		return
	case p == "/":
		d.errorAt(at, "\"/\" would answer every URL no other route takes, so a mistyped link would show the status page; want a path of its own, like /status")
		return
	case strings.HasSuffix(p, "/"):
		d.errorAt(at, "%q ends with /, so it would answer every URL under it too; want %q", p, strings.TrimRight(p, "/"))
		return
	case !statusPath.MatchString(p):
		d.errorAt(at, "%q holds characters a URL path does not take as they are, or an empty segment; want segments of letters, digits, '-', '.', '_' and '~', like /status", p)
		return
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			d.errorAt(at, "%q holds a %q segment, which browsers resolve away; want a plain path, like /status", p, seg)
			return
		}
	}
	if r, ok := ReservedRoute(p); ok {
		d.errorAt(at, "%q is Lookout's own route %s; want another path, like /status", p, r)
		return
	}
	for _, route := range []string{p, p + StatusPageJSON} {
		if j, taken := routes[route]; taken {
			d.errorAt(at, "%q is served by status_pages[%d] already (each page is served at its path and its path + %q); want another path", route, j, StatusPageJSON)
			return
		}
	}
	routes[p], routes[p+StatusPageJSON] = i, i
}

func (s *StatusPage) checkGroups(d *decoder, at string, probes map[string]bool, probeNames []string) {
	if len(s.Groups) == 0 {
		d.errorAt(at+".groups", "missing; want at least one group of probes, like groups: [{name: Website, probes: [home]}]")
		return
	}
	groups := map[string]int{}
	listed := map[string]string{} // probe name: where on this page it is first listed
	for i, g := range s.Groups {
		gat := fmt.Sprintf("%s.groups[%d]", at, i)
		switch j, dup := groups[g.Name]; {
		case g.Name == "":
			d.errorAt(gat+".name", "missing; every group needs a heading, unique on its page")
		case dup:
			d.errorAt(gat+".name", "%q is the name of groups[%d] too; give each group of a page a name of its own", g.Name, j)
		default:
			groups[g.Name] = i
		}
		if len(g.Probes) == 0 {
			d.errorAt(gat+".probes", "missing; want at least one probe name, like probes: [home]")
		}
		for k, name := range g.Probes {
			pat := fmt.Sprintf("%s.probes[%d]", gat, k)
			if first, dup := listed[name]; dup {
				d.errorAt(pat, "%q is listed at %s already; list each probe once per page", name, first)
				continue
			}
			listed[name] = pat
			if !probes[name] {
				d.errorAt(pat, "no probe named %q; want the name of one of probes[]%s", name, suggest(name, probeNames))
			}
		}
	}
}
