// Package tlsprobe is the TLS probe (probes[].tls): a handshake with a
// server, and the certificate it presents checked for its chain, names,
// TLS version and expiry, so a certificate that will expire pages days
// before it does.
package tlsprobe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
	"github.com/lookout-dev/lookout/probes/internal/netaddr"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

// Prober checks one server's certificate.
type Prober struct {
	cfg     *config.TLSCheck
	network string // tcp, tcp4 or tcp6
	tls     *tls.Config
}

var _ probes.Prober = (*Prober)(nil)

// New builds the prober of cfg.
func New(cfg *config.TLSCheck) (*Prober, error) {
	tc, err := tlsinfo.ClientConfig(cfg.Client())
	if err != nil {
		return nil, fmt.Errorf("tlsprobe: %w", err)
	}
	if tc.ServerName == "" {
		tc.ServerName, _, _ = net.SplitHostPort(cfg.Address)
	}
	tc.MinVersion = uint16(cfg.MinVersion)
	return &Prober{cfg: cfg, network: netaddr.Network("tcp", cfg.IPProtocol), tls: tc}, nil
}

// Facts are what a TLS run found.
type Facts struct {
	Handshake time.Duration  `json:"-"`
	TLS       *tlsinfo.Facts `json:"tls,omitempty"`
	Subject   string         `json:"subject,omitempty"`
	Issuer    string         `json:"issuer,omitempty"`
	DNSNames  []string       `json:"dns_names,omitempty"`
}

// TLSFacts are the run's TLS connection, or nil.
func (f *Facts) TLSFacts() *tlsinfo.Facts { return f.TLS }

var _ tlsinfo.Carrier = (*Facts)(nil)

// Past keeps the handshake time and the TLS facts (a few strings).
func (f *Facts) Past() probes.Facts { return &Facts{Handshake: f.Handshake, TLS: f.TLS} }

// MarshalJSON adds the handshake time in seconds.
func (f *Facts) MarshalJSON() ([]byte, error) {
	type plain Facts
	return json.Marshal(struct {
		*plain
		HandshakeSeconds float64 `json:"handshake_seconds"`
	}{(*plain)(f), f.Handshake.Seconds()})
}

// Probe connects, shakes hands and checks the certificate.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	start := time.Now()
	f := &Facts{}
	res := probes.Result{Start: start, State: probes.Down, Facts: f}
	defer func() { res.Duration = time.Since(start) }()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: p.tls}
	conn, err := d.DialContext(ctx, p.network, p.cfg.Address)
	if err != nil {
		f.TLS = tlsinfo.FromError(err)
		res.Reason = "TLS handshake: " + tcpprobe.Reason(ctx, err)
		return res
	}
	defer conn.Close()
	f.Handshake = time.Since(start)
	cs := conn.(*tls.Conn).ConnectionState()
	f.TLS = tlsinfo.FromState(&cs, tlsinfo.Reverify(p.tls))
	if len(cs.PeerCertificates) > 0 {
		leaf := cs.PeerCertificates[0]
		f.Subject, f.Issuer, f.DNSNames = leaf.Subject.String(), leaf.Issuer.String(), leaf.DNSNames
	}
	left := time.Until(f.TLS.EarliestExpiry)
	checks := []probes.Check{{
		Name: "certificate expiry", Expected: "more than " + p.cfg.ExpiresWithin.Std().String() + " left",
		Actual: fmt.Sprintf("the earliest certificate of the chain expires %s (%s)", f.TLS.EarliestExpiry.UTC().Format(time.RFC3339), days(left)),
		OK:     left > p.cfg.ExpiresWithin.Std(),
	}}
	if len(p.cfg.Assert) > 0 || len(p.cfg.DegradedIf) > 0 {
		res.Duration = time.Since(start)
		checks = append(checks, exprcheck.Run(p.cfg.Assert, p.cfg.DegradedIf, vars(&res, f, left))...)
	}
	res.Checks = checks
	res.State, res.Reason = probes.Verdict(checks)
	return res
}

func days(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("expired %.1f days ago", -d.Hours()/24)
	}
	return fmt.Sprintf("in %.1f days", d.Hours()/24)
}

// vars are the variables of a TLS probe's expressions.
func vars(res *probes.Result, f *Facts, left time.Duration) cel.Activation {
	names := f.DNSNames
	if names == nil {
		names = []string{}
	}
	act, _ := cel.NewActivation(map[string]any{
		"duration": res.Duration, "version": f.TLS.Version, "verified": f.TLS.Verified, "expires_in": left,
		"subject": f.Subject, "issuer": f.Issuer, "dns_names": names,
	})
	return act
}
