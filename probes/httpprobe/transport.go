package httpprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/config"
)

// Transports shares HTTP transports between probes whose transport
// settings are the same: TLS (with its file paths), ip_protocol,
// ip_protocol_fallback and keep_alive. One http.Transport with its TLS
// config is a few KB, too much to repeat for each of thousands of probes.
// It is safe for concurrent use; the zero value is not, use NewTransports.
//
// A probe without keep_alive still gets a fresh connection on each run. A
// TLS file changed on disk since its transport was built gives probes
// built after the change a new transport, so they read the file afresh,
// as each probe did when it had its own.
type Transports struct {
	mu     sync.Mutex
	byKey  map[transportKey]*transport
	dialer *net.Dialer
}

// NewTransports returns an empty set of shared transports.
func NewTransports() *Transports {
	return &Transports{byKey: map[transportKey]*transport{}, dialer: &net.Dialer{}}
}

// transportKey is every probe setting a transport depends on.
type transportKey struct {
	tls        config.TLS
	ipProtocol config.IPProtocol
	ipFallback bool
	keepAlive  bool
}

// transport is one shared transport with what probes using it need.
type transport struct {
	http  *http.Transport
	roots *x509.CertPool // ca_file for verifying by hand; nil: the system pool
	files [3]fileStamp   // ca_file, cert_file, key_file as they were read
}

// fileStamp tells whether a file changed since it was read.
type fileStamp struct {
	size, modTime int64 // modTime in Unix nanoseconds
}

// get returns the transport for cfg, building it on first use. It fails
// only when TLS files cannot be read.
func (ts *Transports) get(cfg *config.HTTP) (*transport, error) {
	key := transportKey{tls: cfg.TLS, ipProtocol: cfg.IPProtocol, ipFallback: *cfg.IPFallback, keepAlive: cfg.KeepAlive}
	stamps := stampFiles(cfg.TLS)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.byKey[key]; ok && t.files == stamps {
		return t, nil
	}
	t, err := newTransport(key, ts.dialer)
	if err != nil {
		return nil, err
	}
	t.files = stamps
	ts.byKey[key] = t
	return t, nil
}

// CloseIdle closes the idle keep-alive connections of every transport.
func (ts *Transports) CloseIdle() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, t := range ts.byKey {
		t.http.CloseIdleConnections()
	}
}

// stampFiles stamps the TLS files that are set. A file that cannot be
// stat'ed gets the zero stamp; reading it then reports why.
func stampFiles(t config.TLS) [3]fileStamp {
	var stamps [3]fileStamp
	for i, path := range [3]string{t.CAFile, t.CertFile, t.KeyFile} {
		if path == "" {
			continue
		}
		if fi, err := os.Stat(path); err == nil {
			stamps[i] = fileStamp{size: fi.Size(), modTime: fi.ModTime().UnixNano()}
		}
	}
	return stamps
}

func newTransport(key transportKey, dialer *net.Dialer) (*transport, error) {
	t := &transport{}
	tlsCfg, err := t.tlsConfig(key.tls)
	if err != nil {
		return nil, err
	}
	t.http = &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialFunc(dialer, key.ipProtocol, key.ipFallback),
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		DisableKeepAlives:   !key.keepAlive,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
	}
	return t, nil
}

func (t *transport) tlsConfig(c config.TLS) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: c.InsecureSkipVerify, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("httpprobe: read ca_file: %w", err)
		}
		t.roots = x509.NewCertPool()
		if !t.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("httpprobe: ca_file %q holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = t.roots
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("httpprobe: load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// dialFunc honours ip_protocol: dial the preferred family first and, when
// fallback is on, the other one if that fails.
func dialFunc(d *net.Dialer, proto config.IPProtocol, fallback bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var first, second string
	switch proto {
	case config.IP4:
		first, second = "tcp4", "tcp6"
	case config.IP6:
		first, second = "tcp6", "tcp4"
	default:
		return d.DialContext
	}
	if !fallback {
		second = ""
	}
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, first, addr)
		if err != nil && second != "" && ctx.Err() == nil {
			return d.DialContext(ctx, second, addr)
		}
		return conn, err
	}
}
