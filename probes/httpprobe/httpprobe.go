// Package httpprobe checks an HTTP API endpoint: status, headers, body,
// CEL assertions, security headers and TLS, with the time of each phase.
package httpprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// Prober runs one configured HTTP check. It is safe for one run at a time;
// the scheduler never starts a second run of a probe while one is going.
type Prober struct {
	cfg       *config.HTTP
	client    *http.Client
	transport *http.Transport
	roots     *x509.CertPool // nil: the system pool
	redirects int            // redirects followed by the run in flight
}

var _ probes.Prober = (*Prober)(nil)

// New builds a prober for cfg. It fails only when TLS files cannot be read.
func New(cfg *config.HTTP) (*Prober, error) {
	p := &Prober{cfg: cfg}
	tlsCfg, err := p.tlsConfig()
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{}
	p.transport = &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         p.dialFunc(dialer),
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		DisableKeepAlives:   !cfg.KeepAlive,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
	}
	p.client = &http.Client{Transport: p.transport, CheckRedirect: p.checkRedirect}
	return p, nil
}

// Close releases idle keep-alive connections.
func (p *Prober) Close() { p.transport.CloseIdleConnections() }

func (p *Prober) tlsConfig() (*tls.Config, error) {
	t := p.cfg.TLS
	c := &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("httpprobe: read ca_file: %w", err)
		}
		p.roots = x509.NewCertPool()
		if !p.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("httpprobe: ca_file %q holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = p.roots
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("httpprobe: load client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// dialFunc honours ip_protocol: dial the preferred family first and, when
// fallback is on, the other one if that fails.
func (p *Prober) dialFunc(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var first, second string
	switch p.cfg.IPProtocol {
	case config.IP4:
		first, second = "tcp4", "tcp6"
	case config.IP6:
		first, second = "tcp6", "tcp4"
	default:
		return d.DialContext
	}
	if !*p.cfg.IPFallback {
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

var errStopRedirect = errors.New("redirect not followed")

func (p *Prober) checkRedirect(req *http.Request, via []*http.Request) error {
	if !*p.cfg.FollowRedirects {
		return http.ErrUseLastResponse
	}
	if len(via) > p.cfg.MaxRedirects {
		return fmt.Errorf("stopped after %d redirects (max_redirects)", p.cfg.MaxRedirects)
	}
	p.redirects = len(via)
	return nil
}

// Probe sends the request and checks the response.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	start := time.Now()
	res := probes.Result{Start: start, State: probes.Down}
	tr := &tracer{}
	p.redirects = 0
	resp, err := p.do(httptrace.WithClientTrace(ctx, tr.trace()))
	if err != nil {
		res.Reason = transportReason(ctx, err)
		res.TLS = tlsFactsFromError(err)
		res.Duration = time.Since(start)
		res.Phases = tr.result()
		return res
	}
	body, readErr := readBody(resp.Body, int64(p.cfg.BodySizeLimit))
	resp.Body.Close()
	tr.bodyDone()
	res.Duration = time.Since(start)
	res.Phases = tr.result()
	res.HTTP = &probes.HTTPFacts{
		StatusCode:    resp.StatusCode,
		Version:       float64(resp.ProtoMajor) + float64(resp.ProtoMinor)/10,
		ContentLength: resp.ContentLength,
		BodyBytes:     int64(len(body)),
		Redirects:     p.redirects,
	}
	res.TLS = p.tlsFacts(resp)
	if readErr != nil {
		res.Reason = "read body: " + transportReason(ctx, readErr)
		return res
	}
	p.check(&res, resp, body)
	return res
}

func (p *Prober) do(ctx context.Context) (*http.Response, error) {
	var body io.Reader
	if p.cfg.Body != "" {
		body = strings.NewReader(p.cfg.Body)
	}
	req, err := http.NewRequestWithContext(ctx, p.cfg.Method, p.cfg.URL.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "Lookout")
	for k, v := range p.cfg.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	switch {
	case p.cfg.BasicAuth != nil:
		req.SetBasicAuth(p.cfg.BasicAuth.Username, p.cfg.BasicAuth.Password)
	case p.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+p.cfg.BearerToken)
	}
	return p.client.Do(req)
}

// errBodyTooLarge is returned when a body exceeds body_size_limit.
var errBodyTooLarge = errors.New("body exceeds body_size_limit")

// readBody reads at most limit bytes; a longer body is an error and is not
// read further.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("%w of %d bytes", errBodyTooLarge, limit)
	}
	return b, nil
}

// transportReason says why a request failed, without the URL (which may
// carry credentials) and naming a timeout as such.
func transportReason(ctx context.Context, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return "timeout: no complete response within the probe's timeout"
	case errors.Is(ctx.Err(), context.Canceled):
		return "cancelled"
	}
	return err.Error()
}
