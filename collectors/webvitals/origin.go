package webvitals

import (
	"strings"

	"github.com/lookout-dev/lookout/config"
)

// origins are the browser origins allowed to send beacons.
type origins struct {
	exact map[string]bool
	wild  []wildOrigin
}

// wildOrigin is https://*.example.com: any subdomain, at any depth, of
// example.com, with that scheme and port; example.com itself is not included.
type wildOrigin struct {
	scheme, suffix, port string // suffix is ".example.com"
}

// parseOrigins reads the configured origins, which config's check has
// found to be origins; an entry config.ParseOrigin refuses allows nothing.
func parseOrigins(list []string) origins {
	o := origins{exact: map[string]bool{}}
	for _, s := range list {
		parsed, err := config.ParseOrigin(s)
		switch {
		case err != nil:
		case strings.HasPrefix(parsed.Host, "*."):
			o.wild = append(o.wild, wildOrigin{scheme: parsed.Scheme, suffix: parsed.Host[1:], port: parsed.Port})
		default:
			o.exact[parsed.String()] = true
		}
	}
	return o
}

// allowed reports whether a request's Origin header names an allowed origin.
// A request without one is refused: browsers send Origin on every POST, so
// its absence means a client that is not a page.
func (o origins) allowed(origin string) bool {
	if origin == "" {
		return false
	}
	if o.exact[origin] {
		return true
	}
	if len(o.wild) == 0 {
		return false
	}
	parsed, err := config.ParseOrigin(origin)
	if err != nil {
		return false
	}
	if o.exact[parsed.String()] {
		return true
	}
	for _, w := range o.wild {
		if w.scheme == parsed.Scheme && w.port == parsed.Port && len(parsed.Host) > len(w.suffix) && strings.HasSuffix(parsed.Host, w.suffix) {
			return true
		}
	}
	return false
}
