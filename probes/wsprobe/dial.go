package wsprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

// Steps of the handshake, named in the reason of the one that failed.
const (
	stepConnect int32 = iota
	stepTLS
	stepUpgrade
)

var stepNames = [...]string{"connect", "TLS handshake", "upgrade"}

// handshakeError is a failed upgrade: Error is the reason, without the
// URL; Unwrap the error, for the TLS facts of a failed verification.
type handshakeError struct {
	reason string
	err    error
}

func (e *handshakeError) Error() string { return e.reason }
func (e *handshakeError) Unwrap() error { return e.err }

// dial opens the WebSocket: connect, TLS for wss://, and the upgrade.
// The response is that of the upgrade, or nil when none came.
func (p *Prober) dial(ctx context.Context, conns *runConns) (*websocket.Conn, *http.Response, error) {
	var step atomic.Int32
	trace := &httptrace.ClientTrace{
		TLSHandshakeStart: func() { step.Store(stepTLS) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err == nil {
				step.Store(stepUpgrade)
			}
		},
	}
	conn, resp, err := websocket.Dial(httptrace.WithClientTrace(ctx, trace), p.cfg.URL, &websocket.DialOptions{
		HTTPClient:   p.client(ctx, conns, &step),
		HTTPHeader:   p.header,
		Host:         p.host,
		Subprotocols: p.cfg.Subprotocols,
	})
	if err != nil {
		return nil, resp, &handshakeError{reason: handshakeReason(ctx, resp, err, stepNames[step.Load()]), err: err}
	}
	return conn, resp, nil
}

// client is a run's HTTP client: a transport of its own without
// keep-alives, so every run connects afresh and no connection is left
// behind. Its dials use the run's context, captured here for that reason:
// net/http dials on goroutines of its own under a context the request's
// end does not cancel, so a dial or TLS handshake to a silent server
// would otherwise outlive the run (conns closes what was dialled when the
// run ends). It follows no redirect, so the headers, which may hold
// credentials, reach url's server only.
func (p *Prober) client(ctx context.Context, conns *runConns, step *atomic.Int32) *http.Client {
	dial := func(_ context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if !conns.add(c) {
			c.Close()
			return nil, errors.New("the run ended")
		}
		step.CompareAndSwap(stepConnect, stepUpgrade)
		return c, nil
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             http.ProxyFromEnvironment,
			DialContext:       dial,
			TLSClientConfig:   p.tls,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// runConns are the connections one run dialled, closed when it ends.
type runConns struct {
	mu    sync.Mutex
	conns []net.Conn
	ended bool
}

// add keeps c for closing, unless the run ended: then it returns false.
func (rc *runConns) add(c net.Conn) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.ended {
		return false
	}
	rc.conns = append(rc.conns, c)
	return true
}

// close closes every connection dialled, and any dialled later.
func (rc *runConns) close() {
	rc.mu.Lock()
	conns := rc.conns
	rc.conns, rc.ended = nil, true
	rc.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// handshakeReason says why the upgrade failed: the status of a refusal,
// or the step that failed and how.
func handshakeReason(ctx context.Context, resp *http.Response, err error, step string) string {
	switch {
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		r := fmt.Sprintf("upgrade refused with HTTP status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			r += " (a redirect, which the probe does not follow: set url to where it leads)"
		}
		return r
	case resp != nil: // 101, but not a valid WebSocket upgrade
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // without "failed to WebSocket dial"
		}
		return "upgrade: " + err.Error()
	}
	return step + ": " + netReason(ctx, err)
}

// netReason words a network error: a deadline as the probe's timeout, a
// refused or reset connection by its errno, and never the URL net/http's
// errors quote (it may hold a token).
func netReason(ctx context.Context, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var errno syscall.Errno
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return "cancelled"
	case ctx.Err() == nil && errors.As(err, &errno):
		return errno.Error()
	case ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)):
		return "the server closed the connection"
	}
	return tcpprobe.Reason(ctx, err)
}

// messageReason says why sending or reading the first message failed;
// for a read, after is what the wait began after and waited how long it
// lasted.
func messageReason(ctx context.Context, err error, after string, waited time.Duration) string {
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return "the server closed the connection with " + closeText(ce)
	case after != "" && (errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)):
		return fmt.Sprintf("timeout: no message within %s after %s (the probe's timeout)", waited.Round(time.Millisecond), after)
	case ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)):
		return "the server closed the connection without a close frame"
	}
	return netReason(ctx, err)
}

// closeText words a close frame: its status, the status's name when the
// protocol defines it, and its reason.
func closeText(ce websocket.CloseError) string {
	s := fmt.Sprintf("status %d", ce.Code)
	if ce.Code == websocket.StatusNoStatusRcvd {
		s = "no status"
	}
	if name := closeName(ce.Code); name != "" {
		s += " (" + name + ")"
	}
	if ce.Reason != "" {
		s += fmt.Sprintf(", reason %q", exprcheck.Truncate(ce.Reason, 120))
	}
	return s
}

// closeName is the name RFC 6455 (section 7.4.1) and the IANA registry
// give a close status, or "".
func closeName(c websocket.StatusCode) string {
	switch c {
	case websocket.StatusNormalClosure:
		return "normal closure"
	case websocket.StatusGoingAway:
		return "going away"
	case websocket.StatusProtocolError:
		return "protocol error"
	case websocket.StatusUnsupportedData:
		return "unsupported data"
	case websocket.StatusInvalidFramePayloadData:
		return "invalid payload data"
	case websocket.StatusPolicyViolation:
		return "policy violation"
	case websocket.StatusMessageTooBig:
		return "message too big"
	case websocket.StatusMandatoryExtension:
		return "mandatory extension"
	case websocket.StatusInternalError:
		return "internal error"
	case websocket.StatusServiceRestart:
		return "service restart"
	case websocket.StatusTryAgainLater:
		return "try again later"
	case websocket.StatusBadGateway:
		return "bad gateway"
	}
	return ""
}

// shownURL is how a report shows the URL: scheme, host and path, without
// user info, and each query parameter's value as "…" (a token is often
// one).
func shownURL(u *url.URL) string {
	shown := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := shown.String()
	if u.RawQuery == "" {
		return s
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, url.QueryEscape(k)+"=…")
	}
	slices.Sort(keys)
	return s + "?" + strings.Join(keys, "&")
}

// secretsOf replaces the forms of u an error could quote (as written, as
// net/http requests it) with shownURL: a safety net under netReason.
func secretsOf(raw string, u *url.URL) *strings.Replacer {
	shown := shownURL(u)
	asHTTP := *u
	asHTTP.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
	return strings.NewReplacer(raw, shown, u.String(), shown, asHTTP.String(), shown)
}
