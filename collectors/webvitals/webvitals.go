// Package webvitals receives real users' Core Web Vitals from browsers
// (POST /v1/vitals, as sent by the web-vitals library or Next.js) and turns
// them into Prometheus histograms per page route and device class.
//
// Every label is bounded: routes by max_routes (then "other"), devices
// to mobile/tablet/desktop, metrics to the accepted names, ratings to four
// values. Memory is bounded too: the route table, the table of metric ids
// seen (for dedupe) and the per-IP rate limiter are fixed-size.
//
// A page load counts once. web-vitals reports CLS and INP again, under the
// same id, when they grow after the page was hidden and shown again (and at
// every change with reportAllChanges). A histogram cannot take an
// observation back, so the first report of an id wins and the later ones are
// counted as rejected{reason="duplicate"}. With web-vitals' default
// (report when the page is hidden) the first report is the value at the
// first hide, which is what most page loads end with; senders should not set
// reportAllChanges. Ids are remembered in an LRU of the last 65,536; a
// repeat older than that counts again.
//
// A metric counts under the route of the view it belongs to: its
// navigationURL (web-vitals v5 and later), else a page field the sender
// added, else the request's Referer when that names a page (a cross-origin
// Referer is usually the bare origin). Soft navigations (client-side route
// changes, navigationType "soft-navigation") carry navigation="soft", page
// loads navigation="hard", unless soft_navigations drops or merges
// them: a soft navigation's LCP and FCP are measured from the click and
// would pull a route's p75 down.
//
// The client for rate limiting is the connection's address (RemoteAddr; for
// IPv6 its /64). X-Forwarded-For is believed only from the trusted proxies
// (the public listener's), read from the right to the first address that
// is not one of them; behind any other reverse proxy all beacons share the
// proxy's bucket, so size rate_limit for that.
//
// The collector takes its settings as config.Parse checked them and filled
// their defaults: it checks nothing again.
package webvitals

import (
	"errors"
	"hash/maphash"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/config"
)

// Values of the navigation label.
const (
	navHard   = "hard"
	navSoft   = "soft"
	navMerged = ""
)

// Fixed limits.
const (
	// MaxIPs bounds the rate limiter's table of clients; past it, the
	// least recently seen client is forgotten.
	MaxIPs = 10000
	// MaxBodyBytes is the largest beacon body accepted (413 above it).
	MaxBodyBytes = 64 << 10
	// maxTrackedIDs bounds the dedupe table of metric ids.
	maxTrackedIDs = 1 << 16
	// preflightMaxAge is how long a browser may cache a preflight, in
	// seconds (Chromium caps it at 7200).
	preflightMaxAge = "7200"
)

// Collector is the beacon endpoint: an http.Handler for POST /v1/vitals and
// its OPTIONS preflight.
type Collector struct {
	log      *slog.Logger
	settings atomic.Pointer[settings]
	seen     *seenIDs
	m        *metrics
}

// settings are what a config reload may change: who may send beacons, how
// fast, and how pages map to routes. A request reads them once.
type settings struct {
	cfg     config.WebVitals
	trusted []netip.Prefix // the proxies whose X-Forwarded-For is believed
	origins origins
	routes  *routeTable
	limiter *ClientLimiter
}

func newSettings(cfg config.WebVitals, trustedProxies []config.Prefix, log *slog.Logger) *settings {
	return &settings{
		cfg: cfg, trusted: config.NetPrefixes(trustedProxies),
		origins: parseOrigins(cfg.AllowedOrigins),
		routes:  newRouteTable(cfg.Routes, cfg.MaxRoutes, log),
		limiter: NewClientLimiter(float64(cfg.RateLimit.PerIP), cfg.RateLimit.Burst, MaxIPs),
	}
}

var _ http.Handler = (*Collector)(nil)

// New registers the collector's metrics with reg and serves beacons as
// cfg says, believing X-Forwarded-For from trustedProxies.
func New(cfg config.WebVitals, trustedProxies []config.Prefix, reg prometheus.Registerer, log *slog.Logger) (*Collector, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	set := newSettings(cfg, trustedProxies, log)
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	c := &Collector{log: log, seen: newSeenIDs(maxTrackedIDs), m: m}
	c.settings.Store(set)
	return c, nil
}

// Reconfigure prepares cfg and trustedProxies and returns the function that
// puts them in force, so a reload can prepare every part of the config
// before changing any. Unchanged settings keep their state: the same
// routes keep the routes learned so far, the same rate keeps each client's
// budget. New routes start afresh, and the per-route series start again
// from zero.
func (c *Collector) Reconfigure(cfg config.WebVitals, trustedProxies []config.Prefix) (apply func()) {
	next := newSettings(cfg, trustedProxies, c.log)
	cur := c.settings.Load()
	sameRoutes := slices.Equal(next.cfg.Routes, cur.cfg.Routes) && next.cfg.MaxRoutes == cur.cfg.MaxRoutes &&
		next.cfg.SoftNavigations == cur.cfg.SoftNavigations
	if sameRoutes {
		next.routes = cur.routes
	}
	if next.cfg.RateLimit == cur.cfg.RateLimit {
		next.limiter = cur.limiter
	}
	return func() {
		c.settings.Store(next)
		if !sameRoutes {
			// The new table starts empty: the series of the old routes go,
			// so max_routes still bounds the route label (and a change of
			// soft_navigations leaves no series of the old navigation
			// labels behind).
			c.m.resetRoutes()
		}
	}
}

// ServeHTTP answers POST /v1/vitals with 204, and its preflight. Refusals:
// 405 for other methods, 403 (with no CORS grant) for an Origin not allowed
// or absent, 429 over the client's rate, 413 for a body over MaxBodyBytes,
// 415 for a content type other than text/plain or application/json, 400 for
// a body that is not JSON metrics. Within an accepted body, unknown metrics,
// implausible values and repeated ids are dropped and counted; the rest
// count and the answer is still 204.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	set := c.settings.Load()
	h := w.Header()
	h.Add("Vary", "Origin")
	if r.Method != http.MethodPost && r.Method != http.MethodOptions {
		h.Set("Allow", "POST, OPTIONS")
		c.refuse(w, reasonMethod, http.StatusMethodNotAllowed)
		return
	}
	origin := r.Header.Get("Origin")
	if !set.origins.allowed(origin) {
		c.refuse(w, reasonOrigin, http.StatusForbidden)
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		h.Set("Access-Control-Max-Age", preflightMaxAge)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !set.limiter.Allow(ClientKey(r, set.trusted), time.Now()) {
		h.Set("Retry-After", "1")
		c.refuse(w, reasonRateLimited, http.StatusTooManyRequests)
		return
	}
	if !acceptedType(r.Header.Get("Content-Type")) {
		c.refuse(w, reasonMalformed, http.StatusUnsupportedMediaType)
		return
	}
	body, reason, status := readBody(w, r)
	if reason != "" {
		c.refuse(w, reason, status)
		return
	}
	metrics, bad, err := decode(body)
	if err != nil {
		c.refuse(w, reasonMalformed, http.StatusBadRequest)
		return
	}
	c.m.rejected[reasonMalformed].Add(float64(bad))
	referer, device := refererPage(r, origin), deviceClass(r.UserAgent())
	for i := range metrics {
		c.record(&metrics[i], set, referer, device)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *Collector) refuse(w http.ResponseWriter, reason string, status int) {
	c.m.rejected[reason].Inc()
	http.Error(w, reason, status)
}

// acceptedType: sendBeacon with a string sends text/plain;charset=UTF-8,
// fetch with a JSON body application/json; a Blob without a type sends none.
func acceptedType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	return mt == "" || strings.EqualFold(mt, "text/plain") || strings.EqualFold(mt, "application/json")
}

func readBody(w http.ResponseWriter, r *http.Request) (body []byte, reason string, status int) {
	if r.ContentLength > MaxBodyBytes {
		return nil, reasonTooLarge, http.StatusRequestEntityTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, reasonTooLarge, http.StatusRequestEntityTooLarge
	case err != nil:
		return nil, reasonMalformed, http.StatusBadRequest
	}
	return body, "", 0
}

// refererPage is the request's Referer when it can name the page: a
// cross-origin beacon's Referer is, under browsers' default referrer policy
// (strict-origin-when-cross-origin), only the page's origin, which would
// count every page as /. So a Referer with no path counts only when the
// beacon is same-origin.
func refererPage(r *http.Request, origin string) string {
	ref := r.Referer()
	if pagePath(ref) != "/" {
		return ref
	}
	if _, host, ok := strings.Cut(origin, "://"); ok && strings.EqualFold(host, r.Host) {
		return ref
	}
	return ""
}

// record counts one metric of a beacon, or the reason it was dropped.
func (c *Collector) record(m *wireMetric, set *settings, referer, device string) {
	v, ok := c.m.vitals[m.Name]
	if !ok {
		c.m.rejected[reasonUnknownMetric].Inc()
		return
	}
	x, ok := m.value()
	if !ok || x < 0 || x > v.max {
		c.m.rejected[reasonBadValue].Inc()
		return
	}
	nav := navHard
	switch soft := m.NavigationType == navigationSoft; {
	case set.cfg.SoftNavigations == config.SoftNavMerge:
		nav = navMerged
	case !soft:
	case set.cfg.SoftNavigations == config.SoftNavDrop:
		c.m.rejected[reasonSoftNavigation].Inc()
		return
	default:
		nav = navSoft
	}
	if m.ID != "" && !c.seen.first(m.Name, m.ID) {
		c.m.rejected[reasonDuplicate].Inc()
		return
	}
	page, source := m.page()
	if page == "" && referer != "" {
		page, source = referer, sourceReferer
	}
	if page == "" {
		source = sourceNone
	}
	c.m.routeSource[source].Inc()
	route := set.routes.label(page)
	c.m.report(v, route, device, nav, v.rating(x))
	if v.hist != nil {
		v.hist.WithLabelValues(route, device, nav).Observe(x * v.scale)
	}
}

// seenIDs remembers the metric ids already counted, the last max of them.
// Ids are kept as 64-bit hashes, so an entry's size does not depend on what
// a sender puts in its id.
type seenIDs struct {
	seed maphash.Seed
	mu   sync.Mutex
	ids  *lru[uint64, struct{}]
}

func newSeenIDs(max int) *seenIDs {
	return &seenIDs{seed: maphash.MakeSeed(), ids: newLRU[uint64, struct{}](max)}
}

// first records name and id, reporting whether they were new.
func (s *seenIDs) first(name, id string) bool {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(name)
	h.WriteByte(0)
	h.WriteString(id)
	key := h.Sum64()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids.get(key); ok {
		return false
	}
	s.ids.add(key, struct{}{})
	return true
}

func (s *seenIDs) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids.len()
}
