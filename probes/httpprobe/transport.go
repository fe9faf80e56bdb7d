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
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
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
// as each probe did when it had its own. A transport goes with the last
// of its probes (Prober.Close).
type Transports struct {
	mu    sync.Mutex
	byKey map[transportKey]*transport // the transport new probes get
	live  map[*transport]struct{}     // every transport with probes, byKey's and older ones
}

// NewTransports returns an empty set of shared transports.
func NewTransports() *Transports {
	return &Transports{byKey: map[transportKey]*transport{}, live: map[*transport]struct{}{}}
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
	key   transportKey
	// origins counts the transport's probes by the origin of their URL;
	// guarded by Transports.mu.
	origins map[string]int
	probes  int
}

// fileStamp tells whether a file changed since it was read.
type fileStamp struct {
	size, modTime int64 // modTime in Unix nanoseconds
}

// get returns the transport for cfg, building it on first use, and counts
// a probe of origin on it. It fails only when TLS files cannot be read.
func (ts *Transports) get(cfg *config.HTTP, origin string) (*transport, error) {
	key := transportKey{tls: cfg.TLS, ipProtocol: cfg.IPProtocol, ipFallback: *cfg.IPFallback, keepAlive: cfg.KeepAlive}
	stamps := stampFiles(cfg.TLS)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.byKey[key]
	if !ok || t.files != stamps {
		var err error
		if t, err = newTransport(key); err != nil {
			return nil, err
		}
		t.files = stamps
		ts.byKey[key] = t
		ts.live[t] = struct{}{}
	}
	t.probes++
	t.origins[origin]++
	return t, nil
}

// release uncounts a probe of origin from t. When it was t's last probe of
// origin, t closes its idle connections; when it was t's last probe, t is
// dropped.
func (ts *Transports) release(t *transport, origin string) {
	ts.mu.Lock()
	t.probes--
	t.origins[origin]--
	last := t.origins[origin] == 0
	if last {
		delete(t.origins, origin)
	}
	if t.probes == 0 {
		delete(ts.live, t)
		if ts.byKey[t.key] == t {
			delete(ts.byKey, t.key)
		}
	}
	ts.mu.Unlock()
	if last {
		t.http.CloseIdleConnections()
	}
}

// CloseIdle closes the idle keep-alive connections of every transport.
func (ts *Transports) CloseIdle() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for t := range ts.live {
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

func newTransport(key transportKey) (*transport, error) {
	t := &transport{key: key, origins: map[string]int{}}
	tlsCfg, err := t.tlsConfig(key.tls)
	if err != nil {
		return nil, err
	}
	dial := ipDial(key.ipProtocol, key.ipFallback)
	t.http = &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialForRun(ctx, dial, network, addr)
		},
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		DisableKeepAlives:   !key.keepAlive,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
	}
	return t, nil
}

func (t *transport) tlsConfig(c config.TLS) (*tls.Config, error) {
	tc, err := tlsinfo.ClientConfig(c)
	if err != nil {
		return nil, fmt.Errorf("httpprobe: %w", err)
	}
	t.roots = tc.RootCAs
	return tc, nil
}
