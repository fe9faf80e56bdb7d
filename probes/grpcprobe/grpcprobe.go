// Package grpcprobe is the gRPC probe (probes[].grpc): one
// grpc.health.v1 Health.Check of a service, over a connection made for the
// run (plaintext or TLS) and closed after it, all within the probe's
// deadline, as blackbox_exporter's grpc prober does. SERVING is up; any
// other answer, or none, is down with what the server or the network said.
package grpcprobe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"cel.dev/cel-go/cel"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
	"github.com/lookout-dev/lookout/probes/internal/netaddr"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

// Serving statuses, as grpc.health.v1 names them; the prober calls a
// NotFound answer (a service the server does not know) SERVICE_UNKNOWN,
// as the protocol's Watch does.
const (
	serving        = "SERVING"
	serviceUnknown = "SERVICE_UNKNOWN"
)

// Prober asks one server about one service.
type Prober struct {
	cfg     *config.GRPC
	host    string // the address's host
	network string // tcp, tcp4 or tcp6
	words   netaddr.Wording
	md      metadata.MD
	// tls and creds are nil without TLS.
	tls   *tls.Config
	creds credentials.TransportCredentials
}

var _ probes.Prober = (*Prober)(nil)

// New builds the prober of cfg.
func New(cfg *config.GRPC) (*Prober, error) {
	host, _, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("grpcprobe: address %q: %w", cfg.Address, err)
	}
	p := &Prober{cfg: cfg, host: host, network: netaddr.Network("tcp", cfg.IPProtocol), md: metadata.New(cfg.Metadata),
		words: netaddr.Wording{Literal: "address " + cfg.Address, Lookup: host, Reason: tcpprobe.Reason}}
	if cfg.TLS.Enabled {
		tc, err := tlsinfo.ClientConfig(cfg.TLS.TLS)
		if err != nil {
			return nil, fmt.Errorf("grpcprobe: %w", err)
		}
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		p.tls, p.creds = tc, credentials.NewTLS(tc)
	}
	return p, nil
}

// Facts are what a gRPC run found.
type Facts struct {
	// Server is the IP address and port connected to, once resolved.
	Server string `json:"server,omitempty"`
	// Resolve is how long resolving the address's host took (zero for an
	// IP address); Check the rest: connect, TLS handshake and the call.
	Resolve time.Duration `json:"-"`
	Check   time.Duration `json:"-"`
	// Connected is whether a TCP connection to the server was made.
	Connected bool `json:"connected"`
	// Called is whether the health check was called; Code is then the
	// gRPC status code it ended with (OK for any answer).
	Called bool       `json:"-"`
	Code   codes.Code `json:"-"`
	// Status is the serving status answered (SERVING, NOT_SERVING,
	// UNKNOWN), or SERVICE_UNKNOWN for a NotFound; empty without one.
	Status string         `json:"serving_status,omitempty"`
	TLS    *tlsinfo.Facts `json:"tls,omitempty"`
}

// TLSFacts are the run's TLS connection, or nil.
func (f *Facts) TLSFacts() *tlsinfo.Facts { return f.TLS }

var _ tlsinfo.Carrier = (*Facts)(nil)

// Past keeps all but the TLS connection.
func (f *Facts) Past() probes.Facts {
	p := *f
	p.TLS = nil
	return &p
}

// MarshalJSON adds the timings in seconds and, once called, the gRPC
// status code as a number and by name.
func (f *Facts) MarshalJSON() ([]byte, error) {
	type plain Facts
	var code *uint32
	var name string
	if f.Called {
		c := uint32(f.Code)
		code, name = &c, f.Code.String()
	}
	return json.Marshal(struct {
		*plain
		ResolveSeconds float64 `json:"resolve_seconds"`
		CheckSeconds   float64 `json:"check_seconds"`
		StatusCode     *uint32 `json:"status_code,omitempty"`
		StatusCodeName string  `json:"status_code_name,omitempty"`
	}{(*plain)(f), f.Resolve.Seconds(), f.Check.Seconds(), code, name})
}

// Probe resolves the address, calls Health.Check on a connection of its
// own, and checks the answer.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	start := time.Now()
	f := &Facts{}
	res := probes.Result{Start: start, State: probes.Down, Facts: f}
	defer func() { res.Duration = time.Since(start) }()
	server, err := p.resolve(ctx, f)
	if err != nil {
		res.Reason = err.Error()
		return res
	}
	f.Server = server
	checked := time.Now()
	tr := &trace{}
	resp, err := p.check(ctx, tr, server)
	f.Check = time.Since(checked)
	f.Called, f.Code = true, status.Code(err)
	f.Connected, f.TLS = tr.result()
	switch {
	case err == nil:
		f.Status = resp.GetStatus().String()
	case f.Code == codes.NotFound:
		f.Status = serviceUnknown
	default:
		res.Reason = p.reason(ctx, tr, err)
		return res
	}
	res.Duration = time.Since(start)
	res.Checks = p.checks(&res, f)
	res.State, res.Reason = probes.Verdict(res.Checks)
	return res
}

// resolve returns the address with its host resolved to one IP address
// of the ip_protocol, as blackbox_exporter does, timing the lookup.
func (p *Prober) resolve(ctx context.Context, f *Facts) (string, error) {
	h, err := netaddr.Resolve(ctx, net.DefaultResolver, p.cfg.IPProtocol, p.host, p.words)
	f.Resolve = h.Lookup
	switch {
	case err != nil:
		return "", err
	case !h.Named:
		return p.cfg.Address, nil
	}
	_, port, _ := net.SplitHostPort(p.cfg.Address)
	return net.JoinHostPort(h.IP.String(), port), nil
}

// check calls Health.Check on a connection to server made for this call
// and closed after it; tr learns what connecting went through.
func (p *Prober) check(ctx context.Context, tr *trace, server string) (*healthpb.HealthCheckResponse, error) {
	// grpc dials and shakes hands in goroutines of its own, with its own
	// deadlines: bound them by the run's too.
	bound := func(c context.Context) (context.Context, context.CancelFunc) {
		c, cancel := context.WithCancel(c)
		stop := context.AfterFunc(ctx, cancel)
		return c, func() { stop(); cancel() }
	}
	creds := insecure.NewCredentials()
	if p.creds != nil {
		creds = &tracedTLS{TransportCredentials: p.creds, tr: tr, serverName: p.tls.ServerName, bound: bound, verify: tlsinfo.Reverify(p.tls)}
	}
	// passthrough: the dialer gets server as it is, resolved already.
	conn, err := grpc.NewClient("passthrough:///"+server,
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(tr.dialer(bound, p.network)),
		grpc.WithAuthority(p.cfg.Address),
		grpc.WithUserAgent("Lookout"),
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
	)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpc client for %s: %v", server, err)
	}
	defer conn.Close()
	if len(p.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, p.md)
	}
	return healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.cfg.Service})
}

// what names the service asked about and where: `service "orders" at
// orders.internal:9090`.
func (p *Prober) what() string {
	if p.cfg.Service == "" {
		return "the server as a whole (service \"\") at " + p.cfg.Address
	}
	return fmt.Sprintf("service %q at %s", p.cfg.Service, p.cfg.Address)
}

// checks are the serving status, then assert and degraded_if.
func (p *Prober) checks(res *probes.Result, f *Facts) []probes.Check {
	c := probes.Check{Name: "status", Expected: serving, OK: f.Status == serving}
	switch f.Status {
	case serving:
		c.Actual = serving
	case serviceUnknown:
		c.Actual = fmt.Sprintf("%s: service %q unknown to the server at %s", serviceUnknown, p.cfg.Service, p.cfg.Address)
	default:
		c.Actual = fmt.Sprintf("%s from %s", f.Status, p.what())
	}
	checks := []probes.Check{c}
	if len(p.cfg.Assert) > 0 || len(p.cfg.DegradedIf) > 0 {
		checks = append(checks, exprcheck.Run(p.cfg.Assert, p.cfg.DegradedIf, vars(res, f))...)
	}
	return checks
}

// vars are the variables of a gRPC probe's expressions.
func vars(res *probes.Result, f *Facts) cel.Activation {
	act, _ := cel.NewActivation(map[string]any{"duration": res.Duration, "status": f.Status, "tls": exprcheck.TLS(f.TLS)})
	return act
}
