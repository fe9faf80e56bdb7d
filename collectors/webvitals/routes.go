package webvitals

import (
	"log/slog"
	"strings"
	"sync"

	"github.com/lookout-dev/lookout/config"
)

// Route label values that are not paths.
const (
	routeOther   = "other"   // past max_routes, or a path longer than config.MaxRouteLen
	routeUnknown = "unknown" // no page field and no usable Referer
)

// routeTable turns page URLs into route labels: the first configured
// template that matches, else the path with its IDs collapsed to :id. It
// admits at most max distinct routes, templates included, and never forgets
// one (forgetting would let the set of series churn without bound); later
// new routes count as other.
type routeTable struct {
	templates []routeTemplate
	max       int
	log       *slog.Logger

	mu    sync.RWMutex
	known map[string]bool
	full  bool // logged once when the table filled
}

// routeTemplate is /users/:id or /blog/*: :name matches one segment, a
// final * one or more segments (so /blog/* matches /blog/a/b but not /blog).
type routeTemplate struct {
	raw  string
	segs []string // without a final "*"
	rest bool
}

// newRouteTable reads templates, which config's check has found to be
// route templates, each listed once and no more than max of them.
func newRouteTable(templates []string, max int, log *slog.Logger) *routeTable {
	t := &routeTable{max: max, log: log, known: map[string]bool{}}
	for _, raw := range templates {
		if !t.known[raw] {
			t.templates = append(t.templates, parseTemplate(raw))
			t.known[raw] = true
		}
	}
	return t
}

func parseTemplate(raw string) routeTemplate {
	t := routeTemplate{raw: raw, segs: segments(raw)}
	if n := len(t.segs); n > 0 && t.segs[n-1] == "*" {
		t.segs, t.rest = t.segs[:n-1], true
	}
	return t
}

func (t routeTemplate) match(segs []string) bool {
	if len(segs) < len(t.segs) || (!t.rest && len(segs) != len(t.segs)) || (t.rest && len(segs) == len(t.segs)) {
		return false
	}
	for i, s := range t.segs {
		if s[0] != ':' && s != segs[i] {
			return false
		}
	}
	return true
}

// label is the route of a page URL or path.
func (t *routeTable) label(page string) string {
	p := pagePath(page)
	if p == "" {
		return routeUnknown
	}
	segs := segments(p)
	for _, tmpl := range t.templates {
		if tmpl.match(segs) {
			return tmpl.raw
		}
	}
	for i, s := range segs {
		if isID(s) {
			segs[i] = ":id"
		}
	}
	route := "/" + strings.Join(segs, "/")
	if len(route) > config.MaxRouteLen {
		return routeOther
	}
	return t.admit(route)
}

func (t *routeTable) admit(route string) string {
	t.mu.RLock()
	ok := t.known[route]
	t.mu.RUnlock()
	if ok {
		return route
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.known[route]:
		return route
	case len(t.known) < t.max:
		t.known[route] = true
		return route
	case !t.full:
		t.full = true
		t.log.Warn("webvitals: route table full; further new routes count as other (add route templates or raise max_routes)", "max_routes", t.max)
	}
	return routeOther
}

func (t *routeTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.known)
}

// pagePath is the path of a URL (absolute, scheme-relative or a bare path)
// without its query and fragment; "" when there is none.
func pagePath(page string) string {
	if i := strings.IndexAny(page, "?#"); i >= 0 {
		page = page[:i]
	}
	switch {
	case strings.HasPrefix(page, "//"):
		page = page[2:]
	case strings.HasPrefix(page, "/"):
		return page
	default:
		_, rest, ok := strings.Cut(page, "://")
		if !ok {
			return ""
		}
		page = rest
	}
	if i := strings.IndexByte(page, '/'); i >= 0 {
		return page[i:]
	}
	return "/"
}

// segments splits a path into its non-empty segments: /a//b/ is [a b].
func segments(p string) []string {
	segs := strings.Split(p, "/")
	out := segs[:0]
	for _, s := range segs {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// isID reports whether a path segment is an identifier rather than a name: a
// number, a UUID, a 24-hex MongoDB ObjectId, or a long random token (16 or
// more of [A-Za-z0-9_-] that are all hex, or mix letters and digits in a way
// words do not: mixed case with digits, or three letter/digit changes). A
// slug such as top-10-tips-for-2024 stays.
func isID(s string) bool {
	var digits, hex, upper, lower, changes int
	var prev byte // 'a' letter, '0' digit, else 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var class byte
		switch {
		case c >= '0' && c <= '9':
			digits++
			hex++
			class = '0'
		case c >= 'a' && c <= 'z':
			lower++
			if c <= 'f' {
				hex++
			}
			class = 'a'
		case c >= 'A' && c <= 'Z':
			upper++
			if c <= 'F' {
				hex++
			}
			class = 'a'
		case c == '-' || c == '_':
		default:
			return false
		}
		if class != 0 && prev != 0 && class != prev {
			changes++
		}
		prev = class
	}
	switch {
	case len(s) == 0:
		return false
	case digits == len(s):
		return true
	case len(s) == 36 && isUUID(s):
		return true
	case len(s) == 24 && hex == 24:
		return true
	case len(s) < 16 || digits == 0:
		return false
	case hex == len(s):
		return true
	default:
		return upper > 0 && lower > 0 || changes >= 3
	}
}

func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
