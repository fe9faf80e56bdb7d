// Package wsprobe is the WebSocket probe (probes[].websocket): the HTTP
// upgrade to a WebSocket, then optionally one text message sent and the
// first message back matched, all within the probe's deadline. Nothing of
// a run outlives it: the connections it dialled are closed when it ends.
package wsprobe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

const (
	// maxMessage bounds what a run reads of the first message: expect and
	// response see at most its first 64 KiB.
	maxMessage = 64 << 10
	// maxKept bounds the first message a result keeps in its facts.
	maxKept = 4 << 10
	// closeWait bounds the close handshake after a clean exchange.
	closeWait = time.Second
)

// Prober checks one WebSocket URL. It is safe for one run at a time.
type Prober struct {
	cfg    *config.WebSocket
	url    *url.URL
	header http.Header // sent with the upgrade; Dial copies it
	host   string      // a configured Host header; "": the URL's
	tls    *tls.Config // for wss://; nil for ws://
	// secrets are the forms of the URL an error might quote, each with
	// what to show instead.
	secrets *strings.Replacer
}

var _ probes.Prober = (*Prober)(nil)

// New builds the prober of cfg. It fails only when TLS files cannot be
// read.
func New(cfg *config.WebSocket) (*Prober, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("wsprobe: url is not valid (config should have refused it)")
	}
	p := &Prober{cfg: cfg, url: u, header: http.Header{"User-Agent": {"Lookout"}}, secrets: secretsOf(cfg.URL, u)}
	for k, v := range cfg.Headers {
		if strings.EqualFold(k, "Host") {
			p.host = v
			continue
		}
		p.header.Set(k, v)
	}
	if u.Scheme == "wss" {
		if p.tls, err = tlsinfo.ClientConfig(cfg.TLS); err != nil {
			return nil, fmt.Errorf("wsprobe: %w", err)
		}
	}
	return p, nil
}

// Facts are what a WebSocket run found.
type Facts struct {
	// Status is the HTTP status of the upgrade's response (101 when it
	// upgraded); 0 when none came.
	Status int `json:"status,omitempty"`
	// Handshake is how long connect, TLS and the upgrade took, when the
	// upgrade succeeded.
	Handshake   time.Duration `json:"-"`
	Subprotocol string        `json:"subprotocol,omitempty"`
	// Response is the first message's first 4 KiB, read with expect;
	// MessageBytes how much of it was read (64 KiB at most), Truncated
	// whether it was longer.
	Response     string         `json:"response,omitempty"`
	MessageBytes int            `json:"message_bytes,omitempty"`
	Truncated    bool           `json:"message_truncated,omitempty"`
	TLS          *tlsinfo.Facts `json:"tls,omitempty"`
	// FailedRegex is whether the first message did not match expect; nil
	// without expect or without a message.
	FailedRegex *bool `json:"failed_due_to_regex,omitempty"`
}

// TLSFacts are the run's TLS connection, or nil.
func (f *Facts) TLSFacts() *tlsinfo.Facts { return f.TLS }

// FailedDueToRegex is whether the first message did not match expect, or
// nil.
func (f *Facts) FailedDueToRegex() *bool { return f.FailedRegex }

var (
	_ probes.Facts          = (*Facts)(nil)
	_ tlsinfo.Carrier       = (*Facts)(nil)
	_ tcpprobe.RegexVerdict = (*Facts)(nil)
)

// Past keeps the status, the handshake time and the regex verdict.
func (f *Facts) Past() probes.Facts {
	return &Facts{Status: f.Status, Handshake: f.Handshake, FailedRegex: f.FailedRegex}
}

// MarshalJSON adds the handshake time in seconds.
func (f *Facts) MarshalJSON() ([]byte, error) {
	type plain Facts
	return json.Marshal(struct {
		*plain
		HandshakeSeconds float64 `json:"handshake_seconds"`
	}{(*plain)(f), f.Handshake.Seconds()})
}

// Probe upgrades, sends and reads as configured, then closes.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	start := time.Now()
	f := &Facts{}
	res := probes.Result{Start: start, State: probes.Down, Facts: f}
	conns := &runConns{}
	stop := context.AfterFunc(ctx, conns.close)
	defer func() {
		stop()
		conns.close()
	}()

	conn, resp, err := p.dial(ctx, conns)
	if resp != nil {
		f.Status = resp.StatusCode
		f.TLS = p.tlsFacts(resp)
	}
	if err != nil {
		res.Duration = time.Since(start)
		if f.TLS == nil {
			f.TLS = tlsinfo.FromError(err)
		}
		res.Reason = p.secrets.Replace(err.Error())
		return res
	}
	f.Handshake = time.Since(start)
	f.Subprotocol = conn.Subprotocol()

	msg, err := p.exchange(ctx, conn, f)
	res.Duration = time.Since(start)
	closeConn(ctx, conn, conns, err == nil && !f.Truncated)
	if err != nil {
		res.Reason = p.secrets.Replace(err.Error())
		return res
	}
	var checks []probes.Check
	if re := p.cfg.Expect; re != nil {
		failed := !re.Match(msg)
		f.FailedRegex = &failed
		checks = append(checks, probes.Check{Name: "expect", Expected: "first message matches " + re.String(), OK: !failed,
			Actual: fmt.Sprintf("%q", exprcheck.Truncate(string(msg), 120))})
	}
	if len(p.cfg.Assert) > 0 || len(p.cfg.DegradedIf) > 0 {
		checks = append(checks, exprcheck.Run(p.cfg.Assert, p.cfg.DegradedIf, vars(&res, f, resp.Header, msg))...)
	}
	res.Checks = checks
	res.State, res.Reason = probes.Verdict(checks)
	return res
}

// exchange sends the configured message and, with expect, reads the
// first message back (its first maxMessage bytes).
func (p *Prober) exchange(ctx context.Context, conn *websocket.Conn, f *Facts) ([]byte, error) {
	after := "the handshake"
	if p.cfg.Send != "" {
		if err := conn.Write(ctx, websocket.MessageText, []byte(p.cfg.Send)); err != nil {
			return nil, fmt.Errorf("send: %s", messageReason(ctx, err, "", 0))
		}
		after = "sending"
	}
	if p.cfg.Expect == nil {
		return nil, nil
	}
	from := time.Now()
	conn.SetReadLimit(maxMessage + 1) // the read below stops first
	_, r, err := conn.Reader(ctx)
	var msg []byte
	if err == nil {
		msg, err = io.ReadAll(io.LimitReader(r, maxMessage+1))
	}
	if err != nil {
		return nil, fmt.Errorf("first message: %s", messageReason(ctx, err, after, time.Since(from)))
	}
	if len(msg) > maxMessage {
		msg, f.Truncated = msg[:maxMessage], true
	}
	f.MessageBytes = len(msg)
	f.Response = string(msg[:min(len(msg), maxKept)])
	return msg, nil
}

// closeConn ends the connection: after a clean exchange with the close
// handshake, for at most closeWait and never past the run, else at once.
func closeConn(ctx context.Context, conn *websocket.Conn, conns *runConns, clean bool) {
	if !clean {
		_ = conn.CloseNow()
		return
	}
	cctx, cancel := context.WithTimeout(ctx, closeWait)
	defer cancel()
	stop := context.AfterFunc(cctx, conns.close) // ends a close the server does not answer
	defer stop()
	_ = conn.Close(websocket.StatusNormalClosure, "")
}

// tlsFacts reports the upgrade's TLS connection. With
// insecure_skip_verify the chain is still verified here, so the result
// says whether it would have passed.
func (p *Prober) tlsFacts(resp *http.Response) *tlsinfo.Facts {
	var verify func(*tls.ConnectionState) error
	if p.tls != nil && p.tls.InsecureSkipVerify {
		name := p.tls.ServerName
		if name == "" {
			name = p.url.Hostname()
		}
		verify = func(cs *tls.ConnectionState) error { return tlsinfo.Verify(cs, name, p.tls.RootCAs) }
	}
	return tlsinfo.FromState(resp.TLS, verify)
}
