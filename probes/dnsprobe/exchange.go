package dnsprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/miekg/dns"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

// exchange sends q to f.Server over transport and reads the reply, all
// within ctx's deadline; host names the server for TLS. Its errors name
// the server, the transport and what failed.
func (p *Prober) exchange(ctx context.Context, f *Facts, transport config.DNSTransport, host string, q *dns.Msg) (*dns.Msg, error) {
	start := time.Now()
	conn, err := p.dial(ctx, f, transport, host)
	f.Connect += time.Since(start)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	connected := time.Now()
	// A cancelled probe (a reload, shutdown) ends the read too, not only
	// its deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c := dns.Client{Timeout: time.Minute}
	if dl, ok := ctx.Deadline(); ok {
		c.Timeout = max(time.Until(dl), time.Millisecond)
	}
	reply, rtt, err := c.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: conn})
	if rtt == 0 {
		rtt = time.Since(connected)
	}
	f.Request += rtt
	switch {
	case err == nil:
		return reply, nil
	case reply != nil && reply.Truncated && transport == "udp":
		return reply, nil // cut short in a record: asked again over TCP
	case reply != nil:
		return nil, fmt.Errorf("query %s over %s: malformed reply: %v", f.Server, transport, err)
	}
	return nil, fmt.Errorf("query %s over %s: %s", f.Server, transport, reason(ctx, err))
}

// dial connects to f.Server, and for DNS over TLS shakes hands, keeping
// what the handshake tells in f.TLS.
func (p *Prober) dial(ctx context.Context, f *Facts, transport config.DNSTransport, host string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network(transport, p.cfg.IPProtocol), f.Server)
	if err != nil {
		return nil, fmt.Errorf("connect to %s over %s: %s", f.Server, transport, reason(ctx, err))
	}
	if transport != "tls" {
		return conn, nil
	}
	tc := p.tls.Clone()
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	tconn := tls.Client(conn, tc)
	if err := tconn.HandshakeContext(ctx); err != nil {
		conn.Close()
		f.TLS = tlsinfo.FromError(err)
		return nil, fmt.Errorf("TLS handshake with %s: %s", f.Server, reason(ctx, err))
	}
	cs := tconn.ConnectionState()
	f.TLS = tlsinfo.FromState(&cs, tlsinfo.Reverify(tc))
	return tconn, nil
}

// reason words a network error as the tcp kind does, and a connection
// closed before the reply as the server's doing.
func reason(ctx context.Context, err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the server closed the connection without a full reply"
	}
	var se *os.SyscallError
	if errors.As(err, &se) && ctx.Err() == nil {
		return se.Err.Error() // "connection refused", not "read: connection refused"
	}
	return tcpprobe.Reason(ctx, err)
}
