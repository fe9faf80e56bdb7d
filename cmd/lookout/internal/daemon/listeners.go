package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/netutil"
	"golang.org/x/time/rate"

	"github.com/lookout-dev/lookout/config"
)

// endpoint is one route: a ServeMux pattern, its handler and what it asks
// of credentials.
type endpoint struct {
	pattern string
	handler http.Handler
	access  access
	// form lets a change take an HTML form's body (the web UI's) besides
	// JSON; the cross-origin check holds for it as for every change.
	form bool
}

// listener is one HTTP server: the socket it accepts on (at most
// max_connections at once) and what it serves.
type listener struct {
	name string // admin or public, for logs
	ln   net.Listener
	srv  *http.Server
}

// listeners are the admin listener and, with server.public, the public one.
type listeners struct {
	admin, public *listener
}

func (ls listeners) all() []*listener {
	if ls.public == nil {
		return []*listener{ls.admin}
	}
	return []*listener{ls.admin, ls.public}
}

// openListeners builds the handlers of both listeners from the route tables and
// starts listening; on error nothing is left open.
func (d *daemon) openListeners(s config.Server) (listeners, error) {
	adminWeb, err := watchWebConfig(s.WebConfigFile, d.log)
	if err != nil {
		return listeners{}, fmt.Errorf("server.web_config_file: %w", err)
	}
	creds := &credentials{web: adminWeb, readUsers: s.ReadUsers, passwords: newPasswordCache()}
	if s.APITokensFile != "" {
		if creds.tokens, err = newWatched(s.APITokensFile, config.LoadAPITokens, d.log); err != nil {
			return listeners{}, fmt.Errorf("server.api_tokens_file: %w", err)
		}
	}
	g := &guard{creds: creds, allowedHosts: s.AllowedHosts, metricsOpen: !*s.MetricsAuth, crossOrigin: http.NewCrossOriginProtection()}
	adminMux := http.NewServeMux()
	for _, rt := range d.adminRoutes() {
		adminMux.Handle(rt.pattern, g.admin(rt))
	}
	publicMux := adminMux
	if s.Public != nil {
		publicMux = http.NewServeMux()
	}
	for _, rt := range d.publicRoutes() {
		publicMux.Handle(rt.pattern, g.public(rt))
	}
	var ls listeners
	if ls.admin, err = d.newListener("admin", s.Listen, s.MaxConnections, adminWeb, adminMux); err != nil {
		return listeners{}, err
	}
	if p := s.Public; p != nil {
		publicWeb, err := watchWebConfig(p.WebConfigFile, d.log)
		if err == nil {
			ls.public, err = d.newListener("public", p.Listen, p.MaxConnections, publicWeb, publicMux)
		}
		if err != nil {
			_ = ls.admin.ln.Close()
			return listeners{}, fmt.Errorf("server.public: %w", err)
		}
	}
	return ls, nil
}

// newListener listens on addr, with TLS when the web config has it. Both
// listeners keep the same timeouts.
func (d *daemon) newListener(name, addr string, maxConns int, wc *watched[webState], h http.Handler) (*listener, error) {
	log := d.log.With("listener", name)
	srv := &http.Server{
		Handler:           withWebConfig(wc, h),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if wc != nil && wc.get().cfg.TLSConfig.IsEnabled() {
		var err error
		if srv.TLSConfig, err = serverTLS(wc, srv); err != nil {
			return nil, fmt.Errorf("%s listener: TLS: %w", name, err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &listener{name: name, ln: netutil.LimitListener(ln, maxConns), srv: srv}, nil
}

// serveListener serves l until ctx is done, then shuts it down, waiting up
// to ShutdownTimeout for requests in flight.
func (d *daemon) serveListener(ctx context.Context, l *listener) error {
	errc := make(chan error, 1)
	go func() {
		if l.srv.TLSConfig != nil {
			errc <- l.srv.ServeTLS(l.ln, "", "")
			return
		}
		errc <- l.srv.Serve(l.ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("http server (%s): %w", l.name, err)
	case <-ctx.Done():
	}
	d.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := l.srv.Shutdown(sctx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("http server (%s) shutdown: %w", l.name, err)
	}
	return nil
}

// serverTLS is exporter-toolkit's TLS for a web config, read again at
// every handshake as the toolkit does: certificates, client CAs and
// versions change without a restart.
func serverTLS(wc *watched[webState], srv *http.Server) (*tls.Config, error) {
	st := wc.get()
	base, err := web.ConfigToTLSConfig(&st.cfg.TLSConfig)
	if err != nil {
		return nil, err
	}
	protos := []string{"h2", "http/1.1"}
	if !st.cfg.HTTPConfig.HTTP2 {
		protos = []string{"http/1.1"}
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	base.NextProtos = protos
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := web.ConfigToTLSConfig(&wc.get().cfg.TLSConfig)
		if err != nil {
			return nil, err
		}
		c.NextProtos = protos
		return c, nil
	}
	return base, nil
}

// webState is a web config as the listeners use it.
type webState struct {
	cfg     *web.Config
	users   map[string]string // bcrypt hashes by user
	mtls    bool              // client certificates verified against client_ca_file
	limiter *rate.Limiter     // rate_limit; nil without
}

func loadWebState(path string) (webState, error) {
	c, err := config.LoadWebConfig(path)
	if err != nil {
		return webState{}, err
	}
	st := webState{cfg: c, users: make(map[string]string, len(c.Users)), mtls: config.VerifiesClientCerts(&c.TLSConfig)}
	for u, h := range c.Users {
		st.users[u] = string(h)
	}
	if rl := c.RateLimiterConfig; rl.Interval > 0 {
		st.limiter = rate.NewLimiter(rate.Every(rl.Interval), rl.Burst)
	}
	return st, nil
}

// watchWebConfig watches a web config file; nil for "" (plain HTTP, no
// users).
func watchWebConfig(path string, log *slog.Logger) (*watched[webState], error) {
	if path == "" {
		return nil, nil
	}
	return newWatched(path, loadWebState, log)
}

// withWebConfig applies a web config's http_server_config.headers and
// rate_limit to every response, as exporter-toolkit does.
func withWebConfig(wc *watched[webState], next http.Handler) http.Handler {
	if wc == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := wc.get()
		if st.limiter != nil && !st.limiter.Allow() {
			http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
			return
		}
		for k, v := range st.cfg.HTTPConfig.Header {
			w.Header().Set(k, v)
		}
		next.ServeHTTP(w, r)
	})
}

// watched is a file read again when its contents change, as
// exporter-toolkit reads web.yml at every request: users, tokens and TLS
// settings change without a restart. It is read at every use (a few
// hundred bytes) and parsed only when it changed; a change that does not
// load is logged once and the last good contents kept.
type watched[T any] struct {
	path  string
	parse func(string) (T, error)
	log   *slog.Logger

	mu   sync.Mutex
	last []byte // the contents val was parsed from, or a later one that failed
	val  T
}

func newWatched[T any](path string, parse func(string) (T, error), log *slog.Logger) (*watched[T], error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := parse(path)
	if err != nil {
		return nil, err
	}
	return &watched[T]{path: path, parse: parse, log: log, last: raw, val: v}, nil
}

func (w *watched[T]) get() T {
	raw, readErr := os.ReadFile(w.path)
	w.mu.Lock()
	defer w.mu.Unlock()
	if readErr == nil && bytes.Equal(raw, w.last) || readErr != nil && w.last == nil {
		return w.val
	}
	if readErr != nil {
		w.last = nil
		w.log.Error("cannot read a server file; keeping what it held", "file", w.path, "err", readErr)
		return w.val
	}
	w.last = raw
	v, err := w.parse(w.path)
	if err != nil {
		w.log.Error("a server file changed and does not load; keeping what it held", "file", w.path, "err", err)
		return w.val
	}
	w.log.Info("a server file changed and was loaded again", "file", w.path)
	w.val = v
	return v
}
