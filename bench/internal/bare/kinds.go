package bare

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// TCP is the bare TCP check: connect, note how long it took, close.
type TCP struct {
	addr   string
	dialer net.Dialer
}

// NewTCP returns the bare check of addr, with the timeout a probe has by
// default (no check goes without one).
func NewTCP(addr string) *TCP { return &TCP{addr: addr, dialer: net.Dialer{Timeout: 10 * time.Second}} }

// Probe connects once and returns how long the connect took.
func (b *TCP) Probe(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	conn, err := b.dialer.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		return 0, fmt.Errorf("bare: %w", err)
	}
	took := time.Since(start)
	return took, conn.Close()
}

// DNS is the bare DNS check: one query over UDP with miekg/dns, the
// response code checked.
type DNS struct {
	server string
	name   string
	client dns.Client
}

// NewDNS returns the bare check of an A query for name at server.
func NewDNS(server, name string) *DNS {
	return &DNS{server: server, name: dns.Fqdn(name), client: dns.Client{Net: "udp", Timeout: 10 * time.Second}}
}

// Probe sends one query and returns the number of answers.
func (b *DNS) Probe(ctx context.Context) (int, error) {
	m := new(dns.Msg)
	m.SetQuestion(b.name, dns.TypeA)
	r, _, err := b.client.ExchangeContext(ctx, m, b.server)
	if err != nil {
		return 0, fmt.Errorf("bare: %w", err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return 0, fmt.Errorf("bare: rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}
	return len(r.Answer), nil
}
