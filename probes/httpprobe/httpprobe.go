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
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"go.opentelemetry.io/otel/trace"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// Prober runs one configured HTTP check. It is safe for one run at a time;
// the scheduler never starts a second run of a probe while one is going.
type Prober struct {
	cfg        *config.HTTP
	client     *http.Client
	transports *Transports
	transport  *transport // shared with probes of the same transport settings
	origin     string     // of cfg.URL
	referer    string     // the configured Referer header; "": none
	checks     checks
	redirects  int // redirects followed by the run in flight
	closed     sync.Once
	// spanStart is the request span's kind and attributes, built at the
	// first traced run (spanOnce).
	spanOnce  sync.Once
	spanStart []trace.SpanStartOption
}

var (
	_ probes.Prober = (*Prober)(nil)
	_ io.Closer     = (*Prober)(nil)
)

// New builds a prober for cfg on a transport from transports, shared with
// the other probes of the same transport settings. It fails only when TLS
// files cannot be read.
func New(cfg *config.HTTP, transports *Transports) (*Prober, error) {
	o := origin(cfg.URL.URL)
	t, err := transports.get(cfg, o)
	if err != nil {
		return nil, err
	}
	p := &Prober{cfg: cfg, transports: transports, transport: t, origin: o, checks: newChecks(cfg)}
	for k, v := range cfg.Headers {
		if strings.EqualFold(k, "Referer") {
			p.referer = v
		}
	}
	p.client = &http.Client{Transport: t.http, CheckRedirect: p.checkRedirect}
	return p, nil
}

// Close gives up the prober's share of its transport, for a probe that a
// reload removed or replaced: the transport closes its idle connections
// when no probe of cfg.URL's origin is left on it (all of them: probes
// still sharing it open a new one at their next run), and is dropped with
// its last probe. Close it once no run is in flight; it returns nil.
func (p *Prober) Close() error {
	p.closed.Do(func() { p.transports.release(p.transport, p.origin) })
	return nil
}

// Probe sends the request and checks the response.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	res, _ := p.probe(ctx, nil)
	return res
}

// probe runs the check with req in place of the configured request (nil:
// the configured one), and returns the run's CEL variables when a
// response came (the ones its expressions saw: for a flow's extract).
func (p *Prober) probe(ctx context.Context, req *Request) (res probes.Result, vars *activation) {
	start := time.Now()
	res = probes.Result{Start: start, State: probes.Down}
	f := &Facts{}
	res.Facts = f
	tr := &tracer{}
	ctx, span, own := p.requestSpan(ctx, req != nil)
	defer func() { endSpan(span, own, start, res, f) }()
	p.redirects = 0
	r := &run{ctx: ctx, denyPrivate: p.cfg.DenyPrivateRedirects}
	resp, err := p.do(httptrace.WithClientTrace(withRun(ctx, r), tr.trace()), req)
	if err != nil {
		res.Reason = transportReason(ctx, err)
		f.TLS = tlsinfo.FromError(err)
		res.Duration = time.Since(start)
		f.Phases = tr.result()
		return res, nil
	}
	body, readErr := readBody(resp.Body, int64(p.cfg.BodySizeLimit))
	resp.Body.Close()
	tr.bodyDone()
	res.Duration = time.Since(start)
	f.Phases = tr.result()
	f.HTTP = &Response{
		StatusCode:    resp.StatusCode,
		Version:       float64(resp.ProtoMajor) + float64(resp.ProtoMinor)/10,
		ContentLength: resp.ContentLength,
		BodyBytes:     int64(len(body)),
		Redirects:     p.redirects,
	}
	f.TLS = p.tlsFacts(resp)
	if readErr != nil {
		res.Reason = "read body: " + transportReason(ctx, readErr)
		return res, nil
	}
	var parent cel.Activation
	if req != nil {
		parent = req.Vars
	}
	vars = p.check(&res, resp, body, parent)
	return res, vars
}

// do sends req, or the configured request when req is nil.
func (p *Prober) do(ctx context.Context, req *Request) (*http.Response, error) {
	if req == nil {
		req = &Request{URL: p.cfg.URL.String(), Headers: p.cfg.Headers, Body: p.cfg.Body, BearerToken: p.cfg.BearerToken}
		if p.cfg.BasicAuth != nil {
			req.Username, req.Password = p.cfg.BasicAuth.Username, p.cfg.BasicAuth.Password
		}
	}
	var body io.Reader
	if req.Body != "" {
		body = strings.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, p.cfg.Method, req.URL, body)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("User-Agent", "Lookout")
	p.propagate(ctx, hreq)
	for k, v := range req.Headers {
		if strings.EqualFold(k, "Host") {
			hreq.Host = v
			continue
		}
		hreq.Header.Set(k, v)
	}
	switch {
	case p.cfg.BasicAuth != nil:
		hreq.SetBasicAuth(req.Username, req.Password)
	case req.BearerToken != "":
		hreq.Header.Set("Authorization", "Bearer "+req.BearerToken)
	}
	if req.Jar == nil {
		return p.client.Do(hreq)
	}
	c := *p.client
	c.Jar = req.Jar
	return c.Do(hreq)
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
	var refused *refusedRedirect
	if errors.As(err, &refused) {
		return refused.Error()
	}
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
