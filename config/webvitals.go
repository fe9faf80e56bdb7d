package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// WebVitals is the beacon endpoint for real users' Core Web Vitals.
type WebVitals struct {
	Enabled bool `yaml:"enabled"`
	// AllowedOrigins are the sites whose pages may send beacons (CORS):
	// exact origins, or *.example.com for its subdomains.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// Routes are page templates such as /users/:id or /blog/*.
	Routes    []string  `yaml:"routes"`
	MaxRoutes int       `yaml:"max_routes"`
	RateLimit RateLimit `yaml:"rate_limit"`
	// SoftNavigations is how client-side route changes count: separate
	// (navigation="soft" beside page loads' "hard"), drop, or merge (with
	// page loads, no navigation label).
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
	if !ok || err != nil || per == 0 || n <= 0 {
		return fmt.Errorf("%q is not a rate; want a positive number per s, m or h, like 20/s", s)
	}
	*r = Rate(n / per)
	return nil
}

// MarshalText writes the rate per second.
func (r Rate) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s"), nil
}

// Defaults of webvitals. The rate limit is per client address, and behind
// a reverse proxy every visitor shares the proxy's: 100/s is about 20 page
// loads a second with Next.js's one beacon per metric.
const (
	DefaultMaxRoutes       = 200
	DefaultRatePerIP       = Rate(100)
	DefaultBurst           = 200
	DefaultSoftNavigations = "separate"
)

func (w *WebVitals) check(d *decoder, path string) {
	if w.MaxRoutes == 0 {
		w.MaxRoutes = DefaultMaxRoutes
	} else if w.MaxRoutes < 0 {
		d.errorAt(path+".max_routes", "%d is negative; want how many distinct routes to keep, like 200", w.MaxRoutes)
	}
	if w.RateLimit.PerIP == 0 {
		w.RateLimit.PerIP = DefaultRatePerIP
	}
	if w.RateLimit.Burst == 0 {
		w.RateLimit.Burst = DefaultBurst
	} else if w.RateLimit.Burst < 0 {
		d.errorAt(path+".rate_limit.burst", "%d is negative; want the requests a client may send at once, like 200", w.RateLimit.Burst)
	}
	if w.SoftNavigations == "" {
		w.SoftNavigations = DefaultSoftNavigations
	}
	if err := oneOf(w.SoftNavigations, "separate", "drop", "merge"); err != nil {
		d.errorAt(path+".soft_navigations", "%v", err)
	}
	if w.Enabled && len(w.AllowedOrigins) == 0 {
		d.errorAt(path+".allowed_origins", "missing; want the origins of the pages that send beacons, like [\"https://www.example.com\"]")
	}
	for i, o := range w.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			d.errorAt(fmt.Sprintf("%s.allowed_origins[%d]", path, i), "%q %v", o, err)
		}
	}
	for i, r := range w.Routes {
		if !strings.HasPrefix(r, "/") || strings.ContainsAny(r, "?#") {
			d.errorAt(fmt.Sprintf("%s.routes[%d]", path, i), "%q is not a route template; want a path like /users/:id or /blog/*", r)
		}
	}
}

// checkOrigin accepts scheme://host[:port], where host may start with "*.".
func checkOrigin(o string) error {
	u, err := url.Parse(strings.Replace(o, "://*.", "://wildcard.", 1))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("is not an origin; want scheme://host[:port] such as https://www.example.com, or https://*.example.com")
	}
	return nil
}
