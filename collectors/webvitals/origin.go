package webvitals

import (
	"fmt"
	"strings"
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

// parseOrigins checks the configured origins, returning one error per bad
// entry.
func parseOrigins(list []string) (origins, []error) {
	o := origins{exact: map[string]bool{}}
	var errs []error
	for i, s := range list {
		scheme, host, port, ok := splitOrigin(strings.ToLower(s))
		if ok && strings.HasPrefix(host, "*.") && !strings.Contains(host[2:], "*") && host[2:] != "" {
			o.wild = append(o.wild, wildOrigin{scheme: scheme, suffix: host[1:], port: port})
			continue
		}
		if !ok || strings.Contains(host, "*") {
			errs = append(errs, fmt.Errorf("allowed_origins[%d]: %q is not an origin; want scheme://host[:port] with scheme http or https and no path, such as https://www.example.com or https://*.example.com", i, s))
			continue
		}
		o.exact[joinOrigin(scheme, host, port)] = true
	}
	if len(list) == 0 {
		errs = append(errs, fmt.Errorf("allowed_origins: empty; want at least one origin such as https://www.example.com (beacons from other origins are refused)"))
	}
	return o, errs
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
	scheme, host, port, ok := splitOrigin(strings.ToLower(origin))
	if !ok {
		return false
	}
	if o.exact[joinOrigin(scheme, host, port)] {
		return true
	}
	for _, w := range o.wild {
		if w.scheme == scheme && w.port == port && len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) {
			return true
		}
	}
	return false
}

// splitOrigin splits scheme://host[:port], dropping a default port.
func splitOrigin(s string) (scheme, host, port string, ok bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || (scheme != "http" && scheme != "https") || rest == "" || strings.ContainsAny(rest, "/?#@ \\") {
		return "", "", "", false
	}
	host = rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "]") {
		host, port = rest[:i], rest[i+1:]
		if port == "" || strings.Trim(port, "0123456789") != "" || len(port) > 5 {
			return "", "", "", false
		}
	}
	if host == "" || host == "[]" {
		return "", "", "", false
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	return scheme, host, port, true
}

func joinOrigin(scheme, host, port string) string {
	if port == "" {
		return scheme + "://" + host
	}
	return scheme + "://" + host + ":" + port
}
