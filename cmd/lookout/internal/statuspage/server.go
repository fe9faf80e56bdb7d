package statuspage

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/negotiate"
	"github.com/lookout-dev/lookout/collectors/webvitals"
	"github.com/lookout-dev/lookout/config"
)

// Defaults of Options.
const (
	// DefaultCacheFor is how long a built page is served before it is
	// built again, and its Cache-Control max-age.
	DefaultCacheFor = 5 * time.Second
	// DefaultBadgeMaxAge is the badges' Cache-Control max-age: READMEs
	// embed them through image proxies that honour it.
	DefaultBadgeMaxAge = time.Minute
	// DefaultRatePerIP and DefaultBurst are each client's rate limit, in
	// requests per second: a reader reloading the page and a README's
	// badges fetched at once stay well under it.
	DefaultRatePerIP = 20
	DefaultBurst     = 100
	// DefaultMaxIPs bounds the rate limiter's table of clients.
	DefaultMaxIPs = 10_000
)

// BadgePrefix is where the badges are served: BadgePrefix + PROBE + "/" +
// BadgeState or BadgeUptime30.
const BadgePrefix = "/badge/"

// Options tune a Server; a zero field takes its default.
type Options struct {
	CacheFor    time.Duration
	BadgeMaxAge time.Duration
	RatePerIP   float64
	Burst       int
	MaxIPs      int
	// Now is the clock pages are built at; nil: time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Server serves every status page, its JSON and the badges, from
// memory. Safe for concurrent use.
type Server struct {
	src     Source
	opts    Options
	render  *renderer
	limiter *webvitals.ClientLimiter

	cfg atomic.Pointer[settings]
	// gen counts Invalidate and Configure calls: a snapshot built before
	// the latest is stale.
	gen  atomic.Uint64
	snap atomic.Pointer[snapshot]
	// building is held by the one request that builds a snapshot;
	// others serve the previous one meanwhile.
	building sync.Mutex
}

// settings are the config a Server serves.
type settings struct {
	pages   []config.StatusPage
	trusted []netip.Prefix
}

// snapshot is every page, JSON and badge as built at one time.
type snapshot struct {
	built  time.Time
	gen    uint64
	assets map[string]*asset // by URL path
}

// asset is one response: its body, gzipped too when that is smaller.
type asset struct {
	contentType, cacheControl, csp string
	body, gz                       []byte
	etag, gzETag                   string
}

var _ http.Handler = (*Server)(nil)

// New serves pages built from src. trusted are the proxies whose
// X-Forwarded-For the rate limit believes (server.public.trusted_proxies).
func New(src Source, pages []config.StatusPage, trusted []config.Prefix, opts Options) *Server {
	if opts.CacheFor <= 0 {
		opts.CacheFor = DefaultCacheFor
	}
	if opts.BadgeMaxAge <= 0 {
		opts.BadgeMaxAge = DefaultBadgeMaxAge
	}
	if opts.RatePerIP <= 0 {
		opts.RatePerIP = DefaultRatePerIP
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultBurst
	}
	if opts.MaxIPs <= 0 {
		opts.MaxIPs = DefaultMaxIPs
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{src: src, opts: opts, render: newRenderer(), limiter: webvitals.NewClientLimiter(opts.RatePerIP, opts.Burst, opts.MaxIPs)}
	s.Configure(pages, trusted)
	return s
}

// Configure serves pages from now on; the next request builds them.
func (s *Server) Configure(pages []config.StatusPage, trusted []config.Prefix) {
	s.cfg.Store(&settings{pages: pages, trusted: config.NetPrefixes(trusted)})
	s.Invalidate()
}

// Invalidate says something a page shows changed (an incident): the
// next request builds the pages again rather than wait for CacheFor.
func (s *Server) Invalidate() { s.gen.Add(1) }

// Paths are the URL paths the pages are served at: each page's path and
// its path + config.StatusPageJSON.
func Paths(pages []config.StatusPage) []string {
	var out []string
	for _, p := range pages {
		out = append(out, p.Path, p.Path+config.StatusPageJSON)
	}
	return out
}

// ServeHTTP answers GET and HEAD of a page, its JSON or a badge, without
// reading a body, within the client's rate limit.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "a status page is read with GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	if !s.limiter.Allow(webvitals.ClientKey(r, s.cfg.Load().trusted), time.Now()) {
		h.Set("Retry-After", "1")
		http.Error(w, "too many requests from this address; try again in a second", http.StatusTooManyRequests)
		return
	}
	a := s.current().assets[r.URL.Path]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	a.serve(w, r)
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	body, etag := a.body, a.etag
	h.Set("Vary", "Accept-Encoding")
	if a.gz != nil && negotiate.AcceptsGzip(r) {
		body, etag = a.gz, a.gzETag
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", a.cacheControl)
	h.Set("ETag", etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.csp != "" {
		h.Set("Content-Security-Policy", a.csp)
	}
	if noneMatch(r.Header.Get("If-None-Match"), etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // a failed write means the client went away
	}
}

// current is the snapshot to serve: the last one while it is fresh, or
// while another request builds the next.
func (s *Server) current() *snapshot {
	now := s.opts.Now()
	fresh := func(sn *snapshot) bool {
		return sn != nil && sn.gen == s.gen.Load() && now.Sub(sn.built) < s.opts.CacheFor && !now.Before(sn.built)
	}
	sn := s.snap.Load()
	if fresh(sn) {
		return sn
	}
	if sn != nil && !s.building.TryLock() {
		return sn
	}
	if sn == nil {
		s.building.Lock()
	}
	defer s.building.Unlock()
	if sn = s.snap.Load(); fresh(sn) {
		return sn
	}
	sn = s.build(now)
	s.snap.Store(sn)
	return sn
}

// build builds every page, its JSON and every listed probe's badges.
// What cannot be read or rendered is logged and left out, not served
// half-built: a page that fails to render answers 404 until it renders.
func (s *Server) build(now time.Time) *snapshot {
	gen := s.gen.Load()
	set := s.cfg.Load()
	sn := &snapshot{built: now, gen: gen, assets: map[string]*asset{}}
	incs := s.src.Incidents(now.AddDate(0, 0, -Days))
	comps, errs := gather(s.src, probeNames(set.pages), now, incs)
	if err := errors.Join(errs...); err != nil {
		s.opts.Log.Warn("status pages: some uptime could not be read; those days show no data", "err", err)
	}
	pageCache := "public, max-age=" + strconv.Itoa(int(s.opts.CacheFor.Seconds()))
	for _, cfg := range set.pages {
		p := build(cfg, comps, incs, now)
		html, err := s.render.html(p, cfg.Path+config.StatusPageJSON)
		if err == nil {
			sn.assets[cfg.Path] = newAsset("text/html; charset=utf-8", pageCache, s.render.csp, html)
		}
		js, jerr := s.render.json(p)
		if jerr == nil {
			sn.assets[cfg.Path+config.StatusPageJSON] = newAsset("application/json", pageCache, "", js)
		}
		if err = errors.Join(err, jerr); err != nil {
			s.opts.Log.Error("status page not built", "page", cfg.Name, "err", err)
		}
	}
	badgeCache := "public, max-age=" + strconv.Itoa(int(s.opts.BadgeMaxAge.Seconds()))
	for name, c := range comps {
		st := stateOf(c.status, c.ok)
		sn.assets[BadgePrefix+name+"/"+BadgeState] = newAsset("image/svg+xml", badgeCache, "", stateBadge(name, st))
		sn.assets[BadgePrefix+name+"/"+BadgeUptime30] = newAsset("image/svg+xml", badgeCache, "", uptimeBadge(c.up30))
	}
	return sn
}

func newAsset(contentType, cacheControl, csp string, body []byte) *asset {
	a := &asset{contentType: contentType, cacheControl: cacheControl, csp: csp, body: body, etag: etagOf(body)}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
	_, _ = zw.Write(body)                                    // a bytes.Buffer takes every write
	if zw.Close() == nil && buf.Len() < len(body) {
		a.gz = buf.Bytes()
		a.gzETag = strings.TrimSuffix(a.etag, `"`) + `-gz"`
	}
	return a
}

// etagOf is a strong ETag of body: 16 bytes of its SHA-256.
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// noneMatch reports whether an If-None-Match header names etag (weakly
// compared, as RFC 9110 says for If-None-Match) or is "*".
func noneMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}
