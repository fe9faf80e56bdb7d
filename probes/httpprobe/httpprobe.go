// Package httpprobe checks an HTTP API endpoint: status, headers, body,
// CEL assertions, security headers and TLS, with the time of each phase.
package httpprobe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
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
	transport *transport // shared with probes of the same transport settings
	checks    checks
	redirects int // redirects followed by the run in flight
}

var _ probes.Prober = (*Prober)(nil)

// New builds a prober for cfg on a transport from transports, shared with
// the other probes of the same transport settings. It fails only when TLS
// files cannot be read.
func New(cfg *config.HTTP, transports *Transports) (*Prober, error) {
	t, err := transports.get(cfg)
	if err != nil {
		return nil, err
	}
	p := &Prober{cfg: cfg, transport: t, checks: newChecks(cfg)}
	p.client = &http.Client{Transport: t.http, CheckRedirect: p.checkRedirect}
	return p, nil
}

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
