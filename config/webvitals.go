package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// WebVitals is the beacon endpoint for real users' Core Web Vitals.
type WebVitals struct {
	Enabled bool `yaml:"enabled"`
	// AllowedOrigins are the sites whose pages may send beacons (CORS):
	// exact origins, or *.example.com for its subdomains; see ParseOrigin.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// Routes are page templates such as /users/:id or /blog/*: :name
	// matches one path segment, a final * one or more.
	Routes []string `yaml:"routes"`
	// MaxRoutes bounds the distinct routes, templates included; later new
	// routes count as other.
	MaxRoutes int       `yaml:"max_routes"`
	RateLimit RateLimit `yaml:"rate_limit"`
	// SoftNavigations is how client-side route changes count: SoftNavSeparate,
	// SoftNavDrop or SoftNavMerge.
	SoftNavigations string `yaml:"soft_navigations"`
}

// RateLimit is a token bucket per client IP.
type RateLimit struct {
	PerIP Rate `yaml:"per_ip"`
	Burst int  `yaml:"burst"`
}

// Rate is events per second, written like 20/s, 600/m or 3600/h.
type Rate float64

func (r *Rate) parseScalar(s string) error {
	num, unit, ok := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	per := map[string]float64{"s": 1, "m": 60, "h": 3600}[strings.TrimSpace(unit)]
	if !ok || err != nil || per == 0 || !(n > 0) || math.IsInf(n, 1) {
		return fmt.Errorf("%q is not a rate; want a positive number per s, m or h, like 20/s", s)
	}
	*r = Rate(n / per)
	return nil
}

// MarshalText writes the rate per second.
func (r Rate) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s"), nil
}

// How soft navigations (client-side route changes) count: the values of
// WebVitals.SoftNavigations.
const (
	// SoftNavSeparate counts them under navigation="soft", beside page
	// loads' navigation="hard".
	SoftNavSeparate = "separate"
	// SoftNavDrop refuses them, counted in
	// lookout_webvitals_rejected_total{reason="soft_navigation"}.
	SoftNavDrop = "drop"
	// SoftNavMerge counts them with page loads, with an empty navigation
	// label (which Prometheus stores as none), as before the label existed.
	SoftNavMerge = "merge"
)

// Defaults of webvitals. The rate limit is per client address, and behind
// a reverse proxy every visitor shares the proxy's: 100/s is about 20 page
// loads a second with Next.js's one beacon per metric.
const (
	DefaultMaxRoutes       = 200
	DefaultRatePerIP       = Rate(100)
	DefaultBurst           = 200
	DefaultSoftNavigations = SoftNavSeparate
)

// MaxRouteLen bounds a route template, and the route label of a page, in
// bytes.
const MaxRouteLen = 256

// WithDefaults returns w with its unset fields at their defaults. Parse
// fills them; WithDefaults is for a WebVitals built in code, as tests and
// benchmarks do.
func (w WebVitals) WithDefaults() WebVitals {
	if w.MaxRoutes == 0 {
		w.MaxRoutes = DefaultMaxRoutes
	}
	if w.RateLimit.PerIP == 0 {
		w.RateLimit.PerIP = DefaultRatePerIP
	}
	if w.RateLimit.Burst == 0 {
		w.RateLimit.Burst = DefaultBurst
	}
	if w.SoftNavigations == "" {
		w.SoftNavigations = DefaultSoftNavigations
	}
	return w
}

func (w *WebVitals) check(d *decoder, path string) {
	*w = w.WithDefaults()
	if w.MaxRoutes < 0 {
		d.errorAt(path+".max_routes", "%d is negative; want how many distinct routes to keep, like 200", w.MaxRoutes)
	}
	if w.RateLimit.Burst < 0 {
		d.errorAt(path+".rate_limit.burst", "%d is negative; want the requests a client may send at once, like 200", w.RateLimit.Burst)
	}
	if err := oneOf(w.SoftNavigations, SoftNavSeparate, SoftNavDrop, SoftNavMerge); err != nil {
		d.errorAt(path+".soft_navigations", "%v", err)
	}
	if w.Enabled && len(w.AllowedOrigins) == 0 {
		d.errorAt(path+".allowed_origins", "missing; want the origins of the pages that send beacons, like [\"https://www.example.com\"]")
	}
	for i, o := range w.AllowedOrigins {
		if _, err := ParseOrigin(o); err != nil {
			d.errorAt(fmt.Sprintf("%s.allowed_origins[%d]", path, i), "%q %v", o, err)
		}
	}
	first := map[string]int{}
	for i, r := range w.Routes {
		at := fmt.Sprintf("%s.routes[%d]", path, i)
		if j, dup := first[r]; dup {
			d.errorAt(at, "%q is listed twice, first as routes[%d]", r, j)
			continue
		}
		first[r] = i
		if msg := checkRouteTemplate(r); msg != "" {
			d.errorAt(at, "%s", msg)
		}
	}
	if w.MaxRoutes >= 0 && len(w.Routes) > w.MaxRoutes {
		at := path + ".max_routes"
		if !d.has(at) {
			at = path + ".routes"
		}
		d.errorAt(at, "%d route templates but max_routes is %d; raise max_routes to at least %d", len(w.Routes), w.MaxRoutes, len(w.Routes))
	}
}

// checkRouteTemplate says what is wrong with a route template, or "".
func checkRouteTemplate(r string) string {
	if !strings.HasPrefix(r, "/") || strings.ContainsAny(r, "?#") {
		return fmt.Sprintf("%q is not a route template; want a path like /users/:id or /blog/*", r)
	}
	if len(r) > MaxRouteLen {
		return fmt.Sprintf("is %d bytes long; want a route template of at most %d bytes", len(r), MaxRouteLen)
	}
	// Empty segments do not count: /a//b/ is the segments a and b.
	segs := strings.FieldsFunc(r, func(c rune) bool { return c == '/' })
	for i, s := range segs {
		switch {
		case s == "*" && i == len(segs)-1:
		case strings.Contains(s, "*"):
			return fmt.Sprintf("%q: * is allowed only as the whole last segment, as in /blog/*", r)
		case s == ":":
			return fmt.Sprintf("%q: a parameter needs a name, as in /users/:id", r)
		}
	}
	return ""
}

// Origin is a browser origin, scheme://host[:port], in lower case and
// without its scheme's default port. In WebVitals.AllowedOrigins, Host may
// start with "*." for every subdomain, at any depth, of the rest.
type Origin struct {
	Scheme, Host, Port string
}

// String writes the origin as scheme://host[:port].
func (o Origin) String() string {
	if o.Port == "" {
		return o.Scheme + "://" + o.Host
	}
	return o.Scheme + "://" + o.Host + ":" + o.Port
}

var errNotOrigin = errors.New("is not an origin; want scheme://host[:port] such as https://www.example.com, or https://*.example.com")

// ParseOrigin reads an origin as browsers send it in the Origin header and
// as allowed_origins lists it: scheme http or https, a host, and an
// optional port of digits; no path (not even /), query, fragment or user.
// The only * allowed starts the host, as "*.", with a name after it.
func ParseOrigin(s string) (Origin, error) {
	scheme, rest, ok := strings.Cut(strings.ToLower(s), "://")
	if !ok || (scheme != "http" && scheme != "https") || rest == "" || strings.ContainsAny(rest, "/?#@ \\") {
		return Origin{}, errNotOrigin
	}
	o := Origin{Scheme: scheme, Host: rest}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "]") {
		o.Host, o.Port = rest[:i], rest[i+1:]
		if o.Port == "" || strings.Trim(o.Port, "0123456789") != "" || len(o.Port) > 5 {
			return Origin{}, errNotOrigin
		}
	}
	if o.Host == "" || o.Host == "[]" || strings.Contains(strings.TrimPrefix(o.Host, "*."), "*") || o.Host == "*." {
		return Origin{}, errNotOrigin
	}
	if (scheme == "http" && o.Port == "80") || (scheme == "https" && o.Port == "443") {
		o.Port = ""
	}
	return o, nil
}
