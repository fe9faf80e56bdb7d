package grpcprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

// trace is what connecting went through in one run: grpc hides it behind
// a status message, so the dialer and the TLS handshake tell it here,
// from grpc's goroutines.
type trace struct {
	mu         sync.Mutex
	connected  bool // a TCP connection was made
	handshaken bool // a TLS handshake completed
	// err is the last connect or handshake error, failed what it failed
	// ("connect to", "TLS handshake with").
	err    error
	failed string
	tls    *tlsinfo.Facts
}

// bounder returns a context that ends with c or with the run.
type bounder func(c context.Context) (context.Context, context.CancelFunc)

// dialer connects over network (tcp, tcp4, tcp6), within the run.
func (tr *trace) dialer(bound bounder, network string) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		ctx, cancel := bound(ctx)
		defer cancel()
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if err != nil {
			tr.err, tr.failed = err, "connect to"
			return nil, err
		}
		tr.connected = true
		return conn, nil
	}
}

// result is whether a connection was made, and the TLS facts of the last
// handshake (nil without one, or for a failure that told nothing).
func (tr *trace) result() (connected bool, t *tlsinfo.Facts) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.connected, tr.tls
}

// tracedTLS is the TLS credentials of one run: each handshake, bounded by
// the run and for the TLS server name, tells the trace what it found.
type tracedTLS struct {
	credentials.TransportCredentials
	tr *trace
	// serverName is the name the handshake verifies (server_name, or the
	// address's host); grpc would take the authority's host.
	serverName string
	bound      bounder
	verify     func(*tls.ConnectionState) error // nil: the handshake verifies
}

var _ credentials.TransportCredentials = (*tracedTLS)(nil)

// ClientHandshake shakes hands and keeps the connection's TLS facts, or
// what a failed verification still tells.
func (t *tracedTLS) ClientHandshake(ctx context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	c, ai, err := t.TransportCredentials.ClientHandshake(ctx, t.serverName, conn)
	t.tr.mu.Lock()
	defer t.tr.mu.Unlock()
	if err != nil {
		t.tr.err, t.tr.failed = err, "TLS handshake with"
		t.tr.tls = tlsinfo.FromError(err)
		return nil, nil, err
	}
	t.tr.handshaken = true
	if info, ok := ai.(credentials.TLSInfo); ok {
		t.tr.tls = tlsinfo.FromState(&info.State, t.verify)
	}
	return c, ai, nil
}

// Info is the inner credentials' without their server name, which grpc
// would otherwise take for the connection's authority: the authority is
// the configured address (host:port), with TLS as without, while the
// handshake still verifies the TLS server name.
func (t *tracedTLS) Info() credentials.ProtocolInfo {
	i := t.TransportCredentials.Info()
	i.ServerName = "" // deprecated, but what grpc reads for the authority
	return i
}

// Clone keeps telling the same trace.
func (t *tracedTLS) Clone() credentials.TransportCredentials {
	c := *t
	c.TransportCredentials = t.TransportCredentials.Clone()
	return &c
}

// reason words why the call got no serving status: the server has no
// health service, the connect or the handshake failed, the deadline
// passed at a step it names, or what gRPC said. It names the address and
// the service, never the metadata.
func (p *Prober) reason(ctx context.Context, tr *trace, err error) string {
	tr.mu.Lock()
	connected, handshaken, stepErr, failed := tr.connected, tr.handshaken, tr.err, tr.failed
	tr.mu.Unlock()
	st := status.Convert(err)
	timedOut := st.Code() == codes.DeadlineExceeded || errors.Is(ctx.Err(), context.DeadlineExceeded)
	switch {
	case st.Code() == codes.Unimplemented:
		return fmt.Sprintf("%s has no grpc.health.v1 Health service (Unimplemented): the server does not answer health checks; register one, or probe it with tcp", p.cfg.Address)
	case timedOut && !connected:
		return fmt.Sprintf("connect to %s: %s", p.cfg.Address, timeout)
	case timedOut && p.tls != nil && !handshaken:
		return fmt.Sprintf("TLS handshake with %s: %s", p.cfg.Address, timeout)
	case timedOut:
		return fmt.Sprintf("health check of %s: %s", p.what(), timeout)
	case stepErr != nil && st.Code() == codes.Unavailable:
		return fmt.Sprintf("%s %s: %s", failed, p.cfg.Address, netReason(ctx, stepErr))
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Sprintf("health check of %s: cancelled", p.what())
	}
	msg := fmt.Sprintf("health check of %s: gRPC code %s: %s", p.what(), st.Code(), exprcheck.Truncate(st.Message(), 200))
	if st.Code() == codes.Unavailable && connected && p.tls == nil {
		msg += " (if the server speaks TLS, set tls: true)"
	}
	return msg
}

// netReason words a connect or handshake error as the tcp kind does,
// without the system call's name ("connection refused", not "connect:
// connection refused").
func netReason(ctx context.Context, err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) && ctx.Err() == nil {
		return se.Err.Error()
	}
	return tcpprobe.Reason(ctx, err)
}

// timeout is how a run that reached its deadline ends.
const timeout = "timeout: no answer within the probe's timeout"
