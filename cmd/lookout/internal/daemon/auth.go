package daemon

import (
	"crypto/sha256"
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/lookout-dev/lookout/config"
)

// access is what a route asks of a request's credentials.
type access int

const (
	// accessByMethod, the zero value: GET and HEAD need the read role, every
	// other method admin. A route added without thought is safe.
	accessByMethod access = iota
	// accessOpen asks nothing, on any Host: /healthz and /readyz.
	accessOpen
	// accessMetrics is read, or nothing with server.metrics_auth: false.
	accessMetrics
	// accessAdmin needs admin whatever the method: /debug/pprof/, a
	// browser probe's evidence.
	accessAdmin
)

// role is what credentials may do, in increasing order.
type role int

const (
	noRole role = iota
	readRole
	adminRole
)

// credentials tells the role of a request's credentials: a bearer token
// of server.api_tokens_file (its role), a basic_auth_users user of
// server.web_config_file (admin unless in server.read_users), or a client
// certificate verified against the web config's client CA (admin). With
// none of these configured every request is admin: the API is open, as on
// a loopback address without a web config.
type credentials struct {
	web       *watched[webState] // nil without server.web_config_file
	tokens    *watched[[]config.APIToken]
	readUsers []string
	passwords *passwordCache
}

// known are the credentials the server files hold now.
type known struct {
	users     map[string]string // bcrypt hashes by user
	tokens    []config.APIToken
	hasTokens bool // an api_tokens_file is set, even if empty
	mtls      bool
}

// required reports whether requests without credentials are refused.
func (k known) required() bool { return len(k.users) > 0 || k.hasTokens || k.mtls }

func (c *credentials) known() known {
	var k known
	if c.web != nil {
		st := c.web.get()
		k.users, k.mtls = st.users, st.mtls
	}
	if c.tokens != nil {
		k.tokens, k.hasTokens = c.tokens.get(), true
	}
	return k
}

// roleOf is the role of r's credentials. An Authorization header decides
// alone: when it is wrong, a client certificate does not help.
func (c *credentials) roleOf(r *http.Request) role {
	k := c.known()
	if !k.required() {
		return adminRole
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, _ := strings.Cut(h, " ")
		switch {
		case strings.EqualFold(scheme, "Bearer") && k.hasTokens:
			return tokenRole(k.tokens, strings.TrimSpace(value))
		case strings.EqualFold(scheme, "Basic") && len(k.users) > 0:
			user, pass, ok := r.BasicAuth()
			if ok && c.passwords.check(user, k.users[user], pass) {
				if slices.Contains(c.readUsers, user) {
					return readRole
				}
				return adminRole
			}
		}
		return noRole
	}
	if k.mtls && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return adminRole
	}
	return noRole
}

// challenge sets WWW-Authenticate for a 401: the schemes that would work.
func (c *credentials) challenge(h http.Header) {
	k := c.known()
	if len(k.users) > 0 {
		h.Add("WWW-Authenticate", `Basic realm="lookout", charset="UTF-8"`)
	}
	if k.hasTokens {
		h.Add("WWW-Authenticate", `Bearer realm="lookout"`)
	}
}

// tokenRole compares the token's SHA-256 with every configured digest in
// constant time. The token is never logged or kept.
func tokenRole(tokens []config.APIToken, token string) role {
	if token == "" {
		return noRole
	}
	sum := sha256.Sum256([]byte(token))
	found := noRole
	for _, t := range tokens {
		if subtle.ConstantTimeCompare(sum[:], t.SHA256[:]) == 1 {
			found = roleFromConfig(t.Role)
		}
	}
	return found
}

func roleFromConfig(r config.Role) role {
	switch r {
	case config.RoleAdmin:
		return adminRole
	case config.RoleRead:
		return readRole
	}
	return noRole
}

// fakeHash is compared for unknown users, so that a wrong name costs as
// long as a wrong password (exporter-toolkit does the same).
const fakeHash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"

// maxCachedPasswords bounds passwordCache.
const maxCachedPasswords = 100

// passwordCache remembers the outcome of recent bcrypt comparisons, as
// exporter-toolkit does, so a scraper's every request does not cost one
// (tens of milliseconds at cost 10). Its keys are SHA-256 digests of user,
// stored hash and password, never the password. Comparisons run one at a
// time, so wrong passwords cannot take every core.
type passwordCache struct {
	bcrypt sync.Mutex
	mu     sync.Mutex
	seen   map[[sha256.Size]byte]bool
}

func newPasswordCache() *passwordCache {
	return &passwordCache{seen: map[[sha256.Size]byte]bool{}}
}

// check reports whether pass is the password of user, whose bcrypt hash
// is hash ("" for an unknown user).
func (p *passwordCache) check(user, hash, pass string) bool {
	known := hash != ""
	if !known {
		hash = fakeHash
	}
	key := sha256.Sum256([]byte(user + "\x00" + hash + "\x00" + pass))
	p.mu.Lock()
	ok, cached := p.seen[key]
	p.mu.Unlock()
	if !cached {
		p.bcrypt.Lock()
		ok = bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) == nil
		p.bcrypt.Unlock()
		p.mu.Lock()
		if len(p.seen) >= maxCachedPasswords {
			clear(p.seen)
		}
		p.seen[key] = ok
		p.mu.Unlock()
	}
	return ok && known
}

// guard is what a request passes before its route's handler: the Host
// check (server.allowed_hosts), credentials for the route's access, and
// for a request that changes state on the admin listener, a JSON body and
// no foreign Origin.
type guard struct {
	creds        *credentials
	allowedHosts []string // empty: any
	metricsOpen  bool
	crossOrigin  *http.CrossOriginProtection
}

// admin wraps a route of the admin listener.
func (g *guard) admin(rt endpoint) http.Handler {
	if rt.access == accessOpen {
		return rt.handler
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(w, r) {
			return
		}
		if want := g.needs(rt.access, r.Method); want > noRole {
			switch have := g.creds.roleOf(r); {
			case have == noRole:
				g.creds.challenge(w.Header())
				http.Error(w, "credentials needed: a bearer token, a basic-auth user or a client certificate", http.StatusUnauthorized)
				return
			case have < want:
				http.Error(w, "these credentials may only read; this needs the admin role", http.StatusForbidden)
				return
			}
		}
		if changesState(r.Method) {
			if err := g.crossOrigin.Check(r); err != nil {
				http.Error(w, "cross-origin request refused: a request that changes state must come from this origin or from no browser", http.StatusForbidden)
				return
			}
			if !jsonOrEmpty(r) && !(rt.form && formBody(r)) {
				http.Error(w, "a request that changes state takes a JSON body (Content-Type: application/json) or none", http.StatusUnsupportedMediaType)
				return
			}
		}
		rt.handler.ServeHTTP(w, r)
	})
}

// public wraps a route of the public listener, or one served beside the
// API without it: no credentials, the endpoint checks its callers itself.
func (g *guard) public(rt endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.hostAllowed(w, r) {
			rt.handler.ServeHTTP(w, r)
		}
	})
}

// needs is the role a request to a route of access a needs.
func (g *guard) needs(a access, method string) role {
	switch a {
	case accessOpen:
		return noRole
	case accessMetrics:
		if g.metricsOpen {
			return noRole
		}
		return readRole
	case accessAdmin:
		return adminRole
	}
	if changesState(method) {
		return adminRole
	}
	return readRole
}

// hostAllowed answers 421 Misdirected Request when server.allowed_hosts
// is set and does not name the request's Host (the port aside): a page
// whose DNS name was rebound to this address cannot use the API.
func (g *guard) hostAllowed(w http.ResponseWriter, r *http.Request) bool {
	if len(g.allowedHosts) == 0 {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	for _, a := range g.allowedHosts {
		if strings.EqualFold(strings.TrimSuffix(strings.Trim(a, "[]"), "."), host) {
			return true
		}
	}
	http.Error(w, "this Host is not in server.allowed_hosts", http.StatusMisdirectedRequest)
	return false
}

func changesState(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// jsonOrEmpty: a body must be application/json; a request without a body
// may have no Content-Type (curl -X POST /-/reload), but not another one.
// formBody reports whether r carries an HTML form.
func formBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && (mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data")
}

func jsonOrEmpty(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return r.ContentLength == 0
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
