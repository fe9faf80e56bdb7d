// Package tcpprobe is the TCP probe (probes[].tcp): connect within the
// probe's deadline, optionally speak TLS, send bytes and match the first
// bytes read, as blackbox_exporter's tcp prober does for a single
// exchange.
package tcpprobe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
	"github.com/lookout-dev/lookout/probes/internal/netaddr"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// maxRead bounds what a run reads to match expect.
const maxRead = 4 << 10

// Prober checks one TCP address.
type Prober struct {
	cfg     *config.TCP
	network string
	tls     *tls.Config // nil without TLS
}

var _ probes.Prober = (*Prober)(nil)

// New builds the prober of cfg.
func New(cfg *config.TCP) (*Prober, error) {
	p := &Prober{cfg: cfg, network: netaddr.Network("tcp", cfg.IPProtocol)}
	if cfg.TLS.Enabled {
		tc, err := tlsinfo.ClientConfig(cfg.TLS.TLS)
		if err != nil {
			return nil, fmt.Errorf("tcpprobe: %w", err)
		}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(cfg.Address)
		}
		p.tls = tc
	}
	return p, nil
}

// Facts are what a TCP run found.
type Facts struct {
	Connect time.Duration `json:"-"`
	// Response is the first bytes read (up to 4 KiB), when expect is set.
	Response string         `json:"response,omitempty"`
	TLS      *tlsinfo.Facts `json:"tls,omitempty"`
	// FailedRegex is whether expect did not match; nil without expect.
	FailedRegex *bool `json:"failed_due_to_regex,omitempty"`
}

// TLSFacts are the run's TLS connection, or nil.
func (f *Facts) TLSFacts() *tlsinfo.Facts { return f.TLS }

// FailedDueToRegex is whether expect did not match, or nil.
func (f *Facts) FailedDueToRegex() *bool { return f.FailedRegex }

var (
	_ tlsinfo.Carrier = (*Facts)(nil)
	_ RegexVerdict    = (*Facts)(nil)
)

// Past keeps the connect time and the regex verdict.
func (f *Facts) Past() probes.Facts { return &Facts{Connect: f.Connect, FailedRegex: f.FailedRegex} }

// MarshalJSON adds the connect time in seconds.
func (f *Facts) MarshalJSON() ([]byte, error) {
	type plain Facts
	return json.Marshal(struct {
		*plain
		ConnectSeconds float64 `json:"connect_seconds"`
	}{(*plain)(f), f.Connect.Seconds()})
}

// Probe connects, and speaks TLS, sends and reads as configured.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	start := time.Now()
	f := &Facts{}
	res := probes.Result{Start: start, State: probes.Down, Facts: f}
	defer func() { res.Duration = time.Since(start) }()
	var d net.Dialer
	conn, err := d.DialContext(ctx, p.network, p.cfg.Address)
	if err != nil {
		res.Reason = "connect: " + Reason(ctx, err)
		return res
	}
	defer conn.Close()
	f.Connect = time.Since(start)
	if dl, ok := ctx.Deadline(); ok && (p.tls != nil || p.cfg.Send != "" || p.cfg.Expect != nil) {
		_ = conn.SetDeadline(dl) // a bare connect reads and writes nothing
	}
	if p.tls != nil {
		tc := tls.Client(conn, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			f.TLS = tlsinfo.FromError(err)
			res.Reason = "TLS handshake: " + Reason(ctx, err)
			return res
		}
		cs := tc.ConnectionState()
		f.TLS = tlsinfo.FromState(&cs, tlsinfo.Reverify(p.tls))
		conn = tc
	}
	if p.cfg.Send != "" {
		if _, err := io.WriteString(conn, p.cfg.Send); err != nil {
			res.Reason = "send: " + Reason(ctx, err)
			return res
		}
	}
	var checks []probes.Check
	if re := p.cfg.Expect; re != nil {
		got, err := readMatch(conn, re)
		f.Response = string(got)
		failed := !re.Match(got)
		f.FailedRegex = &failed
		c := probes.Check{Name: "expect", Expected: "first bytes match " + re.String(), OK: !failed, Actual: fmt.Sprintf("%q", exprcheck.Truncate(string(got), 120))}
		if failed && err != nil {
			c.Actual += " (then " + Reason(ctx, err) + ")"
		}
		checks = append(checks, c)
	}
	if len(p.cfg.Assert) > 0 || len(p.cfg.DegradedIf) > 0 {
		res.Duration = time.Since(start)
		checks = append(checks, exprcheck.Run(p.cfg.Assert, p.cfg.DegradedIf, vars(&res, f))...)
	}
	res.Checks = checks
	res.State, res.Reason = probes.Verdict(checks)
	return res
}

// readMatch reads until re matches what was read, the peer closes, the
// deadline passes or maxRead bytes came.
func readMatch(conn net.Conn, re *config.Regexp) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for len(buf) < maxRead {
		n, err := conn.Read(buf[len(buf):min(cap(buf), maxRead)])
		buf = buf[:len(buf)+n]
		if re.Match(buf) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
	return buf, nil
}

// Reason words a network error without repeating the address; a deadline
// is named as the probe's timeout.
func Reason(ctx context.Context, err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timeout: no answer within the probe's timeout"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// vars are the variables of a TCP probe's expressions.
func vars(res *probes.Result, f *Facts) cel.Activation {
	act, _ := cel.NewActivation(map[string]any{
		"duration": res.Duration, "connect": f.Connect, "response": f.Response, "tls": exprcheck.TLS(f.TLS),
	})
	return act
}
