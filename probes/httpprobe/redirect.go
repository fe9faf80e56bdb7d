package httpprobe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// checkRedirect decides on each redirect: follow_redirects and
// max_redirects, which headers go along (redirectHeaders), and under
// deny_private_redirects, whether a target outside url's origin is public.
// A redirect within url's origin goes where url does, so it is not
// checked.
func (p *Prober) checkRedirect(req *http.Request, via []*http.Request) error {
	if !*p.cfg.FollowRedirects {
		return http.ErrUseLastResponse
	}
	if len(via) > p.cfg.MaxRedirects {
		return fmt.Errorf("stopped after %d redirects (max_redirects)", p.cfg.MaxRedirects)
	}
	p.redirects = len(via)
	p.redirectHeaders(req, via)
	r := runOf(req.Context())
	switch {
	case r == nil || !r.denyPrivate:
		return nil
	case origin(req.URL) == p.origin:
		r.redirect.Store(nil) // back to url's target: its dials are not checked
		return nil
	}
	return p.follow(r, req)
}

// redirectHeaders sends the configured headers and credentials (headers,
// basic_auth, bearer_token) to the origin of url only: once a redirect
// left it, they are dropped for the rest of the chain, even back to it.
// Origin is scheme, host and port, as browsers have it (Go itself keeps
// Authorization for a subdomain, another port or another scheme). No
// Referer is sent, unless one is configured, and that one to url's
// origin only.
func (p *Prober) redirectHeaders(req *http.Request, via []*http.Request) {
	if !p.leftOrigin(req, via) {
		if p.referer == "" {
			req.Header.Del("Referer") // net/http set it; a configured one it keeps
		}
		return
	}
	req.Header.Del("Referer")
	req.Header.Del("Authorization")
	for k := range p.cfg.Headers {
		req.Header.Del(k)
	}
}

// leftOrigin tells whether the chain of via and req went to another
// origin than url's.
func (p *Prober) leftOrigin(req *http.Request, via []*http.Request) bool {
	if origin(req.URL) != p.origin {
		return true
	}
	for _, r := range via[1:] {
		if origin(r.URL) != p.origin {
			return true
		}
	}
	return false
}

// defaultPorts are the ports URLs without one mean, by scheme.
var defaultPorts = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}

// origin is u's scheme, host and port, the port given even when u omits it.
func origin(u *url.URL) string {
	return u.Scheme + "://" + hostPort(u)
}

// hostPort is u's host and port as net/http dials it (before IDNA).
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = defaultPorts[u.Scheme]
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// redirectTo is the redirect a run is following, for its dials.
type redirectTo struct {
	url       string // redacted
	host      string // url's host name or address
	proxyAddr string // host:port of the proxy the redirect goes through; "" when direct
}

// follow records the redirect req for the run's dials, which refuse a
// private address once resolved, and refuses it now when its host is a
// private address or resolves to one. Both checks are needed: the
// connection may come from the transport's pool without a dial, and the
// name may resolve differently when dialled. Through a proxy, only the
// check here applies: the proxy resolves the name itself.
func (p *Prober) follow(r *run, req *http.Request) error {
	to := &redirectTo{url: req.URL.Redacted(), host: req.URL.Hostname()}
	if proxy := p.transport.http.Proxy; proxy != nil {
		if u, err := proxy(req); err == nil && u != nil {
			to.proxyAddr = hostPort(u)
		}
	}
	r.redirect.Store(to)
	if a, err := netip.ParseAddr(to.host); err == nil {
		return to.refuse(a)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(req.Context(), "ip", to.host)
	if err != nil {
		return nil // the dial says why, or refuses what it reaches
	}
	for _, a := range addrs {
		if err := to.refuse(a); err != nil {
			return err
		}
	}
	return nil
}

// refusePrivate is a net.Dialer's ControlContext: it refuses to connect
// to a private address, once the address is resolved.
func (to *redirectTo) refusePrivate(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("deny_private_redirects: cannot tell the address of %q: %w", address, err)
	}
	return to.refuse(ap.Addr())
}

// refuse returns a *refusedRedirect when a is not public, else nil.
func (to *redirectTo) refuse(a netip.Addr) error {
	if kind := privateKind(a); kind != "" {
		return &refusedRedirect{URL: to.url, Host: to.host, Addr: a, Kind: kind}
	}
	return nil
}

// privateKind names the kind of address a is when deny_private_redirects
// refuses it (loopback, private as of RFC 1918 and RFC 4193, shared as of
// RFC 6598 (carrier-grade NAT, and some clouds' metadata service at
// 100.100.100.200), link-local, which holds cloud metadata services at
// 169.254.169.254, or unspecified), and is "" for any other address.
func privateKind(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case sharedAddressSpace.Contains(a):
		return "shared (carrier-grade NAT)"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsUnspecified():
		return "unspecified"
	}
	return ""
}

// sharedAddressSpace is RFC 6598's 100.64.0.0/10, for carrier-grade NAT.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// refusedRedirect is a redirect deny_private_redirects refused.
type refusedRedirect struct {
	URL  string     // the redirect's target, redacted
	Host string     // its host, a name or an address
	Addr netip.Addr // the address refused
	Kind string     // loopback, private, link-local or unspecified
}

func (e *refusedRedirect) Error() string {
	if e.Host == e.Addr.String() {
		return fmt.Sprintf("redirect to %s refused: %s is a %s address (deny_private_redirects)", e.URL, e.Addr, e.Kind)
	}
	return fmt.Sprintf("redirect to %s refused: %s resolves to %s, a %s address (deny_private_redirects)", e.URL, e.Host, e.Addr, e.Kind)
}
